"""The daily bill reconciliation: Alipay's trade bill for one Beijing day compared row by row with the store.

Steps: ask `alipay.data.dataservice.bill.downloadurl.query` for the day's `trade` bill, download the zip at
once (the link lives 30 s), parse it (`bill_file`, which checks the 合计 lines), compare, repair what is safe,
and keep the report (GET /reconciliations/<date>). Every bill row that does not match the store, and every
payment or refund of that day in the store that the bill does not show, gives one discrepancy:

- `missing_order`: a payment row, no order here. Repair: the order is rebuilt from the bill, marked
  `restored_by: reconciliation`, with the refund rows of the same bill that fit.
- `not_paid`: a payment row, the order here is not paid. Repair: paid, through the usual monotonic transition.
- `amount_mismatch`: a payment row whose amount differs from the order's total. Reported only.
- `not_at_alipay`: an order paid that day here (gmt_payment, Beijing) without a payment row. Reported only.
- `refund_missing`: a refund row the order does not count as done (absent, in flight, failed). Repair: added,
  or settled, as REFUND_SUCCESS when the order is paid and refunded + in flight + the refund fits the total.
- `refund_amount_mismatch`: a refund row whose amount differs from the order's refund. Reported only.
- `refund_extra`: a refund done here that day (gmt_refund_pay) without a refund row. Reported only.
- `duplicate_row`: a second row for the same payment or refund. Reported only.

Repairs happen only when `repair` is on (the default).

The store side of a discrepancy is the order as it was found, before any repair; `totals` and `counts` are
likewise as found. Repairs only ever move an order forward (paid, refunded), never back, so running the same
day twice is harmless: the second run finds what the first repaired.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Any

from worker import defaults
from worker.alipay import bill
from worker.alipay.client import BEIJING, AlipayClient
from worker.alipay.errors import AlipayError, BusinessError
from worker.reconciliation.bill_file import Bill, BillRow, parse_zip
from worker.reconciliation.errors import (
    BillFormatError,
    BillNotAvailable,
    ReconciliationBusy,
    ReconciliationError,
)
from worker.reconciliation.lock import RunLock
from worker.reconciliation.reports import get_failure, get_report, record_failure, save_report
from worker.states import OrderStatus, RefundStatus
from worker.store import Keys, Store
from worker.transitions import (
    Record,
    TransitionRefused,
    find_refund,
    money,
    now_iso,
    order_trade_status,
    refund_reserved,
    refund_settled,
    refund_totals,
)

log = logging.getLogger(__name__)

SOURCE = "reconciliation"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
ZERO = Decimal("0")


class Kind(StrEnum):
    MISSING_ORDER = "missing_order"
    NOT_PAID = "not_paid"
    AMOUNT_MISMATCH = "amount_mismatch"
    NOT_AT_ALIPAY = "not_at_alipay"
    REFUND_MISSING = "refund_missing"
    REFUND_AMOUNT_MISMATCH = "refund_amount_mismatch"
    REFUND_EXTRA = "refund_extra"
    DUPLICATE_ROW = "duplicate_row"


@dataclass(frozen=True)
class Discrepancy:
    kind: Kind
    out_trade_no: str
    out_request_no: str | None
    alipay: dict[str, Any] | None
    store: dict[str, Any] | None
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "out_trade_no": self.out_trade_no, "out_request_no": self.out_request_no,
                "alipay": self.alipay, "store": self.store, "repaired": self.repaired}


# --- days ---------------------------------------------------------------------------------------------------


def beijing_day(text: str | None) -> str | None:
    """The `yyyy-MM-dd` of an Alipay timestamp (`yyyy-MM-dd HH:mm:ss`, Beijing), None when there is none."""
    if not text or not _DAY.match(text):
        return None
    return text[:10]


def previous_day(now: datetime) -> date:
    """Yesterday in Beijing: the last day whose bill can exist at `now` (aware)."""
    return now.astimezone(BEIJING).date() - timedelta(days=1)


def due_day(now: datetime, at: time) -> date | None:
    """The day the daily run should reconcile at `now`: yesterday (Beijing) once `at` (Beijing) has passed today."""
    local = now.astimezone(BEIJING)
    if local.time().replace(tzinfo=None) < at:
        return None
    return previous_day(now)


# --- the two sides of a discrepancy ---------------------------------------------------------------------------


def _payment_side(row: BillRow) -> dict[str, Any]:
    return {"trade_no": row.trade_no, "total_amount": money(row.amount), "gmt_payment": row.finished_text,
            "subject": row.subject, "store_id": row.store_id}


def _refund_side(row: BillRow) -> dict[str, Any]:
    return {"trade_no": row.trade_no, "out_request_no": row.out_request_no, "refund_amount": money(row.amount),
            "gmt_refund_pay": row.finished_text}


def _order_side(order: Record) -> dict[str, Any]:
    return {"status": order.get("status"), "trade_no": order.get("trade_no"),
            "total_amount": order.get("total_amount"), "refunded_amount": order.get("refunded_amount"),
            "gmt_payment": order.get("gmt_payment")}


def _store_refund_side(refund: Mapping[str, Any]) -> dict[str, Any]:
    return {"out_request_no": refund.get("out_request_no"), "refund_amount": refund.get("refund_amount"),
            "status": refund.get("status"), "gmt_refund_pay": refund.get("gmt_refund_pay")}


# --- pure repairs ---------------------------------------------------------------------------------------------


def was_paid(order: Record) -> bool:
    """Paid at some point: paid now, or closed after a payment (fully refunded)."""
    return OrderStatus(order["status"]).paid or bool(order.get("gmt_payment"))


def _payment_fields(row: BillRow) -> dict[str, Any]:
    return {"trade_no": row.trade_no, "buyer_logon_id": row.buyer_logon_id, "gmt_payment": row.finished_text}


def refund_from_bill(order: Record, row: BillRow) -> Record:
    """Count a refund the bill shows as REFUND_SUCCESS: add it, or settle the order's own record of it.

    Raises TransitionRefused when that cannot be done safely: the order is not paid, the amounts differ, or
    refunded + in flight + this refund would exceed the total.
    """
    orn = row.out_request_no or order["out_trade_no"]
    fields = {"gmt_refund_pay": row.finished_text}
    mine = find_refund(order, orn)
    if mine is None:
        reserved = refund_reserved(order, out_request_no=orn, amount=row.amount, job_id="")
        new = refund_settled(reserved, orn, RefundStatus.REFUND_SUCCESS, fields)
        for item in new["refunds"]:
            if item["out_request_no"] == orn:
                item.pop("job_id", None)
                item["restored_by"] = SOURCE
        return new
    if Decimal(mine["refund_amount"]) != row.amount:
        raise TransitionRefused("refund_amount_differs", f"refund {orn} is {mine['refund_amount']} here")
    if mine["status"] == RefundStatus.FAILED:
        refunded, inflight = refund_totals(order)
        if refunded + inflight + row.amount > Decimal(order["total_amount"]):
            raise TransitionRefused("refund_exceeds_total", f"refund {orn} does not fit in the order's total")
    return refund_settled(order, orn, RefundStatus.REFUND_SUCCESS, fields)


def rebuilt_order(payment: BillRow, refunds: list[BillRow]) -> tuple[Record, list[BillRow]]:
    """An order rebuilt from its bill rows (paid, with the refunds that fit), and the refund rows it holds."""
    stamp = now_iso()
    created = (payment.created_at or payment.finished_at).astimezone(UTC).isoformat()
    order: Record = {
        "out_trade_no": payment.out_trade_no, "trade_no": None, "status": OrderStatus.PENDING.value,
        "total_amount": money(payment.amount), "refunded_amount": "0.00", "subject": payment.subject,
        "store_id": payment.store_id, "timeout_express": None, "expires_at": None, "qr_code": None,
        "buyer_logon_id": None, "buyer_user_id": None, "gmt_payment": None, "refunds": [],
        "created_at": created, "updated_at": stamp, "job_id": None, "callback_url": None,
        "restored_by": SOURCE, "restored_at": stamp,
    }
    order = order_trade_status(order, OrderStatus.TRADE_SUCCESS.value, _payment_fields(payment), source=SOURCE)
    held: list[BillRow] = []
    for row in refunds:
        try:
            order = refund_from_bill(order, row)
        except TransitionRefused:
            continue
        held.append(row)
    return order, held


# --- comparison -----------------------------------------------------------------------------------------------


@dataclass
class _Sums:
    payments: int = 0
    payment_total: Decimal = ZERO
    refunds: int = 0
    refund_total: Decimal = ZERO


def compare(store: Store, parsed: Bill, day: date, *, repair: bool = True) -> dict[str, Any]:
    """Compare a parsed bill of `day` with the store, repair what is safe when `repair`, and return the report
    (not yet kept). Orders are read one at a time and every repair is its own atomic transition."""
    day_text = day.isoformat()
    payments: dict[str, list[BillRow]] = defaultdict(list)
    refunds: dict[str, dict[str, list[BillRow]]] = defaultdict(lambda: defaultdict(list))
    for row in parsed.rows:
        if row.out_request_no is None:
            payments[row.out_trade_no].append(row)
        else:
            refunds[row.out_trade_no][row.out_request_no].append(row)
    alipay = _Sums(len(parsed.payments), sum((r.amount for r in parsed.payments), ZERO),
                   len(parsed.refunds), sum((r.amount for r in parsed.refunds), ZERO))
    here = _Sums()
    candidates = sorted(set(payments) | set(refunds) | set(store.ledger_orders(day_text)))
    found: list[Discrepancy] = []
    for otn in candidates:
        order = store.get_order(otn)
        if order is not None:
            _count_store_side(order, day_text, here)
        found.extend(_compare_order(store, otn, order, payments.get(otn, []), refunds.get(otn, {}), day_text,
                                    repair))
    by_kind: dict[str, int] = defaultdict(int)
    for item in found:
        by_kind[item.kind.value] += 1
    return {
        "date": day_text,
        "generated_at": now_iso(),
        "repair": repair,
        "bill": {"account": parsed.account, "rows": len(parsed.rows),
                 "start": parsed.start.isoformat() if parsed.start else None,
                 "end": parsed.end.isoformat() if parsed.end else None},
        "counts": {
            "alipay_payments": alipay.payments, "alipay_refunds": alipay.refunds,
            "store_payments": here.payments, "store_refunds": here.refunds,
            "orders_compared": len(candidates), "discrepancies": len(found),
            "repaired": sum(1 for d in found if d.repaired), "by_kind": dict(sorted(by_kind.items())),
        },
        "totals": {
            "alipay_payments": money(alipay.payment_total), "alipay_refunds": money(alipay.refund_total),
            "alipay_net": money(alipay.payment_total - alipay.refund_total),
            "store_payments": money(here.payment_total), "store_refunds": money(here.refund_total),
            "store_net": money(here.payment_total - here.refund_total),
        },
        "discrepancies": [d.to_dict() for d in found],
    }


def _count_store_side(order: Record, day_text: str, sums: _Sums) -> None:
    if was_paid(order) and beijing_day(order.get("gmt_payment")) == day_text:
        sums.payments += 1
        sums.payment_total += Decimal(order["total_amount"])
    for refund in order.get("refunds", []):
        done = refund.get("status") == RefundStatus.REFUND_SUCCESS
        if done and beijing_day(refund.get("gmt_refund_pay")) == day_text:
            sums.refunds += 1
            sums.refund_total += Decimal(refund["refund_amount"])


def _repair(store: Store, otn: str, change: Callable[[Record], Record]) -> Record | None:
    """Apply one repair atomically; None when it is refused or the order is gone."""
    try:
        order, _ = store.update_order(otn, change)
    except TransitionRefused as exc:
        log.info("reconciliation: %s not repaired: %s", otn, exc.message)
        return None
    return order


def _compare_order(store: Store, otn: str, order: Record | None, pays: list[BillRow],
                   refund_rows: dict[str, list[BillRow]], day_text: str, repair: bool) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    payment = pays[0] if pays else None
    found.extend(Discrepancy(Kind.DUPLICATE_ROW, otn, None, _payment_side(r), None) for r in pays[1:])
    for orn, rows in sorted(refund_rows.items()):
        found.extend(Discrepancy(Kind.DUPLICATE_ROW, otn, orn, _refund_side(r), None) for r in rows[1:])
    firsts = [rows[0] for _, rows in sorted(refund_rows.items())]

    if order is None:
        restored: set[str] = set()
        ok = False
        if payment is not None and repair:
            rebuilt, held = rebuilt_order(payment, firsts)
            ok = store.restore_order(rebuilt)
            restored = {r.out_request_no or "" for r in held} if ok else set()
            if ok:
                log.info("reconciliation: order %s rebuilt from the bill (%s, %d refunds)", otn,
                         rebuilt["status"], len(held))
        if payment is not None:
            found.append(Discrepancy(Kind.MISSING_ORDER, otn, None, _payment_side(payment), None, ok))
        found.extend(Discrepancy(Kind.REFUND_MISSING, otn, r.out_request_no, _refund_side(r), None,
                                 (r.out_request_no or "") in restored) for r in firsts)
        return found

    if payment is not None:
        if Decimal(order["total_amount"]) != payment.amount:
            found.append(Discrepancy(Kind.AMOUNT_MISMATCH, otn, None, _payment_side(payment), _order_side(order)))
        elif not was_paid(order):
            fields = _payment_fields(payment)
            new = _repair(store, otn, lambda o: order_trade_status(o, OrderStatus.TRADE_SUCCESS.value, fields,
                                                                   source=SOURCE)) if repair else None
            found.append(Discrepancy(Kind.NOT_PAID, otn, None, _payment_side(payment), _order_side(order),
                                     new is not None and was_paid(new)))
    elif was_paid(order) and beijing_day(order.get("gmt_payment")) == day_text:
        found.append(Discrepancy(Kind.NOT_AT_ALIPAY, otn, None, None, _order_side(order)))

    for row in firsts:
        orn = row.out_request_no or otn
        mine = find_refund(order, orn)
        if mine is not None and Decimal(mine["refund_amount"]) != row.amount:
            found.append(Discrepancy(Kind.REFUND_AMOUNT_MISMATCH, otn, orn, _refund_side(row),
                                     _store_refund_side(mine)))
        elif mine is None or mine.get("status") != RefundStatus.REFUND_SUCCESS:
            new = _repair(store, otn, partial(refund_from_bill, row=row)) if repair else None
            settled = find_refund(new, orn) if new is not None else None
            found.append(Discrepancy(Kind.REFUND_MISSING, otn, orn, _refund_side(row),
                                     _store_refund_side(mine) if mine is not None else None,
                                     settled is not None and settled.get("status") == RefundStatus.REFUND_SUCCESS))
    for mine in order.get("refunds", []):
        if (mine.get("status") == RefundStatus.REFUND_SUCCESS and mine["out_request_no"] not in refund_rows
                and beijing_day(mine.get("gmt_refund_pay")) == day_text):
            found.append(Discrepancy(Kind.REFUND_EXTRA, otn, mine["out_request_no"], None, _store_refund_side(mine)))
    return found


# --- runs -----------------------------------------------------------------------------------------------------


def fetch_bill(client: AlipayClient, day: date) -> Bill:
    """Ask for the day's trade bill link, download it at once and parse it. Raises BillNotAvailable
    (BILL_NOT_EXIST), BillFormatError, or the gateway's AlipayError (retry later: a new link is asked for)."""
    try:
        url = bill.download_url(client, bill_date=day, bill_type="trade")
    except BusinessError as exc:
        if "BILL_NOT_EXIST" in (exc.sub_code or "").upper():
            raise BillNotAvailable(day, exc.sub_code) from None
        raise
    parsed = parse_zip(bill.download(client, url))
    start = datetime.combine(day, time(0), tzinfo=BEIJING)
    if parsed.start is not None and parsed.end is not None and (parsed.start, parsed.end) != (
            start, start + timedelta(days=1)):
        raise BillFormatError(f"the bill covers {parsed.start} to {parsed.end}, not the day {day.isoformat()}")
    return parsed


