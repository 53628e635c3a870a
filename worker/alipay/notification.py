"""Checking the signature of Alipay's asynchronous notification (ALIPAY.md 3.2).

Only the signature: the merchant checks that follow it (app_id, seller_id, known order, amount) belong to the
caller, which has the order.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping

from . import signing

EXCLUDED = ("sign", "sign_type", "alipay_cert_sn")
"""Fields left out of the signed string; every other non-empty field, known or not, is in it."""


def notification_content(params: Mapping[str, str]) -> str:
    """The string Alipay signed: all non-empty fields but `EXCLUDED`, sorted by key, raw values, `k=v&...`."""
    return signing.content_to_sign(params, exclude=EXCLUDED)


def verify_notification(
    params: Mapping[str, str], alipay_public_key: signing.PublicKey | str | bytes
) -> bool:
    """True when `params` (form-decoded, one value per field) carry a valid RSA2 signature by Alipay.

    A `sign_type` other than RSA2 (an absent one is read as RSA2), a missing sign, an unknown charset or an
    unusable key give False. Never raises and has no side effects.
    """
    try:
        signature = params.get("sign") or ""
        if not isinstance(signature, str) or not signature:
            return False
        if params.get("sign_type", "RSA2") != "RSA2":
            return False
        charset = params.get("charset") or "utf-8"
        codecs.lookup(charset)
        key = (
            alipay_public_key
            if isinstance(alipay_public_key, signing.PublicKey)
            else signing.load_public_key(alipay_public_key)
        )
        return signing.verify(key, notification_content(params), signature, charset)
    except (ValueError, TypeError, LookupError, AttributeError):
        return False
