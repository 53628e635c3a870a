"""Delivering order events to the merchant's `callbackUrl`, signed per the Standard Webhooks scheme.

Headers: `webhook-id` (the event id, stable across retries), `webhook-timestamp` (Unix seconds of this
attempt), `webhook-signature`: `v1,` + base64(HMAC-SHA256(secret, "<id>.<timestamp>.<body>")).

A delivery is retried on network errors, HTTP 5xx and 429, with growing delays, for WEBHOOK_RETRY_FOR_S; any
other answer outside 2xx ends it as failed. Delivery never touches payment state: it only writes the events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from worker import defaults
from worker.transitions import Record, now_iso

log = logging.getLogger(__name__)


def signature(secret: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def event_body(event: Record) -> bytes:
    """What the receiver gets: the event without our delivery bookkeeping."""
    public = {k: event[k] for k in ("id", "type", "created_at", "order")}
    return json.dumps(public, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Attempt:
    ok: bool
    retry: bool
    record: dict[str, object]


def attempt(session: requests.Session, event: Record, secret: bytes, *,
            timeout: tuple[float, float] = defaults.WEBHOOK_TIMEOUT_S) -> Attempt:
    """POST the event once; says whether it was accepted and, if not, whether to try again later."""
    body = event_body(event)
    stamp = int(time.time())
    headers = {"content-type": "application/json", "webhook-id": event["id"], "webhook-timestamp": str(stamp),
               "webhook-signature": signature(secret, event["id"], stamp, body)}
    started = time.monotonic()
    try:
        response = session.post(event["callback_url"], data=body, headers=headers, timeout=timeout,
                                allow_redirects=False)
    except requests.RequestException as exc:
        return Attempt(False, True, {"at": now_iso(), "error": type(exc).__name__,
                                     "duration_ms": int((time.monotonic() - started) * 1000)})
    status = response.status_code
    record: dict[str, object] = {"at": now_iso(), "status_code": status,
                                 "duration_ms": int((time.monotonic() - started) * 1000)}
    if 200 <= status < 300:
        return Attempt(True, False, record)
    return Attempt(False, status >= 500 or status == 429, record)


def next_delay(attempts: int, schedule: tuple[float, ...]) -> float:
    return schedule[min(attempts, len(schedule)) - 1] if attempts else schedule[0]


def expired(event: Record, retry_for_s: float) -> bool:
    created = datetime.fromisoformat(event["created_at"])
    return (datetime.now(UTC) - created).total_seconds() > retry_for_s
