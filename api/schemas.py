"""Validation of the client API's submissions: one pydantic model per job type, strict money parsing.

Views call ``validate(QrcodeRequest, request_params(request))``; a failure is one ``InvalidRequest`` (400)
naming every bad parameter. The same models describe the parameters in the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from api.errors import FieldError, InvalidRequest

MONEY_MIN = Decimal("0.01")
MONEY_MAX = Decimal("100000000")
CENT = Decimal("0.01")
MONEY_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"
TRADE_NO_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
TIMEOUT_PATTERN = r"^(([1-9][0-9]*)[mhd]|1c)$"
WAIT_MAX = 30
"""Longest ``wait``, in seconds, that a submission may hold the request for its job to end."""

_MONEY_RE = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_TRADE_NO_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
_TIMEOUT_RE = re.compile(r"([1-9][0-9]{0,4})([mhd])")
_WAIT_RE = re.compile(r"[0-9]{1,3}")
_TRADE_ID_RE = re.compile(r"[!-~]{1,64}")
_MINUTES_PER_UNIT = {"m": 1, "h": 60, "d": 1440}
_TIMEOUT_MAX_MINUTES = 15 * 1440

_MONEY_RULE = "must be an amount in yuan with at most two decimals, between 0.01 and 100000000"


def _error(code: str, rule: str) -> PydanticCustomError:
    # ``validate`` prefixes the parameter's name to the rule, making the sentence.
    return PydanticCustomError(code, rule)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# ------------------------------------------------------------------------------------------ money


def parse_money(value: object) -> Decimal:
    """A strict amount in yuan: ASCII digits with at most two decimals, 0.01 to 100000000, quantized to cents.

    Accepts a string such as ``"12.3"`` or ``"0.10"`` (no sign, exponent, spaces or other digits), or, from
    Python, a finite ``Decimal`` or ``int`` that is a whole number of cents. Floats are refused.
    Raises ``PydanticCustomError`` (a ``ValueError``) with code ``invalid_amount`` or ``amount_out_of_range``.
    """
    if isinstance(value, str):
        if not _MONEY_RE.fullmatch(value):
            raise _error("invalid_amount", _MONEY_RULE)
        amount = Decimal(value)
    elif isinstance(value, Decimal) and value.is_finite():
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    else:
        raise _error("invalid_amount", _MONEY_RULE)
    try:
        cents = amount.quantize(CENT)
    except InvalidOperation:
        raise _error("amount_out_of_range", _MONEY_RULE) from None
    if cents != amount:
        raise _error("invalid_amount", _MONEY_RULE)
    if not MONEY_MIN <= cents <= MONEY_MAX:
        raise _error("amount_out_of_range", _MONEY_RULE)
    return cents


def money_str(amount: Decimal) -> str:
    """``amount`` as Alipay writes it, with exactly two decimals: ``Decimal("12.3")`` → ``"12.30"``."""
    return f"{amount.quantize(CENT):f}"


def _money_param(value: object) -> Decimal:
    if _is_blank(value):
        raise _error("required", "is required")
    return parse_money(value)


Money = Annotated[
    Decimal,
    PlainValidator(_money_param),
    PlainSerializer(money_str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "description": "Amount in yuan, at most two decimals, from 0.01 to 100000000.",
            "examples": ["0.01", "12.30"],
        }
    ),
]
"""An amount in yuan: read by :func:`parse_money` (blank is ``required``), written by :func:`money_str`."""


# ------------------------------------------------------------------------------------------ text


def _text_validator(
    *,
    max_length: int,
    required: bool,
    strip: bool = True,
    pattern: re.Pattern[str] | None = None,
    rule: str | None = None,
    check: Callable[[str], bool] | None = None,
    code: str = "invalid_format",
) -> Callable[[object], str | None]:
    """A validator for one text parameter; a blank value is ``required``'s error or None when optional."""
    too_long = f"must be at most {max_length} characters long"
    invalid = rule or "must not contain control characters"

    def validate_text(value: object) -> str | None:
        if _is_blank(value):
            if required:
                raise _error("required", "is required")
            return None
        if not isinstance(value, str):
            raise _error(code, invalid)
        text = value.strip() if strip else value
        if len(text) > max_length:
            raise _error("too_long", too_long)
        if pattern is not None and not pattern.fullmatch(text):
            raise _error(code, invalid)
        if check is not None and not check(text):
            raise _error(code, invalid)
        if pattern is None and check is None and any(unicodedata.category(c) == "Cc" for c in text):
            raise _error(code, invalid)
        return text

    return validate_text


