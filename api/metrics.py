"""GET /metrics: Prometheus exposition of what every process counted, plus gauges read from Redis.

Behind the API keys like the other client endpoints when API_KEYS is set (a scraper sends one as a Bearer
token); the text format by default, OpenMetrics when the scraper asks for it in Accept.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from prometheus_client.exposition import choose_encoder

from worker.metrics import scrape_registry

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(scrape_registry(current_app.config["STORE"]))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
