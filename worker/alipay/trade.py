"""The alipay.trade.* calls of a face-to-face QR payment: precreate, query, close, cancel, refund and
refund query (alipay.trade.fastpay.refund.query).

Each function makes exactly one gateway call through `AlipayClient.call`, returns the verified fields of a
code-10000 answer and raises the errors of `errors.py` otherwise. None of them retries. Amounts are Decimals,
sent as two-decimal strings. Where both `trade_no` and `out_trade_no` are given, Alipay uses `trade_no`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .client import AlipayClient, format_amount

MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("100000000")


def amount(name: str, value: Decimal) -> str:
    """Check a money argument (a Decimal, 0.01 to 100000000, at most two decimals) and format it."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    text = format_amount(value)
    if not MIN_AMOUNT <= value <= MAX_AMOUNT:
        raise ValueError(f"{name} must be between {MIN_AMOUNT} and {MAX_AMOUNT}")
    return text


def _compact(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != ""}


def _trade_ref(out_trade_no: str | None, trade_no: str | None) -> dict[str, Any]:
    if not out_trade_no and not trade_no:
        raise ValueError("out_trade_no or trade_no is required")
    return _compact(out_trade_no=out_trade_no, trade_no=trade_no)


def precreate(
    client: AlipayClient,
    *,
    out_trade_no: str,
    total_amount: Decimal,
    subject: str,
    store_id: str | None = None,
    timeout_express: str | None = None,
    body: str | None = None,
    notify_url: str | None = None,
) -> dict[str, Any]:
    """alipay.trade.precreate: get a QR code for a new order; the trade exists at Alipay once it is scanned.

    `notify_url` defaults to the client's. Repeating the call with the same `out_trade_no` and the same
    content is how an unknown outcome is retried; different content gives 40004 ACQ.CONTEXT_INCONSISTENT.

    Sample answer::

        {"code": "10000", "msg": "Success", "out_trade_no": "ORD20240101000001",
         "qr_code": "https://qr.alipay.com/bavh4wjlxf12tper3a"}
    """
    if not out_trade_no:
        raise ValueError("out_trade_no is required")
    if not subject:
        raise ValueError("subject is required")
    biz = _compact(
        out_trade_no=out_trade_no,
        total_amount=amount("total_amount", total_amount),
        subject=subject,
        store_id=store_id,
        timeout_express=timeout_express,
        body=body,
    )
    return client.call("alipay.trade.precreate", biz, notify_url=notify_url)


def query(
    client: AlipayClient, *, out_trade_no: str | None = None, trade_no: str | None = None
) -> dict[str, Any]:
    """alipay.trade.query: the trade's state; read-only, safe to repeat.

    Before the buyer scans, Alipay answers 40004 ACQ.TRADE_NOT_EXIST (raised as BusinessError).

    Sample answer::

        {"code": "10000", "msg": "Success", "trade_no": "2024010122001400000000000001",
         "out_trade_no": "ORD20240101000001", "buyer_logon_id": "159****5620",
         "trade_status": "TRADE_SUCCESS", "total_amount": "88.88", "buyer_pay_amount": "88.88",
         "receipt_amount": "88.88", "send_pay_date": "2024-01-01 12:01:30",
         "buyer_user_id": "2088101117955611"}
    """
    return client.call("alipay.trade.query", _trade_ref(out_trade_no, trade_no))


def close(
    client: AlipayClient, *, out_trade_no: str | None = None, trade_no: str | None = None
) -> dict[str, Any]:
    """alipay.trade.close: close an unpaid trade (WAIT_BUYER_PAY); repeating it is harmless.

    A trade never scanned gives ACQ.TRADE_NOT_EXIST; a paid one ACQ.TRADE_STATUS_ERROR (query it then).

    Sample answer::

        {"code": "10000", "msg": "Success", "trade_no": "2024010122001400000000000001",
         "out_trade_no": "ORD20240101000001"}
    """
    return client.call("alipay.trade.close", _trade_ref(out_trade_no, trade_no))


