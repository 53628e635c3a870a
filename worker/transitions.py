"""Pure, monotonic state transitions of orders and jobs. The store applies them atomically.

Rules: a job never leaves `succeeded` or `failed`. An unpaid order may become paid from any state (a payment
that arrives late wins); a paid order never becomes unpaid, and leaves `TRADE_SUCCESS` only for
`TRADE_FINISHED` or, once fully refunded, `TRADE_CLOSED`. Refunds are reserved only while
refunded + in flight + new <= total. Every function returns a new dict, or the same object when nothing changes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from worker.states import JobStatus, OrderStatus, RefundStatus

Record = dict[str, Any]
CENT = Decimal("0.01")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def money(value: Decimal | str) -> str:
    return str(Decimal(value).quantize(CENT))


class TransitionRefused(Exception):
    """The change would break an invariant; `code` says which (for a 409)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- jobs -----------------------------------------------------------------------------------------------


def job_started(job: Record) -> Record:
    """A gateway attempt begins: running, one more attempt. No effect on a finished job."""
    if JobStatus(job["status"]).final:
        return job
    new = dict(job, status=JobStatus.RUNNING.value, attempts=int(job.get("attempts", 0)) + 1)
    new["updated_at"] = now_iso()
    return new


def job_retrying(job: Record, error: Mapping[str, Any]) -> Record:
    if JobStatus(job["status"]).final:
        return job
    return dict(job, status=JobStatus.RETRYING.value, last_error=dict(error), updated_at=now_iso())


def job_finished(job: Record, status: JobStatus, *, result: Mapping[str, Any] | None = None,
                 error: Mapping[str, Any] | None = None) -> Record:
    """End the job once; a second ending (a redelivered task) changes nothing."""
    if JobStatus(job["status"]).final:
        return job
    new = dict(job, status=status.value, result=dict(result) if result is not None else None,
               error=dict(error) if error is not None else None, updated_at=now_iso())
    if error is not None:
        new["last_error"] = dict(error)
    return new


# --- orders ---------------------------------------------------------------------------------------------


def _touch(order: Record) -> Record:
    order["updated_at"] = now_iso()
    return order


def order_precreated(order: Record, *, qr_code: str, expires_at: str) -> Record:
    """The gateway issued the QR code. Only fills in what is missing; never moves the status back."""
    if order.get("qr_code") == qr_code and order.get("expires_at"):
        return order
    new = dict(order, qr_code=qr_code)
    new.setdefault("expires_at", None)
    if not new["expires_at"]:
        new["expires_at"] = expires_at
    if OrderStatus(new["status"]) == OrderStatus.FAILED:
        new["status"] = OrderStatus.PENDING.value
    return _touch(new)


def order_failed(order: Record, error: Mapping[str, Any]) -> Record:
    """The precreate failed for good. Only an order that never reached the gateway's trade states fails."""
    if OrderStatus(order["status"]) != OrderStatus.PENDING or order.get("qr_code"):
        return order
    return _touch(dict(order, status=OrderStatus.FAILED.value, error=dict(error)))


PAYMENT_FIELDS = ("trade_no", "buyer_logon_id", "buyer_user_id", "gmt_payment")


def order_trade_status(order: Record, trade_status: str, fields: Mapping[str, Any] | None = None,
                       *, source: str = "poll") -> Record:
    """Apply a trade status seen at the gateway (poll, notification or reconciliation), monotonically."""
    fields = fields or {}
    current = OrderStatus(order["status"])
    try:
        seen = OrderStatus(trade_status)
    except ValueError:
        return order
    new = dict(order)
    if fields.get("trade_no") and not new.get("trade_no"):
        new["trade_no"] = fields["trade_no"]
    if seen.paid:
        reversed_by_cancel = order.get("closed_reason") == "cancelled_refunded"
        target: OrderStatus
        if current == OrderStatus.TRADE_FINISHED or (
            current == OrderStatus.TRADE_CLOSED and (_was_paid(order) or reversed_by_cancel)
        ):
            target = current
        elif current == OrderStatus.TRADE_SUCCESS and seen == OrderStatus.TRADE_SUCCESS:
            target = current
        else:
            target = seen
        if target != current:
            new["status"] = target.value
            new["paid_via"] = source
            new.pop("closed_reason", None)
        for name in PAYMENT_FIELDS:
            if fields.get(name) and not new.get(name):
                new[name] = fields[name]
    elif seen == OrderStatus.WAIT_BUYER_PAY:
        if current == OrderStatus.PENDING:
            new["status"] = seen.value
    elif seen == OrderStatus.TRADE_CLOSED:
        if current.open or current == OrderStatus.FAILED:
            new["status"] = seen.value
            new["closed_reason"] = fields.get("closed_reason") or source
    if new == order:
        return order
    return _touch(new)