def reconcile_day(store: Store, client: AlipayClient, day: date, *, repair: bool = True) -> dict[str, Any]:
    """Fetch, compare, repair (when `repair`) and keep the report of `day`; returns it. No lock: see
    `run_reconciliation`. Nothing is written when the bill cannot be fetched or read."""
    parsed = fetch_bill(client, day)
    report = compare(store, parsed, day, repair=repair)
    save_report(store, report)
    counts = report["counts"]
    log.info("reconciliation of %s: Alipay %d payments %s, %d refunds %s; %d discrepancies, %d repaired",
             report["date"], counts["alipay_payments"], report["totals"]["alipay_payments"],
             counts["alipay_refunds"], report["totals"]["alipay_refunds"], counts["discrepancies"],
             counts["repaired"])
    return report


def _lock(store: Store, ttl_s: float) -> RunLock:
    return RunLock(store.redis, Keys.reconciliation_lock("bill"), ttl_s)


def run_reconciliation(store: Store, client: AlipayClient, day: date, *, repair: bool = True,
                       lock_ttl_s: float = defaults.RECONCILE_BILL_LOCK_S) -> dict[str, Any]:
    """`reconcile_day` under the bill lock; raises ReconciliationBusy when another bill run holds it."""
    with _lock(store, lock_ttl_s) as held:
        if not held:
            raise ReconciliationBusy("another bill reconciliation is running; try again in a moment")
        return reconcile_day(store, client, day, repair=repair)


