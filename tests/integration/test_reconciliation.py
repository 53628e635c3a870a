"""Reconciliation against the running stack: the sweep finds what notifications and polls missed, the daily
bill rebuilds a flushed store, and two runs at once do the work once.

The plain functions run in the test process with a Store on the stack's Redis and our own client pointed at
the stack's sandbox, so each run happens exactly when the test says; beat's own runs (every minute, for
orders silent for five) do not touch the fresh orders made here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from celery import Celery

from tests.integration.gateway import client_for
from tests.integration.stack import Stack, eventually
from worker.alipay.client import AlipayClient
from worker.reconciliation import SweepConfig, SweepResult, run_reconciliation, run_sweep
from worker.store import Store
from worker.transitions import order_closed

NOW = SweepConfig(older_than_s=0, batch=5000, budget_s=30, refund_grace_s=0)
"""Every unsettled order, however recent."""


@pytest.fixture
def store(stack: Stack) -> Iterator[Store]:
    store = Store.from_url(stack.redis_url)
    yield store
    store.redis.close()


@pytest.fixture
def gateway(stack: Stack) -> Iterator[AlipayClient]:
    with client_for(stack) as client:
        yield client


def sweep_now(store: Store, gateway: AlipayClient) -> SweepResult:
    """One sweep, once beat's own sweep (if one is running just then) has let go of the lock."""
    return eventually(lambda: run_sweep(store, gateway, NOW), 10, 0.1, message="a sweep of our own")


def stop_polling(store: Store, otn: str) -> None:
    """Take the order off the poll schedule for good, as when the poller lost it."""
    def off() -> bool:
        store.unschedule_poll(otn)
        time.sleep(0.5)  # a poll already under way puts the order back within this, if it is going to
        return not store.poll_scheduled(otn)

    eventually(off, 10, 0, message=f"{otn} off the poll schedule")


def unpolled_order(stack: Stack, store: Store, amount: str) -> str:
    otn, body = stack.precreate(amount)
    assert stack.job(body["job_id"])["status"] == "succeeded"
    stop_polling(store, otn)
    return otn


def test_a_payment_whose_notification_was_lost_is_found_by_the_sweep(stack: Stack, store: Store,
                                                                     gateway: AlipayClient) -> None:
    otn = unpolled_order(stack, store, "6.00")
    stack.fault("notify", "reset", times=100)
    assert stack.sandbox_post(f"/sandbox/trades/{otn}/pay").status_code < 300
    assert stack.order(otn)["status"] == "PENDING"  # nobody told us

    result = sweep_now(store, gateway)
    order = stack.order(otn)
    assert order["status"] == "TRADE_SUCCESS" and order["paid_via"] == "reconciliation", order
    assert order["trade_no"] == stack.gateway_trade(otn)["trade_no"] and order["gmt_payment"]
    assert result.checked >= 1 and result.changed >= 1
    assert stack.calls(otn)[-1]["method"] == "alipay.trade.query"
    last = stack.call("GET", "/reconciliations/sweep/last").json()
    assert last["started_at"] >= result.started_at and {"checked", "changed", "failed"} <= set(last)


def test_a_payment_that_crossed_our_deadline_close_wins(stack: Stack, store: Store, gateway: AlipayClient) -> None:
    otn = unpolled_order(stack, store, "7.00")
    store.update_order(otn, lambda o: order_closed(o, "deadline"))  # our close at the deadline ...
    stack.fault("notify", "reset", times=100)
    assert stack.sandbox_post(f"/sandbox/trades/{otn}/pay").status_code < 300  # ... and the payment crossed
    assert stack.order(otn)["status"] == "TRADE_CLOSED"

    sweep_now(store, gateway)
    order = stack.order(otn)
    assert order["status"] == "TRADE_SUCCESS" and order["paid_via"] == "reconciliation", order
    assert "closed_reason" not in order


def test_a_refund_whose_outcome_was_unknown_is_settled(stack: Stack, store: Store, gateway: AlipayClient) -> None:
    otn = stack.paid_order("3.00")
    stack.fault("alipay.trade.refund", "lost_response", times=20)
    stack.fault("notify", "reset", times=100)  # and Alipay's refund notification does not get through
    job = stack.job(stack.refund(otn, "3.00", f"{otn}U").json()["job_id"])
    assert job["status"] == "failed" and job["error"]["kind"] == "unknown", job
    assert stack.order(otn)["refunds"][0]["status"] == "UNKNOWN"

    sweep_now(store, gateway)
    order = stack.order(otn)
    assert order["refunds"][0]["status"] == "REFUND_SUCCESS" and order["refunded_amount"] == "3.00", order
    assert order["status"] == "TRADE_CLOSED" and order["closed_reason"] == "refunded"
    assert stack.calls(otn, "alipay.trade.fastpay.refund.query")[-1]["out_request_no"] == f"{otn}U"
    assert len(stack.gateway_trade(otn)["refunds"]) == 1


