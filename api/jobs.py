"""/jobs/<job_id> and /orders/<out_trade_no>: what the store knows, as the client polls it."""

from flask import Blueprint, Response, current_app, jsonify

from api.errors import NotFound
from api.submissions import public

bp = Blueprint("jobs", __name__)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    job = current_app.config["STORE"].get_job(job_id)
    if job is None:
        raise NotFound(f"No job {job_id} is known here (jobs are kept for a limited time).", code="job_not_found")
    return jsonify(public(job))


@bp.get("/orders/<out_trade_no>")
def get_order(out_trade_no: str) -> Response:
    order = current_app.config["STORE"].get_order(out_trade_no)
    if order is None:
        raise NotFound(f"No order {out_trade_no} is known here.", code="order_not_found")
    return jsonify(public(order))
