"""The sweep: ask the gateway about every order the store has not heard of for a while, and catch up.

Candidates come from the store's `unsettled` index, oldest first: orders still open, orders we closed
ourselves at their deadline and have not yet seen closed at Alipay, and orders with a refund in flight
(PENDING) or of unknown outcome (UNKNOWN). What the gateway says is applied through the same monotonic
transitions as polls and notifications, so a sweep racing either of them changes nothing twice.

Rules, per order:

- open, still on the poll schedule, or without a QR code yet: left to the poller or the precreate job;
- open, nobody following it: `alipay.trade.query`; paid → paid (`paid_via: reconciliation`); TRADE_CLOSED
  after the deadline → closed (`closed_reason: reconciliation`); otherwise the order is put back on the poll
  schedule, and the poller queries it and closes it at its deadline as usual;
- closed by us at its deadline: one confirming query once the order is older than the threshold; a payment
  that slipped past the close wins (paid); a closed or never-scanned trade confirms the close
  (`close_confirmed_at`); a trade still open at Alipay is asked about again next time;
- each refund PENDING or UNKNOWN: `alipay.trade.fastpay.refund.query`; shown → REFUND_SUCCESS. Not shown
  → nothing changes, ever: the amount stays reserved. Once the refund's job has ended and REFUND_GRACE_S
  has passed since, the refund is listed under `unresolved` in the sweep's result, for a person to settle.
  Reconciliation never marks a refund FAILED: "not shown yet" is not "will never happen".

Every checked order is stamped (`mark_checked`), so a second sweep right after the first, or at the same
time (it then does not get the lock), asks the gateway nothing again. Work per run is bounded by a batch
size and a time budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from worker import defaults
from worker.alipay import trade
from worker.alipay.client import AlipayClient
from worker.alipay.errors import AlipayError, BusinessError
from worker.reconciliation.lock import RunLock
from worker.reconciliation.reports import save_sweep
from worker.states import JobStatus, OrderStatus, RefundStatus
from worker.store import Keys, Store
from worker.transitions import Record, close_unconfirmed, order_close_confirmed, order_trade_status, refund_settled

log = logging.getLogger(__name__)

SOURCE = "reconciliation"
NOT_SCANNED = "ACQ.TRADE_NOT_EXIST"
PAID = frozenset({OrderStatus.TRADE_SUCCESS.value, OrderStatus.TRADE_FINISHED.value})
MAX_FAILURES_IN_A_ROW = 5
"""Gateway failures in a row after which a sweep stops early: the gateway is down, the next run tries again."""


@dataclass(frozen=True)
class SweepConfig:
    older_than_s: float = defaults.RECONCILE_AFTER_S
    batch: int = defaults.RECONCILE_BATCH
    budget_s: float = defaults.RECONCILE_SWEEP_BUDGET_S
    refund_grace_s: float = defaults.RECONCILE_REFUND_GRACE_S
    lock_ttl_s: float = defaults.RECONCILE_SWEEP_LOCK_S


@dataclass
class SweepResult:
    started_at: str
    finished_at: str = ""
    duration_s: float = 0.0
    checked: int = 0
    changed: int = 0
    failed: int = 0
    requeued: int = 0
    unresolved: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None
    """Why the run ended before its batch did: `budget` (time) or `gateway_failing`; None otherwise."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Check:
    changed: bool = False
    failed: bool = False
    requeued: bool = False
    unresolved: list[dict[str, Any]] = field(default_factory=list)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def run_sweep(store: Store, client: AlipayClient, config: SweepConfig | None = None,
              *, clock: Callable[[], float] = time.time) -> SweepResult | None:
    """One sweep under the sweep lock; None when another sweep holds it. Keeps the result as the last sweep
    (GET /reconciliations/sweep/last) and logs one line. Safe to call from any number of processes at once."""
    config = config or SweepConfig()
    with RunLock(store.redis, Keys.reconciliation_lock("sweep"), config.lock_ttl_s) as held:
        if not held:
            log.info("reconciliation sweep skipped: another sweep is running")
            return None
        result = sweep(store, client, config, clock=clock)
        save_sweep(store, result.to_dict())
    log.info("reconciliation sweep: checked %d, changed %d, failed %d, requeued %d, unresolved %d in %.2fs%s",
             result.checked, result.changed, result.failed, result.requeued, len(result.unresolved),
             result.duration_s, f" (stopped: {result.stopped})" if result.stopped else "")
    return result


def sweep(store: Store, client: AlipayClient, config: SweepConfig,
          *, clock: Callable[[], float] = time.time) -> SweepResult:
    """Check up to `config.batch` unsettled orders not heard of for `config.older_than_s`, oldest first, within
    `config.budget_s`. No lock: use `run_sweep`. Each step is idempotent; a gateway failure is counted and the
    order is asked about again on a later run."""
    started = clock()
    result = SweepResult(started_at=_iso(started))
    in_a_row = 0
    for otn in store.unsettled_orders(started - config.older_than_s, config.batch):
        if clock() - started >= config.budget_s:
            result.stopped = "budget"
            break
        check = check_order(store, client, otn, config, now=clock())
        result.checked += 1
        result.changed += check.changed
        result.failed += check.failed
        result.requeued += check.requeued
        result.unresolved.extend(check.unresolved)
        in_a_row = in_a_row + 1 if check.failed else 0
        if in_a_row >= MAX_FAILURES_IN_A_ROW:
            result.stopped = "gateway_failing"
            break
    finished = clock()
    result.finished_at = _iso(finished)
    result.duration_s = round(finished - started, 3)
    return result


