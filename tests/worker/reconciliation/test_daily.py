"""The daily bill reconciliation against a hand-made bill and a store in Redis: the exact report, the repairs,
and the daily tick (when it runs, that it runs once, what it does when there is no bill)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from tests.worker.reconciliation.conftest import (
    BILL_METHOD,
    FakeGateway,
    bill_zip,
    not_exist,
    pay_row,
    put_order,
    put_refund,
    refund_row,
)
from worker.alipay.client import BEIJING
from worker.reconciliation import (
    BillFormatError,
    BillNotAvailable,
    ReconciliationBusy,
    RunLock,
    get_failure,
    get_report,
    run_due,
    run_reconciliation,
)
from worker.states import RefundStatus
from worker.store import Keys, Store

DAY = date(2026, 11, 25)
PAID_25 = "2026-11-25 09:00:00"
PAID_24 = "2026-11-24 18:00:00"


def paid(store: Store, otn: str, total: str, at: str) -> dict:
    return put_order(store, otn, total, status="TRADE_SUCCESS", gmt_payment=at)


def alipay_payment(otn: str, amount: str) -> dict[str, Any]:
    return {"trade_no": f"2026112522001400{otn}", "total_amount": amount, "gmt_payment": PAID_25,
            "subject": "咖啡, 大杯", "store_id": "st"}


def alipay_refund(otn: str, orn: str, amount: str) -> dict[str, Any]:
    return {"trade_no": f"2026112522001400{otn}", "out_request_no": orn, "refund_amount": amount,
            "gmt_refund_pay": "2026-11-25 11:00:00"}


def store_order(status: str, otn: str, total: str, refunded: str = "0.00", gmt_payment: str | None = PAID_25) -> dict:
    return {"status": status, "trade_no": "T" + otn, "total_amount": total, "refunded_amount": refunded,
            "gmt_payment": gmt_payment}


def store_refund(orn: str, amount: str, status: str, at: str | None) -> dict[str, Any]:
    return {"out_request_no": orn, "refund_amount": amount, "status": status, "gmt_refund_pay": at}


@pytest.fixture
def every_kind(store: Store, gateway: FakeGateway) -> FakeGateway:
    """A store and a bill of 2026-11-25 that disagree in every way the report knows, once each."""
    paid(store, "RA", "10.00", PAID_25)
    put_refund(store, "RA", "RA-1", "3.00", RefundStatus.REFUND_SUCCESS, "2026-11-25 10:00:00")
    put_order(store, "RC", "8.00", status="WAIT_BUYER_PAY")
    paid(store, "RD", "10.00", PAID_25)
    paid(store, "RE", "15.00", "2026-11-25 12:00:00")
    paid(store, "RF", "30.00", PAID_24)
    put_refund(store, "RF", "RF-1", "4.00", RefundStatus.UNKNOWN)
    paid(store, "RG", "50.00", PAID_24)
    paid(store, "RH", "9.00", PAID_24)
    put_refund(store, "RH", "RH-1", "2.00", RefundStatus.REFUND_SUCCESS, "2026-11-25 08:00:00")
    paid(store, "RI", "5.00", PAID_24)
    put_refund(store, "RI", "RI-1", "1.00", RefundStatus.REFUND_SUCCESS, "2026-11-25 08:00:00")
    paid(store, "RK", "7.00", PAID_25)
    paid(store, "RL", "5.00", PAID_24)
    put_refund(store, "RL", "RL-1", "4.00", RefundStatus.REFUND_SUCCESS, "2026-11-24 20:00:00")
    gateway.bill = bill_zip([
        pay_row("RA", "10.00"), pay_row("RB", "20.00"), pay_row("RC", "8.00"), pay_row("RD", "12.00"),
        pay_row("RK", "7.00"), pay_row("RK", "7.00"),
        refund_row("RA", "RA-1", "3.00"), refund_row("RB", "RB-1", "5.00"), refund_row("RF", "RF-1", "4.00"),
        refund_row("RG", "RG-2", "6.00"), refund_row("RH", "RH-1", "2.50"), refund_row("RJ", "RJ-1", "1.00"),
        refund_row("RL", "RL-2", "2.00"),
    ])
    return gateway


def test_every_discrepancy_is_reported_exactly_with_both_sides(store: Store, every_kind: FakeGateway) -> None:
    report = run_reconciliation(store, every_kind, DAY)  # type: ignore[arg-type]

    assert report["date"] == "2026-11-25" and report["generated_at"].endswith("+00:00") and report["repair"]
    assert report["bill"] == {"account": "20881021778468800156", "rows": 13,
                              "start": "2026-11-25T00:00:00+08:00", "end": "2026-11-26T00:00:00+08:00"}
    assert report["counts"] == {
        "alipay_payments": 6, "alipay_refunds": 7, "store_payments": 4, "store_refunds": 3,
        "orders_compared": 12, "discrepancies": 12, "repaired": 5,
        "by_kind": {"amount_mismatch": 1, "duplicate_row": 1, "missing_order": 1, "not_at_alipay": 1,
                    "not_paid": 1, "refund_amount_mismatch": 1, "refund_extra": 1, "refund_missing": 5},
    }
    assert report["totals"] == {"alipay_payments": "64.00", "alipay_refunds": "23.50", "alipay_net": "40.50",
                                "store_payments": "42.00", "store_refunds": "6.00", "store_net": "36.00"}
    assert report["discrepancies"] == [
        {"kind": "missing_order", "out_trade_no": "RB", "out_request_no": None,
         "alipay": alipay_payment("RB", "20.00"), "store": None, "repaired": True},
        {"kind": "refund_missing", "out_trade_no": "RB", "out_request_no": "RB-1",
         "alipay": alipay_refund("RB", "RB-1", "5.00"), "store": None, "repaired": True},
        {"kind": "not_paid", "out_trade_no": "RC", "out_request_no": None, "alipay": alipay_payment("RC", "8.00"),
         "store": store_order("WAIT_BUYER_PAY", "RC", "8.00", gmt_payment=None), "repaired": True},
        {"kind": "amount_mismatch", "out_trade_no": "RD", "out_request_no": None,
         "alipay": alipay_payment("RD", "12.00"), "store": store_order("TRADE_SUCCESS", "RD", "10.00"),
         "repaired": False},
        {"kind": "not_at_alipay", "out_trade_no": "RE", "out_request_no": None, "alipay": None,
         "store": store_order("TRADE_SUCCESS", "RE", "15.00", gmt_payment="2026-11-25 12:00:00"), "repaired": False},
        {"kind": "refund_missing", "out_trade_no": "RF", "out_request_no": "RF-1",
         "alipay": alipay_refund("RF", "RF-1", "4.00"), "store": store_refund("RF-1", "4.00", "UNKNOWN", None),
         "repaired": True},
        {"kind": "refund_missing", "out_trade_no": "RG", "out_request_no": "RG-2",
         "alipay": alipay_refund("RG", "RG-2", "6.00"), "store": None, "repaired": True},
        {"kind": "refund_amount_mismatch", "out_trade_no": "RH", "out_request_no": "RH-1",
         "alipay": alipay_refund("RH", "RH-1", "2.50"),
         "store": store_refund("RH-1", "2.00", "REFUND_SUCCESS", "2026-11-25 08:00:00"), "repaired": False},
        {"kind": "refund_extra", "out_trade_no": "RI", "out_request_no": "RI-1", "alipay": None,
         "store": store_refund("RI-1", "1.00", "REFUND_SUCCESS", "2026-11-25 08:00:00"), "repaired": False},
        {"kind": "refund_missing", "out_trade_no": "RJ", "out_request_no": "RJ-1",
         "alipay": alipay_refund("RJ", "RJ-1", "1.00"), "store": None, "repaired": False},
        {"kind": "duplicate_row", "out_trade_no": "RK", "out_request_no": None,
         "alipay": alipay_payment("RK", "7.00"), "store": None, "repaired": False},
        {"kind": "refund_missing", "out_trade_no": "RL", "out_request_no": "RL-2",
         "alipay": alipay_refund("RL", "RL-2", "2.00"), "store": None, "repaired": False},
    ]
    assert get_report(store, DAY) == report
    assert every_kind.methods() == [BILL_METHOD, "bill.download"]


def test_repairs_rebuild_pay_and_refund_and_leave_the_rest(store: Store, every_kind: FakeGateway) -> None:
    run_reconciliation(store, every_kind, DAY)  # type: ignore[arg-type]

    rebuilt = store.get_order("RB")
    assert rebuilt is not None
    assert {k: rebuilt[k] for k in ("status", "total_amount", "refunded_amount", "trade_no", "subject", "store_id",
                                    "gmt_payment", "restored_by", "paid_via", "buyer_logon_id")} == {
        "status": "TRADE_SUCCESS", "total_amount": "20.00", "refunded_amount": "5.00",
        "trade_no": "2026112522001400RB", "subject": "咖啡, 大杯", "store_id": "st", "gmt_payment": PAID_25,
        "restored_by": "reconciliation", "paid_via": "reconciliation", "buyer_logon_id": "abc***@example.com"}
    assert rebuilt["refunds"] == [{"out_request_no": "RB-1", "refund_amount": "5.00", "status": "REFUND_SUCCESS",
                                   "gmt_refund_pay": "2026-11-25 11:00:00", "restored_by": "reconciliation"}]
    assert rebuilt["created_at"] == "2026-11-25T01:00:00+00:00"  # the bill's 创建时间, 09:00 in Beijing
    settled = {otn: store.get_order(otn) for otn in ("RC", "RF", "RG", "RL", "RD")}
    assert settled["RC"]["status"] == "TRADE_SUCCESS" and settled["RC"]["paid_via"] == "reconciliation"
    assert settled["RF"]["refunds"][0]["status"] == "REFUND_SUCCESS" and settled["RF"]["refunded_amount"] == "4.00"
    assert [(r["out_request_no"], r["status"]) for r in settled["RG"]["refunds"]] == [("RG-2", "REFUND_SUCCESS")]
    assert settled["RL"]["refunded_amount"] == "4.00" and len(settled["RL"]["refunds"]) == 1  # 2.00 does not fit
    assert settled["RD"]["total_amount"] == "10.00"  # amounts are never "repaired"
    assert store.redis.zscore(Keys.unsettled, "RF") is None  # its refund is no longer in flight
    assert "RB" in store.ledger_orders("2026-11-25")

    again = run_reconciliation(store, every_kind, DAY)  # type: ignore[arg-type]
    assert [(d["kind"], d["out_trade_no"], d["repaired"]) for d in again["discrepancies"]] == [
        ("amount_mismatch", "RD", False), ("not_at_alipay", "RE", False), ("refund_amount_mismatch", "RH", False),
        ("refund_extra", "RI", False), ("refund_missing", "RJ", False), ("duplicate_row", "RK", False),
        ("refund_missing", "RL", False)]
    assert again["totals"]["store_payments"] == "70.00"  # RB (20.00) and RC (8.00) are now paid that day


def test_report_only_changes_nothing(store: Store, every_kind: FakeGateway) -> None:
    before = {otn: store.get_order(otn) for otn in ("RC", "RF", "RG")}
    report = run_reconciliation(store, every_kind, DAY, repair=False)  # type: ignore[arg-type]
    assert report["counts"]["discrepancies"] == 12 and report["counts"]["repaired"] == 0 and not report["repair"]
    assert store.get_order("RB") is None
    assert {otn: store.get_order(otn) for otn in ("RC", "RF", "RG")} == before


def test_a_fully_refunded_order_is_rebuilt_closed(store: Store, gateway: FakeGateway) -> None:
    gateway.bill = bill_zip([pay_row("RM", "2.00"), refund_row("RM", "RM-1", "1.50"),
                             refund_row("RM", "RM-2", "0.50")])
    run_reconciliation(store, gateway, DAY)  # type: ignore[arg-type]
    order = store.get_order("RM")
    assert order is not None and order["status"] == "TRADE_CLOSED" and order["closed_reason"] == "refunded"
    assert order["refunded_amount"] == "2.00" and [r["status"] for r in order["refunds"]] == ["REFUND_SUCCESS"] * 2


def test_no_bill_is_an_error_not_an_empty_report(store: Store, gateway: FakeGateway) -> None:
    gateway.bill = not_exist(BILL_METHOD, "BILL_NOT_EXIST")
    with pytest.raises(BillNotAvailable, match="no trade bill for 2026-11-25"):
        run_reconciliation(store, gateway, DAY)  # type: ignore[arg-type]
    assert get_report(store, DAY) is None


def test_a_bill_of_another_day_is_refused(store: Store, gateway: FakeGateway) -> None:
    gateway.bill = bill_zip([pay_row("RA", "1.00")], day="2026-11-24")
    with pytest.raises(BillFormatError, match="not the day 2026-11-25"):
        run_reconciliation(store, gateway, DAY)  # type: ignore[arg-type]


def test_a_run_while_another_holds_the_lock_does_nothing(store: Store, gateway: FakeGateway) -> None:
    with RunLock(store.redis, Keys.reconciliation_lock("bill"), 5) as held:
        assert held
        with pytest.raises(ReconciliationBusy):
            run_reconciliation(store, gateway, DAY)  # type: ignore[arg-type]
    assert gateway.calls == []


# --- the daily tick -------------------------------------------------------------------------------------------

TEN = time(10, 0)


def beijing(hour: int, minute: int = 0) -> datetime:
    """2026-11-26 at that Beijing time, as an aware UTC moment (Beijing is UTC+8)."""
    return datetime(2026, 11, 26, hour, minute, tzinfo=BEIJING).astimezone(UTC)


def test_the_tick_runs_yesterday_once_after_the_configured_time(store: Store, gateway: FakeGateway) -> None:
    gateway.bill = bill_zip([pay_row("RA", "1.00")])
    assert run_due(store, gateway, at=TEN, now=beijing(9, 59)) is None  # type: ignore[arg-type]
    assert gateway.calls == []
    report = run_due(store, gateway, at=TEN, now=beijing(10, 0))  # type: ignore[arg-type]
    assert report is not None and report["date"] == "2026-11-25"
    assert run_due(store, gateway, at=TEN, now=beijing(10, 1)) is None  # type: ignore[arg-type]
    assert gateway.methods() == [BILL_METHOD, "bill.download"]


def test_a_day_without_a_bill_is_tried_again_later(store: Store, gateway: FakeGateway) -> None:
    gateway.bill = not_exist(BILL_METHOD, "BILL_NOT_EXIST")
    assert run_due(store, gateway, at=TEN, now=beijing(10), retry_s=0.3) is None  # type: ignore[arg-type]
    failure = get_failure(store, DAY)
    assert failure is not None and failure["error"] == "BillNotAvailable" and "BILL_NOT_EXIST" in failure["message"]
    assert run_due(store, gateway, at=TEN, now=beijing(10, 5), retry_s=0.3) is None  # type: ignore[arg-type]
    assert gateway.methods() == [BILL_METHOD]  # the second tick waited
    gateway.bill = bill_zip([])
    store.redis.delete(Keys.reconciliation_failure("2026-11-25"))  # as when retry_s has passed
    assert run_due(store, gateway, at=TEN, now=beijing(10, 20)) is not None  # type: ignore[arg-type]
    assert get_failure(store, DAY) is None


def test_two_ticks_at_once_reconcile_once(store: Store, gateway: FakeGateway) -> None:
    gateway.bill = bill_zip([pay_row("RA", "1.00")])
    gateway.delay_s = 0.2
    start = threading.Barrier(2)
    results: list[Any] = []

    def tick() -> None:
        start.wait()
        results.append(run_due(store, gateway, at=TEN, now=beijing(11)))  # type: ignore[arg-type]

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r is None for r in results) == [False, True]
    assert gateway.methods().count(BILL_METHOD) == 1
