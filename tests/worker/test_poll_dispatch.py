"""The poll dispatcher against a real Redis server: it never enqueues more polls than the in-flight budget, a
started poll frees its slot, a poll lost with its worker stops counting after the lease, and what is left over
stays on the schedule, oldest due first."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from worker import defaults, services
from worker.settings import ConfigError, Settings
from worker.store import Keys, Store
from worker.tasks import poll
from worker.tasks.poll import next_interval

LEASE = defaults.POLL_LEASE_S


@pytest.fixture
def store(redis_db) -> Store:
    return Store(redis_db, job_ttl_s=60, order_ttl_s=0)


class Dispatcher:
    """`dispatch_polls` run in this process on the test's Redis, with `poll_trades.apply_async` intercepted:
    `sent` lists each trade dispatched, with its task's options."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.store = store
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.budget = 4
        monkeypatch.setattr(services, "store", lambda: store)
        monkeypatch.setattr(poll, "get_settings", lambda: SimpleNamespace(poll_max_in_flight=self.budget))
        self.tasks: list[list[str]] = []
        monkeypatch.setattr(poll.poll_trades, "apply_async", self._send)

    def _send(self, args: tuple[list[str]], **options: Any) -> None:
        self.tasks.append(list(args[0]))
        self.sent.extend((otn, options) for otn in args[0])

    def run(self) -> list[str]:
        before = len(self.sent)
        count = poll.dispatch_polls.run()
        sent = [otn for otn, _ in self.sent[before:]]
        assert count == len(sent)
        return sent

    def in_flight(self) -> set[str]:
        return {m.decode() for m in self.store.redis.zrange(Keys.polls_in_flight, 0, -1)}


@pytest.fixture
def dispatcher(store: Store, monkeypatch: pytest.MonkeyPatch) -> Dispatcher:
    return Dispatcher(store, monkeypatch)


def due_trades(store: Store, count: int, prefix: str = "P") -> list[str]:
    """`count` trades already due, the first one the oldest."""
    now = time.time()
    names = [f"{prefix}{i:03d}" for i in range(count)]
    for i, otn in enumerate(names):
        store.schedule_poll(otn, now - 10_000 + i)
    return names


def test_the_dispatcher_enqueues_no_more_than_the_in_flight_budget(dispatcher: Dispatcher, store: Store) -> None:
    trades = due_trades(store, 10)
    assert dispatcher.run() == trades[:4]
    assert dispatcher.in_flight() == set(trades[:4])
    assert all(options["expires"] == LEASE for _, options in dispatcher.sent)
    assert dispatcher.run() == []  # nothing has started: no room
    assert dispatcher.in_flight() == set(trades[:4])


def test_the_batch_still_bounds_one_tick(dispatcher: Dispatcher, store: Store) -> None:
    dispatcher.budget = defaults.POLL_BATCH * 3
    due_trades(store, defaults.POLL_BATCH + 5)
    assert len(dispatcher.run()) == defaults.POLL_BATCH
    assert len(dispatcher.run()) == 5


def test_a_started_poll_frees_its_slot(dispatcher: Dispatcher, store: Store) -> None:
    trades = due_trades(store, 10)
    dispatcher.run()
    poll.poll_trade.run(trades[1])  # no such order: the poll starts, finds nothing to follow and ends
    assert dispatcher.in_flight() == {trades[0], trades[2], trades[3]}
    assert dispatcher.run() == [trades[4]]
    assert dispatcher.in_flight() == {trades[0], trades[2], trades[3], trades[4]}


def test_due_trades_go_out_a_few_to_a_task_oldest_first(dispatcher: Dispatcher, store: Store) -> None:
    dispatcher.budget = 100
    trades = due_trades(store, 10)
    assert dispatcher.run() == trades
    size = defaults.POLLS_PER_TASK
    assert dispatcher.tasks == [trades[i:i + size] for i in range(0, 10, size)]


def test_a_task_polls_each_of_its_trades_even_when_one_fails(dispatcher: Dispatcher, store: Store,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    dispatcher.budget = 100
    trades = due_trades(store, 4)
    dispatcher.run()
    polled: list[str] = []

    def poll_one(otn: str) -> None:
        polled.append(otn)
        if otn == trades[1]:
            raise ConnectionError("Redis went away")

    monkeypatch.setattr(poll, "_poll", poll_one)
    poll.poll_trades.run(trades)
    assert polled == trades
    assert dispatcher.in_flight() == set()  # all four started: none waits in the broker any more
    assert all(store.redis.zscore(Keys.poll_due, otn) > time.time() for otn in trades)  # still leased


def test_two_dispatch_runs_back_to_back_never_exceed_the_budget(dispatcher: Dispatcher, store: Store) -> None:
    trades = due_trades(store, 100)
    first, second = dispatcher.run(), dispatcher.run()
    assert first == trades[:4] and second == []
    for otn in first[:3]:
        store.polls_started(otn)
    first, second = dispatcher.run(), dispatcher.run()
    assert first == trades[4:7] and second == []
    assert len(dispatcher.in_flight()) == 4


def test_concurrent_dispatchers_share_one_budget(dispatcher: Dispatcher, store: Store) -> None:
    dispatcher.budget = 10
    due_trades(store, 200)
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: poll.dispatch_polls.run(), range(32)))
    sent = [otn for otn, _ in dispatcher.sent]
    assert sum(counts) == len(sent) == 10 and len(set(sent)) == 10
    assert dispatcher.in_flight() == set(sent)


