"""/refund and /refund_query: submit a refund, or a query of one, as a job."""

from flask import Blueprint, Response, current_app, request

from api.params import request_params
from api.schemas import RefundQueryRequest, RefundRequest, validate

bp = Blueprint("refunds", __name__)


@bp.route("/refund", methods=["GET", "POST"])
def refund() -> Response:
    req = validate(RefundRequest, request_params(request))
    return current_app.extensions["submitter"].refund(req)


@bp.route("/refund_query", methods=["GET", "POST"])
def refund_query() -> Response:
    req = validate(RefundQueryRequest, request_params(request))
    return current_app.extensions["submitter"].refund_query(req)
