"""A run lock in Redis: `SET key token NX PX ttl` to take it, compare-and-delete to give it back.

Two beats, or beat and an operator's command, may start the same run at once; only the holder of the lock
works, the other returns at once. The TTL frees the lock of a process that died mid-run; it must exceed the
longest a run may last (the task's hard time limit), so that a lock never expires under a live run.
"""

from __future__ import annotations

import os
import socket
import uuid
from types import TracebackType

import redis

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RunLock:
    """Use as `with RunLock(client, key, ttl_s) as held:`; `held` is False when another run has the lock.

    The token names the holder (host, pid, random part), so `GET key` shows who runs. Release deletes the key
    only while it still holds this token: a run that outlived its TTL never frees a later run's lock.
    """

    def __init__(self, client: redis.Redis, key: str, ttl_s: float) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.held = False

    def acquire(self) -> bool:
        self.held = bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self.held

    def release(self) -> None:
        if self.held:
            self.client.eval(_RELEASE, 1, self.key, self.token)
            self.held = False

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
