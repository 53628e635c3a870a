"""The gateway.do transport: common parameters, RSA2 signing, one pooled HTTP session, error classification.

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

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

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
"""Connections kept open per gateway host by the client's own session."""

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


def new_session(pool_size: int = POOL_SIZE, gateway_url: str | None = None) -> requests.Session:
    """A pooled session that never retries or follows redirects by itself: retrying is the caller's call.

    With `gateway_url`, the proxies the environment sets for it are read once, here, instead of on every call.
    """
    session = requests.Session()
    if gateway_url is not None:
        session.proxies.update(requests.utils.get_environ_proxies(gateway_url))
        session.trust_env = False
    retry = Retry(total=0, connect=0, read=False, redirect=False, status=0, other=0, raise_on_status=False)
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class AlipayClient:
    """Signs, sends and verifies calls to one Alipay gateway for one app.

    One client per process (create it after a fork, never before): calls share one pooled `requests.Session`.
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
        session: requests.Session | None = None,
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
        self._owns_session = session is None
        self.session = session if session is not None else new_session(gateway_url=gateway_url)
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
        """Close the pooled connections, if the session is the client's own."""
        if self._owns_session:
            self.session.close()

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
        error: AlipayError | None = None
        try:
            answer = self.session.post(
                self.url_for(request),
                data=request.body(),
                headers={"Content-Type": CONTENT_TYPE},
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = transport_error(method, exc, self.read_timeout)
        if error is not None:
            # Raised outside the except block: requests' messages carry the URL, whose query holds `sign`.
            log.info("alipay %s failed: %s", method, error)
            raise error
        try:
            fields = read_answer(method, answer.status_code, answer.content, self._public_key)
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


def transport_error(method: str, exc: requests.RequestException, read_timeout: float) -> AlipayError:
    """The AlipayError for a failed HTTP exchange. Messages name the cause's class only, never the URL."""
    causes = list(_causes(exc))
    plain = [c for c in causes if isinstance(c, OSError) and not isinstance(c, requests.RequestException)]
    root = type(plain[-1] if plain else causes[-1]).__name__

    def unknown(reason: str) -> OutcomeUnknown:
        return OutcomeUnknown(f"{method}: {reason}; the request may have been processed", method=method)

    def unreachable(reason: str) -> GatewayUnreachable:
        return GatewayUnreachable(f"{method}: {reason}; the request was not processed", method=method)

    if isinstance(exc, requests.ConnectTimeout):
        return unreachable("connect timeout")
    if isinstance(exc, requests.ReadTimeout) or any(
        isinstance(c, urllib3.exceptions.ReadTimeoutError) for c in causes
    ):
        return unknown(f"no answer within {read_timeout:g} s")
    if any(isinstance(c, http.client.RemoteDisconnected) for c in causes):
        return unknown("the gateway closed the connection without answering")
    if not isinstance(exc, requests.ConnectionError):
        return unknown(f"the answer broke off ({type(exc).__name__})")
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return unreachable("connection refused")
        if isinstance(cause, ConnectionResetError):
            return unreachable("connection reset before any answer")
    if any(isinstance(c, _UNREACHABLE) for c in causes):
        return unreachable(f"cannot connect ({root})")
    return unknown(f"connection failed ({root})")
