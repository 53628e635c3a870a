"""The client API: a Flask app factory; gunicorn loads `api:create_app()`."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from worker import defaults
from worker.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app. `overrides` may carry `SETTINGS` (a Settings), `STORE` and `CELERY` (for tests)."""
    from api import auth, cashier, health, jobs, metrics, notify, openapi, payments, reconciliations, refunds
    from api.errors import register_error_handlers
    from api.submissions import Submitter

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = defaults.MAX_REQUEST_BYTES
    app.config["JSON_SORT_KEYS"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config.update(overrides or {})
    settings: Settings = app.config.setdefault("SETTINGS", None) or get_settings()
    app.config["SETTINGS"] = settings
    if app.config.get("STORE") is None:
        from worker.store import Store

        app.config["STORE"] = Store.from_url(settings.redis_url, outage_s=defaults.API_REDIS_OUTAGE_S,
                                             job_ttl_s=settings.job_retention_s,
                                             order_ttl_s=settings.order_retention_s)
    if app.config.get("CELERY") is None:
        from worker.celery_app import app as celery

        app.config["CELERY"] = celery
    app.extensions["submitter"] = Submitter(app.config["STORE"], app.config["CELERY"], settings)
    register_error_handlers(app)
    auth.install(app)
    for blueprint in (payments.bp, refunds.bp, jobs.bp, cashier.bp, notify.bp, health.bp, openapi.bp,
                      reconciliations.bp, metrics.bp):
        app.register_blueprint(blueprint)
    if not settings.api_keys:
        log.warning("API_KEYS is not set: the client API is open to anyone who can reach it")
    return app
