"""verify_notification (ALIPAY.md 3.2): which fields are signed; it answers False instead of raising."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from tests.conftest import KeySet
from worker.alipay import signing, verify_notification
from worker.alipay.notification import notification_content

from .test_interop import NOTIFY_91

STRING_92 = (
    "app_id=2015102700040153&body=大乐透2.1&buyer_id=2088102116773037&charset=utf-8"
    '&fund_bill_list=[{"amount":"2.00","fundChannel":"ALIPAYACCOUNT"}]'
    "&gmt_close=2016-07-19 14:10:46&gmt_create=2016-07-19 14:10:44&gmt_payment=2016-07-19 14:10:47"
    "&notify_id=4a91b7a78a503640467525113fb7d8bg8e&notify_time=2016-07-19 14:10:49"
    "&notify_type=trade_status_sync&out_trade_no=0719141034-6418&refund_fee=0.00&seller_id=2088102119685838"
    "&subject=大乐透2.1&total_amount=2.00&trade_no=2016071921001003030200089909&trade_status=TRADE_SUCCESS"
    "&version=1.0"
)


def signed(keys: KeySet, params: dict[str, str], charset: str = "utf-8") -> dict[str, str]:
    return {**params, "sign": signing.sign(keys.alipay, notification_content(params), charset)}


def test_string_to_verify_of_the_worked_example() -> None:
    assert notification_content({**NOTIFY_91, "sign": "x", "alipay_cert_sn": "abc"}) == STRING_92


def test_valid_notification(keys: KeySet) -> None:
    assert verify_notification(signed(keys, NOTIFY_91), keys.alipay.public_key())
    assert verify_notification(signed(keys, NOTIFY_91), signing.pem_public(keys.alipay.public_key()))


def test_unknown_fields_are_signed_too(keys: KeySet) -> None:
    params = signed(keys, {**NOTIFY_91, "new_field_2030": "v"})
    assert verify_notification(params, keys.alipay.public_key())
    assert not verify_notification({**params, "new_field_2030": "w"}, keys.alipay.public_key())


def test_gbk_notification(keys: KeySet) -> None:
    params = signed(keys, {**NOTIFY_91, "charset": "gbk"}, charset="gbk")
    assert verify_notification(params, keys.alipay.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"sign_type": "RSA"},
        {"sign_type": "rsa2"},
        {"sign": ""},
        {"sign": "not base64!"},
        {"charset": "no-such-charset"},
        {"out_trade_no": "0719141034-6419"},
    ],
)
def test_rejected_notifications(keys: KeySet, change: dict[str, str]) -> None:
    assert not verify_notification({**signed(keys, NOTIFY_91), **change}, keys.alipay.public_key())


def test_missing_sign_and_wrong_keys(keys: KeySet, other_key: signing.PrivateKey) -> None:
    assert not verify_notification(NOTIFY_91, keys.alipay.public_key())
    assert not verify_notification(signed(keys, NOTIFY_91), other_key.public_key())
    assert not verify_notification(signed(keys, NOTIFY_91), "not a key")


@pytest.mark.parametrize("params", [{}, {"sign": 5}, {"sign": "abc", "charset": 5}, {"sign": ["a"]}])
def test_never_raises(keys: KeySet, params: dict[str, Any]) -> None:
    assert verify_notification(params, keys.alipay.public_key()) is False


def test_gbk_text_that_cannot_be_encoded(keys: KeySet) -> None:
    params = signed(keys, {**NOTIFY_91, "charset": "gbk"}, charset="gbk")
    assert not verify_notification({**params, "subject": "\U0001f600"}, keys.alipay.public_key())


def test_a_flask_form_multidict_is_accepted(keys: KeySet) -> None:
    form = MultiDict(list(signed(keys, NOTIFY_91).items()))
    assert verify_notification(form, keys.alipay.public_key())
    form.add("out_trade_no", "a repeated field: only the first value counts")
    assert verify_notification(form, keys.alipay.public_key())
