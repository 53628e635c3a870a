"""API keys: when API_KEYS is set, every client endpoint needs `Authorization: Bearer <key>`.

Alipay's notifications, the health checks, the OpenAPI document and what the buyer sees (cashier page, QR image)
stay open. Keys are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request

from api.errors import Unauthorized

OPEN_ENDPOINTS = frozenset({"notify.notify", "health.healthz", "health.readyz", "openapi.openapi_json", "static"})


def open_endpoints_of(app: Flask) -> frozenset[str]:
    """Every endpoint that needs no key: ours here, and the buyer's pages (`api.cashier.OPEN_ENDPOINTS`)."""
    from api.cashier import OPEN_ENDPOINTS as CASHIER

    return OPEN_ENDPOINTS | CASHIER


def key_accepted(given: str, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every configured key (no early exit on the first match)."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def install(app: Flask) -> None:
    keys = app.config["SETTINGS"].api_keys
    if not keys:
        return
    open_endpoints = open_endpoints_of(app)

    @app.before_request
    def _require_key() -> None:
        if request.endpoint is None or request.endpoint in open_endpoints:
            return  # unknown URLs fall through to the JSON 404
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given or not key_accepted(given.strip(), keys):
            current_app.logger.info("refused %s %s: no valid API key", request.method, request.path)
            raise Unauthorized()
