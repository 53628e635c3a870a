"""The client over real HTTP against a local fake gateway: the wire format and every outcome's class."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.client import RemoteDisconnected

import pytest
import requests
import urllib3.exceptions

from tests.conftest import KeySet
from worker.alipay import (
    AlipayClient,
    BusinessError,
    ErrorKind,
    GatewayBusy,
    GatewayHTTPError,
    GatewayUnreachable,
    OutcomeUnknown,
    SignatureError,
    TransientError,
    trade,
)
from worker.alipay.errors import MalformedResponse

from .conftest import APP_ID, Close, FakeGateway, Hang, Reply, Reset, signed_body

METHOD = "alipay.trade.query"
SUCCESS = '{"code":"10000","msg":"Success","out_trade_no":"T1","trade_status":"WAIT_BUYER_PAY"}'


def answer_node(code: str, msg: str, sub_code: str = "", sub_msg: str = "") -> str:
    node = f'{{"code":"{code}","msg":"{msg}"'
    if sub_code:
        node += f',"sub_code":"{sub_code}","sub_msg":"{sub_msg}"'
    return node + "}"


def test_wire_format(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    node = (
        '{"code":"10000","msg":"Success","out_trade_no":"ORD1","qr_code":"https:\\/\\/qr.alipay.com\\/bax1"}'
    )
    gateway.answer(Reply(signed_body("alipay.trade.precreate", node, keys.alipay)))
    before = datetime.now(UTC) + timedelta(hours=8)
    answer = trade.precreate(
        client, out_trade_no="ORD1", total_amount=Decimal("88.8"), subject="Iphone6 16G", store_id="NJ_001"
    )
    assert answer == {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": "ORD1",
        "qr_code": "https://qr.alipay.com/bax1",
    }

    got = gateway.last
    assert got.method == "POST"
    assert got.path == "/gateway.do"
    assert got.headers["content-type"] == "application/x-www-form-urlencoded;charset=utf-8"
    assert [k for k, _ in got.query_pairs] == [
        "app_id",
        "charset",
        "format",
        "method",
        "notify_url",
        "sign_type",
        "timestamp",
        "version",
        "sign",
    ]
    assert got.query["app_id"] == APP_ID
    assert got.query["method"] == "alipay.trade.precreate"
    assert got.query["format"] == "JSON"
    assert got.query["charset"] == "utf-8"
    assert got.query["sign_type"] == "RSA2"
    assert got.query["version"] == "1.0"
    assert got.query["notify_url"] == "https://merchant.example.com/alipay/notify"
    assert len(got.query["sign"]) == 344
    assert list(got.form) == ["biz_content"]
    assert got.form["biz_content"] == (
        '{"out_trade_no":"ORD1","total_amount":"88.80","subject":"Iphone6 16G","store_id":"NJ_001"}'
    )
    stamp = datetime.strptime(got.query["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert before.replace(microsecond=0) - timedelta(seconds=1) <= stamp <= before + timedelta(seconds=5)


def test_query_sends_no_notify_url_and_no_empty_params(
    gateway: FakeGateway, client: AlipayClient, keys: KeySet
) -> None:
    gateway.answer(Reply(signed_body(METHOD, SUCCESS, keys.alipay)))
    trade.query(client, out_trade_no="T1")
    assert "notify_url" not in gateway.last.query
    assert all(value for value in gateway.last.query.values())
    assert gateway.last.form["biz_content"] == '{"out_trade_no":"T1"}'


def test_success(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    gateway.answer(Reply(signed_body(METHOD, SUCCESS, keys.alipay)))
    assert client.call(METHOD, {"out_trade_no": "T1"})["trade_status"] == "WAIT_BUYER_PAY"


def test_business_failure(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    node = answer_node("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")
    gateway.answer(Reply(signed_body(METHOD, node, keys.alipay)))
    with pytest.raises(BusinessError) as caught:
        trade.query(client, out_trade_no="T1")
    err = caught.value
    assert (err.code, err.msg, err.sub_code, err.sub_msg) == (
        "40004",
        "Business Failed",
        "ACQ.TRADE_NOT_EXIST",
        "交易不存在",
    )
    assert err.verified is True
    assert err.method == METHOD
    assert err.kind is ErrorKind.BUSINESS and err.retryable is False
    assert err.response["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    assert str(err) == "alipay.trade.query: 40004 Business Failed (ACQ.TRADE_NOT_EXIST: 交易不存在)"


@pytest.mark.parametrize(
    "node",
    [
        answer_node("20000", "Service Currently Unavailable", "isp.unknow-error", "系统繁忙"),
        answer_node("40005", "Call Limited", "aop.ACCESS_LIMITED", "调用频次超限"),
        answer_node("40004", "Business Failed", "ACQ.SYSTEM_ERROR", "系统错误"),
    ],
)
def test_gateway_asks_for_a_retry(
    gateway: FakeGateway, client: AlipayClient, keys: KeySet, node: str
) -> None:
    gateway.answer(Reply(signed_body(METHOD, node, keys.alipay)))
    with pytest.raises(GatewayBusy) as caught:
        client.call(METHOD, {"out_trade_no": "T1"})
    assert isinstance(caught.value, TransientError)
    assert caught.value.kind is ErrorKind.TRANSIENT and caught.value.retryable
    assert caught.value.verified


@pytest.mark.parametrize("status", [502, 503, 500, 429])
def test_http_errors_are_transient(gateway: FakeGateway, client: AlipayClient, status: int) -> None:
    gateway.answer(Reply("<html>Bad Gateway</html>", status=status))
    with pytest.raises(GatewayHTTPError) as caught:
        client.call(METHOD, {"out_trade_no": "T1"})
    assert caught.value.status_code == status
    assert caught.value.kind is ErrorKind.TRANSIENT


@pytest.mark.parametrize("status", [302, 404])
def test_other_http_statuses_are_unknown(gateway: FakeGateway, client: AlipayClient, status: int) -> None:
    gateway.answer(Reply("nope", status=status))
    with pytest.raises(MalformedResponse) as caught:
        client.call(METHOD, {"out_trade_no": "T1"})
    assert caught.value.status_code == status
    assert len(gateway.received) == 1


def test_html_page_with_200_is_malformed(gateway: FakeGateway, client: AlipayClient) -> None:
    gateway.answer(Reply("<html>captive portal</html>"))
    with pytest.raises(MalformedResponse):
        client.call(METHOD, {"out_trade_no": "T1"})


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that is bound but not listening: connecting is refused, and nobody else can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_connection_refused(closed_port: int, keys: KeySet) -> None:
    with AlipayClient(
        f"http://127.0.0.1:{closed_port}/gateway.do", APP_ID, keys.app, keys.alipay.public_key()
    ) as c:
        with pytest.raises(GatewayUnreachable) as caught:
            c.call(METHOD, {"out_trade_no": "T1"})
    err = caught.value
    assert err.kind is ErrorKind.TRANSIENT and err.retryable
    assert "refused" in str(err)
    assert err.__context__ is None and err.__cause__ is None
    assert "sign=" not in str(err) and "gateway.do" not in str(err)


def test_read_timeout_is_unknown(gateway: FakeGateway, client: AlipayClient) -> None:
    gateway.answer(Hang())
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown) as caught:
        client.call(METHOD, {"out_trade_no": "T1"})
    assert time.monotonic() - started < 2.0
    assert type(caught.value) is OutcomeUnknown
    assert caught.value.kind is ErrorKind.UNKNOWN and caught.value.retryable
    assert "0.3 s" in str(caught.value)
    assert len(gateway.received) == 1


def test_closed_without_answer_is_unknown(gateway: FakeGateway, client: AlipayClient) -> None:
    gateway.answer(Close())
    with pytest.raises(OutcomeUnknown) as caught:
        client.call(METHOD, {"out_trade_no": "T1"})
    assert type(caught.value) is OutcomeUnknown
    assert "closed the connection" in str(caught.value)


def test_reset_before_answer_is_transient(gateway: FakeGateway, client: AlipayClient) -> None:
    gateway.answer(Reset())
    with pytest.raises(GatewayUnreachable) as caught:
        client.call(METHOD, {"out_trade_no": "T1"})
    assert "reset" in str(caught.value)
    assert len(gateway.received) == 1


def test_the_client_never_retries_by_itself(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    gateway.answer(Close(), Reply(signed_body(METHOD, SUCCESS, keys.alipay)))
    with pytest.raises(OutcomeUnknown):
        client.call(METHOD, {"out_trade_no": "T1"})
    assert len(gateway.received) == 1
    assert client.call(METHOD, {"out_trade_no": "T1"})["code"] == "10000"


def test_unsigned_success_over_http_is_a_signature_error(gateway: FakeGateway, client: AlipayClient) -> None:
    gateway.answer(Reply(f'{{"alipay_trade_query_response":{SUCCESS}}}'))
    with pytest.raises(SignatureError):
        client.call(METHOD, {"out_trade_no": "T1"})


class RaisingSession:
    """A session whose POST fails with a given requests exception, to map causes that are hard to provoke."""

    def __init__(self, exc: requests.RequestException) -> None:
        self.exc = exc

    def post(self, *args: object, **kwargs: object) -> None:
        raise self.exc

    def close(self) -> None:
        pass


URL_WITH_SIGN = "/gateway.do?app_id=1&sign=SECRETSIGNATURE%2B%2F%3D"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            requests.ConnectTimeout(
                urllib3.exceptions.MaxRetryError(
                    None, URL_WITH_SIGN, urllib3.exceptions.ConnectTimeoutError(None, "timed out")
                )
            ),
            GatewayUnreachable,
        ),
        (
            requests.exceptions.SSLError(
                urllib3.exceptions.MaxRetryError(None, URL_WITH_SIGN, urllib3.exceptions.SSLError("bad cert"))
            ),
            GatewayUnreachable,
        ),
        (
            requests.ConnectionError(
                urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
            ),
            GatewayUnreachable,
        ),
        (
            requests.ConnectionError(
                urllib3.exceptions.ProtocolError("Connection aborted.", RemoteDisconnected("closed"))
            ),
            OutcomeUnknown,
        ),
        (
            requests.ConnectionError(
                urllib3.exceptions.ReadTimeoutError(None, URL_WITH_SIGN, "read timed out")
            ),
            OutcomeUnknown,
        ),
        (requests.ReadTimeout(URL_WITH_SIGN), OutcomeUnknown),
        (requests.exceptions.ChunkedEncodingError(URL_WITH_SIGN), OutcomeUnknown),
        (requests.ConnectionError(URL_WITH_SIGN), OutcomeUnknown),
    ],
)
def test_transport_cause_mapping(keys: KeySet, exc: requests.RequestException, expected: type) -> None:
    c = AlipayClient(
        "https://gateway.example/gateway.do",
        APP_ID,
        keys.app,
        keys.alipay.public_key(),
        session=RaisingSession(exc),
    )
    with pytest.raises(expected) as caught:
        c.call(METHOD, {"out_trade_no": "T1"})
    assert type(caught.value) is expected
    assert "SECRET" not in str(caught.value) and "SECRET" not in repr(caught.value)
    assert caught.value.__context__ is None


def test_extra_params_are_signed_and_sent(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    gateway.answer(Reply(signed_body(METHOD, SUCCESS, keys.alipay)))
    client.call(METHOD, {"out_trade_no": "T1"}, extra_params={"app_auth_token": "tok", "return_url": ""})
    assert gateway.last.query["app_auth_token"] == "tok"
    assert "return_url" not in gateway.last.query
    with pytest.raises(ValueError):
        client.call(METHOD, {}, extra_params={"sign": "x"})
    assert len(gateway.received) == 1


def test_gateway_url_with_its_own_query(gateway: FakeGateway, keys: KeySet) -> None:
    gateway.answer(Reply(signed_body(METHOD, SUCCESS, keys.alipay)))
    with AlipayClient(gateway.url + "?tenant=a", APP_ID, keys.app, keys.alipay.public_key()) as c:
        c.call(METHOD, {"out_trade_no": "T1"})
    assert gateway.last.query["tenant"] == "a" and gateway.last.query["method"] == METHOD
