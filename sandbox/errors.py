"""Alipay's answer codes, and the exception that carries one out of the business code.

    GatewayError            an answer node with code, msg, sub_code, sub_msg
     ├─ gateway level       40001 isv.missing-*, 40002 isv.invalid-* before the signature is known good:
     │                      answered unsigned, as Alipay does
     └─ business level      40002 isv.invalid-parameter, 40004 ACQ.* / BILL_NOT_EXIST, 20000: signed
"""

from __future__ import annotations

from typing import Any

SUCCESS = "10000"
UNAVAILABLE = "20000"
MISSING = "40001"
INVALID = "40002"
BUSINESS = "40004"

MESSAGES = {
    SUCCESS: "Success",
    UNAVAILABLE: "Service Currently Unavailable",
    MISSING: "Missing Required Arguments",
    INVALID: "Invalid Arguments",
    BUSINESS: "Business Failed",
}

SUB_MESSAGES = {
    "isv.missing-method": "缺少方法名参数",
    "isv.missing-signature": "缺少签名参数",
    "isv.missing-app-id": "缺少AppID参数",
    "isv.missing-timestamp": "缺少时间戳参数",
    "isv.missing-version": "缺少版本参数",
    "isv.missing-signature-type": "缺少签名类型参数",
    "isv.invalid-app-id": "无效的AppID参数",
    "isv.invalid-method": "不存在的方法名",
    "isv.invalid-signature-type": "无效的签名类型",
    "isv.invalid-signature": "验签出错",
    "isv.invalid-timestamp": "非法的时间戳参数",
    "isv.invalid-charset": "字符集错误",
    "isv.invalid-format": "参数格式错误",
    "isv.invalid-parameter": "参数无效",
    "isp.unknow-error": "系统繁忙",
    "ACQ.SYSTEM_ERROR": "系统错误",
    "ACQ.INVALID_PARAMETER": "参数无效",
    "ACQ.TRADE_NOT_EXIST": "交易不存在",
    "ACQ.CONTEXT_INCONSISTENT": "交易信息被篡改",
    "ACQ.TRADE_HAS_SUCCESS": "交易已被支付",
    "ACQ.TRADE_HAS_CLOSE": "交易已经关闭",
    "ACQ.TRADE_STATUS_ERROR": "交易状态不合法",
    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL": "退款金额与订单金额不一致",
    "ACQ.REASON_TRADE_REFUND_FEE_ERR": "退款金额无效",
    "ACQ.DISCORDANT_REPEAT_REQUEST": "不一致的请求",
    "BILL_NOT_EXIST": "账单不存在",
}


class GatewayError(Exception):
    """A failed answer; `node()` is what goes inside `<method>_response`."""

    def __init__(self, code: str, sub_code: str, sub_msg: str | None = None, **extra: Any) -> None:
        self.code = code
        self.sub_code = sub_code
        self.sub_msg = sub_msg or SUB_MESSAGES.get(sub_code, sub_code)
        self.extra = extra
        super().__init__(f"{code} {sub_code}: {self.sub_msg}")

    def node(self) -> dict[str, Any]:
        return {"code": self.code, "msg": MESSAGES[self.code], "sub_code": self.sub_code,
                "sub_msg": self.sub_msg, **self.extra}


def business(sub_code: str, sub_msg: str | None = None, **extra: Any) -> GatewayError:
    """40004 Business Failed with an `ACQ.*` sub code."""
    return GatewayError(BUSINESS, sub_code, sub_msg, **extra)


def invalid(sub_code: str = "isv.invalid-parameter", sub_msg: str | None = None) -> GatewayError:
    """40002 Invalid Arguments."""
    return GatewayError(INVALID, sub_code, sub_msg)


def missing(sub_code: str) -> GatewayError:
    """40001 Missing Required Arguments."""
    return GatewayError(MISSING, sub_code)


def success(**fields: Any) -> dict[str, Any]:
    """A 10000 answer node with `fields` after code and msg."""
    return {"code": SUCCESS, "msg": MESSAGES[SUCCESS], **fields}


class ControlError(Exception):
    """A control-API request that cannot be done; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
