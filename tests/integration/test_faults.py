"""Every sandbox fault kind on a precreate and on a refund: retried with the same identity, applied once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.stack import Stack

KINDS = [("reset", 0), ("lost_response", 0), ("delay", 2500), ("http_502", 0), ("unavailable", 0),
         ("system_error", 0)]


@pytest.mark.parametrize(("kind", "delay_ms"), KINDS)
def test_precreate_survives_a_fault(stack: Stack, kind: str, delay_ms: int) -> None:
    stack.fault("alipay.trade.precreate", kind, times=1, delay_ms=delay_ms)
    otn, body = stack.precreate("8.00")
    job = stack.job(body["job_id"])
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2 and job["last_error"]["kind"] in ("transient", "unknown"), job
    calls = stack.calls(otn, "alipay.trade.precreate")
    assert len(calls) == 2 and calls[0]["fault"] == kind, calls
    assert stack.order(otn)["qr_code"] == job["result"]["qr_code"]


@pytest.mark.parametrize(("kind", "delay_ms"), KINDS)
def test_refund_survives_a_fault_and_is_applied_once(stack: Stack, kind: str, delay_ms: int) -> None:
    otn = stack.paid_order("9.00")
    stack.fault("alipay.trade.refund", kind, times=1, delay_ms=delay_ms)
    response = stack.refund(otn, "4.00", f"{otn}R")
    job = stack.job(response.json()["job_id"])
    assert job["status"] == "succeeded", job
    # Either the retry confirms it, or (when the gateway did process the call) Alipay's refund notification
    # settles it first and the job ends without another call.
    assert job["attempts"] == 2 or job["result"].get("confirmed_by") == "order", job
    gateway = stack.gateway_trade(otn)
    assert gateway["refunds"] == [{"out_request_no": f"{otn}R", "refund_amount": "4.00"}] or (
        len(gateway["refunds"]) == 1 and Decimal(gateway["refunds"][0]["refund_amount"]) == Decimal("4.00")
    ), gateway
    assert Decimal(gateway["refunded_amount"]) == Decimal("4.00")
    order = stack.order(otn)
    assert order["refunded_amount"] == "4.00" and order["refunds"][0]["status"] == "REFUND_SUCCESS"
    refund_calls = stack.calls(otn, "alipay.trade.refund")
    assert {c["out_request_no"] for c in refund_calls} == {f"{otn}R"} and len(refund_calls) == job["attempts"]


def test_a_gateway_that_stays_down_fails_the_job_after_its_attempts(stack: Stack) -> None:
    stack.fault("alipay.trade.precreate", "unavailable", times=20)
    otn, body = stack.precreate("1.00")
    job = stack.job(body["job_id"])
    assert job["status"] == "failed" and job["attempts"] == 4, job
    assert job["error"]["code"] == "20000" and "gave up after 4 attempts" in job["error"]["msg"]
    assert stack.order(otn)["status"] == "FAILED"
    assert {c["out_trade_no"] for c in stack.calls(otn, "alipay.trade.precreate")} == {otn}


def test_a_refund_whose_outcome_stays_unknown_keeps_its_reservation(stack: Stack) -> None:
    otn = stack.paid_order("3.00")
    stack.fault("alipay.trade.refund", "lost_response", times=20)
    stack.fault("notify", "reset", times=100)  # and Alipay's refund notification does not get through
    job = stack.job(stack.refund(otn, "3.00", f"{otn}U").json()["job_id"])
    assert job["status"] == "failed" and job["error"]["kind"] == "unknown", job
    order = stack.order(otn)
    assert order["refunds"][0]["status"] == "UNKNOWN" and order["refunded_amount"] == "0.00"
    again = stack.refund(otn, "0.01", f"{otn}V")
    assert again.status_code == 409, again.text
    stack.clear_faults()
    query = stack.call("GET", "/refund_query", params=dict(out_trade_no=otn, out_request_no=f"{otn}U", wait=15))
    assert query.json()["status"] == "succeeded"
    settled = stack.order(otn)
    assert settled["refunds"][0]["status"] == "REFUND_SUCCESS" and settled["refunded_amount"] == "3.00"


def test_a_refund_notification_settles_a_refund_whose_answers_were_lost(stack: Stack) -> None:
    otn = stack.paid_order("3.00")
    stack.fault("alipay.trade.refund", "lost_response", times=20)
    job = stack.job(stack.refund(otn, "1.00", f"{otn}N").json()["job_id"])
    assert job["status"] == "succeeded" and job["result"]["confirmed_by"] == "order", job
    order = stack.order(otn)
    assert order["refunds"][0]["status"] == "REFUND_SUCCESS" and order["refunded_amount"] == "1.00"
    assert len(stack.gateway_trade(otn)["refunds"]) == 1
