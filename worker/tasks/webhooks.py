"""webhooks.dispatch and webhooks.deliver: push order events to the merchant, in order, at least once.

Orders with events to deliver wait in a Redis sorted set, like trades waiting for a poll; each beat tick
claims the due ones (with a lease, so one order's events are never delivered by two workers at once) and
queues one `webhooks.deliver` per order on the `webhooks` queue.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import requests

from worker import defaults, metrics, services
from worker.celery_app import app
from worker.logging_json import bind
from worker.settings import get_settings
from worker.webhooks import attempt, expired, next_delay

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _session() -> requests.Session:
    return requests.Session()


@app.task(name="webhooks.dispatch")
def dispatch() -> int:
    due = services.store().claim_due_deliveries(time.time(), defaults.POLL_BATCH, defaults.WEBHOOK_LEASE_S)
    for otn in due:
        deliver.apply_async((otn,), expires=defaults.WEBHOOK_LEASE_S)
    return len(due)


@app.task(name="webhooks.deliver")
def deliver(out_trade_no: str) -> None:
    """Deliver the order's pending events oldest first; stop at the first one to retry, so that the receiver
    sees an order's events in the order they happened. Idempotent: delivered events are skipped."""
    bind(out_trade_no=out_trade_no)
    settings = get_settings()
    store = services.store()
    events = store.events_of(out_trade_no)
    if settings.webhook_secret is None:
        log.warning("events of %s not delivered: WEBHOOK_SECRET is not set", out_trade_no)
        store.delivered_all(out_trade_no, len(events))
        return
    for event in events:
        if event["delivery"] != "pending":
            continue
        result = attempt(_session(), event, settings.webhook_secret)
        event["attempts"] = (event["attempts"] + [result.record])[-defaults.MAX_DELIVERY_ATTEMPTS_KEPT:]
        if result.ok:
            event["delivery"] = "delivered"
            metrics.webhook_delivery("delivered")
            log.info("event %s (%s) of %s delivered", event["id"], event["type"], out_trade_no)
        elif result.retry and not expired(event, settings.webhook_retry_for_s):
            store.save_event(event)
            metrics.webhook_delivery("retrying")
            delay = next_delay(len(event["attempts"]), settings.webhook_retry_s)
            log.info("event %s of %s not delivered (%s); next try in %.1fs", event["id"], out_trade_no,
                     result.record.get("status_code") or result.record.get("error"), delay)
            store.schedule_delivery(out_trade_no, time.time() + delay)
            return
        else:
            event["delivery"] = "failed"
            metrics.webhook_delivery("failed")
            log.warning("event %s of %s abandoned after %d attempts (%s)", event["id"], out_trade_no,
                        len(event["attempts"]), result.record.get("status_code") or result.record.get("error"))
        store.save_event(event)
    store.delivered_all(out_trade_no, len(events))