def _check_url(text: str) -> bool:
    if any(c.isspace() or not c.isprintable() for c in text):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_timeout(value: object) -> str:
    rule = "must be a whole number of minutes (m), hours (h) or days (d) between 1m and 15d, or 1c"
    if _is_blank(value):
        raise _error("required", "is required")
    if not isinstance(value, str):
        raise _error("invalid_timeout_express", rule)
    if value == "1c":
        return value
    match = _TIMEOUT_RE.fullmatch(value)
    if match is None or int(match[1]) * _MINUTES_PER_UNIT[match[2]] > _TIMEOUT_MAX_MINUTES:
        raise _error("invalid_timeout_express", rule)
    return value


def _check_wait(value: object) -> int | None:
    rule = f"must be a whole number of seconds between 0 and {WAIT_MAX}"
    if _is_blank(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and _WAIT_RE.fullmatch(value):
        seconds = int(value)
    else:
        raise _error("invalid_wait", rule)
    if not 0 <= seconds <= WAIT_MAX:
        raise _error("invalid_wait", rule)
    return seconds


_TradeNoText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TRADE_NO_PATTERN)]
_TRADE_NO_RULE = "must be 1 to 64 ASCII letters, digits or underscores"

OutTradeNo = Annotated[
    _TradeNoText,
    BeforeValidator(_text_validator(max_length=64, required=True, strip=False, pattern=_TRADE_NO_RE,
                                    rule=_TRADE_NO_RULE)),
]
OptionalOutTradeNo = Annotated[
    _TradeNoText | None,
    BeforeValidator(_text_validator(max_length=64, required=False, strip=False, pattern=_TRADE_NO_RE,
                                    rule=_TRADE_NO_RULE)),
]
TradeNo = Annotated[
    Annotated[str, StringConstraints(min_length=1, max_length=64)] | None,
    BeforeValidator(_text_validator(max_length=64, required=False, strip=False, pattern=_TRADE_ID_RE,
                                    rule="must be 1 to 64 printable ASCII characters without spaces")),
]
Wait = Annotated[
    Annotated[int, Field(ge=0, le=WAIT_MAX)] | None,
    BeforeValidator(_check_wait),
    Field(
        description=f"Seconds (0 to {WAIT_MAX}) to hold the request until the job ends; the answer is then "
        "200 with the whole job if it ended, else 202. Absent: answer 202 at once.",
        examples=[15],
    ),
]

_T = TypeVar("_T", bound="JobRequest")


