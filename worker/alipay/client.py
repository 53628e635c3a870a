"""The gateway.do transport: common parameters, RSA2 signing, one urllib3 connection pool, error classification.

Requests are sent the way Alipay's official SDKs send them (ALIPAY.md 1.4): POST, the common parameters and
`sign` URL-encoded in the query string, `biz_content` in a form-encoded body. Answers are verified and
classified by `response.parse_response`; transport failures become the errors drawn in `errors.py`.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import urllib3
import urllib3.exceptions
from requests.utils import (
    DEFAULT_CA_BUNDLE_PATH,
    get_auth_from_url,
    get_environ_proxies,
    prepend_scheme_if_needed,
    select_proxy,
)

from . import signing
from .errors import (
    AlipayError,
    GatewayHTTPError,
    GatewayUnreachable,
    MalformedResponse,
    OutcomeUnknown,
    SignatureError,
)
from .response import parse_response

log = logging.getLogger(__name__)

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
CONTENT_TYPE = "application/x-www-form-urlencoded;charset=utf-8"
CHARSET = "utf-8"
SIGN_TYPE = "RSA2"

RESERVED_PARAMS = frozenset({"app_id", "method", "charset", "sign_type", "sign", "biz_content", "timestamp"})
"""Common parameters the client sets itself; `extra_params` may not override them."""

NOTIFY_METHODS = frozenset(
    {
        "alipay.trade.precreate",
        "alipay.trade.create",
        "alipay.trade.pay",
        "alipay.trade.page.pay",
        "alipay.trade.wap.pay",
        "alipay.trade.app.pay",
    }
)
"""Methods that create a trade: they receive the client's default `notify_url` when the call gives none."""

POOL_SIZE = 10
"""Connections kept open per gateway host by the client's own pool."""

BASE_HEADERS: Mapping[str, str] = {"User-Agent": "alipay-worker", "Accept-Encoding": "gzip, deflate",
                                   "Accept": "*/*", "Connection": "keep-alive"}
"""What every request carries besides its own headers."""

POST_HEADERS: Mapping[str, str] = {**BASE_HEADERS, "Content-Type": CONTENT_TYPE}
"""A gateway call's headers but its Content-Length, which goes last."""

TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)
"""What a urllib3 request or the reading of its answer raises when the exchange fails."""

CallObserver = Callable[[str, str, float], None]
"""Told of every finished `call`: (method, outcome, seconds), outcome `success` or the error's `kind`."""

_CENT = Decimal("0.01")


def _beijing() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=8), "CST")


BEIJING = _beijing()
"""Alipay's time zone: request timestamps are Beijing wall-clock time whatever the host's zone."""


