"""`/sandbox/*`: the control API that plays the buyer and the network, and shows what the gateway saw.

    POST   /sandbox/trades/<out_trade_no>/scan   the buyer scans: WAIT_BUYER_PAY (404 unknown, 409 closed/paid)
    POST   /sandbox/trades/<out_trade_no>/pay    the buyer pays, scanning first if needed: TRADE_SUCCESS
    GET    /sandbox/trades/<out_trade_no>        the gateway's view of one trade (404 before the precreate)
    GET    /sandbox/trades                       every trade
    GET    /sandbox/faults   POST  DELETE        queued faults (see sandbox.faults)
    GET    /sandbox/clock    POST {"advance_s"}  the sandbox clock
    GET    /sandbox/calls    DELETE              gateway calls received, oldest first
    GET    /sandbox/notifications   DELETE       notifications and their delivery attempts

Before the buyer scans, a trade's `trade_status` is null (the trade does not exist at the gateway yet) and
`scanned` is false; `payable` says whether its QR code can still be scanned and paid. scan and pay take
optional `buyer_id` / `buyer_logon_id` (JSON or form) and, from the buyer page's form, a `next` path to
redirect to. Errors are `{"error": {"code", "message", "field"}}`.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request

from sandbox.context import current_sandbox
from sandbox.errors import ControlError
from sandbox.faults import ANY_METHOD, NOTIFY, FaultKind
from sandbox.methods import METHODS
from sandbox.values import alipay_time

bp = Blueprint("control", __name__, url_prefix="/sandbox")


def error(status: int, code: str, message: str, field: str | None = None) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message, "field": field}}), status


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    if isinstance(data, dict):
        return data
    return request.form.to_dict()


def _trade_json(view: dict[str, Any]) -> dict[str, Any]:
    """The control API's trade: the view with the QR token turned into the qr_code URL."""
    sandbox = current_sandbox()
    base = sandbox.config.public_url or request.host_url.rstrip("/")
    view = dict(view)
    view["qr_code"] = f"{base}/qr/{view.pop('qr_token')}"
    return view


def _buyer_action(out_trade_no: str, action: str) -> Any:
    sandbox = current_sandbox()
    body = _body()
    buyer = {k: str(body[k]) for k in ("buyer_id", "buyer_logon_id") if body.get(k)}
    do = sandbox.book.pay if action == "pay" else sandbox.book.scan
    next_path = str(body.get("next") or "")
    try:
        view = do(out_trade_no, **buyer)
    except ControlError as exc:
        if next_path.startswith("/") and not next_path.startswith("//"):
            return redirect(f"{next_path}?{urlencode({'error': exc.message})}", code=303)
        return error(exc.status, exc.code, exc.message, "out_trade_no")
    if next_path.startswith("/") and not next_path.startswith("//"):
        return redirect(next_path, code=303)
    return jsonify(_trade_json(view))


@bp.post("/trades/<out_trade_no>/scan")
def scan(out_trade_no: str) -> Any:
    return _buyer_action(out_trade_no, "scan")


@bp.post("/trades/<out_trade_no>/pay")
def pay(out_trade_no: str) -> Any:
    return _buyer_action(out_trade_no, "pay")


@bp.get("/trades/<out_trade_no>")
def trade(out_trade_no: str) -> Any:
    view = current_sandbox().book.view(out_trade_no)
    if view is None:
        return error(404, "not_found", f"no precreate for out_trade_no {out_trade_no}", "out_trade_no")
    return jsonify(_trade_json(view))


@bp.get("/trades")
def trades() -> Any:
    return jsonify([_trade_json(v) for v in current_sandbox().book.views()])


@bp.get("/faults")
def faults() -> Any:
    return jsonify(current_sandbox().faults.list())


@bp.post("/faults")
def add_fault() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "invalid_body", "send a JSON object: {method, fault, times, delay_ms}")
    method = body.get("method", ANY_METHOD)
    if method not in (*METHODS, ANY_METHOD, NOTIFY):
        return error(400, "invalid_method", f"method must be a gateway method, {ANY_METHOD!r} or {NOTIFY!r}",
                     "method")
    try:
        kind = FaultKind(str(body.get("fault")))
    except ValueError:
        kinds = ", ".join(k.value for k in FaultKind)
        return error(400, "invalid_fault", f"fault must be one of {kinds}", "fault")
    numbers: dict[str, int] = {}
    for name, default, low in (("times", 1, 1), ("delay_ms", 0, 0)):
        value = body.get(name, default)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return error(400, f"invalid_{name}", f"{name} must be an integer >= {low}", name)
        numbers[name] = value
    fault = current_sandbox().faults.add(method, kind, numbers["times"], numbers["delay_ms"])
    return jsonify(fault.as_dict()), 201


@bp.delete("/faults")
def clear_faults() -> Any:
    """Drop every fault, or with `?method=` only the faults set for that method (`*`, `notify`, or one API)."""
    return jsonify({"cleared": current_sandbox().faults.clear(request.args.get("method") or None)})


def _clock_json() -> dict[str, Any]:
    clock = current_sandbox().clock
    now = clock.now()
    return {"now": alipay_time(now), "now_utc": now.isoformat(), "offset_s": clock.offset_s}


@bp.get("/clock")
def clock() -> Any:
    return jsonify(_clock_json())


@bp.post("/clock")
def advance_clock() -> Any:
    body = request.get_json(silent=True)
    value = body.get("advance_s") if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return error(400, "invalid_advance_s", "advance_s must be a number of seconds >= 0", "advance_s")
    current_sandbox().clock.advance(value)
    return jsonify(_clock_json())


@bp.get("/calls")
def calls() -> Any:
    return jsonify(current_sandbox().calls.list())


@bp.delete("/calls")
def clear_calls() -> Any:
    return jsonify({"cleared": current_sandbox().calls.clear()})


@bp.get("/notifications")
def notifications() -> Any:
    return jsonify(current_sandbox().notifier.list())


@bp.delete("/notifications")
def clear_notifications() -> Any:
    return jsonify({"cleared": current_sandbox().notifier.clear()})
