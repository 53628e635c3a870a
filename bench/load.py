"""Load clients: threads, each with one keep-alive HTTP connection (plain `http.client`, so that the client's
own CPU stays small next to the service's), running a closed loop until a deadline."""

from __future__ import annotations

import http.client
import json
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

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class Sample:
    started: float
    """perf_counter() when the operation began."""
    seconds: float
    ok: bool


@dataclass
class LoadResult:
    clients: int
    started: float
    ended: float
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

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
                try:
                    ok = operation(conn, number)
                except Exception as exc:  # noqa: BLE001 - counted and reported, never fatal to the run
                    ok = False
                    conn.close()
                    with lock:
                        result.errors.append(f"{type(exc).__name__}: {exc}"[:200])
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
