"""The seven gateway methods: check biz_content like Alipay, act on the trades, return the answer node.

A missing required business parameter answers 40002 `isv.invalid-parameter`; a present but invalid one
answers 40004 `ACQ.INVALID_PARAMETER`; state errors come from `sandbox.trades`. Every answer that reaches
this module is signed by the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sandbox import bill
from sandbox.errors import business, invalid, success
from sandbox.trades import Order
from sandbox.values import parse_money, valid_timeout_express

if TYPE_CHECKING:
    from sandbox.core import Sandbox

_OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_]{1,64}")


@dataclass(frozen=True)
class Call:
    """One verified gateway call."""

    sandbox: Sandbox
    app_id: str
    biz: Mapping[str, Any]
    params: Mapping[str, str]
    """The common parameters (notify_url lives here, not in biz_content)."""
    base_url: str
    """Where the sandbox is reachable, for the URLs it hands out (QR codes, bill links)."""


def _text(biz: Mapping[str, Any], key: str, max_len: int) -> str | None:
    value = biz.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise business("ACQ.INVALID_PARAMETER", f"参数{key}类型错误")
    text = str(value)
    if len(text) > max_len:
        raise business("ACQ.INVALID_PARAMETER", f"参数{key}长度超过{max_len}")
    return text


def _required(biz: Mapping[str, Any], key: str, max_len: int) -> str:
    text = _text(biz, key, max_len)
    if text is None:
        raise invalid("isv.invalid-parameter", f"缺少必选参数{key}")
    return text


def _amount(biz: Mapping[str, Any], key: str) -> Decimal:
    value = biz.get(key)
    if value is None or value == "":
        raise invalid("isv.invalid-parameter", f"缺少必选参数{key}")
    amount = parse_money(value)
    if amount is None:
        raise business("ACQ.INVALID_PARAMETER", f"参数{key}无效：金额须为0.01至100000000之间、最多两位小数")
    return amount


def _trade_ref(biz: Mapping[str, Any]) -> tuple[str | None, str | None]:
    trade_no = _text(biz, "trade_no", 64)
    out_trade_no = _text(biz, "out_trade_no", 64)
    if not trade_no and not out_trade_no:
        raise invalid("isv.invalid-parameter", "out_trade_no和trade_no不能同时为空")
    return trade_no, out_trade_no


def precreate(call: Call) -> dict[str, Any]:
    biz = call.biz
    out_trade_no = _required(biz, "out_trade_no", 64)
    if not _OUT_TRADE_NO.fullmatch(out_trade_no):
        raise business("ACQ.INVALID_PARAMETER", "参数out_trade_no只能包含字母、数字、下划线")
    total_amount = _amount(biz, "total_amount")
    subject = _required(biz, "subject", 256)
    timeouts = {}
    for key in ("timeout_express", "qr_code_timeout_express"):
        value = _text(biz, key, 6)
        if value is not None and not valid_timeout_express(value):
            raise business("ACQ.INVALID_PARAMETER", f"参数{key}无效：取值范围1m～15d，或1c")
        timeouts[key] = value
    order = Order(
        out_trade_no=out_trade_no,
        total_amount=total_amount,
        subject=subject,
        body=_text(biz, "body", 128),
        store_id=_text(biz, "store_id", 32),
        operator_id=_text(biz, "operator_id", 28),
        terminal_id=_text(biz, "terminal_id", 32),
        **timeouts,
    )
    notify_url = call.params.get("notify_url") or call.sandbox.config.default_notify_url
    token = call.sandbox.book.precreate(call.app_id, order, notify_url)
    return success(out_trade_no=out_trade_no, qr_code=f"{call.base_url}/qr/{token}")


def query(call: Call) -> dict[str, Any]:
    trade_no, out_trade_no = _trade_ref(call.biz)
    return success(**call.sandbox.book.query(trade_no, out_trade_no))


def close(call: Call) -> dict[str, Any]:
    trade_no, out_trade_no = _trade_ref(call.biz)
    _text(call.biz, "operator_id", 28)
    return success(**call.sandbox.book.close(trade_no, out_trade_no))


def cancel(call: Call) -> dict[str, Any]:
    trade_no, out_trade_no = _trade_ref(call.biz)
    return success(**call.sandbox.book.cancel(trade_no, out_trade_no))


def refund(call: Call) -> dict[str, Any]:
    biz = call.biz
    trade_no, out_trade_no = _trade_ref(biz)
    amount = _amount(biz, "refund_amount")
    out_request_no = _text(biz, "out_request_no", 64)
    reason = _text(biz, "refund_reason", 256)
    return success(**call.sandbox.book.refund(trade_no, out_trade_no, amount, out_request_no, reason))


def refund_query(call: Call) -> dict[str, Any]:
    biz = call.biz
    trade_no, out_trade_no = _trade_ref(biz)
    out_request_no = _required(biz, "out_request_no", 64)
    return success(**call.sandbox.book.refund_query(trade_no, out_trade_no, out_request_no))


def bill_download_url(call: Call) -> dict[str, Any]:
    """Only `trade` bills exist in the sandbox; today's (or a later) bill does not exist yet."""
    bill_type = _required(call.biz, "bill_type", 32)
    bill_date = _required(call.biz, "bill_date", 10)
    if bill_type not in ("trade", "signcustomer"):
        raise business("ACQ.INVALID_PARAMETER", "参数bill_type无效")
    period = bill.BillPeriod.parse(bill_date)
    if period is None:
        raise business("ACQ.INVALID_PARAMETER", "参数bill_date格式错误，应为yyyy-MM-dd或yyyy-MM")
    now = call.sandbox.clock.now()
    if bill_type != "trade" or not period.available_at(now):
        raise business("BILL_NOT_EXIST")
    token = call.sandbox.bills.issue(bill_type, period, now)
    url = bill.download_url(call.base_url, call.sandbox.config.seller_id, period, token, now)
    return success(bill_download_url=url)


METHODS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "alipay.trade.precreate": precreate,
    "alipay.trade.query": query,
    "alipay.trade.close": close,
    "alipay.trade.cancel": cancel,
    "alipay.trade.refund": refund,
    "alipay.trade.fastpay.refund.query": refund_query,
    "alipay.data.dataservice.bill.downloadurl.query": bill_download_url,
}
"""Every method the gateway implements; any other answers 40002 isv.invalid-method."""
