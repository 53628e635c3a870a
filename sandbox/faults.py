"""Failures the sandbox injects on request, to rehearse what a real network and a real Alipay do.

A fault is queued with `POST /sandbox/faults` for one gateway method, for every method (`*`), or for the
sandbox's own outgoing notifications (`notify`), and fires on the next `times` matching calls:

    kind            the gateway call                      the caller sees
    reset           not processed                         TCP RST (ConnectionResetError 104)
    lost_response   processed                             the connection closed cleanly, no answer
                                                          (http.client.RemoteDisconnected)
    delay           processed                             the answer after delay_ms
    http_502        not processed                         HTTP 502 with a short HTML body
    unavailable     not processed                         signed 20000 isp.unknow-error
    system_error    not processed                         signed 40004 ACQ.SYSTEM_ERROR

For `notify`, every kind but `delay` makes that delivery attempt fail (`lost_response` after the merchant
received it), and the notification is retried on the usual back-off; `delay` holds the attempt for delay_ms.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

NOTIFY = "notify"
ANY_METHOD = "*"


class FaultKind(StrEnum):
    RESET = "reset"
    LOST_RESPONSE = "lost_response"
    DELAY = "delay"
    HTTP_502 = "http_502"
    UNAVAILABLE = "unavailable"
    SYSTEM_ERROR = "system_error"


BEFORE_PROCESSING = frozenset({FaultKind.RESET, FaultKind.HTTP_502, FaultKind.UNAVAILABLE, FaultKind.SYSTEM_ERROR})
"""Kinds that stop a gateway call before it changes anything."""


class ConnectionFault(ConnectionError):
    """Raised through the WSGI server to drop the connection; `kind` says how (reset or lost_response)."""

    def __init__(self, kind: FaultKind) -> None:
        super().__init__(f"sandbox fault: {kind.value}")
        self.kind = kind


@dataclass
class Fault:
    id: int
    method: str
    fault: FaultKind
    times: int
    """Matching calls it still applies to."""
    delay_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fault": self.fault.value}


class FaultPlan:
    """The queue of faults; thread-safe. The oldest matching fault fires first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, method: str, kind: FaultKind, times: int = 1, delay_ms: int = 0) -> Fault:
        if times < 1:
            raise ValueError("times must be at least 1")
        if delay_ms < 0:
            raise ValueError("delay_ms must not be negative")
        with self._lock:
            fault = Fault(next(self._ids), method, kind, times, delay_ms)
            self._faults.append(fault)
            return Fault(**asdict(fault))

    def take(self, method: str | None) -> Fault | None:
        """Consume one use of the first fault matching `method` (`*` matches any gateway call, not `notify`)."""
        with self._lock:
            for fault in self._faults:
                if fault.method == method or (fault.method == ANY_METHOD and method != NOTIFY):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return Fault(**{**asdict(fault), "times": max(fault.times, 0)})
            return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def clear(self, method: str | None = None) -> int:
        """Drop every fault, or only those set for `method`; returns how many were dropped."""
        with self._lock:
            kept = [f for f in self._faults if method is not None and f.method != method]
            count = len(self._faults) - len(kept)
            self._faults[:] = kept
            return count


FAULT_ENVIRON_KEY = "sandbox.connection_fault"
"""A view puts a FaultKind here to have the connection dropped instead of answered."""


class FaultMiddleware:
    """Wraps the Flask app: when a view asked for a dropped connection, raise `ConnectionFault` to the server.

    Flask turns exceptions raised inside views into 500 answers, so the request is marked in the WSGI environ
    and the exception is raised here, outside Flask, before anything was written. `sandbox.server` turns it
    into a TCP reset or a clean close; other WSGI servers will at least not answer.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        result = self.app(environ, start_response)
        kind = environ.get(FAULT_ENVIRON_KEY)
        if kind is None:
            return result
        close = getattr(result, "close", None)
        if close is not None:
            close()
        raise ConnectionFault(FaultKind(kind))