def cancel(
    client: AlipayClient, *, out_trade_no: str | None = None, trade_no: str | None = None
) -> dict[str, Any]:
    """alipay.trade.cancel: undo a trade whose payment is in doubt: close it if unpaid, refund it if paid.

    Call again while the answer has `retry_flag` "Y". Valid within 24 h of the order.

    Sample answer::

        {"code": "10000", "msg": "Success", "trade_no": "2024010122001400000000000001",
         "out_trade_no": "ORD20240101000001", "retry_flag": "N", "action": "close"}
    """
    return client.call("alipay.trade.cancel", _trade_ref(out_trade_no, trade_no))


def refund(
    client: AlipayClient,
    *,
    refund_amount: Decimal,
    out_trade_no: str | None = None,
    trade_no: str | None = None,
    out_request_no: str | None = None,
    refund_reason: str | None = None,
) -> dict[str, Any]:
    """alipay.trade.refund: refund all or part of a paid trade.

    Idempotent per `out_request_no`: retry a failed or unknown refund with the same one (and amount); a repeat
    of a processed request answers `fund_change` "N" and refunds nothing more. Partial refunds need one.
    `refund_fee` in the answer is the trade's cumulative refunded total.

    Sample answer::

        {"code": "10000", "msg": "Success", "trade_no": "2024010122001400000000000001",
         "out_trade_no": "ORD20240101000001", "buyer_logon_id": "159****5620", "fund_change": "Y",
         "refund_fee": "10.00", "gmt_refund_pay": "2024-01-01 13:00:00", "buyer_user_id": "2088101117955611",
         "send_back_fee": "10.00"}
    """
    biz = _trade_ref(out_trade_no, trade_no)
    biz.update(
        _compact(
            refund_amount=amount("refund_amount", refund_amount),
            out_request_no=out_request_no,
            refund_reason=refund_reason,
        )
    )
    return client.call("alipay.trade.refund", biz)


def refund_query(
    client: AlipayClient,
    *,
    out_request_no: str,
    out_trade_no: str | None = None,
    trade_no: str | None = None,
) -> dict[str, Any]:
    """alipay.trade.fastpay.refund.query: whether one refund happened; read-only, safe to repeat.

    `out_request_no` is the refund's, or the `out_trade_no` when the refund was sent without one. Code 10000
    alone does not mean refunded: `refund_status` "REFUND_SUCCESS" (or, on older gateways, the presence of
    refund fields) does; without them the refund did not happen and may be resent with the same
    out_request_no.

    Sample answer::

        {"code": "10000", "msg": "Success", "trade_no": "2024010122001400000000000001",
         "out_trade_no": "ORD20240101000001", "out_request_no": "R1", "total_amount": "88.88",
         "refund_amount": "10.00", "refund_status": "REFUND_SUCCESS"}
    """
    if not out_request_no:
        raise ValueError("out_request_no is required")
    biz = _trade_ref(out_trade_no, trade_no)
    biz["out_request_no"] = out_request_no
    return client.call("alipay.trade.fastpay.refund.query", biz)


def refund_done(answer: Mapping[str, Any]) -> bool:
    """Whether a fastpay refund query answer shows the refund done: `refund_status` REFUND_SUCCESS or, from
    gateways that do not send it, refund fields present (Alipay: no refund fields means no refund)."""
    status = answer.get("refund_status")
    if status is not None:
        return bool(status == "REFUND_SUCCESS")
    return bool(answer.get("refund_amount"))


def payment_fields(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A trade query answer as order fields: `send_pay_date` is when the buyer paid (`gmt_payment`)."""
    fields = dict(answer)
    if answer.get("send_pay_date") and not answer.get("gmt_payment"):
        fields["gmt_payment"] = answer["send_pay_date"]
    return fields
