"""The job pipeline end to end: API -> queue -> worker -> sandbox gateway -> store -> API."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import redis

from tests.integration.stack import Stack, eventually


def test_seed_style_get_with_wait_answers_the_finished_job(stack: Stack) -> None:
    otn = "SEED" + uuid.uuid4().hex[:16]
    response = stack.call("GET", "/qrcode", params=dict(totalAmount="0.01", subject="支付宝扫码支付测试",
                                                        storeId="123456", timeoutExpress="5m", outTradeNo=otn,
                                                        wait="15"))
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded" and job["type"] == "precreate" and job["attempts"] == 1
    assert job["result"]["code"] == "10000" and job["result"]["out_trade_no"] == otn
    assert job["result"]["qr_code"].startswith("http")
    order = stack.order(otn)
    assert order["status"] == "PENDING" and order["qr_code"] == job["result"]["qr_code"]
    assert order["total_amount"] == "0.01" and order["expires_at"]


def test_submission_answers_202_with_a_job_to_follow(stack: Stack) -> None:
    otn, body = stack.precreate("12.30", timeout_express="2h")
    assert body["status"] == "queued" and body["type"] == "precreate" and body["out_trade_no"] == otn
    assert body["links"] == {"job": f"/jobs/{body['job_id']}", "order": f"/orders/{otn}"}
    job = stack.job(body["job_id"])
    assert job["status"] == "succeeded" and job["request"]["totalAmount"] == "12.30"
    assert job["error"] is None and job["created_at"] <= job["updated_at"]


def test_paying_at_the_sandbox_turns_the_order_paid(stack: Stack) -> None:
    otn = stack.paid_order("12.34")
    order = stack.order(otn)
    assert order["trade_no"] and order["gmt_payment"] and order["buyer_logon_id"], order
    assert stack.gateway_trade(otn)["trade_status"] == "TRADE_SUCCESS"


def test_a_scan_is_seen_by_the_poll(stack: Stack) -> None:
    otn, body = stack.precreate("3.00")
    stack.job(body["job_id"])
    assert stack.sandbox_post(f"/sandbox/trades/{otn}/scan").status_code < 300
    order = stack.wait_order(otn, lambda o: o["status"] == "WAIT_BUYER_PAY")
    assert order["trade_no"]


def test_a_payment_whose_notification_is_lost_is_found_by_polling(stack: Stack) -> None:
    otn, body = stack.precreate("4.00")
    stack.job(body["job_id"])
    stack.fault("notify", "reset", times=50)
    assert stack.sandbox_post(f"/sandbox/trades/{otn}/pay").status_code < 300
    order = stack.wait_order(otn, lambda o: o["status"] == "TRADE_SUCCESS")
    assert order["paid_via"] == "poll"


def test_partial_refunds_add_up_and_the_refund_query_answers(stack: Stack) -> None:
    otn = stack.paid_order("10.00")
    jobs = []
    for i, amount in enumerate(("3.50", "6.50")):
        response = stack.refund(otn, amount, f"{otn}R{i}")
        assert response.status_code == 202, response.text
        assert response.json()["out_request_no"] == f"{otn}R{i}"
        jobs.append(stack.job(response.json()["job_id"]))
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"], jobs
    assert jobs[0]["result"]["fund_change"] == "Y" and jobs[0]["result"]["refund_fee"] == "3.50"
    order = stack.order(otn)
    assert order["refunded_amount"] == "10.00" and order["status"] == "TRADE_CLOSED"
    assert [r["status"] for r in order["refunds"]] == ["REFUND_SUCCESS", "REFUND_SUCCESS"]
    response = stack.call("GET", "/refund_query", params=dict(out_trade_no=otn, out_request_no=f"{otn}R0",
                                                              wait="15"))
    assert response.status_code == 200, response.text
    assert Decimal(response.json()["result"]["refund_amount"]) == Decimal("3.50")
    gateway = stack.gateway_trade(otn)
    assert Decimal(gateway["refunded_amount"]) == Decimal("10.00") and len(gateway["refunds"]) == 2


def test_a_refund_without_out_request_no_gets_one(stack: Stack) -> None:
    otn = stack.paid_order("2.00")
    response = stack.refund(otn, "2.00", wait="15")
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded" and job["request"]["out_request_no"].startswith("R")


def test_refunds_beyond_the_total_are_refused_before_the_gateway(stack: Stack) -> None:
    otn = stack.paid_order("5.00")
    assert stack.refund(otn, "4.00", f"{otn}A").status_code == 202
    response = stack.refund(otn, "1.01", f"{otn}B")
    assert response.status_code == 409 and response.json()["error"]["code"] == "refund_exceeds_total"
    assert not stack.calls(otn, "alipay.trade.refund") or all(
        c["out_request_no"] != f"{otn}B" for c in stack.calls(otn, "alipay.trade.refund"))
    unpaid, body = stack.precreate("5.00")
    response = stack.refund(unpaid, "1.00", f"{unpaid}A")
    assert response.status_code == 409 and response.json()["error"]["code"] == "order_not_refundable"
    response = stack.refund("NO_SUCH_ORDER", "1.00", "X1")
    assert response.status_code == 404 and response.json()["error"]["field"] == "out_trade_no"


def test_resubmission_is_idempotent_and_other_parameters_conflict(stack: Stack) -> None:
    otn, first = stack.precreate("5.00")
    params = dict(totalAmount="5.00", subject="integration order", storeId="store_1", timeoutExpress="5m",
                  outTradeNo=otn)
    again = stack.call("POST", "/qrcode", json=params)
    assert again.status_code in (200, 202) and again.json()["job_id"] == first["job_id"]
    conflict = stack.call("POST", "/qrcode", data=dict(params, totalAmount="5.01"))
    assert conflict.status_code == 409 and conflict.json()["error"]["field"] == "outTradeNo"
    stack.job(first["job_id"])
    assert len(stack.calls(otn, "alipay.trade.precreate")) == 1


def test_twenty_concurrent_identical_submissions_make_one_job_and_one_call(stack: Stack) -> None:
    otn = "CC" + uuid.uuid4().hex[:16]
    params = dict(totalAmount="7.00", subject="concurrent", storeId="s", timeoutExpress="5m", outTradeNo=otn)
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: stack.call("POST", "/qrcode", data=params), range(20)))
    assert {r.status_code for r in responses} <= {200, 202}
    job_ids = {r.json()["job_id"] for r in responses}
    assert len(job_ids) == 1
    stack.job(job_ids.pop())
    assert len(stack.calls(otn, "alipay.trade.precreate")) == 1


def test_a_bad_request_names_every_bad_field_and_writes_nothing(stack: Stack, redis_server) -> None:
    otn = "BAD" + uuid.uuid4().hex[:12]
    store = redis.Redis.from_url(stack.redis_url)
    before = store.dbsize()
    response = stack.call("GET", "/qrcode", params=dict(totalAmount="1e2", subject="x", storeId="s",
                                                        timeoutExpress="16d", outTradeNo=otn))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "totalAmount" and {f["field"] for f in error["fields"]} == {"totalAmount",
                                                                                          "timeoutExpress"}
    assert stack.call("GET", f"/orders/{otn}").status_code == 404
    assert store.dbsize() == before and not stack.calls(otn)


def test_errors_are_json_for_unknown_paths_methods_and_large_bodies(stack: Stack) -> None:
    missing = stack.call("GET", "/jobs/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"
    assert stack.call("GET", "/no/such/path").json()["error"]["code"] == "not_found"
    wrong = stack.call("DELETE", "/qrcode")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    big = stack.call("POST", "/qrcode", data={"subject": "x" * (1024 * 1024 + 10)})
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"


def test_a_business_refusal_ends_the_job_failed_with_alipays_codes(stack: Stack) -> None:
    otn, body = stack.precreate("6.00")
    stack.job(body["job_id"])
    # The same out_trade_no with other content at the gateway: Alipay says CONTEXT_INCONSISTENT.
    from tests.integration.gateway import client_for

    stack_client = client_for(stack)
    from worker.alipay import trade
    from worker.alipay.errors import BusinessError

    try:
        trade.precreate(stack_client, out_trade_no=otn, total_amount=Decimal("6.01"), subject="other")
    except BusinessError as exc:
        assert exc.sub_code == "ACQ.CONTEXT_INCONSISTENT"
    else:
        raise AssertionError("the sandbox accepted other content for the same out_trade_no")
    other = "BF" + uuid.uuid4().hex[:16]
    trade.precreate(stack_client, out_trade_no=other, total_amount=Decimal("1.00"), subject="first")
    response = stack.call("POST", "/qrcode", data=dict(totalAmount="2.00", subject="second", storeId="s",
                                                       timeoutExpress="5m", outTradeNo=other, wait="15"))
    job = response.json()
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"]["code"] == "40004" and job["error"]["sub_code"] == "ACQ.CONTEXT_INCONSISTENT"
    assert job["error"]["sub_msg"]
    assert eventually(lambda: stack.order(other)["status"] == "FAILED")


def test_idempotency_key_returns_the_same_refund_and_other_parameters_conflict(stack: Stack) -> None:
    otn = stack.paid_order("10.00")
    key = {"Idempotency-Key": "refund-" + uuid.uuid4().hex}
    first = stack.call("POST", "/refund", data=dict(refund_amount="1.00", out_trade_no=otn, refund_reason="r"),
                       headers=key)
    again = stack.call("POST", "/refund", data=dict(refund_amount="1.00", out_trade_no=otn, refund_reason="r"),
                       headers=key)
    assert first.status_code == 202 and again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.json()["out_request_no"] == first.json()["out_request_no"]
    other = stack.call("POST", "/refund", data=dict(refund_amount="2.00", out_trade_no=otn, refund_reason="r"),
                       headers=key)
    assert other.status_code == 409 and other.json()["error"]["field"] == "Idempotency-Key"
    stack.job(first.json()["job_id"])
    assert len(stack.calls(otn, "alipay.trade.refund")) == 1
    assert stack.order(otn)["refunded_amount"] == "1.00"
    bad = stack.call("POST", "/refund", data=dict(refund_amount="1.00", out_trade_no=otn, refund_reason="r"),
                     headers={"Idempotency-Key": "x" * 256})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "Idempotency-Key"
