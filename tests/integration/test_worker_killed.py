"""A worker killed with SIGKILL in the middle of a refund: a new worker finishes it, and it is applied once."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.integration.stack import Stack, eventually


@pytest.fixture(scope="module")
def fragile(redis_server, keys, tmp_path_factory) -> Iterator[Stack]:
    """A stack of its own whose broker gives an unacknowledged task back after 3 seconds."""
    s = Stack(f"redis://127.0.0.1:{redis_server.port}/2", keys, tmp_path_factory.mktemp("fragile"),
              extra_env={"VISIBILITY_TIMEOUT_S": "3", "ALIPAY_READ_TIMEOUT_S": "20"})
    try:
        s.start_sandbox()
        s.start_api()
        s.start_worker("victim")
        s.wait_ready()
    except BaseException:
        s.stop()
        raise
    yield s
    s.stop()


def test_refund_completes_once_after_the_worker_is_killed(fragile: Stack) -> None:
    otn = fragile.paid_order("10.00")
    fragile.fault("alipay.trade.refund", "delay", times=1, delay_ms=8000)
    job_id = fragile.refund(otn, "2.50", f"{otn}K").json()["job_id"]
    eventually(lambda: fragile.calls(otn, "alipay.trade.refund"), message="refund reached the gateway")
    assert fragile.call("GET", f"/jobs/{job_id}").json()["status"] == "running"
    fragile.kill("victim")
    fragile.start_worker("rescuer")
    job = fragile.job(job_id, timeout=40)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    gateway = fragile.gateway_trade(otn)
    assert len(gateway["refunds"]) == 1 and Decimal(gateway["refunded_amount"]) == Decimal("2.50"), gateway
    order = fragile.order(otn)
    assert order["refunded_amount"] == "2.50" and order["refunds"][0]["status"] == "REFUND_SUCCESS"
