"""Order events for the merchant's webhooks: what changed between two versions of an order.

Events are derived from the change itself, inside the store's transaction, so each state change yields its
event exactly once, whichever path (poll, notification, task, reconciliation) made it.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from worker.states import OrderStatus, RefundStatus
from worker.transitions import Record, now_iso


class EventType(StrEnum):
    PAID = "order.paid"
    CLOSED = "order.closed"
    REFUNDED = "order.refunded"
    REFUND_FAILED = "order.refund_failed"


def order_events(old: Record, new: Record) -> list[EventType]:
    """The events that the change from `old` to `new` stands for, in the order they happened."""
    found: list[EventType] = []
    before, after = OrderStatus(old["status"]), OrderStatus(new["status"])
    if after.paid and not before.paid:
        found.append(EventType.PAID)
    old_refunds = {r["out_request_no"]: r["status"] for r in old.get("refunds", [])}
    for refund in new.get("refunds", []):
        was = old_refunds.get(refund["out_request_no"])
        if refund["status"] == was:
            continue
        if refund["status"] == RefundStatus.REFUND_SUCCESS:
            found.append(EventType.REFUNDED)
        elif refund["status"] == RefundStatus.FAILED:
            found.append(EventType.REFUND_FAILED)
    if after == OrderStatus.TRADE_CLOSED and before != after and new.get("closed_reason") != "refunded":
        found.append(EventType.CLOSED)
    return found


def new_event(event_type: EventType, order: Record) -> dict[str, Any]:
    """The event as delivered: a stable `id` for the receiver to deduplicate, and the order as it now is."""
    snapshot = {k: v for k, v in order.items() if k not in ("callback_url", "job_id") and not k.startswith("_")}
    return {"id": "evt_" + uuid.uuid4().hex, "type": event_type.value, "created_at": now_iso(), "order": snapshot}
