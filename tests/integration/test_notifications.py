"""Alipay's notifications at /notify: only verified, consistent ones change anything."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.integration.stack import APP_ID, Stack
from worker.alipay import signing


def signed(fields: dict[str, str], key: signing.PrivateKey) -> dict[str, str]:
    content = signing.content_to_sign(fields, exclude=("sign", "sign_type"))
    return dict(fields, sign=signing.sign(key, content), sign_type="RSA2")


def paid_notification(otn: str, amount: str, **overrides: str) -> dict[str, str]:
    fields = {
        "notify_time": "2026-11-26 10:00:00", "notify_type": "trade_status_sync",
        "notify_id": uuid.uuid4().hex, "app_id": APP_ID, "charset": "utf-8", "version": "1.0",
        "trade_no": "2026112622001400001" + uuid.uuid4().hex[:8], "out_trade_no": otn,
        "trade_status": "TRADE_SUCCESS", "total_amount": amount, "buyer_id": "2088102177000000",
        "buyer_logon_id": "abc***@example.com", "seller_id": "2088102177846880",
        "gmt_payment": "2026-11-26 09:59:59", "subject": "integration order",
    }
    fields.update(overrides)
    return fields


@pytest.fixture
def pending(stack: Stack) -> str:
    otn, body = stack.precreate("20.00")
    stack.job(body["job_id"])
    return otn


def post(stack: Stack, data: dict[str, str], path: str = "/notify") -> str:
    response = requests.post(stack.api + path, data=data, timeout=10)
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize("case", ["forged", "tampered", "other_app", "unknown_order", "wrong_amount",
                                  "unsigned", "other_sign_type"])
def test_a_bad_notification_is_refused_and_changes_nothing(stack: Stack, pending: str, case: str) -> None:
    key = stack.keys.alipay
    fields = paid_notification(pending, "20.00")
    if case == "forged":
        data = signed(fields, signing.generate_private_key())
    elif case == "tampered":
        data = dict(signed(fields, key), trade_no="2026000000000000000000")  # edited after signing
    elif case == "other_app":
        data = signed(dict(fields, app_id="2021000000009999"), key)
    elif case == "unknown_order":
        data = signed(dict(fields, out_trade_no="NOPE" + uuid.uuid4().hex[:8]), key)
    elif case == "wrong_amount":
        data = signed(dict(fields, total_amount="19.99"), key)
    elif case == "unsigned":
        data = fields
    else:
        data = dict(signed(fields, key), sign_type="RSA")
    assert post(stack, data) == "failure"
    assert stack.order(pending)["status"] == "PENDING"


def test_a_verified_notification_pays_and_its_duplicate_is_answered_success(stack: Stack, pending: str) -> None:
    data = signed(paid_notification(pending, "20.00"), stack.keys.alipay)
    assert post(stack, data, "/notify_url") == "success"
    order = stack.order(pending)
    assert order["status"] == "TRADE_SUCCESS" and order["paid_via"] == "notification"
    assert order["trade_no"] == data["trade_no"]
    assert post(stack, data) == "success"
    assert stack.order(pending)["updated_at"] == order["updated_at"]


def test_a_paid_order_never_moves_back(stack: Stack) -> None:
    otn = stack.paid_order("6.00")
    for status in ("WAIT_BUYER_PAY", "TRADE_CLOSED"):
        data = signed(paid_notification(otn, "6.00", trade_status=status), stack.keys.alipay)
        assert post(stack, data) == "success"
        assert stack.order(otn)["status"] == "TRADE_SUCCESS"
    # A stale poll of the paid trade: put it back on the schedule; the poll must leave the order as it is.
    import redis

    from worker.store import Keys

    store = redis.Redis.from_url(stack.redis_url)
    store.zadd(Keys.poll_due, {otn: 0})
    from tests.integration.stack import eventually

    eventually(lambda: store.zscore(Keys.poll_due, otn) is None, message="stale poll done")
    assert stack.order(otn)["status"] == "TRADE_SUCCESS"
