"""python-alipay-sdk, a client written by others, driving whole trades through the sandbox."""

from __future__ import annotations

import pytest
from alipay.exceptions import AliPayException


def test_a_whole_trade(sdk, sandbox, otn):
    no = otn()
    pre = sdk.api_alipay_trade_precreate(subject="sdk", out_trade_no=no, total_amount="20.00")  # verifies sign
    assert pre["code"] == "10000" and pre["out_trade_no"] == no
    assert pre["qr_code"].startswith(sandbox.url + "/qr/")

    before = sdk.api_alipay_trade_query(out_trade_no=no)
    assert before["code"] == "40004" and before["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    assert sandbox.scan(no).status_code == 200
    waiting = sdk.api_alipay_trade_query(out_trade_no=no)
    assert waiting["trade_status"] == "WAIT_BUYER_PAY" and waiting["trade_no"]
    assert waiting["buyer_pay_amount"] == "0.00" and "send_pay_date" not in waiting

    assert sandbox.pay(no).status_code == 200
    paid = sdk.api_alipay_trade_query(out_trade_no=no)
    assert paid["trade_status"] == "TRADE_SUCCESS"
    assert paid["trade_no"] == waiting["trade_no"]
    assert paid["total_amount"] == paid["buyer_pay_amount"] == paid["receipt_amount"] == "20.00"
    assert paid["buyer_logon_id"].count("***") == 1 and paid["buyer_user_id"].startswith("2088")
    assert paid["send_pay_date"]
    assert sdk.api_alipay_trade_query(trade_no=paid["trade_no"])["out_trade_no"] == no

    first = sdk.api_alipay_trade_refund(refund_amount="5.00", out_trade_no=no, out_request_no=no + "A")
    assert first["code"] == "10000" and first["fund_change"] == "Y" and first["refund_fee"] == "5.00"
    assert first["refund_detail_item_list"] == [
        {"fund_channel": "ALIPAYACCOUNT", "amount": "5.00", "real_amount": "5.00"}]
    again = sdk.api_alipay_trade_refund(refund_amount="5.00", out_trade_no=no, out_request_no=no + "A")
    assert again["code"] == "10000" and again["fund_change"] == "N" and again["refund_fee"] == "5.00"
    view = sandbox.trade(no)
    assert view["refunded_amount"] == "5.00"
    assert [(r["out_request_no"], r["refund_amount"]) for r in view["refunds"]] == [(no + "A", "5.00")]

    rq = sdk.api_alipay_trade_fastpay_refund_query(out_request_no=no + "A", out_trade_no=no)
    assert rq["code"] == "10000" and rq["refund_amount"] == "5.00" and rq["total_amount"] == "20.00"
    assert rq["refund_status"] == "REFUND_SUCCESS" and rq["out_request_no"] == no + "A"
    none = sdk.api_alipay_trade_fastpay_refund_query(out_request_no=no + "Z", out_trade_no=no)
    assert none["code"] == "10000" and "refund_amount" not in none and "refund_status" not in none

    too_much = sdk.api_alipay_trade_refund(refund_amount="15.01", out_trade_no=no, out_request_no=no + "B")
    assert too_much["code"] == "40004" and too_much["sub_code"] == "ACQ.REASON_TRADE_REFUND_FEE_ERR"
    rest = sdk.api_alipay_trade_refund(refund_amount="15.00", out_trade_no=no, out_request_no=no + "C")
    assert rest["fund_change"] == "Y" and rest["refund_fee"] == "20.00"
    assert sdk.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "TRADE_CLOSED"


def test_close_an_unpaid_trade(sdk, sandbox, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="c", out_trade_no=no, total_amount="1.00")
    sandbox.scan(no)
    closed = sdk.api_alipay_trade_close(out_trade_no=no)
    assert closed["code"] == "10000" and closed["out_trade_no"] == no and closed["trade_no"]
    assert sdk.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "TRADE_CLOSED"
    assert sdk.api_alipay_trade_close(out_trade_no=no)["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    assert sandbox.pay(no).status_code == 409


def test_close_before_the_scan_says_not_exist_and_kills_the_qr_code(sdk, sandbox, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="c", out_trade_no=no, total_amount="1.00")
    assert sdk.api_alipay_trade_close(out_trade_no=no)["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    assert sandbox.scan(no).status_code == 409
    assert sandbox.pay(no).status_code == 409
    assert sandbox.trade(no)["payable"] is False
    again = sdk.api_alipay_trade_precreate(subject="c", out_trade_no=no, total_amount="1.00")
    assert again["sub_code"] == "ACQ.TRADE_HAS_CLOSE"


def test_close_of_a_paid_trade_is_a_status_error(sdk, sandbox, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="c", out_trade_no=no, total_amount="1.00")
    sandbox.pay(no)
    assert sdk.api_alipay_trade_close(out_trade_no=no)["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    assert sdk.api_alipay_trade_close(out_trade_no="NOPE" + no)["sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_precreate_is_idempotent_for_the_same_content_only(sdk, sandbox, otn):
    no = otn()
    first = sdk.api_alipay_trade_precreate(subject="same", out_trade_no=no, total_amount="3.00", store_id="s1")
    second = sdk.api_alipay_trade_precreate(subject="same", out_trade_no=no, total_amount="3.0", store_id="s1")
    assert second["code"] == "10000" and second["qr_code"] == first["qr_code"]
    other = sdk.api_alipay_trade_precreate(subject="other", out_trade_no=no, total_amount="3.00", store_id="s1")
    assert other["code"] == "40004" and other["sub_code"] == "ACQ.CONTEXT_INCONSISTENT"
    sandbox.scan(no)
    assert sdk.api_alipay_trade_precreate(subject="same", out_trade_no=no, total_amount="3.00",
                                          store_id="s1")["qr_code"] == first["qr_code"]
    sandbox.pay(no)
    paid = sdk.api_alipay_trade_precreate(subject="same", out_trade_no=no, total_amount="3.00", store_id="s1")
    assert paid["sub_code"] == "ACQ.TRADE_HAS_SUCCESS"


def test_a_partial_refund_needs_an_out_request_no(sdk, sandbox, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="r", out_trade_no=no, total_amount="10.00")
    sandbox.pay(no)
    partial = sdk.api_alipay_trade_refund(refund_amount="4.00", out_trade_no=no)
    assert partial["code"] == "40004" and partial["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    full = sdk.api_alipay_trade_refund(refund_amount="10.00", out_trade_no=no)
    assert full["fund_change"] == "Y" and full["refund_fee"] == "10.00"
    assert sdk.api_alipay_trade_refund(refund_amount="10.00", out_trade_no=no)["fund_change"] == "N"
    by_otn = sdk.api_alipay_trade_fastpay_refund_query(out_request_no=no, out_trade_no=no)
    assert by_otn["refund_amount"] == "10.00"
    assert sandbox.trade(no)["trade_status"] == "TRADE_CLOSED"


def test_refund_rules(sdk, sandbox, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="r", out_trade_no=no, total_amount="10.00")
    assert sdk.api_alipay_trade_refund(refund_amount="1.00", out_trade_no=no,
                                       out_request_no="x")["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    sandbox.scan(no)
    assert sdk.api_alipay_trade_refund(refund_amount="1.00", out_trade_no=no,
                                       out_request_no="x")["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    sandbox.pay(no)
    assert sdk.api_alipay_trade_refund(refund_amount="1.00", out_trade_no=no, out_request_no="x")["fund_change"] == "Y"
    discordant = sdk.api_alipay_trade_refund(refund_amount="2.00", out_trade_no=no, out_request_no="x")
    assert discordant["sub_code"] == "ACQ.DISCORDANT_REPEAT_REQUEST"
    for bad in ("0", "0.001", "-1", "1e2", "abc", "100000000.01"):
        answer = sdk.api_alipay_trade_refund(refund_amount=bad, out_trade_no=no, out_request_no="y")
        assert answer["sub_code"] == "ACQ.INVALID_PARAMETER", (bad, answer)
    assert sandbox.trade(no)["refunded_amount"] == "1.00"
    unknown = sdk.api_alipay_trade_fastpay_refund_query(out_request_no="x", out_trade_no="NOPE" + no)
    assert unknown["sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_cancel(sdk, sandbox, otn):
    unscanned, waiting, paid = otn(), otn(), otn()
    for no in (unscanned, waiting, paid):
        sdk.api_alipay_trade_precreate(subject="x", out_trade_no=no, total_amount="8.00")
    sandbox.scan(waiting)
    sandbox.pay(paid)

    first = sdk.api_alipay_trade_cancel(out_trade_no=unscanned)
    assert first["code"] == "10000" and first["action"] == "close" and first["retry_flag"] == "N"
    assert sandbox.pay(unscanned).status_code == 409

    second = sdk.api_alipay_trade_cancel(out_trade_no=waiting)
    assert second["action"] == "close" and second["trade_no"]
    assert sdk.api_alipay_trade_query(out_trade_no=waiting)["trade_status"] == "TRADE_CLOSED"

    third = sdk.api_alipay_trade_cancel(out_trade_no=paid)
    assert third["action"] == "refund" and third["retry_flag"] == "N"
    assert sandbox.trade(paid)["refunded_amount"] == "8.00"
    assert sdk.api_alipay_trade_query(out_trade_no=paid)["trade_status"] == "TRADE_CLOSED"
    assert sdk.api_alipay_trade_cancel(out_trade_no=paid)["action"] == "refund"
    assert sandbox.trade(paid)["refunded_amount"] == "8.00"
    assert sdk.api_alipay_trade_cancel(out_trade_no="NOPE" + paid)["sub_code"] == "ACQ.TRADE_NOT_EXIST"


@pytest.mark.parametrize(("biz", "sub_code"), [
    ({"out_trade_no": "a-b", "total_amount": "1.00", "subject": "s"}, "ACQ.INVALID_PARAMETER"),
    ({"out_trade_no": "x" * 65, "total_amount": "1.00", "subject": "s"}, "ACQ.INVALID_PARAMETER"),
    ({"out_trade_no": "ok", "total_amount": "0.00", "subject": "s"}, "ACQ.INVALID_PARAMETER"),
    ({"out_trade_no": "ok", "total_amount": "1.234", "subject": "s"}, "ACQ.INVALID_PARAMETER"),
    ({"out_trade_no": "ok", "total_amount": "1.00", "subject": "s" * 257}, "ACQ.INVALID_PARAMETER"),
    ({"out_trade_no": "ok", "total_amount": "1.00", "subject": "s", "store_id": "x" * 33}, "ACQ.INVALID_PARAMETER"),
    ({"out_trade_no": "ok", "total_amount": "1.00", "subject": "s", "timeout_express": "16d"},
     "ACQ.INVALID_PARAMETER"),
    ({"out_trade_no": "ok", "total_amount": "1.00", "subject": "s", "timeout_express": "1.5h"},
     "ACQ.INVALID_PARAMETER"),
    ({"out_trade_no": "ok", "total_amount": "1.00", "subject": "s", "body": "b" * 129}, "ACQ.INVALID_PARAMETER"),
    ({"total_amount": "1.00", "subject": "s"}, "isv.invalid-parameter"),
    ({"out_trade_no": "ok", "subject": "s"}, "isv.invalid-parameter"),
    ({"out_trade_no": "ok", "total_amount": "1.00"}, "isv.invalid-parameter"),
])
def test_precreate_checks_its_parameters(sdk, biz, sub_code):
    answer = sdk.server_api("alipay.trade.precreate", biz_content=biz)  # signed: the SDK verifies it
    assert answer["sub_code"] == sub_code, answer
    assert answer["code"] == ("40002" if sub_code.startswith("isv.") else "40004")


def test_precreate_accepts_alipay_timeouts(sdk, otn):
    for timeout in ("1m", "90m", "24h", "15d", "1c"):
        answer = sdk.api_alipay_trade_precreate(subject="t", out_trade_no=otn(), total_amount="100000000",
                                                timeout_express=timeout)
        assert answer["code"] == "10000", (timeout, answer)


def test_a_request_signed_with_another_key_is_refused_unsigned(make_sdk, other_key):
    with pytest.raises(AliPayException) as caught:
        make_sdk(key=other_key).api_alipay_trade_query(out_trade_no="whatever")
    assert "isv.invalid-signature" in str(caught.value) and "40002" in str(caught.value)


def test_an_unknown_app_is_refused_unsigned(make_sdk):
    with pytest.raises(AliPayException) as caught:
        make_sdk(app_id="2021000000009999").api_alipay_trade_query(out_trade_no="whatever")
    assert "isv.invalid-app-id" in str(caught.value)
