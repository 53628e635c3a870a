"""Fixed vectors: ALIPAY.md 9.1 reproduced exactly; RSA2 signatures checked against openssl and the SDK."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from alipay import AliPay

from tests.conftest import KeySet
from worker.alipay import signing
from worker.alipay.client import BEIJING, AlipayClient, beijing_timestamp, dump_biz_content, format_amount

from .conftest import APP_ID

BIZ_91 = (
    '{"out_trade_no":"ORD20240101000001","total_amount":"88.88","subject":"Iphone6 16G",'
    '"store_id":"NJ_001","timeout_express":"5m"}'
)
STRING_TO_SIGN_91 = (
    "app_id=2014072300007148&biz_content=" + BIZ_91 + "&charset=utf-8&format=JSON"
    "&method=alipay.trade.precreate&notify_url=https://merchant.example.com/alipay/notify"
    "&sign_type=RSA2&timestamp=2024-01-01 12:00:00&version=1.0"
)
PARAMS_91 = {
    "app_id": "2014072300007148",
    "method": "alipay.trade.precreate",
    "format": "JSON",
    "charset": "utf-8",
    "sign_type": "RSA2",
    "timestamp": "2024-01-01 12:00:00",
    "version": "1.0",
    "notify_url": "https://merchant.example.com/alipay/notify",
    "biz_content": BIZ_91,
}
BIZ_91_DICT = {
    "out_trade_no": "ORD20240101000001",
    "total_amount": Decimal("88.88"),
    "subject": "Iphone6 16G",
    "store_id": "NJ_001",
    "timeout_express": "5m",
}


def test_string_to_sign_of_the_worked_example() -> None:
    assert signing.content_to_sign(PARAMS_91) == STRING_TO_SIGN_91


def test_client_builds_the_worked_example_exactly(keys: KeySet) -> None:
    client = AlipayClient("https://openapi.alipay.com/gateway.do", APP_ID, keys.app, keys.alipay.public_key())
    prepared = client.prepare(
        "alipay.trade.precreate",
        BIZ_91_DICT,
        notify_url="https://merchant.example.com/alipay/notify",
        now=datetime(2024, 1, 1, 12, 0, 0, tzinfo=BEIJING),
    )
    assert prepared.biz_content == BIZ_91
    assert prepared.content == STRING_TO_SIGN_91
    assert signing.verify(keys.app.public_key(), STRING_TO_SIGN_91, prepared.sign)
    assert len(prepared.sign) == 344
    query = prepared.query_string()
    assert query.startswith(
        "app_id=2014072300007148&charset=utf-8&format=JSON&method=alipay.trade.precreate"
        "&notify_url=https%3A%2F%2Fmerchant.example.com%2Falipay%2Fnotify&sign_type=RSA2"
        "&timestamp=2024-01-01+12%3A00%3A00&version=1.0&sign="
    )
    assert prepared.body().startswith(b"biz_content=%7B%22out_trade_no%22%3A%22ORD20240101000001%22%2C")
    assert prepared.sign not in repr(prepared)
    client.close()


def test_signature_matches_openssl(keys: KeySet, tmp_path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(signing.pem_private(keys.app, pkcs8=False))
    done = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(key_file)],
        input=STRING_TO_SIGN_91.encode("utf-8"),
        capture_output=True,
        check=True,
        timeout=10,
    )
    assert signing.sign(keys.app, STRING_TO_SIGN_91) == base64.b64encode(done.stdout).decode()


def test_signature_matches_python_alipay_sdk(keys: KeySet, sdk_merchant: AliPay) -> None:
    text = STRING_TO_SIGN_91 + "&extra=大乐透2.1"
    assert signing.sign(keys.app, text) == sdk_merchant._sign(text)


def test_timestamp_is_beijing_time_whatever_the_input_zone() -> None:
    assert beijing_timestamp(datetime(2024, 1, 1, 4, 0, 0, tzinfo=UTC)) == "2024-01-01 12:00:00"
    assert beijing_timestamp(datetime(2023, 12, 31, 20, 30, 5, tzinfo=UTC)) == "2024-01-01 04:30:05"
    with pytest.raises(ValueError):
        beijing_timestamp(datetime(2024, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("value", "text"),
    [("88.88", "88.88"), ("88.8", "88.80"), ("1", "1.00"), ("0.01", "0.01"), ("100000000", "100000000.00")],
)
def test_amounts_are_two_decimal_strings(value: str, text: str) -> None:
    assert format_amount(Decimal(value)) == text


@pytest.mark.parametrize("value", ["1.005", "NaN", "Infinity", "1E+40"])
def test_amounts_are_never_rounded(value: str) -> None:
    with pytest.raises(ValueError):
        format_amount(Decimal(value))


def test_biz_content_is_compact_and_keeps_non_ascii() -> None:
    assert dump_biz_content({"subject": "大乐透", "total_amount": Decimal("2.1")}) == (
        '{"subject":"大乐透","total_amount":"2.10"}'
    )
    with pytest.raises(TypeError):
        dump_biz_content({"when": datetime.now(UTC)})
