"""Order and job transitions: monotonic, and refunds never beyond the total."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.states import JobStatus, OrderStatus, RefundStatus
from worker.transitions import (
    TransitionRefused,
    job_finished,
    job_retrying,
    job_started,
    order_closed,
    order_failed,
    order_precreated,
    order_trade_status,
    refund_reserved,
    refund_settled,
    refund_totals,
)


def new_order(total: str = "10.00", status: str = "PENDING") -> dict:
    return {"out_trade_no": "T1", "status": status, "total_amount": total, "refunded_amount": "0.00",
            "refunds": [], "qr_code": None, "expires_at": None, "trade_no": None, "gmt_payment": None,
            "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00"}


def paid(total: str = "10.00") -> dict:
    return order_trade_status(new_order(total), "TRADE_SUCCESS", {"trade_no": "2026X", "gmt_payment": "t"})


def new_job() -> dict:
    return {"job_id": "j", "status": "queued", "attempts": 0, "result": None, "error": None}


def test_job_counts_attempts_and_never_leaves_a_final_state() -> None:
    job = job_started(job_started(new_job()))
    assert job["status"] == "running" and job["attempts"] == 2
    job = job_retrying(job, {"code": "gateway_unavailable"})
    assert job["status"] == "retrying" and job["last_error"]["code"] == "gateway_unavailable"
    done = job_finished(job, JobStatus.SUCCEEDED, result={"code": "10000"})
    assert done["status"] == "succeeded"
    assert job_finished(done, JobStatus.FAILED, error={"code": "x"}) is done
    assert job_started(done) is done
    assert job_retrying(done, {"code": "y"}) is done


def test_scan_then_payment_then_no_way_back() -> None:
    order = order_trade_status(new_order(), "WAIT_BUYER_PAY")
    assert order["status"] == "WAIT_BUYER_PAY"
    order = order_trade_status(order, "TRADE_SUCCESS", {"trade_no": "2026X", "buyer_logon_id": "a***@b.com"})
    assert order["status"] == "TRADE_SUCCESS" and order["trade_no"] == "2026X"
    for later in ("WAIT_BUYER_PAY", "TRADE_CLOSED", "PENDING"):
        assert order_trade_status(order, later) is order
    assert order_closed(order, "deadline") is order
    finished = order_trade_status(order, "TRADE_FINISHED")
    assert finished["status"] == "TRADE_FINISHED"
    assert order_trade_status(finished, "TRADE_SUCCESS") is finished


def test_a_late_payment_wins_over_a_deadline_close() -> None:
    closed = order_closed(order_precreated(new_order(), qr_code="q", expires_at="e"), "deadline")
    assert closed["status"] == "TRADE_CLOSED"
    late = order_trade_status(closed, "TRADE_SUCCESS", {"trade_no": "2026X"}, source="notification")
    assert late["status"] == "TRADE_SUCCESS" and late["paid_via"] == "notification"


def test_a_payment_reversed_by_cancel_stays_closed() -> None:
    cancelled = order_closed(new_order(), "cancelled_refunded")
    assert order_trade_status(cancelled, "TRADE_SUCCESS") is cancelled


def test_precreate_failure_only_before_a_qr_code() -> None:
    failed = order_failed(new_order(), {"code": "40004"})
    assert failed["status"] == "FAILED"
    issued = order_precreated(new_order(), qr_code="https://qr", expires_at="e")
    assert order_failed(issued, {"code": "40004"}) is issued


def test_refunds_are_reserved_up_to_the_total_and_settled_once() -> None:
    order = refund_reserved(paid(), out_request_no="R1", amount=Decimal("6.00"), job_id="j1")
    with pytest.raises(TransitionRefused) as refused:
        refund_reserved(order, out_request_no="R2", amount=Decimal("4.01"), job_id="j2")
    assert refused.value.code == "refund_exceeds_total"
    order = refund_reserved(order, out_request_no="R2", amount=Decimal("4.00"), job_id="j2")
    assert refund_totals(order) == (Decimal("0"), Decimal("10.00"))
    order = refund_settled(order, "R1", RefundStatus.REFUND_SUCCESS)
    assert order["refunded_amount"] == "6.00"
    assert refund_settled(order, "R1", RefundStatus.REFUND_SUCCESS) is order
    assert refund_settled(order, "R1", RefundStatus.FAILED) is order
    order = refund_settled(order, "R2", RefundStatus.FAILED)
    assert refund_totals(order) == (Decimal("6.00"), Decimal("0"))
    with pytest.raises(TransitionRefused) as dup:
        refund_reserved(order, out_request_no="R1", amount=Decimal("1.00"), job_id="j3")
    assert dup.value.code == "duplicate_out_request_no"


def test_a_full_refund_closes_the_trade_and_an_unpaid_order_refuses_refunds() -> None:
    order = refund_reserved(paid("5.00"), out_request_no="R", amount=Decimal("5.00"), job_id="j")
    order = refund_settled(order, "R", RefundStatus.REFUND_SUCCESS)
    assert order["status"] == "TRADE_CLOSED" and order["closed_reason"] == "refunded"
    assert order_trade_status(order, "TRADE_SUCCESS") is order
    with pytest.raises(TransitionRefused) as refused:
        refund_reserved(new_order(), out_request_no="R", amount=Decimal("1.00"), job_id="j")
    assert refused.value.code == "order_not_refundable"


EVENTS = st.one_of(
    st.tuples(st.just("status"), st.sampled_from([s.value for s in OrderStatus] + ["BOGUS"])),
    st.tuples(st.just("close"), st.sampled_from(["deadline", "deadline_not_scanned", "cancelled"])),
    st.tuples(st.just("precreated"), st.just("")),
    st.tuples(st.just("failed"), st.just("")),
    st.tuples(st.just("reserve"), st.tuples(st.sampled_from(["R1", "R2", "R3", "R4"]),
                                            st.integers(min_value=1, max_value=1200))),
    st.tuples(st.just("settle"), st.tuples(st.sampled_from(["R1", "R2", "R3", "R4"]),
                                           st.sampled_from(list(RefundStatus)))),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(EVENTS, max_size=30))
def test_invariants_hold_under_any_sequence(events: list) -> None:
    order = new_order("10.00")
    was_paid = False
    succeeded: dict[str, str] = {}
    for kind, arg in events:
        before = order
        try:
            if kind == "status":
                order = order_trade_status(order, arg, {"trade_no": "2026X"})
            elif kind == "close":
                order = order_closed(order, arg)
            elif kind == "precreated":
                order = order_precreated(order, qr_code="q", expires_at="e")
            elif kind == "failed":
                order = order_failed(order, {"code": "x"})
            elif kind == "reserve":
                name, cents = arg
                order = refund_reserved(order, out_request_no=name, amount=Decimal(cents) / 100, job_id=name)
            else:
                name, status = arg
                order = refund_settled(order, name, status)
        except TransitionRefused:
            assert order is before
        status = OrderStatus(order["status"])
        refunded, inflight = refund_totals(order)
        assert refunded + inflight <= Decimal(order["total_amount"])
        assert Decimal(order["refunded_amount"]) == refunded
        if was_paid:
            assert status.paid or (status == OrderStatus.TRADE_CLOSED and order.get("closed_reason") == "refunded")
        was_paid = was_paid or status.paid
        for refund in order["refunds"]:
            if refund["out_request_no"] in succeeded:
                assert refund["status"] == RefundStatus.REFUND_SUCCESS
            if refund["status"] == RefundStatus.REFUND_SUCCESS:
                succeeded[refund["out_request_no"]] = refund["refund_amount"]
        assert len({r["out_request_no"] for r in order["refunds"]}) == len(order["refunds"])
