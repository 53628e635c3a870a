"""GET /metrics in one process (no PROMETHEUS_MULTIPROC_DIR): this process's counters and the store's gauges."""

from __future__ import annotations

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry

from api import create_app
from tests.conftest import free_port
from worker import metrics
from worker.settings import Settings
from worker.store import Store
from worker.transitions import order_trade_status


def settings(keys, **env: str) -> Settings:
    return Settings.from_env({"ALIPAY_APP_PRIVATE_KEY_FILE": str(keys.path("app_private_key.pem")),
                              "ALIPAY_PUBLIC_KEY_FILE": str(keys.path("alipay_public_key.txt")), **env})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def order(otn: str, job_id: str) -> dict:
    return {"out_trade_no": otn, "status": "PENDING", "total_amount": "1.00", "refunded_amount": "0.00",
            "refunds": [], "created_at": "2026-01-01T00:00:00+00:00", "job_id": job_id, "qr_code": None}


def job(job_id: str, otn: str) -> dict:
    return {"job_id": job_id, "type": "precreate", "status": "queued", "attempts": 0, "out_trade_no": otn,
            "request": {}, "result": None, "error": None}


@pytest.fixture
def store(redis_db) -> Store:
    return Store(redis_db)


def test_metrics_answers_the_text_format_with_counters_and_store_gauges(keys, store: Store, monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    for n in range(3):
        store.submit_precreate(job(f"j{n}", f"M{n}"), order(f"M{n}", f"j{n}"), "fp")
    store.update_order("M0", lambda o: order_trade_status(o, "TRADE_SUCCESS", {"trade_no": "T"}))
    store.schedule_poll("M1", 0)
    before = metrics.JOBS_SUBMITTED.labels(type="refund")._value.get()
    metrics.job_submitted("refund")
    metrics.gateway_call("alipay.trade.query", "transient", 0.2)

    client = create_app({"SETTINGS": settings(keys), "STORE": store, "CELERY": object(), "TESTING": True}
                        ).test_client()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain" and "version=" in response.content_type
    found = samples(response.get_data(as_text=True))
    assert found[("alipay_worker_orders", (("status", "PENDING"),))] == 2
    assert found[("alipay_worker_orders", (("status", "TRADE_SUCCESS"),))] == 1
    assert found[("alipay_worker_orders", (("status", "TRADE_CLOSED"),))] == 0
    assert found[("alipay_worker_poll_waiting_trades", ())] == 1
    assert found[("alipay_worker_jobs_submitted_total", (("type", "refund"),))] == before + 1
    assert found[("alipay_worker_jobs_failed_total", (("type", "refund_query"),))] >= 0
    assert found[("alipay_worker_gateway_calls_total", (("method", "alipay.trade.query"), ("outcome", "transient")))]
    assert found[("alipay_worker_gateway_call_duration_seconds_bucket",
                  (("le", "0.25"), ("method", "alipay.trade.query")))] >= 1


def test_a_withdrawn_precreate_leaves_the_counts(store: Store) -> None:
    store.submit_precreate(job("w1", "W1"), order("W1", "w1"), "fp")
    assert store.order_counts() == {"PENDING": 1}
    store.withdraw(job("w1", "W1"))
    assert store.order_counts().get("PENDING", 0) == 0


def test_metrics_needs_an_api_key_when_keys_are_set(keys, store: Store) -> None:
    app = create_app({"SETTINGS": settings(keys, API_KEYS="metrics-key-0001"), "STORE": store, "CELERY": object(),
                      "TESTING": True})
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer metrics-key-0001"}).status_code == 200


def test_metrics_still_answers_when_redis_is_down(keys, monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    down = Store(redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)))
    client = create_app({"SETTINGS": settings(keys), "STORE": down, "CELERY": object(), "TESTING": True}
                        ).test_client()
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "alipay_worker_jobs_submitted_total" in text and "alipay_worker_orders" not in text
