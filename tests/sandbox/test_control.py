"""The control API, the call log, the clock and the buyer page."""

from __future__ import annotations

import re
from html import unescape

import requests

from tests.sandbox.helpers import signed_params


def test_the_trade_view_follows_the_lifecycle(sdk, sandbox, otn, receiver):
    no = otn()
    assert sandbox.get(f"/sandbox/trades/{no}").status_code == 404
    assert sandbox.get(f"/sandbox/trades/{no}").json()["error"]["code"] == "not_found"
    pre = sdk.api_alipay_trade_precreate(subject="view", out_trade_no=no, total_amount="7.00",
                                         notify_url=receiver.url, store_id="S1", timeout_express="10m")
    before = sandbox.trade(no)
    assert before["trade_status"] is None and before["trade_no"] is None
    assert before["scanned"] is False and before["payable"] is True
    assert before["total_amount"] == "7.00" and before["refunded_amount"] == "0.00" and before["refunds"] == []
    assert before["notify_url"] == receiver.url and before["qr_code"] == pre["qr_code"]
    assert before["store_id"] == "S1" and before["timeout_express"] == "10m"

    scanned = sandbox.scan(no)
    assert scanned.status_code == 200 and scanned.json()["trade_status"] == "WAIT_BUYER_PAY"
    assert sandbox.scan(no).json()["trade_no"] == scanned.json()["trade_no"], "scanning twice changes nothing"
    paid = sandbox.pay(no)
    assert paid.status_code == 200 and paid.json()["trade_status"] == "TRADE_SUCCESS"
    assert paid.json()["gmt_payment"] and paid.json()["buyer_logon_id"]
    again = sandbox.pay(no)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_paid"
    assert sandbox.scan(no).status_code == 409
    assert sandbox.pay("NOPE" + no).status_code == 404
    assert sandbox.scan("NOPE" + no).status_code == 404
    assert any(t["out_trade_no"] == no for t in sandbox.get("/sandbox/trades").json())


def test_pay_takes_a_buyer(sdk, sandbox, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="b", out_trade_no=no, total_amount="1.00")
    r = sandbox.post(f"/sandbox/trades/{no}/pay", json={"buyer_id": "2088000000000042",
                                                         "buyer_logon_id": "alice@example.com"})
    assert r.json()["buyer_user_id"] == "2088000000000042"
    query = sdk.api_alipay_trade_query(out_trade_no=no)
    assert query["buyer_logon_id"] == "ali***@example.com" and query["buyer_user_id"] == "2088000000000042"


def test_the_call_log(sandbox, sdk, app_key, other_key, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="log", out_trade_no=no, total_amount="1.00")
    sdk.api_alipay_trade_query(out_trade_no=no)
    requests.get(sandbox.gateway, timeout=10,
                 params=signed_params("alipay.trade.query", {"out_trade_no": no}, other_key))
    calls = sandbox.calls(no)
    assert [(c["method"], c["sign_ok"], c["code"], c["sub_code"]) for c in calls] == [
        ("alipay.trade.precreate", True, "10000", None),
        ("alipay.trade.query", True, "40004", "ACQ.TRADE_NOT_EXIST"),
        ("alipay.trade.query", False, "40002", "isv.invalid-signature"),
    ]
    assert all(set(c) >= {"method", "out_trade_no", "out_request_no", "sign_ok", "code", "sub_code", "fault",
                          "at"} for c in calls)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", calls[0]["at"])
    assert sandbox.delete("/sandbox/calls") == {"cleared": 3}
    assert sandbox.calls() == []


def test_the_clock(sandbox):
    first = sandbox.get("/sandbox/clock").json()
    moved = sandbox.advance(86400)
    assert moved["offset_s"] == 86400 and moved["now"][:10] > first["now"][:10]
    for bad in ({"advance_s": -1}, {"advance_s": "5"}, {}, {"advance_s": True}):
        r = sandbox.post("/sandbox/clock", json=bad)
        assert r.status_code == 400 and r.json()["error"]["field"] == "advance_s"


def test_control_errors_are_json(sandbox):
    r = sandbox.get("/sandbox/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.put(sandbox.url + "/sandbox/clock", timeout=10)
    assert r.status_code == 405 and "error" in r.json()
    assert sandbox.get("/healthz").json()["status"] == "ok"


def test_the_buyer_page_and_its_pay_button(sdk, sandbox, otn):
    no = otn()
    qr = sdk.api_alipay_trade_precreate(subject="<b>Coffee</b>", out_trade_no=no, total_amount="18.80")["qr_code"]
    page = requests.get(qr, timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "18.80" in page.text and "&lt;b&gt;Coffee&lt;/b&gt;" in page.text and no in page.text
    assert sandbox.trade(no)["trade_status"] is None, "opening the page does not scan"

    forms = dict(re.findall(r'<form method="post" action="([^"]+)">\s*<input type="hidden" name="next" '
                            r'value="([^"]+)">', page.text))
    pay_action = next(a for a in forms if a.endswith("/pay"))
    assert pay_action == f"/sandbox/trades/{no}/pay"
    after = requests.post(sandbox.url + unescape(pay_action), data={"next": unescape(forms[pay_action])},
                          timeout=10)
    assert after.status_code == 200 and after.url == qr, "redirected back to the page"
    assert "TRADE_SUCCESS" in after.text and 'id="pay"' not in after.text
    assert sandbox.trade(no)["trade_status"] == "TRADE_SUCCESS"

    again = requests.post(sandbox.url + pay_action, data={"next": forms[pay_action]}, timeout=10)
    assert "already paid" in again.text


def test_an_unknown_qr_code_page(sandbox):
    r = requests.get(sandbox.url + "/qr/baxnothing", timeout=10)
    assert r.status_code == 404 and "二维码无效" in r.text
