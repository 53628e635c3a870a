"""/notify (and the seed service's /notify_url): Alipay's signed asynchronous notifications.

The body is exactly `success` when the notification was verified and applied (or is a duplicate of one that
was), `failure` otherwise; a `failure` changes nothing and makes Alipay send it again later.
"""

import logging

from flask import Blueprint, Response, current_app, request

from worker import metrics
from worker.notifications import handle_notification

log = logging.getLogger(__name__)
bp = Blueprint("notify", __name__)


@bp.post("/notify")
@bp.post("/notify_url")
def notify() -> Response:
    params = {key: request.form[key] for key in request.form}
    outcome = handle_notification(params, current_app.config["SETTINGS"], current_app.config["STORE"])
    metrics.notification(outcome.accepted, outcome.reason)
    log.info("notification out_trade_no=%s trade_status=%s notify_id=%s: %s",
             params.get("out_trade_no"), params.get("trade_status"), params.get("notify_id"), outcome.reason,
             extra={"out_trade_no": params.get("out_trade_no")})
    return Response("success" if outcome.accepted else "failure", mimetype="text/plain")
