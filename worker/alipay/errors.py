"""What can go wrong when calling Alipay, sorted by what the caller should do next.

    AlipayError                  every failure of a gateway call; has `method`, `kind`, `retryable`
    ├── TransientError           not processed, or the gateway asked us to come back: retry
    │   ├── GatewayUnreachable   connection refused, connect timeout, reset before any response, TLS failure
    │   ├── GatewayHTTPError     HTTP 5xx or 429 from the gateway or a proxy in front of it
    │   └── GatewayBusy          code 20000, 40005, or 40004 with sub_code ACQ.SYSTEM_ERROR
    ├── OutcomeUnknown           the request may have been processed: retry, or query before deciding
    │   ├── MalformedResponse    an answer that is not an Alipay response (HTML page, cut-off body, ...)
    │   └── SignatureError       a success that does not carry a valid signature: an alarm
    └── BusinessError            Alipay's final answer for this request (40001-40006, 20001, ...): record it

GatewayBusy and BusinessError are answers from Alipay (GatewayAnswer): they carry `code`, `msg`,
`sub_code`, `sub_msg`, the node's fields as `response`, and `verified` (False when the body was unsigned,
which Alipay does for some gateway-level errors; such a body is only ever read as a failure).

Transient versus unknown is best effort: a 502 may come from a proxy after the gateway did the work, and a
reset may arrive after the gateway read the request. Callers must therefore keep the same identity
(`out_trade_no`, `out_request_no`) on every retry of either kind; the difference only says how worried to be,
for example whether to query before giving up.

Messages and reprs never carry keys or signatures; `response` holds only the fields of the `*_response` node.
"""

from __future__ import annotations

import enum
from typing import Any

TRANSIENT_CODES = frozenset({"20000", "40005"})
"""Gateway codes that mean "try again later" whatever the sub_code."""

TRANSIENT_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR"})
"""Sub codes (under 40004) that mean a system error or timeout at Alipay: retry with identical parameters."""


class ErrorKind(enum.StrEnum):
    """The four outcomes of a failed call."""

    TRANSIENT = "transient"
    UNKNOWN = "unknown"
    BUSINESS = "business"
    SIGNATURE = "signature"


class AlipayError(Exception):
    """Base of every failure of an Alipay call; catch it to handle all of them alike."""

    kind: ErrorKind = ErrorKind.UNKNOWN
    retryable: bool = True

    def __init__(self, message: str = "", *, method: str = "") -> None:
        super().__init__(message)
        self.method = method

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, self.args, self.__dict__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class TransientError(AlipayError):
    """The request was not processed or Alipay asked for a retry: retry later with the same identity."""

    kind = ErrorKind.TRANSIENT
    retryable = True


class GatewayUnreachable(TransientError):
    """No connection, or it broke before anything came back: retry later with the same identity."""


class GatewayHTTPError(TransientError):
    """The gateway (or a proxy) answered HTTP 5xx or 429: retry later with the same identity."""

    def __init__(self, message: str = "", *, method: str = "", status_code: int = 0) -> None:
        super().__init__(message, method=method)
        self.status_code = status_code


class GatewayAnswer(AlipayError):
    """Mixin data for errors that Alipay itself returned: its code, messages and the node's fields."""

    def __init__(
        self,
        message: str = "",
        *,
        method: str = "",
        code: str = "",
        msg: str = "",
        sub_code: str = "",
        sub_msg: str = "",
        response: dict[str, Any] | None = None,
        verified: bool = False,
    ) -> None:
        super().__init__(message or describe(method, code, msg, sub_code, sub_msg), method=method)
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        self.response: dict[str, Any] = dict(response or {})
        self.verified = verified


class GatewayBusy(GatewayAnswer, TransientError):
    """Alipay answered 20000, 40005 or ACQ.SYSTEM_ERROR: retry later with identical parameters."""


class OutcomeUnknown(AlipayError):
    """The request may or may not have been processed: retry with the same identity, or query first."""

    kind = ErrorKind.UNKNOWN
    retryable = True


class MalformedResponse(OutcomeUnknown):
    """The answer is not a readable Alipay response: treat as unknown; repeated, check the gateway URL."""

    def __init__(self, message: str = "", *, method: str = "", status_code: int = 0) -> None:
        super().__init__(message, method=method)
        self.status_code = status_code


class SignatureError(OutcomeUnknown):
    """A response claiming success without a valid signature: raise an alarm; the outcome is unknown."""

    kind = ErrorKind.SIGNATURE


class BusinessError(GatewayAnswer):
    """Alipay's final answer for this request: record code and sub_code; do not resend it unchanged."""

    kind = ErrorKind.BUSINESS
    retryable = False


def describe(method: str, code: str, msg: str, sub_code: str, sub_msg: str) -> str:
    """One line for a person: `alipay.trade.query: 40004 Business Failed (ACQ.TRADE_NOT_EXIST: ...)`."""
    text = f"{method}: {code} {msg}".rstrip()
    if sub_code or sub_msg:
        text += f" ({sub_code}: {sub_msg})" if sub_msg else f" ({sub_code})"
    return text


def from_answer(method: str, fields: dict[str, Any], *, verified: bool) -> GatewayAnswer:
    """The error for a non-10000 answer: GatewayBusy when Alipay asks for a retry, else BusinessError."""
    code = str(fields.get("code") or "")
    sub_code = str(fields.get("sub_code") or "")
    details: dict[str, Any] = {
        "method": method,
        "code": code,
        "msg": str(fields.get("msg") or ""),
        "sub_code": sub_code,
        "sub_msg": str(fields.get("sub_msg") or ""),
        "response": fields,
        "verified": verified,
    }
    if code in TRANSIENT_CODES or (code == "40004" and sub_code in TRANSIENT_SUB_CODES):
        return GatewayBusy(**details)
    return BusinessError(**details)
