"""/qrcode: submit a QR-code payment (alipay.trade.precreate) as a job."""

from flask import Blueprint, Response, current_app, request

from api.params import request_params
from api.schemas import QrcodeRequest, validate

bp = Blueprint("payments", __name__)


@bp.route("/qrcode", methods=["GET", "POST"])
def qrcode() -> Response:
    req = validate(QrcodeRequest, request_params(request))
    return current_app.extensions["submitter"].precreate(req)
