"""/jobs/<job_id> and /orders/<out_trade_no>: what the store knows, as the client polls it."""

from flask import Blueprint, Response, current_app, jsonify

from api.errors import NotFound
from api.submissions import public
from worker.transitions import Record

bp = Blueprint("jobs", __name__)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    job = current_app.config["STORE"].get_job(job_id)
    if job is None:
        raise NotFound(f"No job {job_id} is known here (jobs are kept for a limited time).", code="job_not_found")
    return jsonify(public(job))


def order_or_404(out_trade_no: str) -> Record:
    """The stored order, or the JSON 404 every order endpoint answers for an unknown one."""
    order: Record | None = current_app.config["STORE"].get_order(out_trade_no)
    if order is None:
        raise NotFound(f"No order {out_trade_no} is known here.", code="order_not_found")
    return order


@bp.get("/orders/<out_trade_no>")
def get_order(out_trade_no: str) -> Response:
    return jsonify(public(order_or_404(out_trade_no)))


@bp.get("/orders/<out_trade_no>/events")
def get_order_events(out_trade_no: str) -> Response:
    """The order's webhook events, oldest first, each with its delivery state and attempts."""
    order_or_404(out_trade_no)
    store = current_app.config["STORE"]
    events = [{k: v for k, v in e.items() if k != "out_trade_no"} for e in store.events_of(out_trade_no)]
    return jsonify({"out_trade_no": out_trade_no, "events": events})
