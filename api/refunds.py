"""/refund and /refund_query: submit a refund, or a query of one, as a job."""

from flask import Blueprint, Response, current_app, request

from api.errors import InvalidRequest
from api.params import request_params
from api.schemas import RefundQueryRequest, RefundRequest, validate

bp = Blueprint("refunds", __name__)


@bp.route("/refund", methods=["GET", "POST"])
def refund() -> Response:
    req = validate(RefundRequest, request_params(request))
    return current_app.extensions["submitter"].refund(req, idempotency_key(request.headers.get("Idempotency-Key")))


def idempotency_key(value: str | None) -> str | None:
    """The Idempotency-Key header: 1 to 255 printable ASCII characters, or absent."""
    if value is None:
        return None
    if not 0 < len(value) <= 255 or not all(" " < ch <= "~" for ch in value):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.",
                             code="invalid_format", field="Idempotency-Key")
    return value


@bp.route("/refund_query", methods=["GET", "POST"])
def refund_query() -> Response:
    req = validate(RefundQueryRequest, request_params(request))
    return current_app.extensions["submitter"].refund_query(req)
