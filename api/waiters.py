"""Holding a request until its job ends (`wait=N`), for many requests at once, on one Redis connection.

Each API process keeps one pub/sub connection, pattern-subscribed to the job-end channel that the store
publishes on, in a background thread; a waiting request registers an event for its job and sleeps on it. So
a wait costs no Redis connection of its own and no polling, and at most MAX_WAITERS requests wait at once (the
others are answered at once). A waiter also re-reads its job every few seconds, so that a message lost while
the connection was down only delays the answer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict

from worker.states import JobStatus
from worker.store import Keys, Store
from worker.transitions import Record

log = logging.getLogger(__name__)
RECHECK_S = 2.0


class JobWaiters:
    def __init__(self, store: Store, max_waiters: int) -> None:
        self.store = store
        self._slots = threading.BoundedSemaphore(max_waiters)
        self._lock = threading.Lock()
        self._events: dict[str, set[threading.Event]] = defaultdict(set)
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
                        for event in self._events.get(job_id, ()):
                            event.set()
            except Exception as exc:  # noqa: BLE001 - the listener must outlive a Redis restart
                log.warning("job-end listener lost its connection (%s); reconnecting", type(exc).__name__)
                self._wake_all()
                time.sleep(0.5)
            finally:
                pubsub.close()

    def _wake_all(self) -> None:
        with self._lock:
            for events in self._events.values():
                for event in events:
                    event.set()

    def wait(self, job_id: str, seconds: float) -> Record | None:
        """The job once it has ended, or as it is after `seconds`; None at once when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            return None
        event = threading.Event()
        try:
            self._ensure_listener()
            with self._lock:
                self._events[job_id].add(event)
            deadline = time.monotonic() + seconds
            job = self.store.get_job(job_id)
            while job is not None and not JobStatus(job["status"]).final:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                event.wait(min(left, RECHECK_S))
                event.clear()
                job = self.store.get_job(job_id)
            return job
        finally:
            with self._lock:
                waiting = self._events.get(job_id)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._events[job_id]
            self._slots.release()
