"""python-alipay-sdk as an independent implementation: what one signs, the other verifies, both ways."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
from alipay import AliPay

from tests.conftest import KeySet
from worker.alipay import signing, trade, verify_notification
from worker.alipay.client import AlipayClient
from worker.alipay.notification import notification_content
from worker.alipay.response import parse_response

from .conftest import FakeGateway, Reply, signed_body

QUERY_NODE = (
    '{"code":"10000","msg":"Success","trade_no":"2016071921001003030200089909",'
    '"out_trade_no":"0719141034-6418","buyer_logon_id":"159****5620","trade_status":"TRADE_SUCCESS",'
    '"total_amount":"2.00","subject":"大乐透2.1","qr_code":"https:\\/\\/qr.alipay.com\\/bax01"}'
)

NOTIFY_91 = {
    "total_amount": "2.00",
    "buyer_id": "2088102116773037",
    "body": "大乐透2.1",
    "trade_no": "2016071921001003030200089909",
    "refund_fee": "0.00",
    "notify_time": "2016-07-19 14:10:49",
    "subject": "大乐透2.1",
    "sign_type": "RSA2",
    "charset": "utf-8",
    "notify_type": "trade_status_sync",
    "out_trade_no": "0719141034-6418",
    "gmt_close": "2016-07-19 14:10:46",
    "gmt_payment": "2016-07-19 14:10:47",
    "trade_status": "TRADE_SUCCESS",
    "version": "1.0",
    "gmt_create": "2016-07-19 14:10:44",
    "app_id": "2015102700040153",
    "seller_id": "2088102119685838",
    "notify_id": "4a91b7a78a503640467525113fb7d8bg8e",
    "fund_bill_list": '[{"amount":"2.00","fundChannel":"ALIPAYACCOUNT"}]',
}


def sdk_string(params: dict[str, str]) -> str:
    """The SDK's own way of building a string to sign or verify (`_ordered_data` + join)."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()))


def test_our_request_signature_verifies_with_the_sdk(
    gateway: FakeGateway, client: AlipayClient, keys: KeySet, sdk_alipay: AliPay
) -> None:
    gateway.answer(
        Reply(signed_body("alipay.trade.precreate", '{"code":"10000","msg":"Success"}', keys.alipay))
    )
    trade.precreate(client, out_trade_no="ORD1", total_amount=Decimal("88.88"), subject="大乐透 & co=1")
    received = {**gateway.last.query, **gateway.last.form}
    signature = received.pop("sign")
    assert sdk_alipay._verify(sdk_string(received), signature)
    received["subject_tampered"] = "x"
    assert not sdk_alipay._verify(sdk_string(received), signature)


def test_sdk_request_signature_verifies_with_ours(keys: KeySet, sdk_merchant: AliPay) -> None:
    body = sdk_merchant.build_body(
        "alipay.trade.precreate",
        {"out_trade_no": "ORD1", "total_amount": "88.88", "subject": "大乐透"},
        notify_url="https://merchant.example.com/n",
    )
    signed = sdk_merchant.sign_data(body)
    params = dict(parse_qsl(signed, keep_blank_values=True))
    signature = params.pop("sign")
    assert signing.verify(keys.app.public_key(), signing.content_to_sign(params), signature)


def test_sdk_signed_response_verifies_with_ours(keys: KeySet, sdk_alipay: AliPay) -> None:
    body = signed_body("alipay.trade.query", QUERY_NODE, None, sign=sdk_alipay._sign(QUERY_NODE))
    fields = parse_response("alipay.trade.query", body, keys.alipay.public_key())
    assert fields == json.loads(QUERY_NODE)
    assert fields["qr_code"] == "https://qr.alipay.com/bax01"


def test_our_signed_response_verifies_with_the_sdk(keys: KeySet, sdk_merchant: AliPay) -> None:
    body = signed_body("alipay.trade.query", QUERY_NODE, keys.alipay)
    theirs = sdk_merchant._verify_and_return_sync_response(body, "alipay_trade_query_response")
    ours = parse_response("alipay.trade.query", body, keys.alipay.public_key())
    assert theirs == ours


def test_sdk_response_through_the_client(
    gateway: FakeGateway, client: AlipayClient, sdk_alipay: AliPay
) -> None:
    gateway.answer(
        Reply(signed_body("alipay.trade.query", QUERY_NODE, None, sign=sdk_alipay._sign(QUERY_NODE)))
    )
    assert trade.query(client, out_trade_no="0719141034-6418")["trade_status"] == "TRADE_SUCCESS"


def test_sdk_signed_notification_verifies_with_ours(keys: KeySet, sdk_alipay: AliPay) -> None:
    unsigned = {k: v for k, v in NOTIFY_91.items() if k != "sign_type"}
    params = {**NOTIFY_91, "sign": sdk_alipay._sign(sdk_string(unsigned))}
    assert verify_notification(params, keys.alipay.public_key())
    assert verify_notification(params, signing.bare_public(keys.alipay.public_key()))
    assert not verify_notification({**params, "total_amount": "2.01"}, keys.alipay.public_key())
    assert not verify_notification({**params, "extra_field": "x"}, keys.alipay.public_key())
    assert not verify_notification(params, keys.app.public_key())


def test_our_signed_notification_verifies_with_the_sdk(keys: KeySet, sdk_merchant: AliPay) -> None:
    signature = signing.sign(keys.alipay, notification_content(NOTIFY_91))
    data = dict(NOTIFY_91)
    assert sdk_merchant.verify(dict(data), signature)
    data["trade_status"] = "TRADE_FINISHED"
    assert not sdk_merchant.verify(dict(data), signature)


@pytest.mark.parametrize("empty_field", ["passback_params", "buyer_logon_id"])
def test_empty_notification_fields_are_skipped_like_alipay_java(keys: KeySet, empty_field: str) -> None:
    signature = signing.sign(keys.alipay, notification_content(NOTIFY_91))
    assert verify_notification({**NOTIFY_91, empty_field: "", "sign": signature}, keys.alipay.public_key())