def check_order(store: Store, client: AlipayClient, out_trade_no: str, config: SweepConfig,
                *, now: float) -> _Check:
    """Bring one order up to date with the gateway, following the rules of the module docstring."""
    check = _Check()
    order = store.get_order(out_trade_no)
    if order is None:
        store.forget_unsettled(out_trade_no)
        return check
    try:
        if OrderStatus(order["status"]).open:
            _check_open(store, client, order, now, check)
        elif close_unconfirmed(order):
            _confirm_close(store, client, order, check)
        for refund in order.get("refunds", []):
            if refund.get("status") in (RefundStatus.PENDING, RefundStatus.UNKNOWN):
                _check_refund(store, client, out_trade_no, refund, config, now, check)
    finally:
        store.mark_checked(out_trade_no)
    return check


def _query(client: AlipayClient, otn: str, check: _Check) -> dict[str, Any] | None:
    """The trade as the gateway sees it: {} when it was never scanned, None when the call failed."""
    try:
        return trade.query(client, out_trade_no=otn)
    except BusinessError as exc:
        if exc.sub_code == NOT_SCANNED:
            return {}
        log.warning("reconciliation: query %s refused: %s %s", otn, exc.code, exc.sub_code)
    except AlipayError as exc:
        log.info("reconciliation: query %s failed (%s)", otn, exc.kind)
    check.failed = True
    return None


def _apply(store: Store, otn: str, status: str, answer: dict[str, Any], check: _Check) -> Record | None:
    fields = trade.payment_fields(answer)
    order, changed = store.update_order(otn, lambda o: order_trade_status(o, status, fields, source=SOURCE))
    check.changed = check.changed or changed
    if changed:
        log.info("reconciliation: order %s is now %s", otn, order["status"] if order else "gone")
    return order


def _expired(order: Record, now: float) -> bool:
    expires_at = order.get("expires_at")
    return isinstance(expires_at, str) and datetime.fromisoformat(expires_at).timestamp() <= now


def _check_open(store: Store, client: AlipayClient, order: Record, now: float, check: _Check) -> None:
    otn = order["out_trade_no"]
    if not order.get("qr_code") or store.poll_scheduled(otn):
        return  # the precreate job, or the poller, is still in charge
    answer = _query(client, otn, check)
    if answer is None:
        return
    status = answer.get("trade_status", "")
    if status in PAID or (status == OrderStatus.TRADE_CLOSED and _expired(order, now)):
        _apply(store, otn, status, answer, check)
        return
    if status == OrderStatus.WAIT_BUYER_PAY:
        _apply(store, otn, status, answer, check)
    current = store.get_order(otn)
    if current is not None and OrderStatus(current["status"]).open:
        store.schedule_poll(otn, now)
        check.requeued = True
        log.info("reconciliation: order %s was open with no poll scheduled; handed back to the poller", otn)


def _confirm_close(store: Store, client: AlipayClient, order: Record, check: _Check) -> None:
    otn = order["out_trade_no"]
    answer = _query(client, otn, check)
    if answer is None:
        return
    status = answer.get("trade_status", "")
    if status in PAID:
        _apply(store, otn, status, answer, check)  # paid after our close: the payment wins
    elif status == OrderStatus.WAIT_BUYER_PAY:
        log.warning("reconciliation: order %s is closed here but still open at Alipay; asking again later", otn)
    else:
        store.update_order(otn, order_close_confirmed)


def _check_refund(store: Store, client: AlipayClient, otn: str, refund: Record, config: SweepConfig, now: float,
                  check: _Check) -> None:
    orn = refund["out_request_no"]
    try:
        answer = trade.refund_query(client, out_trade_no=otn, out_request_no=orn)
    except AlipayError as exc:
        log.info("reconciliation: refund query %s/%s failed (%s)", otn, orn, exc.kind)
        check.failed = True
        return
    if trade.refund_done(answer):
        _, changed = store.update_order(otn, lambda o: refund_settled(o, orn, RefundStatus.REFUND_SUCCESS, answer))
        check.changed = check.changed or changed
        if changed:
            log.info("reconciliation: refund %s/%s settled REFUND_SUCCESS", otn, orn)
        return
    job = store.get_job(refund["job_id"]) if refund.get("job_id") else None
    if job is not None and not JobStatus(job["status"]).final:
        return  # its job is still trying
    ended_at = job.get("updated_at") if job else None
    ended = datetime.fromisoformat(ended_at).timestamp() if isinstance(ended_at, str) else None
    if ended is not None and now - ended < config.refund_grace_s:
        return
    check.unresolved.append({
        "out_trade_no": otn, "out_request_no": orn, "refund_amount": refund.get("refund_amount"),
        "status": refund.get("status"), "job_id": refund.get("job_id"),
        "job_status": job["status"] if job else None, "job_ended_at": job.get("updated_at") if job else None,
    })
    log.warning("reconciliation: refund %s/%s is %s and Alipay does not show it; it stays reserved",
                otn, orn, refund.get("status"))
