"""Alipay's asynchronous notifications: verified, checked against the order, deduplicated, then applied
through the same monotonic transitions as polls.

Nothing changes unless the RSA2 signature verifies with Alipay's public key, the app (and seller, when
configured) match, the order is ours and the amount equals the order's total.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from worker.alipay.notification import verify_notification
from worker.settings import Settings
from worker.states import RefundStatus
from worker.store import Store
from worker.transitions import Record, order_trade_status, refund_settled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    """Whether Alipay gets `success` (processed, or a duplicate of a processed one)."""
    reason: str


def _amount(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def handle_notification(params: Mapping[str, str], settings: Settings, store: Store) -> Outcome:
    """Verify and apply one notification; the caller answers `success` only when `accepted`."""
    otn = params.get("out_trade_no", "")
    if not verify_notification(params, settings.alipay_public_key):
        return Outcome(False, "bad_signature")
    if params.get("app_id") != settings.app_id:
        return Outcome(False, "app_id_mismatch")
    if settings.seller_id and params.get("seller_id") != settings.seller_id:
        return Outcome(False, "seller_id_mismatch")
    order = store.get_order(otn) if otn else None
    if order is None:
        return Outcome(False, "unknown_order")
    if _amount(params.get("total_amount")) != Decimal(order["total_amount"]):
        return Outcome(False, "amount_mismatch")
    notify_id = params.get("notify_id") or ""
    if notify_id and store.notification_seen(notify_id):
        return Outcome(True, "duplicate")
    fields = {
        "trade_no": params.get("trade_no"),
        "buyer_logon_id": params.get("buyer_logon_id"),
        "buyer_user_id": params.get("buyer_id"),
        "gmt_payment": params.get("gmt_payment"),
    }
    store.update_order(otn, lambda o: order_trade_status(o, params.get("trade_status", ""), fields,
                                                        source="notification"))
    out_request_no = params.get("out_biz_no")
    if out_request_no and params.get("refund_fee"):
        store.update_order(otn, lambda o: _refund_seen(o, out_request_no, params))
    if notify_id:
        store.remember_notification(notify_id)
    return Outcome(True, "processed")


def _refund_seen(order: Record, out_request_no: str, params: Mapping[str, str]) -> Record:
    """A refund notification settles a refund of ours that is still in flight."""
    return refund_settled(order, out_request_no, RefundStatus.REFUND_SUCCESS,
                          {"gmt_refund_pay": params.get("gmt_refund")})
