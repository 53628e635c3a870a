"""Load clients: threads, each with one keep-alive HTTP connection (plain `http.client`, so that the client's
own CPU stays small next to the service's), running either a closed loop until a deadline (each client sends
its next request when the previous one is answered: capacity) or an open loop (requests start on a fixed
schedule whatever the answers do: latency at a given offered rate, without coordinated omission)."""

from __future__ import annotations

import http.client
import json
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit


class Connection:
    """One keep-alive connection to `base_url`; reconnects once when the server closed it in between."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        body = urlencode(form).encode() if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                answer = self._conn.getresponse()
                data = answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest):
                self.close()
                if attempt == 2:
                    raise
                continue
            if answer.will_close:
                self.close()
            try:
                payload = json.loads(data) if data else {}
            except ValueError:
                payload = {"raw": data[:200].decode(errors="replace")}
            return answer.status, payload
        raise AssertionError("unreachable")

    def connect(self) -> None:
        """Open the connection now rather than on the first request."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._conn.connect()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class Sample:
    started: float
    """perf_counter() when the operation began; in an open loop, when it was scheduled to begin."""
    seconds: float
    """From `started` to the answer: in an open loop this includes `waited`."""
    ok: bool
    waited: float = 0.0
    """Open loop: from the scheduled start to the moment a client sent it (the load generator's own queueing)."""


@dataclass
class LoadResult:
    clients: int
    started: float
    ended: float
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    offered_per_s: float | None = None
    """Open loop: operations scheduled per second (None for a closed loop)."""
    late: int = 0
    """Open loop: operations not sent because no client was free within `LATE_S` of their slot. They are not
    in `samples` (and so neither accepted nor rejected): a run with any is over the generator's capacity or
    the service's, and says so here rather than in a shorter latency tail."""
    scheduled: int = 0
    """Open loop: operations scheduled (sent or late)."""

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    def rate(self, window: float | None = None) -> float:
        """Successful operations per second: over the whole run (first start to last end), or counting only
        those that ended within `window` seconds of the start."""
        if window is None:
            return len(self.ok) / max(self.ended - self.started, 1e-9)
        done = [s for s in self.ok if s.started + s.seconds - self.started <= window]
        return len(done) / window

    def latency_ms(self, q: float) -> float:
        values = sorted(s.seconds for s in self.ok)
        return percentile(values, q) * 1000.0


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0 for no values."""
    if not sorted_values:
        return 0.0
    position = (len(sorted_values) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


Operation = Callable[[Connection, int], bool]
"""One client operation on its connection; gets a number unique in the run; returns success."""


def _attempt(operation: Operation, conn: Connection, number: int, result: LoadResult, lock: threading.Lock) -> bool:
    """Run one operation; an exception counts as a failure, is recorded in `result.errors` and drops the
    connection, never ends the run."""
    try:
        return operation(conn, number)
    except Exception as exc:  # noqa: BLE001 - counted and reported, never fatal to the run
        conn.close()
        with lock:
            result.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        return False


def closed_loop(base_url: str, clients: int, seconds: float, operation: Operation) -> LoadResult:
    """`clients` threads each run `operation` back to back until `seconds` have passed; an operation started
    before the deadline is finished. Returns every operation's timing."""
    counter = iter(range(1 << 62))
    lock = threading.Lock()
    result = LoadResult(clients, time.perf_counter(), 0.0)
    deadline = result.started + seconds

    def run() -> None:
        conn = Connection(base_url)
        mine: list[Sample] = []
        try:
            while time.perf_counter() < deadline:
                with lock:
                    number = next(counter)
                began = time.perf_counter()
                ok = _attempt(operation, conn, number, result, lock)
                mine.append(Sample(began, time.perf_counter() - began, ok))
        finally:
            conn.close()
            with lock:
                result.samples.extend(mine)

    threads = [threading.Thread(target=run, name=f"load-{i}", daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.ended = max((s.started + s.seconds for s in result.samples), default=time.perf_counter())
    return result


LATE_S = 1.0
"""Open loop: an operation no client could start within this long after its slot is dropped and counted late."""


def open_loop(base_url: str, rate_per_s: float, seconds: float, operation: Operation,
              max_clients: int = 64) -> LoadResult:
    """Start `operation` once every 1/`rate_per_s` seconds for `seconds`, whatever the earlier ones are doing.

    A scheduler thread hands each operation's number and scheduled start to a pool of `max_clients` client
    threads (each on its own keep-alive connection, opened beforehand). A sample's latency runs from its
    scheduled start, not from when a client got to send it, so waiting for a free client (or for the scheduler,
    or for the GIL) counts against the service measured rather than vanishing from its tail (no coordinated
    omission). An operation no client could start within `LATE_S` of its slot is not sent and counted in
    `late`. Operations in flight at the end are finished."""
    if rate_per_s <= 0 or seconds <= 0:
        raise ValueError("open_loop needs a positive rate and duration")
    interval = 1.0 / rate_per_s
    count = max(1, math.ceil(rate_per_s * seconds - 1e-9))
    clients = max(1, min(max_clients, count))
    handed: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1, timeout=60)
    result = LoadResult(clients, 0.0, 0.0, offered_per_s=rate_per_s, scheduled=count)

    def client() -> None:
        conn = Connection(base_url)
        mine: list[Sample] = []
        late = 0
        try:
            try:
                conn.connect()
            except OSError:
                conn.close()  # the first request connects (and fails, counted) instead
            ready.wait()
            while (item := handed.get()) is not None:
                number, slot = item
                sent = time.perf_counter()
                if sent - slot > LATE_S:
                    late += 1
                    continue
                ok = _attempt(operation, conn, number, result, lock)
                mine.append(Sample(slot, time.perf_counter() - slot, ok, sent - slot))
        finally:
            conn.close()
            with lock:
                result.samples.extend(mine)
                result.late += late

    threads = [threading.Thread(target=client, name=f"open-{i}", daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        ready.wait()
        result.started = time.perf_counter()
        for number in range(count):
            slot = result.started + number * interval
            pause = slot - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            handed.put((number, slot))
    finally:
        for _ in threads:
            handed.put(None)
    for thread in threads:
        thread.join()
    result.ended = max((s.started + s.seconds for s in result.samples), default=time.perf_counter())
    return result
