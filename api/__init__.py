"""The client API: a Flask app factory; gunicorn loads `api:create_app()`."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from worker import defaults
from worker.broker import shares_store_redis
from worker.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app. `overrides` may carry `SETTINGS` (a Settings), `STORE` and `CELERY` (for tests), and
    `QUEUE_WITH_JOB` (a new job's task message is pushed in the store's write of the job: by default when the
    app makes its own store and Celery app and the broker is the store's Redis)."""
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
    own_parts = app.config.get("STORE") is None and app.config.get("CELERY") is None
    queue_with_job = app.config.get("QUEUE_WITH_JOB", own_parts and shares_store_redis(settings))
    if app.config.get("STORE") is None:
        from worker.store import Store

        app.config["STORE"] = Store.from_url(settings.redis_url, outage_s=defaults.API_REDIS_OUTAGE_S,
                                             job_ttl_s=settings.job_retention_s,
                                             order_ttl_s=settings.order_retention_s)
    if app.config.get("CELERY") is None:
        from worker.celery_app import app as celery

        app.config["CELERY"] = celery
    app.extensions["submitter"] = Submitter(app.config["STORE"], app.config["CELERY"], settings,
                                            queue_with_job=queue_with_job)
    register_error_handlers(app)
    auth.install(app)
    for blueprint in (payments.bp, refunds.bp, jobs.bp, cashier.bp, notify.bp, health.bp, openapi.bp,
                      reconciliations.bp, metrics.bp):
        app.register_blueprint(blueprint)
    if not settings.api_keys:
        log.warning("API_KEYS is not set: the client API is open to anyone who can reach it")
    return app
