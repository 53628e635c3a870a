"""An offline Alipay: the OpenAPI gateway (`/gateway.do`), the buyer's side of a QR payment, notifications,
daily bills and a control API for tests and demos. Point python-alipay-sdk or Alipay's official SDK at it.

    app = create_app(SandboxConfig.from_env())      # or build SandboxConfig yourself
    handle = serve(app, port=0)                      # sandbox.server: threaded, fault-capable
    ...; handle.shutdown()

State lives in memory: a restart forgets every trade, refund and notification.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox.config import ConfigError, SandboxConfig
from sandbox.context import EXTENSION, current_sandbox
from sandbox.core import Sandbox
from sandbox.faults import FaultMiddleware
from sandbox.server import ServerHandle, serve

__all__ = ["ConfigError", "Sandbox", "SandboxConfig", "ServerHandle", "create_app", "current_sandbox", "serve"]


def create_app(config: SandboxConfig | None = None, *, background: bool = True) -> Flask:
    """A Flask app for one sandbox (`config` defaults to `SandboxConfig.from_env()`).

    With `background`, a daemon thread closes expired trades and delivers notifications; without it, expiry
    still happens on every request but notifications wait in the queue.
    """
    from sandbox import bill, buyer, control, gateway

    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    sandbox = Sandbox(config or SandboxConfig.from_env())
    app.extensions[EXTENSION] = sandbox
    for blueprint in (gateway.bp, control.bp, buyer.bp, bill.bp):
        app.register_blueprint(blueprint)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok", "now": sandbox.clock.now().isoformat()})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if request.path.startswith("/sandbox/") or request.path == "/healthz":
            code = (exc.name or "error").lower().replace(" ", "_")
            body = {"error": {"code": code, "message": exc.description, "field": None}}
            return jsonify(body), exc.code or 500
        return exc

    app.wsgi_app = FaultMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    if background:
        sandbox.start()
    return app
