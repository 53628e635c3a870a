"""Delivery of trade_status_sync notifications to merchants' notify_url, retried until they answer `success`.

Each notification is a form-encoded POST signed like Alipay's (ALIPAY.md 3.1-3.2: every field but `sign` and
`sign_type`, sorted, empty ones skipped). Its `notify_id` stays the same across attempts; `notify_time` and the
signature are made fresh for each attempt. An attempt succeeds only on HTTP 200 with the body exactly
`success`; otherwise the next one is due after the back-off on the sandbox clock, so advancing the clock makes
due retries fire at once. Attempts run on a small thread pool, never under a lock held by the trades.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests

from sandbox import defaults
from sandbox.clock import SandboxClock
from sandbox.faults import NOTIFY, FaultKind, FaultPlan
from sandbox.values import alipay_time
from worker.alipay.signing import PrivateKey, content_to_sign, sign

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass
class Attempt:
    at: str
    status_code: int | None = None
    answer: str | None = None
    error: str | None = None
    fault: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code == 200 and self.answer == "success" and self.fault is None


@dataclass
class Notification:
    notify_id: str
    url: str
    fields: dict[str, str]
    created_at: datetime
    next_at: datetime | None
    state: str = PENDING
    in_flight: bool = False
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "notify_id": self.notify_id,
            "url": self.url,
            "out_trade_no": self.fields.get("out_trade_no"),
            "trade_status": self.fields.get("trade_status"),
            "out_biz_no": self.fields.get("out_biz_no"),
            "state": self.state,
            "created_at": alipay_time(self.created_at),
            "next_attempt_at": alipay_time(self.next_at) if self.next_at else None,
            "attempts": [vars(a).copy() for a in self.attempts],
            "fields": dict(self.fields),
        }


Post = Callable[[str, dict[str, str], float], tuple[int, str]]
"""Sends one form POST; returns (status code, body). Raises on connection errors."""


def _post(url: str, data: dict[str, str], timeout: float) -> tuple[int, str]:
    with requests.Session() as session:
        session.trust_env = False
        response = session.post(
            url, data=data, timeout=timeout, allow_redirects=False,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        return response.status_code, response.text


class Notifier:
    """Queues notifications and delivers the due ones when `run_due` is called (by the background thread)."""

    def __init__(self, clock: SandboxClock, key: PrivateKey, app_id: str, faults: FaultPlan,
                 wake: Callable[[], None], *, backoff_s: tuple[float, ...] = defaults.NOTIFY_BACKOFF_S,
                 timeout_s: float = defaults.NOTIFY_TIMEOUT_S, post: Post = _post) -> None:
        self._clock = clock
        self._key = key
        self._app_id = app_id
        self._faults = faults
        self._wake = wake
        self._backoff = backoff_s
        self._timeout = timeout_s
        self._post = post
        self._lock = threading.Lock()
        self._items: list[Notification] = []
        self._pool = ThreadPoolExecutor(max_workers=defaults.NOTIFY_WORKERS, thread_name_prefix="sandbox-notify")

    def enqueue(self, url: str, fields: dict[str, str]) -> str:
        """Queue a notification, due at once; returns its notify_id. Never blocks on I/O."""
        now = self._clock.now()
        item = Notification(uuid.uuid4().hex, url, dict(fields), now, now)
        with self._lock:
            self._items.append(item)
            self._trim()
        self._wake()
        return item.notify_id

    def run_due(self) -> None:
        """Start an attempt for every pending notification that is due and not already being attempted."""
        now = self._clock.now()
        with self._lock:
            due = [n for n in self._items
                   if n.state == PENDING and not n.in_flight and n.next_at is not None and n.next_at <= now]
            for item in due:
                item.in_flight = True
        for item in due:
            try:
                self._pool.submit(self._attempt, item)
            except RuntimeError:
                with self._lock:
                    item.in_flight = False

    def next_due(self) -> datetime | None:
        with self._lock:
            times = [n.next_at for n in self._items if n.state == PENDING and not n.in_flight and n.next_at]
        return min(times) if times else None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [n.as_dict() for n in self._items]

    def clear(self) -> int:
        """Forget every notification that is no longer pending."""
        with self._lock:
            kept = [n for n in self._items if n.state == PENDING]
            count = len(self._items) - len(kept)
            self._items = kept
            return count

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def signed_params(self, item: Notification, now: datetime) -> dict[str, str]:
        """The form fields of one attempt: the business fields, the common ones and a fresh signature."""
        params = dict(item.fields)
        params.update(notify_time=alipay_time(now), notify_type="trade_status_sync", notify_id=item.notify_id,
                      app_id=self._app_id, auth_app_id=self._app_id, charset="utf-8", version="1.0")
        params = {k: v for k, v in params.items() if v}
        params["sign"] = sign(self._key, content_to_sign(params, exclude=("sign", "sign_type")))
        params["sign_type"] = "RSA2"
        return params

    def _attempt(self, item: Notification) -> None:
        started = self._clock.now()
        attempt = Attempt(at=alipay_time(started))
        fault = self._faults.take(NOTIFY)
        try:
            if fault is not None:
                attempt.fault = fault.fault.value
                if fault.fault is FaultKind.DELAY:
                    time.sleep(fault.delay_ms / 1000)
                    attempt.fault = None
            if fault is None or fault.fault in (FaultKind.DELAY, FaultKind.LOST_RESPONSE):
                status, body = self._post(item.url, self.signed_params(item, self._clock.now()), self._timeout)
                attempt.status_code, attempt.answer = status, body[:200]
        except Exception as exc:  # any failure of the merchant's endpoint means "retry later"
            attempt.error = f"{type(exc).__name__}: {exc}"[:300]
        with self._lock:
            item.in_flight = False
            item.attempts.append(attempt)
            if attempt.ok:
                item.state, item.next_at = DELIVERED, None
            elif len(item.attempts) > len(self._backoff):
                item.state, item.next_at = FAILED, None
            else:
                item.next_at = started + timedelta(seconds=self._backoff[len(item.attempts) - 1])
        if not attempt.ok:
            log.info("notification %s to %s failed (attempt %d): %s", item.notify_id, item.url,
                     len(item.attempts), attempt.error or attempt.fault or attempt.status_code)
        self._wake()

    def _trim(self) -> None:
        finished = [n for n in self._items if n.state != PENDING]
        excess = len(finished) - defaults.NOTIFICATION_LOG_SIZE
        if excess > 0:
            drop = {id(n) for n in finished[:excess]}
            self._items = [n for n in self._items if id(n) not in drop]
