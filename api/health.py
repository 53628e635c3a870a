"""/healthz (the process is up) and /readyz (Redis, the broker and at least one worker answer)."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("health", __name__)
_WORKER_CACHE_S = 5.0
_last_worker_seen = 0.0


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


def _workers_answer(celery: Any) -> bool:
    global _last_worker_seen
    if time.monotonic() - _last_worker_seen < _WORKER_CACHE_S:
        return True
    replies = celery.control.ping(timeout=1.0)
    if replies:
        _last_worker_seen = time.monotonic()
    return bool(replies)


@bp.get("/readyz")
def readyz() -> Response:
    reasons: list[str] = []
    try:
        current_app.config["STORE"].ping()
    except Exception as exc:  # noqa: BLE001 - any failure is a reason to be unready
        reasons.append(f"redis: {type(exc).__name__}")
    celery = current_app.config["CELERY"]
    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        reasons.append(f"broker: {type(exc).__name__}")
    if not reasons:
        try:
            if not _workers_answer(celery):
                reasons.append("workers: none answered a ping")
        except Exception as exc:  # noqa: BLE001
            reasons.append(f"workers: {type(exc).__name__}")
    response = jsonify({"status": "ready" if not reasons else "unready", "reasons": reasons})
    response.status_code = 200 if not reasons else 503
    return response
