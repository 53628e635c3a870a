"""Faults of real processes: workers killed mid-call, Redis restarted, the broker or the gateway down.

Nothing may be lost, nothing done twice, and no job may stay unfinished.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis

from dev.redis import start_redis
from tests.conftest import RedisServer, free_port
from tests.integration.stack import Stack, eventually
from worker.store import Keys, Store

pytestmark = pytest.mark.redis_broker


def redis_at(tmp_path_factory: pytest.TempPathFactory, name: str) -> RedisServer:
    port, data = free_port(), tmp_path_factory.mktemp(name)
    return RedisServer(port, data, start_redis(port, data))


@pytest.fixture(scope="module")
def faulty(keys, tmp_path_factory) -> Iterator[tuple[Stack, RedisServer, RedisServer]]:
    """A stack with its own store Redis and broker Redis (both restartable), a broker that gives a dead
    worker's task back after 3 s, and a janitor that requeues jobs unchanged for 4 s."""
    store_redis, broker_redis = redis_at(tmp_path_factory, "store"), redis_at(tmp_path_factory, "broker")
    s = Stack(store_redis.url, keys, tmp_path_factory.mktemp("faulty"), extra_env={
        "CELERY_BROKER_URL": broker_redis.url, "VISIBILITY_TIMEOUT_S": "3", "ALIPAY_READ_TIMEOUT_S": "20",
        "STALE_JOB_S": "4", "JOB_MAX_ATTEMPTS": "6", "RETRY_BACKOFF_CAP_S": "1",
    })
    try:
        s.start_sandbox()
        s.start_api()
        s.start_worker()
        s.start_beat()
        s.wait_ready()
        yield s, store_redis, broker_redis
    finally:
        s.stop()
        store_redis.stop()
        broker_redis.stop()


def restart_worker(stack: Stack) -> None:
    stack.kill("worker")
    stack.start_worker()


def test_worker_killed_mid_precreate(faulty) -> None:
    stack, _, _ = faulty
    stack.fault("alipay.trade.precreate", "delay", times=1, delay_ms=6000)
    otn, body = stack.precreate("5.00")
    eventually(lambda: stack.calls(otn, "alipay.trade.precreate"), message="precreate at the gateway")
    restart_worker(stack)
    job = stack.job(body["job_id"], timeout=40)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    calls = stack.calls(otn, "alipay.trade.precreate")
    assert len(calls) == 2 and {c["out_trade_no"] for c in calls} == {otn}
    assert stack.order(otn)["qr_code"] == job["result"]["qr_code"]


def test_worker_killed_mid_refund_refunds_once(faulty) -> None:
    stack, _, _ = faulty
    otn = stack.paid_order("10.00")
    stack.fault("notify", "reset", times=100)  # only the task itself may settle the refund
    stack.fault("alipay.trade.refund", "delay", times=1, delay_ms=6000)
    job_id = stack.refund(otn, "2.50", f"{otn}K").json()["job_id"]
    eventually(lambda: stack.calls(otn, "alipay.trade.refund"), message="refund at the gateway")
    assert stack.call("GET", f"/jobs/{job_id}").json()["status"] == "running"
    restart_worker(stack)
    job = stack.job(job_id, timeout=40)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    gateway = stack.gateway_trade(otn)
    assert len(gateway["refunds"]) == 1 and Decimal(gateway["refunded_amount"]) == Decimal("2.50"), gateway
    order = stack.order(otn)
    assert order["refunded_amount"] == "2.50" and order["refunds"][0]["status"] == "REFUND_SUCCESS"
    stack.clear_faults()


def test_worker_killed_mid_poll_still_sees_the_payment(faulty) -> None:
    stack, _, _ = faulty
    otn, body = stack.precreate("3.00")
    stack.job(body["job_id"])
    stack.fault("notify", "reset", times=100)  # the notification never arrives: only a poll can tell
    stack.fault("alipay.trade.query", "delay", times=100, delay_ms=6000)  # other trades are polled too
    eventually(lambda: any(c["fault"] == "delay" for c in stack.calls(otn, "alipay.trade.query")),
               message="a poll stuck at the gateway")
    assert stack.sandbox_post(f"/sandbox/trades/{otn}/pay").status_code < 300
    stack.clear_faults("alipay.trade.query")  # the notification stays blocked
    restart_worker(stack)
    order = stack.wait_order(otn, lambda o: o["status"] == "TRADE_SUCCESS", timeout=40)
    assert order["paid_via"] == "poll"
    stack.clear_faults()


