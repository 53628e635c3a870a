"""The client over real HTTP against a local fake gateway: the wire format and every outcome's class."""

from __future__ import annotations

import base64
import socket
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.client import IncompleteRead, RemoteDisconnected
from typing import TypeVar

import pytest
import urllib3
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
from worker.alipay.client import new_pool
from worker.alipay.errors import MalformedResponse

from .conftest import APP_ID, Close, FakeGateway, Hang, Raw, Reply, Reset, signed_body

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
    gateway.answer(Reply("nope", status=status, headers={"Location": gateway.url}))
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


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"alipay", "IncompleteRead"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "IncompleteRead"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{\"alipay", "IncompleteRead"),
    ],
    ids=["short-body", "bad-chunk-length", "chunked-body-cut"],
)
def test_an_answer_broken_off_is_unknown(
    gateway: FakeGateway, client: AlipayClient, answer: bytes, cause: str
) -> None:
    gateway.answer(Raw(answer))
    with pytest.raises(OutcomeUnknown) as caught:
        client.call(METHOD, {"out_trade_no": "T1"})
    assert type(caught.value) is OutcomeUnknown
    assert f"the answer broke off ({cause})" in str(caught.value)
    assert caught.value.__context__ is None


def test_consecutive_calls_reuse_one_connection(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    gateway.keep_alive = True
    gateway.answer(*[Reply(signed_body(METHOD, SUCCESS, keys.alipay)) for _ in range(3)])
    for _ in range(3):
        assert client.call(METHOD, {"out_trade_no": "T1"})["code"] == "10000"
    assert len(gateway.received) == 3
    assert len({r.client_port for r in gateway.received}) == 1


def test_a_failed_exchange_leaves_a_working_pool(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    gateway.keep_alive = True
    ok = Reply(signed_body(METHOD, SUCCESS, keys.alipay))
    gateway.answer(ok, Reset(), ok)
    client.call(METHOD, {"out_trade_no": "T1"})
    with pytest.raises(GatewayUnreachable):
        client.call(METHOD, {"out_trade_no": "T1"})
    assert client.call(METHOD, {"out_trade_no": "T1"})["code"] == "10000"
    first, reset, after = (r.client_port for r in gateway.received)
    assert first == reset != after


class RaisingPool:
    """A pool whose request fails with a given urllib3 or OS exception, to map causes that are hard to provoke."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def request(self, *args: object, **kwargs: object) -> object:
        raise self.exc

    def clear(self) -> None:
        pass


class BrokenBody:
    """An answer whose status line and headers arrived but whose body fails to read."""

    status = 200

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def read(self) -> bytes:
        raise self.exc

    def release_conn(self) -> None:
        pass


class BrokenBodyPool(RaisingPool):
    def request(self, *args: object, **kwargs: object) -> object:
        return BrokenBody(self.exc)


URL_WITH_SIGN = "/gateway.do?app_id=1&sign=SECRETSIGNATURE%2B%2F%3D"
HOST = "gateway.example"
E = TypeVar("E", bound=BaseException)


def _conn() -> urllib3.connection.HTTPSConnection:
    return urllib3.connection.HTTPSConnection(HOST, 443)


def _pool() -> urllib3.HTTPSConnectionPool:
    return urllib3.HTTPSConnectionPool(HOST, 443)


def _caused_by(exc: E, cause: BaseException) -> E:
    """`exc` as urllib3 raises it: `raise exc from cause`."""
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "expected", "reason"),
    [
        pytest.param(
            _caused_by(
                urllib3.exceptions.NameResolutionError(HOST, _conn(), socket.gaierror(-2, "Name not known")),
                socket.gaierror(-2, "Name not known"),
            ),
            GatewayUnreachable,
            "cannot connect (gaierror)",
            id="name-resolution",
        ),
        pytest.param(
            _caused_by(
                urllib3.exceptions.NewConnectionError(_conn(), f"Failed to establish a connection {URL_WITH_SIGN}"),
                ConnectionRefusedError(111, "Connection refused"),
            ),
            GatewayUnreachable,
            "connection refused",
            id="new-connection-refused",
        ),
        pytest.param(
            _caused_by(
                urllib3.exceptions.NewConnectionError(_conn(), "Failed to establish a new connection"),
                OSError(113, "No route to host"),
            ),
            GatewayUnreachable,
            "cannot connect (OSError)",
            id="new-connection-no-route",
        ),
        pytest.param(
            _caused_by(
                urllib3.exceptions.ConnectTimeoutError(_conn(), f"timed out {URL_WITH_SIGN}"),
                TimeoutError("timed out"),
            ),
            GatewayUnreachable,
            "connect timeout",
            id="connect-timeout",
        ),
        pytest.param(
            urllib3.exceptions.ReadTimeoutError(_pool(), URL_WITH_SIGN, "Read timed out. (read timeout=15)"),
            OutcomeUnknown,
            "no answer within 15 s",
            id="read-timeout",
        ),
        pytest.param(
            urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
            GatewayUnreachable,
            "connection reset before any answer",
            id="reset",
        ),
        pytest.param(
            urllib3.exceptions.ProtocolError("Connection aborted.", RemoteDisconnected("closed")),
            OutcomeUnknown,
            "closed the connection without answering",
            id="remote-disconnected",
        ),
        pytest.param(
            urllib3.exceptions.ProtocolError("Connection aborted.", BrokenPipeError(32, "Broken pipe")),
            GatewayUnreachable,
            "cannot connect (BrokenPipeError)",
            id="broken-pipe",
        ),
        pytest.param(
            urllib3.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed")),
            GatewayUnreachable,
            "cannot connect (SSLCertVerificationError)",
            id="ssl",
        ),
        pytest.param(
            urllib3.exceptions.ProxyError(
                "Unable to connect to proxy",
                _caused_by(
                    urllib3.exceptions.NewConnectionError(_conn(), "Failed to establish a new connection"),
                    ConnectionRefusedError(111, "Connection refused"),
                ),
            ),
            GatewayUnreachable,
            "connection refused",
            id="proxy-refused",
        ),
        pytest.param(
            urllib3.exceptions.ProxyError("Unable to connect to proxy", OSError("Tunnel connection failed: 403")),
            GatewayUnreachable,
            "cannot connect (OSError)",
            id="proxy-tunnel",
        ),
        pytest.param(
            urllib3.exceptions.ProtocolError("Connection aborted.", IncompleteRead(b"HTTP/1.1 2")),
            OutcomeUnknown,
            "connection failed (IncompleteRead)",
            id="incomplete-status-line",
        ),
        pytest.param(
            urllib3.exceptions.ProtocolError(f"Connection aborted. {URL_WITH_SIGN}"),
            OutcomeUnknown,
            "connection failed (ProtocolError)",
            id="bare-protocol-error",
        ),
        pytest.param(
            ConnectionResetError(104, "reset"),
            GatewayUnreachable,
            "connection reset before any answer",
            id="bare-os-error",
        ),
        pytest.param(
            urllib3.exceptions.HTTPError(URL_WITH_SIGN),
            OutcomeUnknown,
            "connection failed (HTTPError)",
            id="unknown",
        ),
    ],
)
def test_transport_cause_mapping(keys: KeySet, exc: BaseException, expected: type, reason: str) -> None:
    assert_classified(keys, RaisingPool(exc), expected, reason)


def assert_classified(keys: KeySet, pool: object, expected: type, reason: str) -> None:
    """A call through `pool` fails with exactly `expected`, saying `reason`, naming neither the URL's host nor
    its signature, and raised outside the transport's own exception."""
    c = AlipayClient(f"https://{HOST}/gateway.do", APP_ID, keys.app, keys.alipay.public_key(), read_timeout=15.0,
                     pool=pool)  # type: ignore[arg-type]
    with pytest.raises(expected) as caught:
        c.call(METHOD, {"out_trade_no": "T1"})
    assert type(caught.value) is expected
    assert reason in str(caught.value)
    assert "SECRET" not in str(caught.value) and "SECRET" not in repr(caught.value)
    assert HOST not in str(caught.value)
    assert caught.value.__context__ is None


@pytest.mark.parametrize(
    ("exc", "expected", "reason"),
    [
        pytest.param(
            urllib3.exceptions.ProtocolError(
                "Connection broken: IncompleteRead(10 bytes read, 90 more expected)",
                urllib3.exceptions.IncompleteRead(10, 90),
            ),
            OutcomeUnknown,
            "the answer broke off (IncompleteRead)",
            id="incomplete-read",
        ),
        pytest.param(
            urllib3.exceptions.ProtocolError(
                "Connection broken: ConnectionResetError(104, 'reset')", ConnectionResetError(104, "reset")
            ),
            OutcomeUnknown,
            "the answer broke off (ConnectionResetError)",
            id="reset-during-the-body",
        ),
        pytest.param(
            urllib3.exceptions.ReadTimeoutError(_pool(), URL_WITH_SIGN, "Read timed out."),
            OutcomeUnknown,
            "no answer within 15 s",
            id="read-timeout-during-the-body",
        ),
        pytest.param(
            urllib3.exceptions.DecodeError(f"Received response with content-encoding: gzip {URL_WITH_SIGN}"),
            OutcomeUnknown,
            "the answer broke off (DecodeError)",
            id="undecodable-body",
        ),
        pytest.param(
            urllib3.exceptions.SSLError(ssl.SSLError(1, "decryption failed or bad record mac")),
            GatewayUnreachable,
            "cannot connect (SSLError)",
            id="ssl-during-the-body",
        ),
    ],
)
def test_body_failure_mapping(keys: KeySet, exc: BaseException, expected: type, reason: str) -> None:
    """Once the status line and headers are in, a broken body means the gateway did answer: outcome unknown."""
    assert_classified(keys, BrokenBodyPool(exc), expected, reason)


def test_new_pool_never_retries_nor_redirects() -> None:
    pool = new_pool(7)
    assert type(pool) is urllib3.PoolManager
    assert pool.connection_pool_kw["maxsize"] == 7
    assert pool.connection_pool_kw["block"] is False
    retries = pool.connection_pool_kw["retries"]
    assert retries is False or (retries.total is False and retries.redirect == 0)
    assert pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment without any proxy setting, for the test to set its own."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_new_pool_takes_the_gateway_proxy_from_the_environment(proxy_env: pytest.MonkeyPatch) -> None:
    proxy_env.setenv("https_proxy", "http://user:p%40ss@proxy.example:3128")
    proxy_env.setenv("no_proxy", "localhost,.internal.example")
    pool = new_pool(4, "https://openapi.alipay.com/gateway.do")
    assert isinstance(pool, urllib3.ProxyManager) and pool.proxy is not None
    assert (pool.proxy.scheme, pool.proxy.host, pool.proxy.port) == ("http", "proxy.example", 3128)
    assert pool.proxy_headers == {"Proxy-Authorization": "Basic " + base64.b64encode(b"user:p@ss").decode()}
    assert pool.connection_pool_kw["maxsize"] == 4
    assert type(new_pool(4, "https://gw.internal.example/gateway.do")) is urllib3.PoolManager
    assert type(new_pool(4, "http://openapi.alipay.com/gateway.do")) is urllib3.PoolManager
    proxy_env.setenv("all_proxy", "proxy.example:8080")
    plain = new_pool(4, "http://openapi.alipay.com/gateway.do")
    assert isinstance(plain, urllib3.ProxyManager) and plain.proxy is not None
    assert (plain.proxy.scheme, plain.proxy.host, plain.proxy.port, plain.proxy_headers) == (
        "http", "proxy.example", 8080, {}
    )
    assert type(new_pool(4)) is urllib3.PoolManager


def test_calls_go_through_the_environment_proxy(
    gateway: FakeGateway, keys: KeySet, proxy_env: pytest.MonkeyPatch
) -> None:
    """The fake gateway plays an HTTP proxy: it receives the absolute URL of a gateway it is not."""
    proxy_env.setenv("http_proxy", gateway.url.removesuffix("/gateway.do"))
    gateway.answer(Reply(signed_body(METHOD, SUCCESS, keys.alipay)))
    with AlipayClient("http://openapi.alipay.invalid/gateway.do", APP_ID, keys.app, keys.alipay.public_key()) as c:
        assert isinstance(c.pool, urllib3.ProxyManager)
        assert c.call(METHOD, {"out_trade_no": "T1"})["code"] == "10000"
    assert gateway.last.path == "/gateway.do" and gateway.last.query["method"] == METHOD
    assert gateway.last.headers["host"] == "openapi.alipay.invalid"


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
