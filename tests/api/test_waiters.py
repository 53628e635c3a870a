"""`wait=N`: requests wait for their job on one shared pub/sub connection, bounded in number."""

from __future__ import annotations

import threading
import time

from api.waiters import JobWaiters
from worker.states import JobStatus
from worker.store import Store
from worker.transitions import job_finished


def submit(store: Store, job_id: str) -> None:
    store.submit_job({"job_id": job_id, "type": "refund_query", "status": "queued", "attempts": 0,
                      "out_trade_no": None, "request": {}, "result": None, "error": None})


def test_a_waiter_wakes_when_its_job_ends(redis_db) -> None:
    store = Store(redis_db)
    waiters = JobWaiters(store, max_waiters=4)
    submit(store, "j1")
    submit(store, "j2")
    results: dict[str, dict] = {}
    started = threading.Barrier(3)

    def wait(job_id: str) -> None:
        started.wait()
        results[job_id] = waiters.wait(job_id, 20)

    threads = [threading.Thread(target=wait, args=(j,)) for j in ("j1", "j2")]
    for t in threads:
        t.start()
    started.wait()
    begun = time.monotonic()
    for job_id in ("j1", "j2"):
        store.update_job(job_id, lambda j: job_finished(j, JobStatus.SUCCEEDED, result={"code": "10000"}))
    for t in threads:
        t.join(20)
    assert {r["status"] for r in results.values()} == {"succeeded"}
    assert time.monotonic() - begun < 5  # woken by the message, not by the 20 s timeout
    assert redis_db.pubsub_numpat() == 1  # one connection for every waiter of the process


def test_a_finished_job_is_answered_at_once_and_a_timeout_returns_the_job_as_it_is(redis_db) -> None:
    store = Store(redis_db)
    waiters = JobWaiters(store, max_waiters=4)
    submit(store, "done")
    store.update_job("done", lambda j: job_finished(j, JobStatus.FAILED, error={"code": "x"}))
    assert waiters.wait("done", 10)["status"] == "failed"
    submit(store, "slow")
    assert waiters.wait("slow", 0.3)["status"] == "queued"
    assert waiters.wait("unknown", 0.3) is None


def test_waiters_are_bounded(redis_db) -> None:
    store = Store(redis_db)
    waiters = JobWaiters(store, max_waiters=1)
    submit(store, "a")
    submit(store, "b")
    holding = threading.Thread(target=waiters.wait, args=("a", 10))
    holding.start()
    deadline = time.monotonic() + 5
    while waiters.wait("b", 0) is not None:  # until the holder has the only slot
        assert time.monotonic() < deadline
    begun = time.monotonic()
    assert waiters.wait("b", 10) is None and time.monotonic() - begun < 1
    store.update_job("a", lambda j: job_finished(j, JobStatus.SUCCEEDED, result={}))
    holding.join(5)