def format_amount(value: Decimal) -> str:
    """A Decimal as Alipay's two-decimal string (`Decimal("88.8")` -> `"88.80"`); never rounds."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError("an amount must be a finite Decimal")
    try:
        cents = value.quantize(_CENT)
    except InvalidOperation:
        raise ValueError("the amount is too large") from None
    if cents != value:
        raise ValueError("an amount has at most two decimals")
    return f"{cents:f}"


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return format_amount(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in biz_content")


def dump_biz_content(biz_content: Mapping[str, Any]) -> str:
    """Compact JSON, non-ASCII kept as is, Decimals as two-decimal strings."""
    return json.dumps(dict(biz_content), ensure_ascii=False, separators=(",", ":"), default=_json_default)


def beijing_timestamp(now: datetime | None = None) -> str:
    """`yyyy-MM-dd HH:mm:ss` in Beijing time; `now` must be aware."""
    moment = now if now is not None else datetime.now(BEIJING)
    if moment.tzinfo is None:
        raise ValueError("the timestamp needs an aware datetime")
    return moment.astimezone(BEIJING).strftime(TIMESTAMP_FORMAT)


@dataclass(frozen=True)
class SignedRequest:
    """One signed gateway call, ready to send: `params` go in the query string, `biz_content` in the body."""

    method: str
    params: dict[str, str]
    biz_content: str
    content: str
    """The exact string that was signed."""
    sign: str = field(repr=False)

    def query_string(self) -> str:
        """The URL-encoded common parameters, sorted, with `sign` last."""
        return urlencode([*sorted(self.params.items()), ("sign", self.sign)])

    def body(self) -> bytes:
        return urlencode({"biz_content": self.biz_content}).encode(CHARSET)


def new_pool(pool_size: int = POOL_SIZE, gateway_url: str | None = None) -> urllib3.PoolManager:
    """A connection pool that never retries or follows redirects by itself: retrying is the caller's call.

    With `gateway_url`, the proxy the environment sets for it (`https_proxy`, `all_proxy`, ... unless
    `no_proxy` exempts the host) is read once, here, and every request of the pool goes through it; without,
    no proxy is used. TLS certificates are checked against certifi's bundle.
    """
    options: dict[str, Any] = {
        "num_pools": pool_size,
        "maxsize": pool_size,
        "block": False,
        "retries": False,
        "cert_reqs": "CERT_REQUIRED",
        "ca_certs": DEFAULT_CA_BUNDLE_PATH,
    }
    proxy = select_proxy(gateway_url, get_environ_proxies(gateway_url)) if gateway_url is not None else None
    if not proxy:
        return urllib3.PoolManager(**options)
    proxy = prepend_scheme_if_needed(proxy, "http")
    if not urllib3.util.parse_url(proxy).host:
        raise ValueError("the proxy set in the environment for the gateway has no host")
    username, password = get_auth_from_url(proxy)
    if proxy.lower().startswith("socks"):
        from urllib3.contrib.socks import SOCKSProxyManager  # needs PySocks

        return SOCKSProxyManager(proxy, username=username, password=password, **options)
    auth = urllib3.make_headers(proxy_basic_auth=f"{username}:{password}")["proxy-authorization"] if username else ""
    return urllib3.ProxyManager(proxy, proxy_headers={"Proxy-Authorization": auth} if auth else None, **options)


def _send(pool: urllib3.PoolManager, method: str, url: str, **options: Any) -> urllib3.BaseHTTPResponse:
    """`pool.request`, but straight to the host's own connection pool when no proxy is in the way, so that the
    long signed query is parsed once (by the host's pool) rather than twice (by the manager too)."""
    if type(pool) is not urllib3.PoolManager:  # a ProxyManager needs the whole URL
        return pool.request(method, url, **options)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_pool = pool.connection_from_url(f"{parts.scheme}://{parts.netloc}")
    return host_pool.urlopen(method, target, assert_same_host=False, **options)


def exchange(
    pool: urllib3.PoolManager,
    label: str,
    http_method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    body: bytes | None = None,
    headers: Mapping[str, str] = BASE_HEADERS,
) -> tuple[urllib3.BaseHTTPResponse, bytes]:
    """One HTTP exchange, no retry, no redirect followed: the answer (status, headers) and its whole body.

    `timeout` is (connect, read) in seconds, read being the longest wait for the next bytes of the answer.
    A failure is raised as the AlipayError `transport_error` picks, named by `label`, outside any `except`
    block: urllib3's exceptions carry the URL, whose query may hold `sign`, and must not ride along.
    """
    error: AlipayError | None = None
    connect_timeout, read_timeout = timeout
    try:
        answer = _send(
            pool,
            http_method,
            url,
            body=body,
            headers=dict(headers),
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False,
            redirect=False,
            preload_content=False,
        )
    except TRANSPORT_ERRORS as exc:
        error = transport_error(label, exc, read_timeout)
    if error is not None:
        raise error
    # The body is read apart from the status line and headers: a failure now breaks off an answer.
    try:
        data = answer.read()
    except TRANSPORT_ERRORS as exc:
        error = transport_error(label, exc, read_timeout, answered=True)
    finally:
        answer.release_conn()
    if error is not None:
        raise error
    return answer, data


class AlipayClient:
    """Signs, sends and verifies calls to one Alipay gateway for one app.

    One client per process (create it after a fork, never before): calls share one `urllib3.PoolManager`.
    Holds the app's private key; its repr and its errors never show keys or signatures. The client never
    retries: every failure is raised as an `AlipayError` whose class says whether a retry is safe.
    """

    def __init__(
        self,
        gateway_url: str,
        app_id: str,
        app_private_key: signing.PrivateKey | str | bytes,
        alipay_public_key: signing.PublicKey | str | bytes,
        *,
        notify_url: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        pool: urllib3.PoolManager | None = None,
        on_call: CallObserver | None = None,
    ) -> None:
        parts = urlsplit(gateway_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("gateway_url must be an absolute http(s) URL")
        if not app_id:
            raise ValueError("app_id is required")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.gateway_url = gateway_url
        self.app_id = str(app_id)
        self.notify_url = notify_url or None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._private_key = (
            app_private_key
            if isinstance(app_private_key, signing.PrivateKey)
            else signing.load_private_key(app_private_key)
        )
        self._public_key = (
            alipay_public_key
            if isinstance(alipay_public_key, signing.PublicKey)
            else signing.load_public_key(alipay_public_key)
        )
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else new_pool(gateway_url=gateway_url)
        self.on_call = on_call

    def __repr__(self) -> str:
        return f"AlipayClient(gateway_url={self.gateway_url!r}, app_id={self.app_id!r})"

    def __enter__(self) -> AlipayClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections, if the pool is the client's own."""
        if self._owns_pool:
            self.pool.clear()

    @property
    def alipay_public_key(self) -> signing.PublicKey:
        return self._public_key

    def prepare(
        self,
        method: str,
        biz_content: Mapping[str, Any],
        *,
        notify_url: str | None = None,
        extra_params: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> SignedRequest:
        """Build and sign a call without sending it (`now` fixes the timestamp, for tests and replays)."""
        if not method:
            raise ValueError("method is required")
        params: dict[str, str] = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": CHARSET,
            "sign_type": SIGN_TYPE,
            "timestamp": beijing_timestamp(now),
            "version": "1.0",
        }
        notify = notify_url or (self.notify_url if method in NOTIFY_METHODS else None)
        if notify:
            params["notify_url"] = notify
        for key, value in (extra_params or {}).items():
            if key in RESERVED_PARAMS:
                raise ValueError(f"extra_params may not set {key!r}")
            if value is not None and str(value) != "":
                params[key] = str(value)
        biz = dump_biz_content(biz_content)
        content = signing.content_to_sign({**params, "biz_content": biz})
        return SignedRequest(
            method=method,
            params=params,
            biz_content=biz,
            content=content,
            sign=signing.sign(self._private_key, content, CHARSET),
        )

    def url_for(self, request: SignedRequest) -> str:
        separator = "&" if urlsplit(self.gateway_url).query else "?"
        return f"{self.gateway_url}{separator}{request.query_string()}"

    def call(
        self,
        method: str,
        biz_content: Mapping[str, Any],
        *,
        notify_url: str | None = None,
        extra_params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send one signed call and return the verified fields of its code-10000 answer.

        Side effects: one HTTP POST, no retry. Raises `TransientError`, `OutcomeUnknown` (incl.
        `SignatureError`) or `BusinessError` (see errors.py); a retry must reuse the same business identity.
        `on_call`, when set, is told the method, the outcome and how long the call took.
        """
        started = time.monotonic()
        try:
            fields = self._call(method, biz_content, notify_url=notify_url, extra_params=extra_params)
        except AlipayError as exc:
            self._observe(method, str(exc.kind), started)
            raise
        self._observe(method, "success", started)
        return fields

    def _observe(self, method: str, outcome: str, started: float) -> None:
        if self.on_call is not None:
            self.on_call(method, outcome, time.monotonic() - started)

    def _call(
        self,
        method: str,
        biz_content: Mapping[str, Any],
        *,
        notify_url: str | None,
        extra_params: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        request = self.prepare(method, biz_content, notify_url=notify_url, extra_params=extra_params)
        body = request.body()
        try:
            answer, data = exchange(
                self.pool,
                method,
                "POST",
                self.url_for(request),
                body=body,
                headers={**POST_HEADERS, "Content-Length": str(len(body))},
                timeout=(self.connect_timeout, self.read_timeout),
            )
        except AlipayError as exc:
            log.info("alipay %s failed: %s", method, exc)
            raise
        try:
            fields = read_answer(method, answer.status, data, self._public_key)
        except SignatureError as exc:
            log.warning("alipay %s: %s", method, exc)
            raise
        except AlipayError as exc:
            log.info("alipay %s failed: %s", method, exc)
            raise
        log.debug("alipay %s: code %s", method, fields.get("code"))
        return fields


def read_answer(method: str, status_code: int, body: bytes, public_key: signing.PublicKey) -> dict[str, Any]:
    """Classify an HTTP answer from the gateway and return the verified fields of a success."""
    if status_code == 429 or status_code >= 500:
        raise GatewayHTTPError(f"{method}: HTTP {status_code}", method=method, status_code=status_code)
    if not 200 <= status_code < 300:
        raise MalformedResponse(
            f"{method}: unexpected HTTP {status_code} from the gateway",
            method=method,
            status_code=status_code,
        )
    # Undecodable bytes become U+FFFD: a signed body then fails verification, an unsigned one stays a failure.
    text = body.decode(CHARSET, "replace")
    return parse_response(method, text, public_key, status_code=status_code)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps: args, urllib3's `reason`, `__cause__` and `__context__`."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        stack.extend(item for item in linked if isinstance(item, BaseException))


_UNREACHABLE = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.SSLError,
    urllib3.exceptions.ProxyError,
    ConnectionRefusedError,
    ConnectionResetError,
    BrokenPipeError,
    ssl.SSLError,
)


def transport_error(
    method: str, exc: BaseException, read_timeout: float, *, answered: bool = False
) -> AlipayError:
    """The AlipayError for a failed HTTP exchange. Messages name the cause's class only, never the URL.

    `exc` is what urllib3 raised with retries off (`NewConnectionError`, `ConnectTimeoutError`,
    `ReadTimeoutError`, `ProtocolError`, `SSLError`, `ProxyError`, ...) or a bare `OSError`; `answered` says
    the status line and headers had arrived, so the failure broke off the body of an answer.
    """
    causes = list(_causes(exc))
    plain = [c for c in causes if isinstance(c, OSError)]
    root = type(plain[-1] if plain else causes[-1]).__name__

    def unknown(reason: str) -> OutcomeUnknown:
        return OutcomeUnknown(f"{method}: {reason}; the request may have been processed", method=method)

    def unreachable(reason: str) -> GatewayUnreachable:
        return GatewayUnreachable(f"{method}: {reason}; the request was not processed", method=method)

    # NewConnectionError subclasses ConnectTimeoutError: refused, unresolvable, ... are not timeouts.
    if (
        not answered
        and isinstance(exc, urllib3.exceptions.ConnectTimeoutError)
        and not isinstance(exc, urllib3.exceptions.NewConnectionError)
    ):
        return unreachable("connect timeout")
    if any(isinstance(c, urllib3.exceptions.ReadTimeoutError) for c in causes):
        return unknown(f"no answer within {read_timeout:g} s")
    if any(isinstance(c, http.client.RemoteDisconnected) for c in causes):
        return unknown("the gateway closed the connection without answering")
    if answered and not isinstance(exc, urllib3.exceptions.SSLError):
        # urllib3 raises ProtocolError(message, what broke): IncompleteRead, InvalidChunkLength, a reset, ...
        wrapped = exc.args[-1] if isinstance(exc, urllib3.exceptions.ProtocolError) and exc.args else None
        broken = wrapped if isinstance(wrapped, BaseException) else exc
        return unknown(f"the answer broke off ({type(broken).__name__})")
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return unreachable("connection refused")
        if isinstance(cause, ConnectionResetError):
            return unreachable("connection reset before any answer")
    if any(isinstance(c, _UNREACHABLE) for c in causes):
        return unreachable(f"cannot connect ({root})")
    return unknown(f"connection failed ({root})")