def test_a_lost_task_is_queued_again_by_the_janitor(faulty) -> None:
    stack, store_redis, _ = faulty
    store = Store(redis.Redis.from_url(store_redis.url))
    otn, job_id = "LOST" + uuid.uuid4().hex[:12], uuid.uuid4().hex
    now = "2026-01-01T00:00:00.000+00:00"
    request = {"totalAmount": "1.00", "subject": "lost", "storeId": "s", "timeoutExpress": "5m", "outTradeNo": otn}
    store.submit_precreate(
        {"job_id": job_id, "type": "precreate", "status": "queued", "attempts": 0, "created_at": now,
         "updated_at": now, "out_trade_no": otn, "request": request, "result": None, "error": None},
        {"out_trade_no": otn, "status": "PENDING", "total_amount": "1.00", "refunded_amount": "0.00", "refunds": [],
         "created_at": now, "updated_at": now, "job_id": job_id, "qr_code": None, "expires_at": None},
        "fp")  # written, never queued: as if the message had been lost
    job = stack.job(job_id, timeout=30)
    assert job["status"] == "succeeded" and job["attempts"] == 1


def test_redis_restarted_with_jobs_in_flight(faulty) -> None:
    stack, store_redis, broker_redis = faulty
    stack.fault("alipay.trade.precreate", "delay", times=4, delay_ms=2500)
    submitted = [stack.precreate("1.00") for _ in range(4)]
    eventually(lambda: len(stack.calls(method="alipay.trade.precreate")) >= 4, message="calls in flight")
    store_redis.stop()
    broker_redis.stop()
    down = stack.call("POST", "/qrcode", data=dict(totalAmount="1.00", subject="s", storeId="s",
                                                   timeoutExpress="5m", outTradeNo="DOWN" + uuid.uuid4().hex[:8]))
    assert down.status_code == 503 and down.json()["error"]["code"] == "service_unavailable"
    store_redis.start()
    broker_redis.start()
    for otn, body in submitted:
        job = stack.job(body["job_id"], timeout=60)
        assert job["status"] == "succeeded", job
        assert stack.order(otn)["qr_code"]
    otn, body = stack.precreate("1.00")
    assert stack.job(body["job_id"])["status"] == "succeeded"


def test_broker_down_answers_503_and_writes_nothing(faulty) -> None:
    stack, store_redis, broker_redis = faulty
    broker_redis.stop()
    otn = "BRK" + uuid.uuid4().hex[:12]
    params = dict(totalAmount="2.00", subject="s", storeId="s", timeoutExpress="5m", outTradeNo=otn)
    try:
        refused = stack.call("POST", "/qrcode", data=params)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "service_unavailable"
        assert stack.call("GET", f"/orders/{otn}").status_code == 404
        assert not redis.Redis.from_url(store_redis.url).exists(Keys.precreate_identity(otn))
    finally:
        broker_redis.start()
    accepted = eventually(lambda: (lambda r: r if r.status_code == 202 else None)(
        stack.call("POST", "/qrcode", data=params)), timeout=30, interval=0.5, message="accepted again")
    assert stack.job(accepted.json()["job_id"], timeout=30)["status"] == "succeeded"


def test_gateway_down_retries_then_fails_clearly(faulty) -> None:
    stack, store_redis, _ = faulty
    stack.stop(["sandbox"])
    try:
        otn, body = stack.precreate("1.00")
        eventually(lambda: stack.call("GET", f"/jobs/{body['job_id']}").json()["attempts"] >= 2,
                   message="retrying while the gateway is down")
    finally:
        stack.start_sandbox()
    assert stack.job(body["job_id"], timeout=30)["status"] == "succeeded"

    stack.stop(["sandbox"])
    try:
        otn, body = stack.precreate("1.00")
        job = stack.job(body["job_id"], timeout=60)
        assert job["status"] == "failed" and job["attempts"] == 6, job
        assert job["error"]["code"] == "gateway_unavailable" and "gave up after 6 attempts" in job["error"]["msg"]
        assert stack.order(otn)["status"] == "FAILED"
        store = redis.Redis.from_url(store_redis.url)
        assert store.zscore(Keys.active_jobs, body["job_id"]) is None
    finally:
        stack.start_sandbox()
