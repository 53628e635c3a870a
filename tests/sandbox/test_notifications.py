"""Trade expiry and the notifications the sandbox posts to merchants."""

from __future__ import annotations

import json

from tests.sandbox.helpers import APP_ID, notification_ok, wait_for


def test_paying_posts_a_signed_notification(sdk, sandbox, receiver, otn, alipay_key, make_sdk):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="通知", out_trade_no=no, total_amount="20.00",
                                   notify_url=receiver.url, body="desc")
    sandbox.pay(no)
    (post,) = wait_for(lambda: receiver.received(no))
    assert notification_ok(post, alipay_key)
    data = dict(post)
    signature = data.pop("sign")
    assert make_sdk().verify(data, signature), "python-alipay-sdk verifies it too"
    assert post["notify_type"] == "trade_status_sync" and post["trade_status"] == "TRADE_SUCCESS"
    assert post["app_id"] == post["auth_app_id"] == APP_ID
    assert post["charset"] == "utf-8" and post["version"] == "1.0" and post["sign_type"] == "RSA2"
    assert post["seller_id"] == "2088102177846880" and post["buyer_id"].startswith("2088")
    assert post["total_amount"] == post["receipt_amount"] == post["buyer_pay_amount"] == "20.00"
    assert post["subject"] == "通知" and post["body"] == "desc"
    assert post["gmt_create"] and post["gmt_payment"] and post["notify_id"]
    assert json.loads(post["fund_bill_list"]) == [{"amount": "20.00", "fundChannel": "ALIPAYACCOUNT"}]
    query = sdk.api_alipay_trade_query(out_trade_no=no)
    assert post["trade_no"] == query["trade_no"] and post["buyer_logon_id"] == query["buyer_logon_id"]
    wait_for(lambda: sandbox.notifications(no)[0]["state"] == "delivered")


def test_a_notification_is_retried_until_success(sdk, sandbox, receiver, otn, alipay_key):
    receiver.answers = ["fail", "<html>oops</html>", "success "]
    no = otn()
    sdk.api_alipay_trade_precreate(subject="s", out_trade_no=no, total_amount="1.00", notify_url=receiver.url)
    sandbox.pay(no)

    def attempts() -> int:
        """Attempts the sandbox has recorded (after the receiver's answer: a post seen is not yet recorded)."""
        return len((sandbox.notifications(no) or [{"attempts": []}])[0]["attempts"])

    wait_for(lambda: attempts() == 1)
    sandbox.advance(2)
    wait_for(lambda: attempts() == 2)
    sandbox.advance(5)
    wait_for(lambda: attempts() == 3)
    (item,) = sandbox.notifications(no)
    assert item["state"] == "pending" and len(receiver.received(no)) == 3
    assert [a["answer"] for a in item["attempts"]] == ["fail", "<html>oops</html>", "success "]
    sandbox.advance(15)
    posts = wait_for(lambda: len(receiver.received(no)) == 4 and receiver.received(no))
    wait_for(lambda: sandbox.notifications(no)[0]["state"] == "delivered")
    assert len({p["notify_id"] for p in posts}) == 1, "notify_id is stable across retries"
    assert all(notification_ok(p, alipay_key) for p in posts)
    sandbox.advance(3600)
    assert len(receiver.received(no)) == 4


def test_retries_wait_for_the_back_off(sdk, sandbox, receiver, otn):
    receiver.answers = ["fail"] * 10
    no = otn()
    sdk.api_alipay_trade_precreate(subject="s", out_trade_no=no, total_amount="1.00", notify_url=receiver.url)
    sandbox.pay(no)
    wait_for(lambda: sandbox.notifications(no)[0]["attempts"])
    sandbox.advance(1)
    item = sandbox.notifications(no)[0]
    assert len(item["attempts"]) == 1 and item["next_attempt_at"]


def test_an_unreachable_notify_url_is_retried(sdk, sandbox, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="s", out_trade_no=no, total_amount="1.00",
                                   notify_url="http://127.0.0.1:9/notify")
    sandbox.pay(no)
    item = wait_for(lambda: (sandbox.notifications(no) or [{}])[0].get("attempts") and sandbox.notifications(no)[0])
    assert item["state"] == "pending" and item["attempts"][0]["error"]


