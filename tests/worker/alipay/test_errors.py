"""The error tree: attributes every caller relies on, pickling for Celery, and no secrets anywhere in it."""

from __future__ import annotations

import logging
import pickle
import traceback

import pytest

from tests.conftest import KeySet
from worker.alipay import (
    AlipayClient,
    AlipayError,
    BusinessError,
    ErrorKind,
    GatewayBusy,
    GatewayHTTPError,
    GatewayUnreachable,
    MalformedResponse,
    OutcomeUnknown,
    SignatureError,
    TransientError,
    signing,
)
from worker.alipay.errors import from_answer

from .conftest import FakeGateway, Reply, signed_body

METHOD = "alipay.trade.refund"


def test_tree_and_kinds() -> None:
    assert issubclass(GatewayUnreachable, TransientError)
    assert issubclass(GatewayHTTPError, TransientError)
    assert issubclass(GatewayBusy, TransientError)
    assert issubclass(MalformedResponse, OutcomeUnknown)
    assert issubclass(SignatureError, OutcomeUnknown)
    assert not issubclass(BusinessError, (TransientError, OutcomeUnknown))
    for cls in (TransientError, GatewayUnreachable, GatewayHTTPError, GatewayBusy):
        assert cls.kind is ErrorKind.TRANSIENT and cls.retryable
    assert OutcomeUnknown.kind is ErrorKind.UNKNOWN and OutcomeUnknown.retryable
    assert MalformedResponse.kind is ErrorKind.UNKNOWN
    assert SignatureError.kind is ErrorKind.SIGNATURE and SignatureError.retryable
    assert BusinessError.kind is ErrorKind.BUSINESS and not BusinessError.retryable
    for cls in (TransientError, OutcomeUnknown, BusinessError, SignatureError, GatewayUnreachable):
        assert cls.__doc__ and "\n" not in cls.__doc__.strip()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"code": "20000", "sub_code": "isp.unknow-error"}, GatewayBusy),
        ({"code": "40005"}, GatewayBusy),
        ({"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR"}, GatewayBusy),
        ({"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST"}, BusinessError),
        ({"code": "40001", "sub_code": "isv.missing-signature"}, BusinessError),
        ({"code": "40002", "sub_code": "isv.invalid-app-id"}, BusinessError),
        ({"code": "40003"}, BusinessError),
        ({"code": "40006", "sub_code": "isv.insufficient-isv-permissions"}, BusinessError),
        ({"code": "20001", "sub_code": "aop.invalid-auth-token"}, BusinessError),
    ],
)
def test_classification_by_code(fields: dict[str, str], expected: type) -> None:
    err = from_answer(METHOD, fields, verified=True)
    assert type(err) is expected
    assert err.method == METHOD and err.code == fields["code"] and err.sub_code == fields.get("sub_code", "")


def test_errors_survive_pickling() -> None:
    errors: list[AlipayError] = [
        from_answer(METHOD, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.X"}, verified=False),
        from_answer(METHOD, {"code": "20000", "msg": "Service Currently Unavailable"}, verified=True),
        GatewayHTTPError("m: HTTP 502", method=METHOD, status_code=502),
        SignatureError("m: bad", method=METHOD),
        OutcomeUnknown("m: lost", method=METHOD),
    ]
    for err in errors:
        copy = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
        assert type(copy) is type(err) and str(copy) == str(err) and vars(copy) == vars(err)
    assert AlipayError().method == ""


def key_fragments(keys: KeySet) -> list[str]:
    """Pieces of every key's text, which must never appear in messages, reprs or logs."""
    texts = [
        signing.pem_private(keys.app),
        signing.pem_private(keys.app, pkcs8=False),
        signing.pem_private(keys.alipay),
        signing.bare_public(keys.alipay.public_key()),
    ]
    return [line for text in texts for line in text.splitlines()[3:5]]


def everything_said(err: BaseException) -> str:
    return "\n".join([str(err), repr(err), *traceback.format_exception(err), repr(vars(err))])


def test_no_secrets_in_errors_reprs_or_logs(
    gateway: FakeGateway,
    client: AlipayClient,
    keys: KeySet,
    other_key: signing.PrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="worker.alipay")
    node = '{"code":"10000","msg":"Success","refund_fee":"1.00"}'
    bad = signed_body(METHOD, node, other_key)
    bad_sign = bad.rsplit('"sign":"', 1)[1][:-2]
    failure = '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}'
    good = signed_body(METHOD, failure, keys.alipay)
    good_sign = good.rsplit('"sign":"', 1)[1][:-2]
    gateway.answer(Reply(bad), Reply(good), Reply(status=502))

    said = [repr(client)]
    for _ in range(3):
        with pytest.raises(AlipayError) as caught:
            client.call(METHOD, {"out_trade_no": "T1", "refund_amount": "1.00"})
        said.append(everything_said(caught.value))
    said += [record.getMessage() for record in caught_records(caplog)]
    request_sign = gateway.last.query["sign"]

    text = "\n".join(said)
    for secret in [*key_fragments(keys), bad_sign, good_sign, request_sign, request_sign[:40], bad_sign[:40]]:
        assert secret not in text
    assert "sign=" not in text


def caught_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("worker.alipay")]


def test_client_repr_hides_keys(keys: KeySet) -> None:
    client = AlipayClient(
        "https://openapi.alipay.com/gateway.do",
        "2021000000000001",
        signing.pem_private(keys.app, pkcs8=False),
        signing.bare_public(keys.alipay.public_key()),
    )
    assert (
        repr(client)
        == "AlipayClient(gateway_url='https://openapi.alipay.com/gateway.do', app_id='2021000000000001')"
    )
    client.close()


@pytest.mark.parametrize(
    ("url", "app_id"), [("ftp://x/gateway.do", "1"), ("/gateway.do", "1"), ("https://x/gateway.do", "")]
)
def test_bad_configuration_fails_at_construction(keys: KeySet, url: str, app_id: str) -> None:
    with pytest.raises(ValueError):
        AlipayClient(url, app_id, keys.app, keys.alipay.public_key())


def test_bad_key_text_fails_at_construction(keys: KeySet) -> None:
    with pytest.raises(signing.KeyFormatError) as caught:
        AlipayClient("https://x/gateway.do", "1", "not a key", keys.alipay.public_key())
    assert "not a key" not in str(caught.value)
