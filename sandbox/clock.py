"""The sandbox's clock: real time plus an offset that `POST /sandbox/clock` moves forward.

Everything time-dependent (trade expiry, bill dates, link lifetimes, notification back-off) reads this clock,
so tests can jump minutes or days ahead without waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Thread-safe; `advance` only moves forward and wakes whoever subscribed with `on_advance`."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._real_now = now or (lambda: datetime.now(UTC))
        self._offset = timedelta()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        """The sandbox's current moment, timezone-aware (UTC)."""
        with self._lock:
            offset = self._offset
        return self._real_now() + offset

    @property
    def offset_s(self) -> float:
        with self._lock:
            return self._offset.total_seconds()

    def advance(self, seconds: float) -> datetime:
        """Move the clock `seconds` forward (must be >= 0) and return the new time."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
        return self.now()

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (without arguments, from the advancing thread) after every advance."""
        with self._lock:
            self._listeners.append(listener)
