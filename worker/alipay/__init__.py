"""Alipay OpenAPI (gateway.do) client: keys, signing, transport, one module per API family."""

from . import bill, trade
from .client import AlipayClient, SignedRequest, new_pool
from .errors import (
    AlipayError,
    BusinessError,
    ErrorKind,
    GatewayAnswer,
    GatewayBusy,
    GatewayHTTPError,
    GatewayUnreachable,
    MalformedResponse,
    OutcomeUnknown,
    SignatureError,
    TransientError,
)
from .notification import verify_notification
from .signing import KeyFormatError, load_private_key, load_public_key

__all__ = [
    "AlipayClient",
    "AlipayError",
    "BusinessError",
    "ErrorKind",
    "GatewayAnswer",
    "GatewayBusy",
    "GatewayHTTPError",
    "GatewayUnreachable",
    "KeyFormatError",
    "MalformedResponse",
    "OutcomeUnknown",
    "SignatureError",
    "SignedRequest",
    "TransientError",
    "bill",
    "load_private_key",
    "load_public_key",
    "new_pool",
    "trade",
    "verify_notification",
]
