"""The log of gateway calls behind `GET /sandbox/calls`: what arrived, whether it verified, what it got."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from sandbox import defaults

FIELDS = ("method", "out_trade_no", "out_request_no", "sign_ok", "code", "sub_code", "fault", "at")


class CallLog:
    """Bounded (oldest dropped first), thread-safe, oldest first."""

    def __init__(self, size: int = defaults.CALL_LOG_SIZE) -> None:
        self._lock = threading.Lock()
        self._calls: deque[dict[str, Any]] = deque(maxlen=size)

    def record(self, **entry: Any) -> None:
        row = {name: entry.get(name) for name in FIELDS}
        row.update({k: v for k, v in entry.items() if k not in row})
        with self._lock:
            self._calls.append(row)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> int:
        with self._lock:
            count = len(self._calls)
            self._calls.clear()
            return count