def test_two_sweeps_at_once_ask_the_gateway_once(stack: Stack, store: Store) -> None:
    otn = unpolled_order(stack, store, "5.00")
    stack.fault("notify", "reset", times=100)
    assert stack.sandbox_post(f"/sandbox/trades/{otn}/pay").status_code < 300
    before = len(stack.calls(otn, "alipay.trade.query"))
    clients = [client_for(stack), client_for(stack)]
    for _ in range(5):  # again only if beat's sweep held the lock just then and both of ours stood aside
        start = threading.Barrier(2)
        results: list[SweepResult | None] = []

        def one(client: AlipayClient, start: threading.Barrier = start, results: list = results) -> None:
            start.wait()
            results.append(run_sweep(store, client, NOW))

        threads = [threading.Thread(target=one, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if any(r is not None for r in results):
            break
    for client in clients:
        client.close()
    assert stack.order(otn)["status"] == "TRADE_SUCCESS"
    assert len(stack.calls(otn, "alipay.trade.query")) - before == 1


def test_a_worker_runs_the_sweep_task_that_beat_sends(stack: Stack) -> None:
    before = stack.call("GET", "/reconciliations/sweep/last")
    since = before.json()["started_at"] if before.status_code == 200 else ""
    sender = Celery("test-sender", broker=stack.env["CELERY_BROKER_URL"])
    try:
        sender.send_task("alipay.reconcile_sweep", queue="polls")
    finally:
        sender.close()

    def swept() -> dict | None:
        answer = stack.call("GET", "/reconciliations/sweep/last")
        return answer.json() if answer.status_code == 200 and answer.json()["started_at"] > since else None

    last = eventually(swept, 20, 0.2, message="a sweep by the worker")
    assert last["stopped"] is None and {"checked", "changed", "failed"} <= set(last)


def test_one_sweep_and_the_bill_rebuild_a_flushed_store(stack: Stack, store: Store, gateway: AlipayClient) -> None:
    kept, refunded, whole = stack.paid_order("88.80"), stack.paid_order("10.00"), stack.paid_order("0.01")
    for otn, amount in ((refunded, "3.50"), (whole, "0.01")):
        job = stack.job(stack.refund(otn, amount, f"{otn}R1").json()["job_id"])
        assert job["status"] == "succeeded", job
    before = {otn: stack.order(otn) for otn in (kept, refunded, whole)}
    days = sorted({o["gmt_payment"][:10] for o in before.values()}
                  | {r["gmt_refund_pay"][:10] for o in before.values() for r in o["refunds"]})

    assert stack.sandbox_post("/sandbox/clock", json={"advance_s": 86400}).status_code < 300  # the bills exist
    store.redis.flushdb()
    assert all(stack.call("GET", f"/orders/{otn}").status_code == 404 for otn in before)

    sweep_now(store, gateway)
    reports = [run_reconciliation(store, gateway, date.fromisoformat(day)) for day in days]

    for otn, was in before.items():
        now = stack.order(otn)
        assert now["restored_by"] == "reconciliation", now
        for name in ("status", "total_amount", "refunded_amount", "trade_no", "gmt_payment", "subject",
                     "store_id", "buyer_logon_id"):
            assert now[name] == was[name], (otn, name, now[name], was[name])
        assert [(r["out_request_no"], r["refund_amount"], r["status"]) for r in now["refunds"]] == [
            (r["out_request_no"], r["refund_amount"], r["status"]) for r in was["refunds"]]
    assert stack.order(whole)["status"] == "TRADE_CLOSED" and stack.order(refunded)["refunded_amount"] == "3.50"

    mine = [d for r in reports for d in r["discrepancies"] if d["out_trade_no"] in before]
    assert {(d["kind"], d["out_trade_no"]) for d in mine} == {
        ("missing_order", kept), ("missing_order", refunded), ("missing_order", whole),
        ("refund_missing", refunded), ("refund_missing", whole)}
    assert all(d["repaired"] and d["store"] is None for d in mine)
    served = stack.call("GET", f"/reconciliations/{days[0]}").json()
    assert served["date"] == days[0] and Decimal(served["totals"]["alipay_payments"]) >= Decimal("98.81")

    again = run_reconciliation(store, gateway, date.fromisoformat(days[0]))
    assert not [d for d in again["discrepancies"] if d["out_trade_no"] in before]
    # The service carries on after the flush: a new payment still goes through.
    assert stack.order(stack.paid_order("1.00"))["status"] == "TRADE_SUCCESS"
