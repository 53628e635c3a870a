"""The run lock, and the store's parts reconciliation relies on: the ledger index and restore_order."""

from __future__ import annotations

import time

from tests.worker.reconciliation.conftest import put_order, put_refund
from worker.reconciliation import RunLock
from worker.states import RefundStatus
from worker.store import Keys, Store


def test_one_holder_at_a_time_and_release_only_by_the_holder(store: Store) -> None:
    first, second = RunLock(store.redis, "lock:x", 10), RunLock(store.redis, "lock:x", 10)
    assert first.acquire() and not second.acquire()
    assert store.redis.get("lock:x").decode() == first.token and 9000 < store.redis.pttl("lock:x") <= 10000
    second.release()  # not the holder: nothing happens
    assert store.redis.get("lock:x") is not None
    first.release()
    with second as held:
        assert held
    assert store.redis.get("lock:x") is None


def test_an_expired_lock_is_taken_over_and_the_late_holder_does_not_free_it(store: Store) -> None:
    late = RunLock(store.redis, "lock:y", 0.05)
    assert late.acquire()
    time.sleep(0.1)
    fresh = RunLock(store.redis, "lock:y", 10)
    assert fresh.acquire()
    late.release()
    assert store.redis.get("lock:y").decode() == fresh.token


def test_the_ledger_knows_each_day_money_moved(store: Store) -> None:
    put_order(store, "L1", status="TRADE_SUCCESS", gmt_payment="2026-11-24 23:59:59")
    put_refund(store, "L1", "R1", "1.00", RefundStatus.REFUND_SUCCESS, "2026-11-25 00:00:01")
    put_refund(store, "L1", "R2", "1.00", RefundStatus.UNKNOWN)
    put_order(store, "L2")
    assert store.ledger_orders("2026-11-24") == ["L1"] and store.ledger_orders("2026-11-25") == ["L1"]
    assert store.redis.ttl(Keys.ledger("2026-11-24")) > 300 * 86400


def test_restore_never_overwrites_an_order(store: Store) -> None:
    put_order(store, "L1")
    assert not store.restore_order({"out_trade_no": "L1", "status": "TRADE_SUCCESS", "refunds": []})
    assert store.get_order("L1")["status"] == "PENDING"
    assert store.restore_order({"out_trade_no": "L2", "status": "TRADE_SUCCESS", "total_amount": "1.00",
                                "refunds": [], "gmt_payment": "2026-11-25 09:00:00"})
    assert store.get_order("L2")["status"] == "TRADE_SUCCESS" and store.ledger_orders("2026-11-25") == ["L2"]
    assert store.redis.zscore(Keys.unsettled, "L2") is None