def test_trades_left_unclaimed_stay_due_and_are_claimed_first_next_tick(dispatcher: Dispatcher,
                                                                        store: Store) -> None:
    trades = due_trades(store, 10)
    due_before = {otn: store.redis.zscore(Keys.poll_due, otn) for otn in trades}
    dispatcher.run()
    for otn in trades[4:]:
        assert store.redis.zscore(Keys.poll_due, otn) == due_before[otn]  # untouched, still due
    for otn in trades[:4]:
        assert store.redis.zscore(Keys.poll_due, otn) > time.time() + LEASE - 5  # leased
        store.polls_started(otn)
    # A trade that came due just now waits behind the ones that have waited longer.
    store.schedule_poll("NEW", time.time())
    assert dispatcher.run() == trades[4:8]
    for otn in trades[4:8]:
        store.polls_started(otn)
    assert dispatcher.run() == [*trades[8:], "NEW"]


def test_entries_older_than_the_lease_stop_counting(store: Store) -> None:
    trades = [f"L{i}" for i in range(5)]
    for i, otn in enumerate(trades):
        store.schedule_poll(otn, 100 + i)

    def claim(now: float) -> list[str]:
        return store.claim_due_polls(now, limit=500, lease_s=LEASE, max_in_flight=3)

    assert claim(1000) == trades[:3]
    assert store.polls_in_flight(1000, LEASE) == 3
    # Their tasks were lost with a worker: nothing starts, nothing frees a slot, until the lease runs out.
    assert claim(1000 + LEASE - 0.5) == []
    assert store.polls_in_flight(1000 + LEASE - 0.5, LEASE) == 3
    # Then the lost polls stop counting, exactly when their trades come due again; the two that never got a
    # slot have waited longest and go first.
    assert claim(1000 + LEASE) == [trades[3], trades[4], trades[0]]
    assert store.polls_in_flight(1000 + LEASE, LEASE) == 3
    assert store.redis.zcard(Keys.polls_in_flight) == 3  # the expired entries were dropped, not just skipped


def test_a_full_budget_claims_nothing_and_leaves_the_schedule_alone(store: Store) -> None:
    store.schedule_poll("A", 1)
    store.redis.zadd(Keys.polls_in_flight, {"X": 999, "Y": 999})
    assert store.claim_due_polls(1000, limit=10, lease_s=LEASE, max_in_flight=2) == []
    assert store.claim_due_polls(1000, limit=10, lease_s=LEASE, max_in_flight=1) == []
    assert store.redis.zscore(Keys.poll_due, "A") == 1


def test_a_redispatched_trade_counts_once(store: Store) -> None:
    store.schedule_poll("A", 1)
    assert store.claim_due_polls(1000, limit=10, lease_s=LEASE, max_in_flight=5) == ["A"]
    store.schedule_poll("A", 1)  # put back by hand (a close that must be retried, say) before its poll started
    assert store.claim_due_polls(1001, limit=10, lease_s=LEASE, max_in_flight=5) == ["A"]
    assert store.polls_in_flight(1001, LEASE) == 1
    assert store.redis.zscore(Keys.polls_in_flight, "A") == 1001


# --- settings and cadence -----------------------------------------------------------------------------------

def env_for(keys, **overrides: str) -> dict[str, str]:
    return {"REDIS_URL": "redis://127.0.0.1:6399/0",
            "ALIPAY_APP_PRIVATE_KEY_FILE": str(keys.path("app_private_key.pem")),
            "ALIPAY_PUBLIC_KEY_FILE": str(keys.path("alipay_public_key.txt")), **overrides}


def test_the_in_flight_budget_defaults_and_can_be_set(keys) -> None:
    assert Settings.from_env(env_for(keys)).poll_max_in_flight == defaults.POLL_MAX_IN_FLIGHT
    assert defaults.POLL_MAX_IN_FLIGHT >= defaults.WORKER_CONCURRENCY
    assert Settings.from_env(env_for(keys, POLL_MAX_IN_FLIGHT="16")).poll_max_in_flight == 16


@pytest.mark.parametrize("value", ["x", "0", "-3"])
def test_a_bad_in_flight_budget_is_named(keys, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env_for(keys, POLL_MAX_IN_FLIGHT=value))
    assert error.value.variable == "POLL_MAX_IN_FLIGHT"
    assert str(error.value).startswith("POLL_MAX_IN_FLIGHT: ")


def test_the_default_cadence_is_fast_at_the_till_then_once_a_minute() -> None:
    intervals = defaults.POLL_INTERVALS_S
    assert [next_interval(t, intervals) for t in (0, 5, 7, 20, 25, 40, 45, 60)] == [2, 2, 5, 5, 10, 10, 15, 15]
    assert next_interval(100, intervals) == 30
    assert all(next_interval(t, intervals) == 60 for t in (191, 300, 3600, 7200))


def test_the_cadence_can_still_be_set(keys) -> None:
    settings = Settings.from_env(env_for(keys, POLL_INTERVALS_S="1,3,20"))
    assert settings.poll_intervals_s == (1.0, 3.0, 20.0)
    assert Settings.from_env(env_for(keys)).poll_intervals_s == defaults.POLL_INTERVALS_S
