"""The sweep against a store in Redis and a fake gateway: each rule of worker.reconciliation.sweep, the bounds
of a run, and two runs at once doing the work once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.worker.reconciliation.conftest import FakeGateway, down, put_order, put_refund
from worker.reconciliation import SweepConfig, last_sweep, run_sweep, sweep
from worker.states import RefundStatus
from worker.store import Keys, Store
from worker.transitions import order_closed

NOW_CONFIG = SweepConfig(older_than_s=0, batch=100, budget_s=30, refund_grace_s=600)
PAID = {"code": "10000", "trade_status": "TRADE_SUCCESS", "trade_no": "2026X", "total_amount": "10.00",
        "send_pay_date": "2026-11-25 09:00:00", "buyer_logon_id": "abc***@example.com"}
PAST = "2020-01-01T00:00:00+00:00"


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def run(store: Store, gateway: FakeGateway, config: SweepConfig = NOW_CONFIG):
    return sweep(store, gateway, config)  # type: ignore[arg-type]


def test_a_payment_nobody_heard_of_is_found(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1")
    gateway.trades["S1"] = PAID
    result = run(store, gateway)
    order = store.get_order("S1")
    assert order["status"] == "TRADE_SUCCESS" and order["paid_via"] == "reconciliation"
    assert order["gmt_payment"] == "2026-11-25 09:00:00" and order["trade_no"] == "2026X"
    assert (result.checked, result.changed, result.failed) == (1, 1, 0)
    assert store.redis.zscore(Keys.unsettled, "S1") is None
    assert run(store, gateway).checked == 0 and len(gateway.calls) == 1


def test_orders_the_poller_or_the_precreate_still_own_are_left_alone(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1")
    store.schedule_poll("S1", time.time() + 5)
    put_order(store, "S2", qr_code=None)
    result = run(store, gateway)
    assert result.checked == 2 and gateway.calls == []


def test_a_trade_closed_after_its_deadline_is_closed(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1", status="WAIT_BUYER_PAY", expires_at=PAST)
    gateway.trades["S1"] = {"code": "10000", "trade_status": "TRADE_CLOSED", "trade_no": "2026X"}
    assert run(store, gateway).changed == 1
    order = store.get_order("S1")
    assert order["status"] == "TRADE_CLOSED" and order["closed_reason"] == "reconciliation"


@pytest.mark.parametrize("answer", [{"code": "10000", "trade_status": "WAIT_BUYER_PAY"}, None,
                                    {"code": "10000", "trade_status": "TRADE_CLOSED"}])
def test_an_open_trade_nobody_follows_goes_back_to_the_poller(store: Store, gateway: FakeGateway, answer) -> None:
    put_order(store, "S1")
    if answer is not None:
        gateway.trades["S1"] = answer
    result = run(store, gateway)
    assert result.requeued == 1 and store.poll_scheduled("S1")
    assert store.get_order("S1")["status"] == ("WAIT_BUYER_PAY" if answer and answer["trade_status"] ==
                                               "WAIT_BUYER_PAY" else "PENDING")


def test_our_deadline_close_is_confirmed_once(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1")
    store.update_order("S1", lambda o: order_closed(o, "deadline_not_scanned"))
    assert store.redis.zscore(Keys.unsettled, "S1") is not None
    result = run(store, gateway)
    assert (result.checked, result.changed) == (1, 0)
    order = store.get_order("S1")
    assert order["status"] == "TRADE_CLOSED" and order["close_confirmed_at"]
    assert store.redis.zscore(Keys.unsettled, "S1") is None
    assert run(store, gateway).checked == 0 and len(gateway.calls) == 1


def test_a_payment_after_our_deadline_close_wins(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1", status="WAIT_BUYER_PAY")
    store.update_order("S1", lambda o: order_closed(o, "deadline"))
    gateway.trades["S1"] = PAID
    assert run(store, gateway).changed == 1
    order = store.get_order("S1")
    assert order["status"] == "TRADE_SUCCESS" and order["paid_via"] == "reconciliation"
    assert "closed_reason" not in order


def test_a_refund_of_unknown_outcome_that_alipay_shows_is_settled(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1", status="TRADE_SUCCESS", gmt_payment="2026-11-25 09:00:00")
    put_refund(store, "S1", "R1", "4.00", RefundStatus.UNKNOWN)
    gateway.refunds[("S1", "R1")] = {"code": "10000", "out_request_no": "R1", "refund_amount": "4.00",
                                     "refund_status": "REFUND_SUCCESS", "gmt_refund_pay": "2026-11-25 10:00:00"}
    result = run(store, gateway)
    order = store.get_order("S1")
    assert order["refunds"][0]["status"] == "REFUND_SUCCESS" and order["refunded_amount"] == "4.00"
    assert order["refunds"][0]["gmt_refund_pay"] == "2026-11-25 10:00:00"
    assert (result.changed, result.unresolved) == (1, [])
    assert gateway.methods() == ["alipay.trade.fastpay.refund.query"]  # a paid order's trade is not queried
    assert store.redis.zscore(Keys.unsettled, "S1") is None


def test_a_refund_alipay_does_not_show_is_never_released(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1", status="TRADE_SUCCESS", gmt_payment="2026-11-25 09:00:00")
    failed_long_ago = {"job_id": "j-old", "status": "failed", "updated_at": ago(3600)}
    failed_just_now = {"job_id": "j-new", "status": "failed", "updated_at": ago(5)}
    still_trying = {"job_id": "j-run", "status": "retrying", "updated_at": ago(3600)}
    put_refund(store, "S1", "R-old", "1.00", RefundStatus.UNKNOWN, job=failed_long_ago)
    put_refund(store, "S1", "R-new", "1.00", RefundStatus.UNKNOWN, job=failed_just_now)
    put_refund(store, "S1", "R-run", "1.00", RefundStatus.PENDING, job=still_trying)
    result = run(store, gateway)
    assert [u["out_request_no"] for u in result.unresolved] == ["R-old"]
    assert result.unresolved[0] == {"out_trade_no": "S1", "out_request_no": "R-old", "refund_amount": "1.00",
                                    "status": "UNKNOWN", "job_id": "j-old", "job_status": "failed",
                                    "job_ended_at": failed_long_ago["updated_at"]}
    order = store.get_order("S1")
    assert [r["status"] for r in order["refunds"]] == ["UNKNOWN", "UNKNOWN", "PENDING"]
    assert order["refunded_amount"] == "0.00" and result.changed == 0
    assert store.redis.zscore(Keys.unsettled, "S1") is not None  # still asked about on later sweeps


def test_gateway_failures_are_counted_and_asked_again_later(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1")
    gateway.trades["S1"] = down()
    result = run(store, gateway)
    assert (result.checked, result.failed, result.changed, result.requeued) == (1, 1, 0, 0)
    assert store.get_order("S1")["status"] == "PENDING" and not store.poll_scheduled("S1")
    assert store.redis.zscore(Keys.unsettled, "S1") is not None


def test_a_run_is_bounded_by_its_batch_and_stops_when_the_gateway_is_down(store: Store,
                                                                          gateway: FakeGateway) -> None:
    for n in range(8):
        put_order(store, f"S{n}")
        gateway.trades[f"S{n}"] = down()
    assert run(store, gateway, SweepConfig(older_than_s=0, batch=3)).checked == 3
    stopped = run(store, gateway, SweepConfig(older_than_s=0, batch=100))
    assert stopped.checked == 5 and stopped.stopped == "gateway_failing"


def test_only_orders_not_heard_of_for_the_threshold_are_checked(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1")
    assert run(store, gateway, SweepConfig(older_than_s=300)).checked == 0
    store.redis.zadd(Keys.unsettled, {"S1": time.time() - 301})
    assert run(store, gateway, SweepConfig(older_than_s=300)).checked == 1


def test_an_index_entry_without_its_order_is_dropped(store: Store, gateway: FakeGateway) -> None:
    store.redis.zadd(Keys.unsettled, {"GONE": 1})
    assert run(store, gateway).checked == 1
    assert store.redis.zscore(Keys.unsettled, "GONE") is None and gateway.calls == []


def test_two_sweeps_at_once_do_the_work_once_and_the_last_is_kept(store: Store, gateway: FakeGateway) -> None:
    put_order(store, "S1")
    gateway.trades["S1"] = PAID
    gateway.delay_s = 0.2
    start = threading.Barrier(2)
    results = []

    def one() -> None:
        start.wait()
        results.append(run_sweep(store, gateway, NOW_CONFIG))  # type: ignore[arg-type]

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [r for r in results if r is not None]
    assert len(done) == 1 and len(results) == 2 and gateway.methods() == ["alipay.trade.query"]
    kept = last_sweep(store)
    assert kept is not None and kept == done[0].to_dict()
    assert (kept["checked"], kept["changed"], kept["failed"]) == (1, 1, 0)
    assert store.redis.get(Keys.reconciliation_lock("sweep")) is None  # released
