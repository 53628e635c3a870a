"""The buyer's side of an order: its QR code as an image, and a cashier page that follows the order live.

These views need no API key (see `OPEN_ENDPOINTS`): the buyer has none. They show only what the buyer sees at
the till anyway (amount, subject, store, deadline, status), never the buyer's identity or job data.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import segno
from flask import Blueprint, Response, current_app, jsonify, make_response, render_template, request, url_for

from api.cashier_texts import TEXTS, language
from api.errors import InvalidRequest, NotFound
from api.jobs import order_or_404
from worker.states import OrderStatus
from worker.transitions import Record

bp = Blueprint("cashier", __name__)

OPEN_ENDPOINTS = frozenset({"cashier.pay_page", "cashier.pay_status", "cashier.qrcode_png", "cashier.qrcode_svg"})
"""Endpoints served without an API key even when `API_KEYS` is set."""

QR_SCALE = 8
"""Pixels (PNG) or SVG units per QR module when the request has no `?scale=`."""

QR_SCALE_MAX = 20
"""Largest `?scale=` accepted; 1 is the smallest."""

QR_BORDER = 4
"""Quiet zone around the code, in modules: the four the QR standard asks for, so every scanner reads it."""

QR_ERROR = "m"
"""Error correction level (about 15 %); segno raises it when that costs no extra size."""

IMAGE_MAX_AGE_S = 365 * 24 * 3600
"""Seconds a QR image may be cached: an order's qr_code never changes once issued. Shortened to the order
retention when orders expire, because an out_trade_no may be used again only after its order is gone."""

PAGE_POLL_MS = 1500
"""Milliseconds between the cashier page's status requests while the order waits for payment."""

PAGE_SETTLED_POLL_MS = 6000
"""Milliseconds between status requests once the order is paid, closed or refunded (a late payment or a refund
may still change it)."""

_IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}

_PAGE_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
             "connect-src 'self'; base-uri 'none'; form-action 'none'")


class PageView(StrEnum):
    """What the cashier page shows for an order."""

    PENDING = "pending"
    """Waiting for the buyer: QR code and countdown."""
    PAID = "paid"
    CLOSED = "closed"
    """Closed unpaid, or the precreate failed: nothing can be paid."""
    REFUNDED = "refunded"
    """Paid, then refunded in part or in full."""


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value or "0"))
    except InvalidOperation:
        return Decimal(0)


def page_view(order: Record) -> PageView:
    """The view for `order`: a refund outranks paid, and anything not paid or pending is closed."""
    if order.get("closed_reason") == "refunded" or _decimal(order.get("refunded_amount")) > 0:
        return PageView.REFUNDED
    status = order.get("status")
    if status in (OrderStatus.TRADE_SUCCESS, OrderStatus.TRADE_FINISHED):
        return PageView.PAID
    if status in (OrderStatus.TRADE_CLOSED, OrderStatus.FAILED):
        return PageView.CLOSED
    return PageView.PENDING


def seconds_left(expires_at: str | None, now: datetime | None = None) -> int | None:
    """Whole seconds until `expires_at` (ISO 8601 with offset), 0 once passed; None while it is unknown."""
    if not expires_at:
        return None
    try:
        deadline = datetime.fromisoformat(expires_at)
    except ValueError:
        return None
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=UTC)
    return max(0, int((deadline - (now or datetime.now(UTC))).total_seconds()))


def buyer_status(order: Record) -> dict[str, Any]:
    """The part of an order the buyer's page needs; the page counts down from `seconds_left` so that the
    buyer's clock does not matter."""
    return {
        "out_trade_no": order["out_trade_no"],
        "status": order.get("status"),
        "view": page_view(order).value,
        "total_amount": order.get("total_amount"),
        "refunded_amount": order.get("refunded_amount") or "0.00",
        "subject": order.get("subject"),
        "store_id": order.get("store_id"),
        "expires_at": order.get("expires_at"),
        "seconds_left": seconds_left(order.get("expires_at")),
        "qr_code_ready": bool(order.get("qr_code")),
    }


def _order(out_trade_no: str) -> Record | None:
    order: Record | None = current_app.config["STORE"].get_order(out_trade_no)
    return order


# --- the QR image -------------------------------------------------------------------------------------------


def _scale() -> int:
    raw = request.args.get("scale")
    if raw is None:
        return QR_SCALE
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= QR_SCALE_MAX):
        raise InvalidRequest.from_fields([{"field": "scale", "code": "invalid_scale",
                                           "message": f"scale must be a whole number from 1 to {QR_SCALE_MAX}."}])
    return int(raw)


def render_qr(content: str, kind: str, scale: int = QR_SCALE) -> bytes:
    """`content` as a QR code (never a Micro QR, which Alipay cannot read) in `kind` "png" or "svg"."""
    out = io.BytesIO()
    segno.make_qr(content, error=QR_ERROR).save(out, kind=kind, scale=scale, border=QR_BORDER)
    return out.getvalue()


def _image_max_age() -> int:
    retention = current_app.config["SETTINGS"].order_retention_s
    return min(IMAGE_MAX_AGE_S, retention) if retention else IMAGE_MAX_AGE_S


def _qr_image(out_trade_no: str, kind: str) -> Response:
    order = order_or_404(out_trade_no)
    qr_code = order.get("qr_code")
    if not qr_code:
        why = "its precreate failed" if order.get("status") == OrderStatus.FAILED else "it is still being issued"
        raise NotFound(f"Order {out_trade_no} has no QR code: {why}.", code="qr_code_not_found")
    scale = _scale()
    identity = f"{segno.__version__}|{kind}|{scale}|{QR_BORDER}|{QR_ERROR}|{qr_code}"
    etag = hashlib.sha256(identity.encode()).hexdigest()[:32]
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
    else:
        response = Response(render_qr(qr_code, kind, scale), mimetype=_IMAGE_TYPES[kind])
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = _image_max_age()
    response.cache_control.immutable = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/orders/<out_trade_no>/qrcode.png")
def qrcode_png(out_trade_no: str) -> Response:
    return _qr_image(out_trade_no, "png")


@bp.get("/orders/<out_trade_no>/qrcode.svg")
def qrcode_svg(out_trade_no: str) -> Response:
    return _qr_image(out_trade_no, "svg")


# --- the cashier page -------------------------------------------------------------------------------------


def _page(html: str, status: int = 200) -> Response:
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = _PAGE_CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.vary.add("Accept-Language")
    return response


@bp.get("/orders/<out_trade_no>/pay")
def pay_page(out_trade_no: str) -> Response:
    lang = language(request)
    order = _order(out_trade_no)
    if order is None:
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html":
            order_or_404(out_trade_no)  # answers the JSON 404
        return _page(render_template("cashier/not_found.html", t=TEXTS[lang], lang=lang), 404)
    status = buyer_status(order)
    config = {
        "statusUrl": url_for("cashier.pay_status", out_trade_no=out_trade_no),
        "qrUrl": url_for("cashier.qrcode_svg", out_trade_no=out_trade_no),
        "pollMs": PAGE_POLL_MS,
        "settledPollMs": PAGE_SETTLED_POLL_MS,
        "texts": TEXTS[lang],
        "order": status,
    }
    return _page(render_template("cashier/pay.html", t=TEXTS[lang], lang=lang, order=status, config=config))


@bp.get("/orders/<out_trade_no>/pay/status")
def pay_status(out_trade_no: str) -> Response:
    response = jsonify(buyer_status(order_or_404(out_trade_no)))
    response.headers["Cache-Control"] = "no-store"
    return response