def order_closed(order: Record, reason: str) -> Record:
    """Close an unpaid order (deadline passed). A paid order is left alone: the payment wins."""
    if not OrderStatus(order["status"]).open:
        return order
    return _touch(dict(order, status=OrderStatus.TRADE_CLOSED.value, closed_reason=reason))


DEADLINE_CLOSE_REASONS = frozenset({"deadline", "deadline_not_scanned"})
"""Closes we made ourselves at the deadline; reconciliation confirms each once with a query."""


def close_unconfirmed(order: Mapping[str, Any]) -> bool:
    """Closed by us at its deadline, and not yet seen closed (or never scanned) at the gateway since."""
    return (order.get("status") == OrderStatus.TRADE_CLOSED and order.get("closed_reason") in DEADLINE_CLOSE_REASONS
            and not order.get("close_confirmed_at"))


def order_close_confirmed(order: Record) -> Record:
    """Reconciliation saw the gateway agree with our deadline close: stamp it, so it is not asked about again."""
    if not close_unconfirmed(order):
        return order
    return _touch(dict(order, close_confirmed_at=now_iso()))


def _was_paid(order: Mapping[str, Any]) -> bool:
    return bool(order.get("gmt_payment") or order.get("paid_via"))


def refund_totals(order: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
    """(refunded, in flight) over the order's refunds."""
    refunded = Decimal("0")
    inflight = Decimal("0")
    for refund in order.get("refunds", []):
        amount = Decimal(refund["refund_amount"])
        if refund["status"] == RefundStatus.REFUND_SUCCESS:
            refunded += amount
        elif refund["status"] in (RefundStatus.PENDING, RefundStatus.UNKNOWN):
            inflight += amount
    return refunded, inflight


def find_refund(order: Mapping[str, Any], out_request_no: str) -> Mapping[str, Any] | None:
    for refund in order.get("refunds", []):
        if refund["out_request_no"] == out_request_no:
            return refund
    return None


def refund_reserved(order: Record, *, out_request_no: str, amount: Decimal, job_id: str) -> Record:
    """Reserve a refund, or refuse with TransitionRefused (order not paid, amount over what is left)."""
    status = OrderStatus(order["status"])
    if status != OrderStatus.TRADE_SUCCESS:
        raise TransitionRefused("order_not_refundable",
                                f"Order {order['out_trade_no']} is {status.value}; only paid orders are refunded.")
    if find_refund(order, out_request_no) is not None:
        raise TransitionRefused("duplicate_out_request_no",
                                f"out_request_no {out_request_no} was already used for this order.")
    refunded, inflight = refund_totals(order)
    total = Decimal(order["total_amount"])
    left = total - refunded - inflight
    if amount > left:
        raise TransitionRefused(
            "refund_exceeds_total",
            f"refund_amount {money(amount)} is more than the {money(left)} left to refund "
            f"(total {money(total)}, refunded {money(refunded)}, in flight {money(inflight)}).",
        )
    new = copy.deepcopy(order)
    new.setdefault("refunds", []).append(
        {"out_request_no": out_request_no, "refund_amount": money(amount),
         "status": RefundStatus.PENDING.value, "job_id": job_id}
    )
    return _touch(_with_totals(new))


def refund_settled(order: Record, out_request_no: str, status: RefundStatus,
                   fields: Mapping[str, Any] | None = None) -> Record:
    """Record a refund's outcome. Success is final; a failure or unknown never undoes a success."""
    refund = find_refund(order, out_request_no)
    if refund is None or refund["status"] == RefundStatus.REFUND_SUCCESS or refund["status"] == status:
        return order
    if status == RefundStatus.UNKNOWN and refund["status"] == RefundStatus.FAILED:
        return order
    new = copy.deepcopy(order)
    for item in new["refunds"]:
        if item["out_request_no"] == out_request_no:
            item["status"] = status.value
            if fields and fields.get("gmt_refund_pay"):
                item["gmt_refund_pay"] = fields["gmt_refund_pay"]
    new = _with_totals(new)
    if Decimal(new["refunded_amount"]) >= Decimal(new["total_amount"]) and OrderStatus(new["status"]).paid:
        new["status"] = OrderStatus.TRADE_CLOSED.value
        new["closed_reason"] = "refunded"
    return _touch(new)


def _with_totals(order: Record) -> Record:
    refunded, _ = refund_totals(order)
    order["refunded_amount"] = money(refunded)
    return order
