"""Signed webhooks to the merchant's callbackUrl: every order change, in order, at least once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from standardwebhooks import Webhook

from tests.integration.receiver import Receiver
from tests.integration.stack import WEBHOOK_SECRET, Stack, eventually


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def events_of(stack: Stack, otn: str) -> list[dict]:
    return stack.call("GET", f"/orders/{otn}/events").json()["events"]


def test_each_change_is_posted_signed_with_a_stable_id(stack: Stack, receiver: Receiver) -> None:
    otn, body = stack.precreate("10.00", callbackUrl=receiver.url)
    stack.job(body["job_id"])
    assert stack.sandbox_post(f"/sandbox/trades/{otn}/pay").status_code < 300
    stack.wait_order(otn, lambda o: o["status"] == "TRADE_SUCCESS")
    stack.job(stack.refund(otn, "4.00", f"{otn}R1").json()["job_id"])
    eventually(lambda: len(receiver.received) == 2, message="two webhooks")
    verifier = Webhook(WEBHOOK_SECRET)  # an independent Standard Webhooks implementation
    payloads = [verifier.verify(r.body, r.headers) for r in receiver.received]
    assert [p["type"] for p in payloads] == ["order.paid", "order.refunded"]
    assert payloads[0]["order"]["status"] == "TRADE_SUCCESS" and payloads[0]["order"]["out_trade_no"] == otn
    assert payloads[1]["order"]["refunded_amount"] == "4.00"
    assert [r.headers["webhook-id"] for r in receiver.received] == [p["id"] for p in payloads]
    listed = events_of(stack, otn)
    assert [e["id"] for e in listed] == [p["id"] for p in payloads]
    assert all(e["delivery"] == "delivered" and e["attempts"][0]["status_code"] == 200 for e in listed)


def test_a_forged_signature_does_not_verify(stack: Stack, receiver: Receiver) -> None:
    otn, body = stack.precreate("1.00", callbackUrl=receiver.url)
    stack.job(body["job_id"])
    stack.sandbox_post(f"/sandbox/trades/{otn}/pay")
    eventually(lambda: receiver.received, message="a webhook")
    tampered = receiver.received[0].body.replace(b"TRADE_SUCCESS", b"TRADE_CLOSED")
    with pytest.raises(Exception, match="signature"):
        Webhook(WEBHOOK_SECRET).verify(tampered, receiver.received[0].headers)


def test_a_receiver_that_is_down_gets_every_event_in_order_once_back(stack: Stack, receiver: Receiver) -> None:
    otn, body = stack.precreate("9.00", callbackUrl=receiver.url)
    stack.job(body["job_id"])
    stack.sandbox_post(f"/sandbox/trades/{otn}/pay")
    eventually(lambda: len(receiver.received) == 1, message="order.paid delivered")
    receiver.stop()  # the merchant's server goes down: connections are refused
    for i, amount in enumerate(("2.00", "3.00")):
        stack.job(stack.refund(otn, amount, f"{otn}R{i}").json()["job_id"])
    eventually(lambda: len(events_of(stack, otn)) == 3 and len(events_of(stack, otn)[1]["attempts"]) >= 3,
               message="deliveries failing while the receiver is down")
    assert [e["delivery"] for e in events_of(stack, otn)] == ["delivered", "pending", "pending"]
    assert "error" in events_of(stack, otn)[1]["attempts"][0]
    assert events_of(stack, otn)[2]["attempts"] == []  # the next event waits for the one before it
    receiver.start()
    eventually(lambda: len(receiver.received) >= 3, timeout=20, message="all events after the restart")
    types = [json.loads(r.body)["type"] for r in receiver.received]
    assert types == ["order.paid", "order.refunded", "order.refunded"]
    amounts = [json.loads(r.body)["order"]["refunded_amount"] for r in receiver.received]
    assert amounts == ["0.00", "2.00", "5.00"]
    assert all(e["delivery"] == "delivered" for e in events_of(stack, otn))


def test_a_receiver_error_is_retried_but_a_4xx_is_not(stack: Stack, receiver: Receiver) -> None:
    receiver.status = 503
    otn, body = stack.precreate("2.00", callbackUrl=receiver.url)
    stack.job(body["job_id"])
    stack.sandbox_post(f"/sandbox/trades/{otn}/pay")
    eventually(lambda: len(receiver.received) >= 3, message="retries on 503")
    receiver.status = 200
    eventually(lambda: events_of(stack, otn)[0]["delivery"] == "delivered", message="delivered after 503s")

    other, body = stack.precreate("2.00", callbackUrl=receiver.url)
    stack.job(body["job_id"])
    receiver.status = 410
    count = len(receiver.received)
    stack.sandbox_post(f"/sandbox/trades/{other}/pay")
    eventually(lambda: events_of(stack, other) and events_of(stack, other)[0]["delivery"] == "failed",
               message="abandoned on 410")
    assert len(receiver.received) == count + 1
    assert stack.order(other)["status"] == "TRADE_SUCCESS"  # a failed delivery never touches payment state


def test_callback_url_is_validated(stack: Stack) -> None:
    response = stack.call("POST", "/qrcode", data=dict(totalAmount="1.00", subject="s", storeId="s",
                                                       timeoutExpress="5m", outTradeNo="CB1",
                                                       callbackUrl="ftp://example.com/x"))
    assert response.status_code == 400 and response.json()["error"]["field"] == "callbackUrl"
