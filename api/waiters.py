"""Holding a request until its job ends (`wait=N`), for many requests at once, on one Redis connection.

Each API process keeps one pub/sub connection, pattern-subscribed to the job-end channel that the store
publishes on, in a background thread; a waiting request registers an event for its job and sleeps on it. So
a wait costs no Redis connection of its own and no polling, and at most MAX_WAITERS requests wait at once (the
others are answered at once). The message carries the job's final record, so the request answers without
reading it again. A waiter also re-reads its job every few seconds, so that a message lost while the
connection was down only delays the answer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from worker.states import JobStatus
from worker.store import Keys, Store
from worker.transitions import Record

log = logging.getLogger(__name__)
RECHECK_S = 2.0


class Waiter:
    """One waiting request: the event it sleeps on, and the final record the listener hands it."""

    __slots__ = ("event", "record")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.record: Record | None = None


class JobWaiters:
    def __init__(self, store: Store, max_waiters: int) -> None:
        self.store = store
        self._slots = threading.BoundedSemaphore(max_waiters)
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = defaultdict(set)
        self._subscribed = threading.Event()
        self._pid: int | None = None

    def _ensure_listener(self) -> None:
        """Start the listener in this process (gunicorn forks after the app is made, so not before)."""
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._subscribed.clear()
            threading.Thread(target=self._listen, name="job-waiters", daemon=True).start()
        self._subscribed.wait(1.0)

    def _listen(self) -> None:
        pattern = Keys.job_done_channel("*")
        prefix = len(pattern) - 1
        while True:
            pubsub = self.store.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(pattern)
                self._subscribed.set()
                for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"]
                    job_id = (channel.decode() if isinstance(channel, bytes) else channel)[prefix:]
                    with self._lock:
                        waiters = list(self._waiters.get(job_id, ()))
                    if waiters:
                        record = _final_record(message.get("data"))
                        for waiter in waiters:
                            waiter.record = record
                            waiter.event.set()
            except Exception as exc:  # noqa: BLE001 - the listener must outlive a Redis restart
                log.warning("job-end listener lost its connection (%s); reconnecting", type(exc).__name__)
                self._wake_all()
                time.sleep(0.5)
            finally:
                pubsub.close()

    def _wake_all(self) -> None:
        with self._lock:
            for waiters in self._waiters.values():
                for waiter in waiters:
                    waiter.event.set()

    @contextmanager
    def watching(self, job_id: str) -> Iterator[Waiter | None]:
        """Listen for the job's end message from now on; None when every slot is taken. A request that is
        about to queue its job registers first, so that no end message can come before it listens."""
        if not self._slots.acquire(blocking=False):
            yield None
            return
        waiter = Waiter()
        try:
            self._ensure_listener()
            with self._lock:
                self._waiters[job_id].add(waiter)
            yield waiter
        finally:
            with self._lock:
                waiting = self._waiters.get(job_id)
                if waiting is not None:
                    waiting.discard(waiter)
                    if not waiting:
                        del self._waiters[job_id]
            self._slots.release()

    def wait(self, job_id: str, seconds: float) -> Record | None:
        """The job once it has ended, or as it is after `seconds`; None at once when every slot is taken."""
        with self.watching(job_id) as waiter:
            if waiter is None:
                return None
            return self.until_final(waiter, job_id, seconds, self.store.get_job(job_id))

    def until_final(self, waiter: Waiter, job_id: str, seconds: float, job: Record | None) -> Record | None:
        """Sleep on `waiter` until the job (last seen as `job`) has ended or `seconds` have passed."""
        deadline = time.monotonic() + seconds
        while job is not None and not JobStatus(job["status"]).final:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            waiter.event.wait(min(left, RECHECK_S))
            waiter.event.clear()
            job = waiter.record if waiter.record is not None else self.store.get_job(job_id)
        return job


def _final_record(data: object) -> Record | None:
    """The job record an end message carries, if it is one (anything else makes the waiter read the store)."""
    try:
        record = orjson.loads(data) if isinstance(data, (bytes, str)) else None
        if isinstance(record, dict) and JobStatus(str(record.get("status"))).final:
            return record
    except ValueError:  # not JSON, or not a job status
        pass
    return None
