"""The design a user would write instead of jobs: one Flask endpoint that calls Alipay inline and answers
with the QR code, under gunicorn. Same parameters and validation as `/qrcode`, same Alipay client; no store,
no queue, no retries, no polling.

`gunicorn "bench.sync_app:create_app()"` serves it, with the service's settings from the environment.
"""

from __future__ import annotations

import os
from decimal import Decimal

from flask import Flask, Response, jsonify, request

from api.errors import register_error_handlers
from api.params import request_params
from api.schemas import QrcodeRequest, validate
from worker.alipay import trade
from worker.alipay.client import AlipayClient, new_pool
from worker.alipay.errors import AlipayError
from worker.settings import get_settings


def create_app() -> Flask:
    settings = get_settings()
    client = AlipayClient(settings.gateway_url, settings.app_id, settings.app_private_key,
                          settings.alipay_public_key, notify_url=settings.notify_url,
                          connect_timeout=settings.connect_timeout_s, read_timeout=settings.read_timeout_s,
                          pool=new_pool(int(os.environ.get("BENCH_SYNC_POOL", "10")), settings.gateway_url))
    app = Flask(__name__)
    register_error_handlers(app)

    @app.post("/qrcode")
    def qrcode() -> Response | tuple[Response, int]:
        req = validate(QrcodeRequest, request_params(request))
        try:
            result = trade.precreate(client, out_trade_no=req.out_trade_no, total_amount=Decimal(req.total_amount),
                                     subject=req.subject, store_id=req.store_id,
                                     timeout_express=req.timeout_express, body=req.body)
        except AlipayError as exc:
            return jsonify({"error": {"code": "gateway_error", "message": str(exc)}}), 502
        return jsonify(result)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    return app
