"""Validation of submissions (api.schemas) and the gathering of their parameters (api.params)."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from api.errors import InvalidJson, InvalidRequest
from api.params import request_params
from api.schemas import (
    JobRequest,
    QrcodeRequest,
    RefundQueryRequest,
    RefundRequest,
    money_str,
    parse_money,
    validate,
)

QRCODE = {
    "totalAmount": "0.01",
    "subject": "支付宝扫码支付测试",
    "storeId": "123456",
    "timeoutExpress": "5m",
    "outTradeNo": "SEED_20240101_1",
}
REFUND = {"refund_amount": "3.50", "out_trade_no": "SEED_20240101_1", "refund_reason": "partial"}
REFUND_QUERY = {"out_trade_no": "SEED_20240101_1"}
BASE: dict[type[JobRequest], dict[str, str]] = {
    QrcodeRequest: QRCODE,
    RefundRequest: REFUND,
    RefundQueryRequest: REFUND_QUERY,
}
ATTRIBUTES = {
    "totalAmount": "total_amount",
    "storeId": "store_id",
    "timeoutExpress": "timeout_express",
    "outTradeNo": "out_trade_no",
    "callbackUrl": "callback_url",
}


def check(model: type[JobRequest], field: str, value: str) -> JobRequest:
    return validate(model, {**BASE[model], field: value})


def rejection(model: type[JobRequest], params: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        validate(model, params)
    return caught.value


MISSING = object()

GOOD = [
    # money
    (QrcodeRequest, "totalAmount", "0.01", Decimal("0.01")),
    (QrcodeRequest, "totalAmount", "100000000", Decimal("100000000.00")),
    (QrcodeRequest, "totalAmount", "100000000.00", Decimal("100000000.00")),
    (QrcodeRequest, "totalAmount", "99999999.99", Decimal("99999999.99")),
    (QrcodeRequest, "totalAmount", "0.10", Decimal("0.10")),
    (QrcodeRequest, "totalAmount", "12.3", Decimal("12.30")),
    (QrcodeRequest, "totalAmount", "007", Decimal("7.00")),
    (RefundRequest, "refund_amount", "0.01", Decimal("0.01")),
    (RefundRequest, "refund_amount", "100000000", Decimal("100000000")),
    # subject
    (QrcodeRequest, "subject", "a", "a"),
    (QrcodeRequest, "subject", "字" * 256, "字" * 256),
    (QrcodeRequest, "subject", "  coffee  ", "coffee"),
    # storeId
    (QrcodeRequest, "storeId", "s" * 32, "s" * 32),
    (QrcodeRequest, "storeId", "店铺 No.1/A", "店铺 No.1/A"),
    # timeoutExpress
    (QrcodeRequest, "timeoutExpress", "1m", "1m"),
    (QrcodeRequest, "timeoutExpress", "90m", "90m"),
    (QrcodeRequest, "timeoutExpress", "21600m", "21600m"),
    (QrcodeRequest, "timeoutExpress", "1h", "1h"),
    (QrcodeRequest, "timeoutExpress", "360h", "360h"),
    (QrcodeRequest, "timeoutExpress", "1d", "1d"),
    (QrcodeRequest, "timeoutExpress", "15d", "15d"),
    (QrcodeRequest, "timeoutExpress", "1c", "1c"),
    # outTradeNo
    (QrcodeRequest, "outTradeNo", "a" * 64, "a" * 64),
    (QrcodeRequest, "outTradeNo", "Az_09", "Az_09"),
    (RefundRequest, "out_trade_no", "_", "_"),
    # callbackUrl
    (QrcodeRequest, "callbackUrl", "https://shop.example.com/cb?order=1", "https://shop.example.com/cb?order=1"),
    (QrcodeRequest, "callbackUrl", "http://127.0.0.1:8000/cb", "http://127.0.0.1:8000/cb"),
    (QrcodeRequest, "callbackUrl", "https://[::1]/cb", "https://[::1]/cb"),
    (QrcodeRequest, "callbackUrl", "https://e.com/" + "p" * 498, "https://e.com/" + "p" * 498),
    (QrcodeRequest, "callbackUrl", "", None),
    # body
    (QrcodeRequest, "body", "b" * 128, "b" * 128),
    (QrcodeRequest, "body", "", None),
    # wait
    (QrcodeRequest, "wait", "0", 0),
    (QrcodeRequest, "wait", "15", 15),
    (QrcodeRequest, "wait", "30", 30),
    (RefundRequest, "wait", "30", 30),
    (RefundQueryRequest, "wait", "1", 1),
    (QrcodeRequest, "wait", "", None),
    # refund
    (RefundRequest, "refund_reason", "r" * 256, "r" * 256),
    (RefundRequest, "out_request_no", "R_1", "R_1"),
    (RefundRequest, "out_request_no", "r" * 64, "r" * 64),
    (RefundRequest, "out_request_no", "", None),
    # refund query
    (RefundQueryRequest, "out_request_no", "R_1", "R_1"),
    (RefundQueryRequest, "trade_no", "2024010122001400000000000001", "2024010122001400000000000001"),
]


@pytest.mark.parametrize(("model", "field", "value", "expected"), GOOD)
def test_good_values(model: type[JobRequest], field: str, value: str, expected: object) -> None:
    request = check(model, field, value)
    assert getattr(request, ATTRIBUTES.get(field, field)) == expected


BAD = [
    # money: format
    (QrcodeRequest, "totalAmount", "1e2", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "1E2", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "-1", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "+1", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "１０", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "١٠", "invalid_amount"),
    (QrcodeRequest, "totalAmount", " 1", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "1 ", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "1\n", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "1.", "invalid_amount"),
    (QrcodeRequest, "totalAmount", ".5", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "1.234", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "1.000", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "1,00", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "1_000", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "NaN", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "Infinity", "invalid_amount"),
    (QrcodeRequest, "totalAmount", "¥1", "invalid_amount"),
    # money: range
    (QrcodeRequest, "totalAmount", "100000000.01", "amount_out_of_range"),
    (QrcodeRequest, "totalAmount", "1000000000", "amount_out_of_range"),
    (QrcodeRequest, "totalAmount", "0.00", "amount_out_of_range"),
    (QrcodeRequest, "totalAmount", "0", "amount_out_of_range"),
    (QrcodeRequest, "totalAmount", "", "required"),
    (QrcodeRequest, "totalAmount", MISSING, "required"),
    (RefundRequest, "refund_amount", "0.001", "invalid_amount"),
    (RefundRequest, "refund_amount", "100000000.01", "amount_out_of_range"),
    (RefundRequest, "refund_amount", MISSING, "required"),
    # subject
    (QrcodeRequest, "subject", "", "required"),
    (QrcodeRequest, "subject", "   ", "required"),
    (QrcodeRequest, "subject", MISSING, "required"),
    (QrcodeRequest, "subject", "s" * 257, "too_long"),
    (QrcodeRequest, "subject", "a\x00b", "invalid_format"),
    # storeId
    (QrcodeRequest, "storeId", "s" * 33, "too_long"),
    (QrcodeRequest, "storeId", "", "required"),
    (QrcodeRequest, "storeId", MISSING, "required"),
    (QrcodeRequest, "storeId", "a\tb", "invalid_format"),
    # timeoutExpress
    (QrcodeRequest, "timeoutExpress", "16d", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "21601m", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "361h", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "0m", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "01m", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "1.5h", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "2c", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "0c", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "1M", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "30s", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "m", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "5", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", " 5m", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "5m\n", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "５m", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "-1m", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "999999999999d", "invalid_timeout_express"),
    (QrcodeRequest, "timeoutExpress", "", "required"),
    (QrcodeRequest, "timeoutExpress", MISSING, "required"),
    # outTradeNo
    (QrcodeRequest, "outTradeNo", "a" * 65, "too_long"),
    (QrcodeRequest, "outTradeNo", "ab-c", "invalid_format"),
    (QrcodeRequest, "outTradeNo", "订单1", "invalid_format"),
    (QrcodeRequest, "outTradeNo", "café", "invalid_format"),
    (QrcodeRequest, "outTradeNo", "ａｂ", "invalid_format"),
    (QrcodeRequest, "outTradeNo", " ab", "invalid_format"),
    (QrcodeRequest, "outTradeNo", "ab\n", "invalid_format"),
    (QrcodeRequest, "outTradeNo", "", "required"),
    (QrcodeRequest, "outTradeNo", MISSING, "required"),
    (RefundRequest, "out_trade_no", "a" * 65, "too_long"),
    (RefundRequest, "out_trade_no", "a.b", "invalid_format"),
    # callbackUrl
    (QrcodeRequest, "callbackUrl", "ftp://shop.example.com/cb", "invalid_url"),
    (QrcodeRequest, "callbackUrl", "shop.example.com/cb", "invalid_url"),
    (QrcodeRequest, "callbackUrl", "/cb", "invalid_url"),
    (QrcodeRequest, "callbackUrl", "https://", "invalid_url"),
    (QrcodeRequest, "callbackUrl", "https:///cb", "invalid_url"),
    (QrcodeRequest, "callbackUrl", "http://exa mple.com/", "invalid_url"),
    (QrcodeRequest, "callbackUrl", "https://shop.example.com:99999/", "invalid_url"),
    (QrcodeRequest, "callbackUrl", "javascript:alert(1)", "invalid_url"),
    (QrcodeRequest, "callbackUrl", "https://e.com/" + "p" * 499, "too_long"),
    # body
    (QrcodeRequest, "body", "b" * 129, "too_long"),
    # wait
    (QrcodeRequest, "wait", "31", "invalid_wait"),
    (QrcodeRequest, "wait", "-1", "invalid_wait"),
    (QrcodeRequest, "wait", "1.5", "invalid_wait"),
    (QrcodeRequest, "wait", "15.0", "invalid_wait"),
    (QrcodeRequest, "wait", "ten", "invalid_wait"),
    (QrcodeRequest, "wait", "１", "invalid_wait"),
    (QrcodeRequest, "wait", " 5", "invalid_wait"),
    (QrcodeRequest, "wait", "1e1", "invalid_wait"),
    (QrcodeRequest, "wait", "99999999999999999999", "invalid_wait"),
    (RefundRequest, "wait", "31", "invalid_wait"),
    (RefundQueryRequest, "wait", "x", "invalid_wait"),
    # refund
    (RefundRequest, "refund_reason", MISSING, "required"),
    (RefundRequest, "refund_reason", " ", "required"),
    (RefundRequest, "refund_reason", "r" * 257, "too_long"),
    (RefundRequest, "out_request_no", "R-1", "invalid_format"),
    (RefundRequest, "out_request_no", "r" * 65, "too_long"),
    # refund query
    (RefundQueryRequest, "out_trade_no", "a" * 65, "too_long"),
    (RefundQueryRequest, "out_request_no", "r" * 65, "too_long"),
    (RefundQueryRequest, "out_request_no", "退款", "invalid_format"),
]


@pytest.mark.parametrize(("model", "field", "value", "code"), BAD)
def test_bad_values(model: type[JobRequest], field: str, value: object, code: str) -> None:
    params: dict[str, Any] = dict(BASE[model])
    if value is MISSING:
        params.pop(field)
    else:
        params[field] = value
    error = rejection(model, params)
    assert (error.status, error.code, error.field) == (400, "invalid_request", field)
    assert error.fields == [{"field": field, "code": code, "message": error.message}]
    assert error.message.startswith(field + " ") and error.message.endswith(".")
    assert error.to_dict() == {"error": {"code": "invalid_request", "message": error.message, "field": field}}


def test_money_message_names_the_field_and_the_rule() -> None:
    error = rejection(QrcodeRequest, {**QRCODE, "totalAmount": "abc"})
    assert error.message == (
        "totalAmount must be an amount in yuan with at most two decimals, between 0.01 and 100000000."
    )


def test_every_bad_field_is_named_in_model_order() -> None:
    params = {"wait": "99", "timeoutExpress": "16d", "subject": "ok", "totalAmount": "1.234", "storeId": "s"}
    error = rejection(QrcodeRequest, params)
    assert error.field == "totalAmount"
    assert error.message == "Invalid parameters: totalAmount, timeoutExpress, outTradeNo, wait."
    assert [(f["field"], f["code"]) for f in error.fields] == [
        ("totalAmount", "invalid_amount"),
        ("timeoutExpress", "invalid_timeout_express"),
        ("outTradeNo", "required"),
        ("wait", "invalid_wait"),
    ]
    body = error.to_dict()["error"]
    assert body["field"] == "totalAmount" and len(body["fields"]) == 4


def test_nothing_given_names_every_required_field() -> None:
    error = rejection(QrcodeRequest, {})
    assert [f["field"] for f in error.fields] == list(QRCODE)
    assert {f["code"] for f in error.fields} == {"required"}
    assert error.fields[0]["message"] == "totalAmount is required."


def test_unknown_parameters_are_ignored() -> None:
    request = validate(QrcodeRequest, {**QRCODE, "sign": "x", "notifyUrl": "y", "goods": "[]"})
    assert request.out_trade_no == QRCODE["outTradeNo"]


def test_python_names_are_accepted_too() -> None:
    fields = {"subject": "s", "store_id": "1", "timeout_express": "1h", "out_trade_no": "A"}
    request = QrcodeRequest.model_validate({"total_amount": Decimal("5"), **fields})
    assert money_str(request.total_amount) == "5.00"
    assert request.to_job_request()["totalAmount"] == "5.00"


def test_models_are_frozen() -> None:
    request = validate(QrcodeRequest, QRCODE)
    with pytest.raises(ValueError, match="frozen"):
        request.subject = "other"  # type: ignore[misc]


def test_timeout_minutes() -> None:
    assert validate(QrcodeRequest, {**QRCODE, "timeoutExpress": "15d"}).timeout_minutes == 21600
    assert validate(QrcodeRequest, {**QRCODE, "timeoutExpress": "2h"}).timeout_minutes == 120
    assert validate(QrcodeRequest, {**QRCODE, "timeoutExpress": "1c"}).timeout_minutes is None


# ---------------------------------------------------------------------------------------------- refund query


def test_refund_query_needs_out_trade_no_or_trade_no() -> None:
    error = rejection(RefundQueryRequest, {"out_request_no": "R1"})
    assert (error.field, error.fields[0]["code"]) == ("out_trade_no", "required")
    error = rejection(RefundQueryRequest, {"out_trade_no": "", "trade_no": " ", "wait": "31"})
    assert [(f["field"], f["code"]) for f in error.fields] == [
        ("out_trade_no", "required"),
        ("wait", "invalid_wait"),
    ]


def test_refund_query_by_trade_no_needs_out_request_no() -> None:
    error = rejection(RefundQueryRequest, {"trade_no": "2024"})
    assert (error.field, error.fields[0]["code"]) == ("out_request_no", "required")
    request = validate(RefundQueryRequest, {"trade_no": "2024", "out_request_no": "R1"})
    assert request.effective_out_request_no == "R1"
    assert request.to_job_request() == {"out_trade_no": None, "trade_no": "2024", "out_request_no": "R1"}


def test_refund_query_out_request_no_defaults_to_out_trade_no() -> None:
    request = validate(RefundQueryRequest, {"out_trade_no": "T1"})
    assert request.out_request_no is None
    assert request.effective_out_request_no == "T1"
    assert request.to_job_request()["out_request_no"] == "T1"
    explicit = validate(RefundQueryRequest, {"out_trade_no": "T1", "out_request_no": "T1"})
    assert request.fingerprint() == explicit.fingerprint()


def test_refund_query_checks_identity_when_built_directly() -> None:
    with pytest.raises(ValueError, match="out_trade_no is required"):
        RefundQueryRequest()


# ---------------------------------------------------------------------------------------------- job request


def test_to_job_request_is_plain_json_in_contract_names() -> None:
    request = validate(QrcodeRequest, {**QRCODE, "totalAmount": "12.3", "wait": "5", "callbackUrl": "https://a.b/c"})
    assert request.to_job_request() == {
        "totalAmount": "12.30",
        "subject": "支付宝扫码支付测试",
        "storeId": "123456",
        "timeoutExpress": "5m",
        "outTradeNo": "SEED_20240101_1",
        "callbackUrl": "https://a.b/c",
        "body": None,
    }
    refund = validate(RefundRequest, {**REFUND, "refund_amount": "3.5"})
    assert refund.to_job_request() == {
        "refund_amount": "3.50",
        "out_trade_no": "SEED_20240101_1",
        "refund_reason": "partial",
        "out_request_no": None,
    }
    json.dumps(request.to_job_request())


def test_fingerprint_is_stable_under_reordering_and_ignores_wait() -> None:
    first = validate(QrcodeRequest, QRCODE).fingerprint()
    reordered = validate(QrcodeRequest, dict(reversed(list(QRCODE.items())))).fingerprint()
    with_wait = validate(QrcodeRequest, {**QRCODE, "wait": "15", "extra": "1"}).fingerprint()
    assert first == reordered == with_wait
    assert len(first) == 64 and int(first, 16) >= 0


def test_fingerprint_ignores_how_the_amount_is_written() -> None:
    amounts = ("5", "5.0", "5.00", "05")
    prints = {validate(QrcodeRequest, {**QRCODE, "totalAmount": a}).fingerprint() for a in amounts}
    assert len(prints) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("totalAmount", "0.02"),
        ("subject", "other"),
        ("storeId", "654321"),
        ("timeoutExpress", "6m"),
        ("outTradeNo", "SEED_2"),
        ("callbackUrl", "https://a.b/c"),
        ("body", "desc"),
    ],
)
def test_fingerprint_changes_with_any_alipay_parameter(field: str, value: str) -> None:
    changed = validate(QrcodeRequest, {**QRCODE, field: value})
    assert changed.fingerprint() != validate(QrcodeRequest, QRCODE).fingerprint()


def test_fingerprint_differs_between_refunds() -> None:
    def fingerprint(**changes: str) -> str:
        return validate(RefundRequest, {**REFUND, "out_request_no": "R1", **changes}).fingerprint()

    assert fingerprint() == fingerprint(wait="3") == fingerprint(refund_amount="3.5")
    assert fingerprint() != fingerprint(refund_amount="3.51")
    assert fingerprint() != fingerprint(out_request_no="R2")
    assert fingerprint() != fingerprint(refund_reason="other")


# ---------------------------------------------------------------------------------------------- money


def test_money_str() -> None:
    assert money_str(Decimal("12.3")) == "12.30"
    assert money_str(Decimal("100000000")) == "100000000.00"
    assert money_str(Decimal("1E+2")) == "100.00"
    assert money_str(Decimal("0.1")) == "0.10"


@pytest.mark.parametrize(
    "value", [1.5, True, None, Decimal("NaN"), Decimal("Infinity"), Decimal("1.005"), Decimal("-1"), [1]]
)
def test_parse_money_refuses_non_strings_it_cannot_trust(value: object) -> None:
    with pytest.raises(PydanticCustomError):
        parse_money(value)


def test_parse_money_takes_exact_decimals_and_ints_from_python() -> None:
    assert parse_money(Decimal("12.300")) == Decimal("12.30")
    assert parse_money(7) == Decimal("7.00")
    with pytest.raises(PydanticCustomError, match="at most two decimals"):
        parse_money(Decimal("1E+9"))


@given(st.integers(min_value=1, max_value=10_000_000_000))
def test_money_round_trips(cents: int) -> None:
    amount = Decimal(cents).scaleb(-2)
    text = money_str(amount)
    assert parse_money(text) == amount
    assert money_str(parse_money(text)) == text


@given(st.text(alphabet=st.sampled_from("0123456789.-+eE １ ") | st.characters(), max_size=14))
def test_parse_money_accepts_only_ascii_amounts(text: str) -> None:
    try:
        amount = parse_money(text)
    except PydanticCustomError as exc:
        assert exc.type in ("invalid_amount", "amount_out_of_range")
    else:
        assert text.replace(".", "", 1).isascii() and text.replace(".", "", 1).isdigit()
        assert Decimal("0.01") <= amount <= Decimal("100000000")
        assert amount.as_tuple().exponent == -2


# ---------------------------------------------------------------------------------------------- params


@pytest.fixture
def app() -> Flask:
    return Flask(__name__)


def params_of(app: Flask, path: str = "/", **kwargs: Any) -> dict[str, str]:
    with app.test_request_context(path, method="POST", **kwargs):
        from flask import request

        return request_params(request)


def raw_json(strings: dict[str, str] | None = None, **literals: str) -> dict[str, Any]:
    """A JSON body of ``strings`` plus ``literals`` written verbatim, so that numbers keep their spelling."""
    fields = {key: json.dumps(value, ensure_ascii=False) for key, value in (strings or {}).items()}
    fields.update(literals)
    body = "{" + ", ".join(f'"{key}": {value}' for key, value in fields.items()) + "}"
    return {"data": body.encode(), "content_type": "application/json"}


def test_query_string_only(app: Flask) -> None:
    assert params_of(app, "/?totalAmount=0.01&subject=%E6%94%AF") == {"totalAmount": "0.01", "subject": "支"}


def test_first_value_wins_in_the_query_string(app: Flask) -> None:
    assert params_of(app, "/?wait=1&wait=2") == {"wait": "1"}


def test_body_wins_over_query_string(app: Flask) -> None:
    assert params_of(app, "/?a=query&b=query", json={"a": "json"}) == {"a": "json", "b": "query"}
    assert params_of(app, "/?a=query&b=query", data={"a": "form"}) == {"a": "form", "b": "query"}


def test_multipart_form(app: Flask) -> None:
    body = {"subject": "s", "file": (io.BytesIO(b"x"), "f.txt")}
    assert params_of(app, data=body, content_type="multipart/form-data") == {"subject": "s"}


def test_json_numbers_keep_their_digits(app: Flask) -> None:
    params = params_of(app, **raw_json({"subject": "s"}, totalAmount="12.3", wait="15", big="1" * 5000,
                                       exp="1E+2", body="null"))
    assert params == {"subject": "s", "totalAmount": "12.3", "wait": "15", "big": "1" * 5000, "exp": "1E+2"}


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("12.3", "12.30"),
        ("12", "12.00"),
        ("0.10", "0.10"),
        ('"12.30"', "12.30"),
        ("100000000", "100000000.00"),
    ],
)
def test_json_money_numbers_with_two_decimals_are_accepted(app: Flask, literal: str, expected: str) -> None:
    params = params_of(app, **raw_json(QRCODE, totalAmount=literal))
    assert money_str(validate(QrcodeRequest, params).total_amount) == expected


@pytest.mark.parametrize("literal", ["12.345", "1e2", "1E2", "-1", "0.1e1", "123e-2", "12.300", "-0.0"])
def test_json_money_numbers_with_more_decimals_or_exponents_are_refused(app: Flask, literal: str) -> None:
    params = params_of(app, **raw_json(REFUND, refund_amount=literal))
    error = rejection(RefundRequest, params)
    assert (error.field, error.fields[0]["code"]) == ("refund_amount", "invalid_amount")


def test_json_wait_must_be_an_integer(app: Flask) -> None:
    assert validate(QrcodeRequest, params_of(app, json={**QRCODE, "wait": 15})).wait == 15
    error = rejection(QrcodeRequest, params_of(app, **raw_json(QRCODE, wait="15.5")))
    assert error.fields[0]["code"] == "invalid_wait"


def test_json_booleans_arrays_objects_are_refused_by_name(app: Flask) -> None:
    with pytest.raises(InvalidRequest) as caught:
        params_of(app, **raw_json({"outTradeNo": "A"}, totalAmount="true", subject="[1]", storeId='{"a": 1}'))
    error = caught.value
    assert [(f["field"], f["code"]) for f in error.fields] == [
        ("totalAmount", "invalid_type"),
        ("subject", "invalid_type"),
        ("storeId", "invalid_type"),
    ]
    assert error.message == "Invalid parameters: totalAmount, subject, storeId."


@pytest.mark.parametrize(
    "body", ["[1, 2]", '"text"', "12", "{", "{'a': 1}", '{"a": NaN}', '{"a": Infinity}', "\xff", "[" * 100000]
)
def test_json_body_that_is_not_an_object(app: Flask, body: str) -> None:
    with pytest.raises(InvalidJson) as caught:
        params_of(app, data=body.encode("latin-1"), content_type="application/json")
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")


def test_empty_json_body_is_no_parameters(app: Flask) -> None:
    assert params_of(app, "/?a=1", data=b"  ", content_type="application/json") == {"a": "1"}


def test_other_body_types_are_ignored(app: Flask) -> None:
    assert params_of(app, "/?a=1", data=b"a=2", content_type="text/plain") == {"a": "1"}


def test_json_with_charset_and_vendor_types(app: Flask) -> None:
    assert params_of(app, data='{"a": "1"}', content_type="application/json; charset=utf-8") == {"a": "1"}
    assert params_of(app, data='{"a": "1"}', content_type="application/merge-patch+json") == {"a": "1"}

