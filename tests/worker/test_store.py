"""The Redis store against a real Redis server: idempotent submissions, atomic reservations, the poll lease."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from orjson import loads as json_load

from worker.states import JobStatus, RefundStatus
from worker.store import Conflict, Keys, OrderNotFound, Store
from worker.transitions import (
    TransitionRefused,
    job_finished,
    job_started,
    order_trade_status,
    refund_settled,
)


@pytest.fixture
def store(redis_db) -> Store:
    return Store(redis_db, job_ttl_s=60, order_ttl_s=0)


def job(job_id: str, otn: str = "T1", job_type: str = "precreate", **request) -> dict:
    return {"job_id": job_id, "type": job_type, "status": "queued", "attempts": 0, "out_trade_no": otn,
            "request": request, "result": None, "error": None}


def order(otn: str = "T1", total: str = "10.00") -> dict:
    return {"out_trade_no": otn, "status": "PENDING", "total_amount": total, "refunded_amount": "0.00",
            "refunds": [], "created_at": "2026-01-01T00:00:00+00:00"}


def paid_order(store: Store, otn: str = "T1", total: str = "10.00") -> None:
    store.submit_precreate(job("p-" + otn, otn), order(otn, total), "fp")
    store.update_order(otn, lambda o: order_trade_status(o, "TRADE_SUCCESS", {"trade_no": "X"}))


def test_resubmission_returns_the_same_job_and_other_parameters_conflict(store: Store) -> None:
    first = store.submit_precreate(job("a"), order(), "fp1")
    again = store.submit_precreate(job("b"), order(), "fp1")
    assert first.created and not again.created and again.job_id == "a"
    assert store.get_job("b") is None
    with pytest.raises(Conflict):
        store.submit_precreate(job("c"), order(), "fp2")
    assert store.redis.ttl(Keys.job("a")) > 0 and store.redis.ttl(Keys.order("T1")) == -1


def test_twenty_concurrent_identical_submissions_make_one_job(store: Store) -> None:
    def submit(i: int):
        return store.submit_precreate(job(f"j{i}", "C1"), order("C1"), "same")

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(submit, range(20)))
    assert len({r.job_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert len(store.redis.keys(Keys.job("*"))) == 1


def test_concurrent_refunds_never_reserve_more_than_the_total(store: Store) -> None:
    paid_order(store)

    def submit(i: int):
        refund = job(f"r{i}", "T1", "refund", out_trade_no="T1", out_request_no=f"R{i}", refund_amount="3.00")
        try:
            return store.submit_refund(refund, f"fp{i}")
        except TransitionRefused:
            return None

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(submit, range(10)))
    assert sum(r is not None for r in results) == 3
    reserved = store.get_order("T1")["refunds"]
    assert sum(Decimal(r["refund_amount"]) for r in reserved) == Decimal("9.00")


def test_refund_of_an_unknown_order_is_refused(store: Store) -> None:
    with pytest.raises(OrderNotFound):
        store.submit_refund(job("r", "NOPE", "refund", out_request_no="R", refund_amount="1.00"), "fp")


def test_withdraw_leaves_nothing_behind(store: Store) -> None:
    pre = job("a")
    store.submit_precreate(pre, dict(order(), job_id="a"), "fp")
    store.withdraw(pre)
    assert store.get_job("a") is None and store.get_order("T1") is None
    assert store.submit_precreate(job("b"), order(), "fp").created

    paid_order(store, "T2")
    refund = job("r", "T2", "refund", out_request_no="R", refund_amount="1.00")
    store.submit_refund(refund, "fp")
    store.withdraw(refund)
    assert store.get_order("T2")["refunds"] == [] and store.get_job("r") is None
    assert store.submit_refund(job("r2", "T2", "refund", out_request_no="R", refund_amount="1.00"), "fp").created


def test_a_started_job_is_not_withdrawn(store: Store) -> None:
    pre = job("a")
    store.submit_precreate(pre, order(), "fp")
    store.update_job("a", job_started)
    store.withdraw(pre)
    assert store.get_job("a")["status"] == "running"


def test_due_polls_are_claimed_once_with_a_lease(store: Store) -> None:
    def claim(now: float, limit: int) -> list[str]:
        return store.claim_due_polls(now, limit=limit, lease_s=60, max_in_flight=100)

    for i in range(5):
        store.schedule_poll(f"P{i}", 100 + i)
    store.schedule_poll("LATER", 10_000)
    first = claim(200, 3)
    second = claim(200, 10)
    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)
    assert claim(200, 10) == []
    assert sorted(claim(261, 10)) == sorted(first + second)


def test_an_order_leaving_the_open_states_leaves_the_poll_schedule(store: Store) -> None:
    paid_order(store, "Z")
    store.schedule_poll("Z", 1)
    store.update_order("Z", lambda o: order_trade_status(o, "TRADE_FINISHED"))
    assert store.waiting_trades() == 0


def test_settling_a_refund_twice_counts_it_once(store: Store) -> None:
    paid_order(store)
    store.submit_refund(job("r", "T1", "refund", out_request_no="R", refund_amount="4.00"), "fp")
    for _ in range(3):
        store.update_order("T1", lambda o: refund_settled(o, "R", RefundStatus.REFUND_SUCCESS))
    assert store.get_order("T1")["refunded_amount"] == "4.00"


def test_unsettled_orders_are_indexed_until_final_with_no_refund_in_flight(store: Store) -> None:
    paid_order(store, "U1")  # paid: settled
    store.submit_precreate(job("p-U2", "U2"), order("U2"), "fp")  # pending: unsettled
    assert store.unsettled_orders(older_than=time.time() + 1, limit=10) == ["U2"]
    store.submit_refund(job("r", "U1", "refund", out_request_no="R", refund_amount="1.00"), "fp")
    assert sorted(store.unsettled_orders(older_than=time.time() + 1, limit=10)) == ["U1", "U2"]
    store.update_order("U1", lambda o: refund_settled(o, "R", RefundStatus.REFUND_SUCCESS))
    assert store.unsettled_orders(older_than=time.time() + 1, limit=10) == ["U2"]
    assert store.unsettled_orders(older_than=0, limit=10) == []


def test_unfinished_jobs_go_stale_once_per_period_and_finished_ones_never(store: Store) -> None:
    store.submit_precreate(job("a", "S1"), order("S1"), "fp")
    store.submit_precreate(job("b", "S2"), order("S2"), "fp")
    store.update_job("b", lambda j: job_finished(job_started(j), JobStatus.SUCCEEDED, result={}))
    assert store.stale_jobs(older_than=time.time() + 1, limit=10) == ["a"]
    assert store.stale_jobs(older_than=time.time() - 1, limit=10) == []  # stamped when handed out
    store.update_job("a", job_started)
    assert store.stale_jobs(older_than=time.time() + 1, limit=10) == ["a"]


def test_concurrent_identical_submissions_never_see_a_spurious_conflict(store: Store) -> None:
    for round_ in range(30):
        otn = f"RACE{round_}"

        def submit(i: int, otn: str = otn):
            return store.submit_precreate(job(f"{otn}-{i}", otn), order(otn), "same")

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(submit, range(8)))
        assert len({r.job_id for r in results}) == 1


def test_concurrent_identical_refunds_never_see_a_spurious_conflict(store: Store) -> None:
    paid_order(store, "RR", total="100.00")
    for round_ in range(20):
        def submit(i: int, round_: int = round_):
            refund = job(f"r{round_}-{i}", "RR", "refund", out_request_no=f"R{round_}", refund_amount="1.00")
            return store.submit_refund(refund, "same")

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(submit, range(6)))
        assert len({r.job_id for r in results}) == 1


def test_an_event_emitted_during_a_delivery_is_not_stranded(store: Store) -> None:
    otn = "EV1"
    store.submit_precreate(job("e", otn), dict(order(otn), callback_url="http://127.0.0.1:9/h"), "fp")
    store.update_order(otn, lambda o: order_trade_status(o, "TRADE_SUCCESS", {"trade_no": "X"}))
    assert store.claim_due_deliveries(now=time.time(), limit=10, lease_s=60) == [otn]
    seen = len(store.events_of(otn))  # a delivery reads one event, then a refund lands meanwhile
    store.submit_refund(job("r", otn, "refund", out_request_no="R", refund_amount="1.00"), "fp")
    store.update_order(otn, lambda o: refund_settled(o, "R", RefundStatus.REFUND_SUCCESS))
    store.delivered_all(otn, seen)
    assert store.claim_due_deliveries(now=time.time() + 1, limit=10, lease_s=60) == [otn]
    store.delivered_all(otn, len(store.events_of(otn)))
    assert store.claim_due_deliveries(now=time.time() + 1, limit=10, lease_s=60) == []


def test_a_precreate_ends_its_job_changes_its_order_and_schedules_its_poll_at_once(store: Store) -> None:
    from worker.transitions import order_precreated

    store.submit_precreate(job("p", "F1"), order("F1"), "fp")
    done = store.finish_job_and_order(
        "p", "F1", lambda j: job_finished(j, JobStatus.SUCCEEDED, result={"qr_code": "q"}),
        lambda o: order_precreated(o, qr_code="q", expires_at="2026-01-01T00:05:00+00:00"), poll_due=123.0)
    assert done["status"] == "succeeded" and store.get_order("F1")["qr_code"] == "q"
    assert store.redis.zscore(Keys.poll_due, "F1") == 123.0
    assert store.redis.zscore(Keys.active_jobs, "p") is None
    paid_order(store, "F2")
    store.finish_job_and_order("p-F2", "F2", lambda j: job_finished(j, JobStatus.SUCCEEDED, result={}),
                               lambda o: o, poll_due=123.0)
    assert store.redis.zscore(Keys.poll_due, "F2") is None  # a paid trade is not polled


def test_a_change_computed_from_a_stale_read_is_computed_again(store: Store) -> None:
    """Another writer changes the order between our read and our write: our write is refused by the script and
    our change runs again on the fresh record, so neither change is lost."""
    paid_order(store, "R1")
    calls = []

    def add_refund_note(o: dict) -> dict:
        calls.append(o.get("note"))
        if len(calls) == 1:  # the concurrent writer, between our MGET and our write
            store.update_order("R1", lambda other: dict(other, note="theirs"))
        return dict(o, mine=True)

    new, changed = store.update_order("R1", add_refund_note)
    assert changed and calls == [None, "theirs"]
    kept = store.get_order("R1")
    assert kept["note"] == "theirs" and kept["mine"] is True and new == kept


def test_the_end_message_carries_the_final_job(store: Store) -> None:
    import json

    store.submit_precreate(job("m", "M1"), order("M1"), "fp")
    pubsub = store.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(Keys.job_done_channel("m"))
    try:
        store.update_job("m", lambda j: job_finished(j, JobStatus.SUCCEEDED, result={"qr_code": "q"}))
        deadline = time.monotonic() + 5
        message = None
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
        assert message is not None
        assert json.loads(message["data"]) == store.get_job("m")
    finally:
        pubsub.close()


def test_a_precreate_started_from_its_queued_records_reads_nothing_and_ends_the_same(store: Store,
                                                                                   monkeypatch) -> None:
    from worker.transitions import order_precreated

    submission = store.submit_precreate(job("s", "S1"), order("S1"), "fp")
    assert [json_load(raw) for raw in submission.written] == [store.get_job("s"), store.get_order("S1")]
    scripts = []
    check_and_write = store._check_and_write

    def counted(*args, **kwargs):
        scripts.append(kwargs.get("keys"))
        return check_and_write(*args, **kwargs)

    def no_read(*args, **kwargs):
        raise AssertionError("read the records it was given")

    monkeypatch.setattr(store, "_check_and_write", counted)
    monkeypatch.setattr(store.redis, "mget", no_read)
    started, records = store.start_job("s", "S1", job_started, expected=submission.written)
    done = store.finish_job_and_order(
        "s", "S1", lambda j: job_finished(j, JobStatus.SUCCEEDED, result={"qr_code": "q"}),
        lambda o: order_precreated(o, qr_code="q", expires_at="2026-01-01T00:05:00+00:00"), expected=records)
    assert scripts == [[Keys.job("s"), Keys.order("S1")]] * 2, "one write each for the start and the end"
    assert started["status"] == "running" and started["attempts"] == 1
    assert done == store.get_job("s") and done["status"] == "succeeded" and done["attempts"] == 1
    assert store.get_order("S1")["qr_code"] == "q"


def test_stale_queued_records_cost_a_read_and_lose_no_change(store: Store) -> None:
    """The message's records are out of date (an earlier attempt ran; the order was paid meanwhile): the start
    and the finish are computed again on what is stored, and the payment is not overwritten."""
    from worker.transitions import order_precreated

    submission = store.submit_precreate(job("o", "O1"), order("O1"), "fp")
    store.update_job("o", job_started)  # an earlier attempt
    started, records = store.start_job("o", "O1", job_started, expected=submission.written)
    assert started["attempts"] == 2 and records[0] == store.redis.get(Keys.job("o"))
    store.update_order("O1", lambda o: order_trade_status(o, "TRADE_SUCCESS", {"trade_no": "X"}))
    done = store.finish_job_and_order(
        "o", "O1", lambda j: job_finished(j, JobStatus.SUCCEEDED, result={"qr_code": "q"}),
        lambda o: order_precreated(o, qr_code="q", expires_at="2026-01-01T00:05:00+00:00"), poll_due=1.0,
        expected=records)
    kept = store.get_order("O1")
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert kept["status"] == "TRADE_SUCCESS" and kept["trade_no"] == "X" and kept["qr_code"] == "q"
    assert store.redis.zscore(Keys.poll_due, "O1") is None


def test_starting_an_unknown_or_finished_job_writes_nothing(store: Store) -> None:
    assert store.start_job("nobody", "N1", job_started) == (None, [None, None])
    store.submit_precreate(job("f", "F9"), order("F9"), "fp")
    store.update_job("f", lambda j: job_finished(j, JobStatus.FAILED, error={"code": "x"}))
    stored = store.redis.get(Keys.job("f"))
    finished, records = store.start_job("f", "F9", lambda j: j)
    assert finished["status"] == "failed" and records[0] == stored


def test_a_submission_pushes_its_outbox_in_the_same_write_and_a_repeat_pushes_nothing(store: Store) -> None:
    seen = []

    def outbox(written: tuple[bytes, ...]) -> list[tuple[str, str]]:
        seen.append(written)
        return [("queue-of-test", f"message {len(seen)}")]

    first = store.submit_precreate(job("q", "Q1"), order("Q1"), "fp", outbox)
    again = store.submit_precreate(job("q2", "Q1"), order("Q1"), "fp", outbox)
    assert first.queued and not again.queued and again.job_id == "q"
    assert seen[0] == first.written and store.redis.lrange("queue-of-test", 0, -1) == [b"message 1"]
    paid_order(store, "Q2")
    refund = job("r", "Q2", "refund", out_request_no="R1", refund_amount="1.00")
    assert store.submit_refund(refund, "fp", outbox=outbox).queued and seen[-1] == ()
    assert store.submit_job(job("rq", "Q2", "refund_query"), outbox).queued
    assert store.redis.llen("queue-of-test") == 3