def test_the_notify_fault_fails_a_delivery_attempt(sdk, sandbox, receiver, otn, alipay_key):
    sandbox.fault("notify", "reset")
    no = otn()
    sdk.api_alipay_trade_precreate(subject="s", out_trade_no=no, total_amount="1.00", notify_url=receiver.url)
    sandbox.pay(no)
    wait_for(lambda: sandbox.notifications(no)[0]["attempts"])
    assert receiver.received(no) == []
    assert sandbox.notifications(no)[0]["attempts"][0]["fault"] == "reset"
    sandbox.advance(2)
    (post,) = wait_for(lambda: receiver.received(no))
    assert notification_ok(post, alipay_key)
    wait_for(lambda: sandbox.notifications(no)[0]["state"] == "delivered")


def test_a_lost_notify_answer_makes_the_merchant_see_a_duplicate(sdk, sandbox, receiver, otn):
    sandbox.fault("notify", "lost_response")
    no = otn()
    sdk.api_alipay_trade_precreate(subject="s", out_trade_no=no, total_amount="1.00", notify_url=receiver.url)
    sandbox.pay(no)
    wait_for(lambda: receiver.received(no))
    sandbox.advance(2)
    posts = wait_for(lambda: len(receiver.received(no)) == 2 and receiver.received(no))
    assert posts[0]["notify_id"] == posts[1]["notify_id"]


def test_refunds_notify_with_the_cumulative_fee(sdk, sandbox, receiver, otn, alipay_key):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="s", out_trade_no=no, total_amount="10.00", notify_url=receiver.url)
    sandbox.pay(no)
    sdk.api_alipay_trade_refund(refund_amount="4.00", out_trade_no=no, out_request_no="r1")
    sdk.api_alipay_trade_refund(refund_amount="4.00", out_trade_no=no, out_request_no="r1")
    sdk.api_alipay_trade_refund(refund_amount="6.00", out_trade_no=no, out_request_no="r2")
    posts = wait_for(lambda: len(receiver.received(no)) == 3 and receiver.received(no))
    refunds = sorted((p for p in posts if "out_biz_no" in p), key=lambda p: float(p["refund_fee"]))
    assert [(p["out_biz_no"], p["refund_fee"], p["trade_status"]) for p in refunds] == [
        ("r1", "4.00", "TRADE_SUCCESS"), ("r2", "10.00", "TRADE_CLOSED")]
    assert all(p["gmt_refund"] and notification_ok(p, alipay_key) for p in refunds)
    assert refunds[1]["gmt_close"]
    assert len({p["notify_id"] for p in posts}) == 3


def test_an_unpaid_trade_closes_itself_after_timeout_express(sdk, sandbox, receiver, otn, alipay_key):
    no, unscanned = otn(), otn()
    sdk.api_alipay_trade_precreate(subject="s", out_trade_no=no, total_amount="1.00", timeout_express="5m",
                                   notify_url=receiver.url)
    sdk.api_alipay_trade_precreate(subject="s", out_trade_no=unscanned, total_amount="1.00",
                                   timeout_express="5m", notify_url=receiver.url)
    sandbox.scan(no)
    sandbox.advance(240)
    assert sdk.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "WAIT_BUYER_PAY"
    sandbox.advance(61)
    (post,) = wait_for(lambda: receiver.received(no))
    assert post["trade_status"] == "TRADE_CLOSED" and post["gmt_close"] and notification_ok(post, alipay_key)
    assert "gmt_payment" not in post
    assert sdk.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "TRADE_CLOSED"
    assert sandbox.pay(no).status_code == 409
    assert sandbox.pay(unscanned).status_code == 409
    assert sdk.api_alipay_trade_query(out_trade_no=unscanned)["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    assert receiver.received(unscanned) == []


def test_expiry_is_also_noticed_on_access(app, otn):
    """Without the background thread a request still sees the trade closed."""
    sandbox = app.extensions["sandbox"]
    sandbox.stop()
    no = otn()
    client = app.test_client()
    from sandbox.methods import Call, precreate

    with app.test_request_context():
        precreate(Call(sandbox, APP_ID, {"out_trade_no": no, "total_amount": "1.00", "subject": "s",
                                         "timeout_express": "1m"}, {}, "http://sandbox"))
    assert client.post(f"/sandbox/trades/{no}/scan").status_code == 200
    sandbox.clock.advance(60)
    assert client.get(f"/sandbox/trades/{no}").json["trade_status"] == "TRADE_CLOSED"


def test_1c_closes_at_the_end_of_the_beijing_day(sdk, sandbox, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="s", out_trade_no=no, total_amount="1.00", timeout_express="1c")
    view = sandbox.scan(no).json()
    assert view["expires_at"].endswith("00:00:00") and view["expires_at"][:10] > view["precreated_at"][:10]