class JobRequest(BaseModel):
    """Common behaviour of the submissions: the job request stored with the job and its fingerprint."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    job_type: ClassVar[str]
    """The job's ``type`` in the contract: ``precreate``, ``refund`` or ``refund_query``."""

    def to_job_request(self) -> dict[str, Any]:
        """The parameters the job acts on, under the contract's names, as plain JSON values; no ``wait``."""
        return self.model_dump(mode="json", by_alias=True, exclude={"wait"})

    def fingerprint(self) -> str:
        """A stable digest of the parameters sent to Alipay: equal submissions give equal fingerprints.

        Independent of parameter order, of how an amount was written (``"5"``, ``"5.0"``, ``"5.00"``) and of
        ``wait``; used to tell a resubmission (same fingerprint) from a conflict (different fingerprint).
        """
        canonical = json.dumps(
            {"type": self.job_type, "request": self.to_job_request()},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @classmethod
    def cross_field_errors(cls, params: Mapping[str, object]) -> list[FieldError]:
        """Errors that involve several parameters, found on the raw parameters; none by default."""
        return []


class QrcodeRequest(JobRequest):
    """``/qrcode``: create a QR-code trade with ``alipay.trade.precreate``."""

    job_type: ClassVar[str] = "precreate"

    total_amount: Money = Field(
        alias="totalAmount",
        description="Order amount in yuan, at most two decimals, from 0.01 to 100000000.",
        examples=["88.80"],
    )
    subject: Annotated[
        str,
        BeforeValidator(_text_validator(max_length=256, required=True)),
    ] = Field(
        min_length=1,
        max_length=256,
        description="Order title shown to the buyer.",
        examples=["支付宝扫码支付测试"],
    )
    store_id: Annotated[
        str,
        BeforeValidator(_text_validator(max_length=32, required=True, check=str.isprintable,
                                        rule="must contain printable characters only")),
    ] = Field(alias="storeId", min_length=1, max_length=32, description="Merchant's store code.",
              examples=["store_1"])
    timeout_express: Annotated[str, BeforeValidator(_check_timeout)] = Field(
        alias="timeoutExpress",
        pattern=TIMEOUT_PATTERN,
        max_length=6,
        description="How long the buyer may pay: a whole number of minutes (m), hours (h) or days (d) from "
        "1m to 15d, or 1c (until midnight today). The order is closed when it passes.",
        examples=["5m", "2h", "1c"],
    )
    out_trade_no: OutTradeNo = Field(
        alias="outTradeNo",
        description="Merchant's order number, unique per merchant: 1 to 64 letters, digits or underscores.",
        examples=["SEED20240101000001"],
    )
    callback_url: Annotated[
        str | None,
        BeforeValidator(_text_validator(max_length=512, required=False, strip=False, check=_check_url,
                                        rule="must be an absolute http or https URL", code="invalid_url")),
    ] = Field(
        default=None,
        alias="callbackUrl",
        max_length=512,
        description="URL that receives the order's status changes as JSON POSTs: an absolute http or https URL.",
        examples=["https://shop.example.com/alipay/callback"],
        json_schema_extra={"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]+"},
    )
    body: Annotated[str | None, BeforeValidator(_text_validator(max_length=128, required=False))] = Field(
        default=None, max_length=128, description="Order description.", examples=["2 x coffee"]
    )
    wait: Wait = None

    @property
    def timeout_minutes(self) -> int | None:
        """``timeoutExpress`` in minutes; None for ``1c``, which ends at midnight (Asia/Shanghai)."""
        if self.timeout_express == "1c":
            return None
        return int(self.timeout_express[:-1]) * _MINUTES_PER_UNIT[self.timeout_express[-1]]


class RefundRequest(JobRequest):
    """``/refund``: refund part or all of a paid order with ``alipay.trade.refund``."""

    job_type: ClassVar[str] = "refund"

    refund_amount: Money = Field(
        description="Amount to refund in yuan, at most two decimals, from 0.01 to 100000000.",
        examples=["3.50"],
    )
    out_trade_no: OutTradeNo = Field(description="Merchant's order number of the paid order.",
                                     examples=["SEED20240101000001"])
    refund_reason: Annotated[str, BeforeValidator(_text_validator(max_length=256, required=True))] = Field(
        min_length=1, max_length=256, description="Why the money is given back.", examples=["partial"]
    )
    out_request_no: OptionalOutTradeNo = Field(
        default=None,
        description="Identifies this refund of the order (1 to 64 letters, digits or underscores); the same "
        "value never refunds twice. Generated and returned when absent.",
        examples=["SEED20240101000001R0"],
    )
    wait: Wait = None


class RefundQueryRequest(JobRequest):
    """``/refund_query``: ask Alipay about one refund with ``alipay.trade.fastpay.refund.query``."""

    job_type: ClassVar[str] = "refund_query"

    out_trade_no: OptionalOutTradeNo = Field(
        default=None,
        description="Merchant's order number; this or trade_no is required.",
        examples=["SEED20240101000001"],
    )
    trade_no: TradeNo = Field(
        default=None,
        description="Alipay's trade number; this or out_trade_no is required.",
        examples=["2024010122001400000000000001"],
    )
    out_request_no: OptionalOutTradeNo = Field(
        default=None,
        description="The refund's request number; defaults to out_trade_no (a refund sent without one).",
        examples=["SEED20240101000001R0"],
    )
    wait: Wait = None

    @classmethod
    def cross_field_errors(cls, params: Mapping[str, object]) -> list[FieldError]:
        """``out_trade_no`` or ``trade_no`` is required; then ``out_request_no`` if out_trade_no is absent."""
        if not _is_blank(params.get("out_trade_no")):
            return []
        if _is_blank(params.get("trade_no")):
            return [{"field": "out_trade_no", "code": "required",
                     "message": "out_trade_no is required when trade_no is not given."}]
        if _is_blank(params.get("out_request_no")):
            return [{"field": "out_request_no", "code": "required",
                     "message": "out_request_no is required when out_trade_no is not given."}]
        return []

    @model_validator(mode="after")
    def _identity_given(self) -> RefundQueryRequest:
        params = self.model_dump(exclude_none=True)
        for error in self.cross_field_errors(params):
            raise PydanticCustomError("required", "{message}", {"message": error["message"]})
        return self

    @property
    def effective_out_request_no(self) -> str:
        """The ``out_request_no`` to ask Alipay about: the given one, else ``out_trade_no``."""
        value = self.out_request_no or self.out_trade_no
        if value is None:
            raise ValueError("out_request_no or out_trade_no is required")
        return value

    def to_job_request(self) -> dict[str, Any]:
        """As for every job, with ``out_request_no`` filled in with its effective value."""
        request = super().to_job_request()
        request["out_request_no"] = self.effective_out_request_no
        return request


# ------------------------------------------------------------------------------------------ validate


def _field_names(model_cls: type[BaseModel]) -> dict[str, tuple[int, str]]:
    """Every name a parameter may arrive under → (its position in the model, the name clients use)."""
    names: dict[str, tuple[int, str]] = {}
    for index, (name, info) in enumerate(model_cls.model_fields.items()):
        public = info.alias or name
        names[name] = names[public] = (index, public)
    return names


def validate(model_cls: type[_T], params: Mapping[str, object]) -> _T:
    """``params`` (from ``request_params``) as a ``model_cls`` instance; unknown parameters are ignored.

    Raises ``InvalidRequest`` (400 ``invalid_request``) naming every bad parameter at once, in the model's
    field order: its ``field`` is the first, its ``fields`` lists each with a code (``required``,
    ``invalid_amount``, ``amount_out_of_range``, ``too_long``, ``invalid_format``,
    ``invalid_timeout_express``, ``invalid_url``, ``invalid_wait``) and a sentence. Pure; no side effects.
    """
    try:
        return model_cls.model_validate(params)
    except ValidationError as exc:
        names = _field_names(model_cls)
        found: dict[str, tuple[int, FieldError]] = {}
        for error in exc.errors(include_url=False):
            if not error["loc"] or str(error["loc"][0]) not in names:
                continue
            index, public = names[str(error["loc"][0])]
            code = "required" if error["type"] == "missing" else error["type"]
            sentence = "is required" if code == "required" else error["msg"]
            field_error: FieldError = {"field": public, "code": code, "message": f"{public} {sentence}."}
            found.setdefault(public, (index, field_error))
        for cross_error in model_cls.cross_field_errors(params):
            index, public = names[cross_error["field"]]
            found.setdefault(public, (index, cross_error))
        if not found:
            raise
        ordered = [error for _, error in sorted(found.values(), key=lambda item: item[0])]
        raise InvalidRequest.from_fields(ordered) from None