def run_due(store: Store, client: AlipayClient, *, at: time, now: datetime | None = None,
            retry_s: float = defaults.RECONCILE_BILL_RETRY_S,
            lock_ttl_s: float = defaults.RECONCILE_BILL_LOCK_S) -> dict[str, Any] | None:
    """The daily tick: once `at` (Beijing) has passed, reconcile yesterday unless it already has a report.

    Returns the new report, or None when nothing was due, another run holds the lock, or the run failed. A
    failure (no bill yet, gateway down, unreadable bill) is kept for `retry_s` seconds, during which the tick
    leaves that day alone; it is shown by GET /reconciliations/<date>. Two ticks at once do the work once.
    """
    now = now or datetime.now(UTC)
    day = due_day(now, at)
    if day is None or get_report(store, day) is not None or get_failure(store, day) is not None:
        return None
    with _lock(store, lock_ttl_s) as held:
        if not held or get_report(store, day) is not None:
            return None
        try:
            return reconcile_day(store, client, day)
        except (ReconciliationError, AlipayError) as exc:
            record_failure(store, day, {"date": day.isoformat(), "failed_at": now_iso(),
                                        "error": type(exc).__name__, "message": str(exc)}, retry_s)
            log.warning("reconciliation of %s failed: %s; trying again in %.0f s", day.isoformat(), exc, retry_s)
            return None
