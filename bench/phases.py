"""The measurements of one benchmark run, each a function of the running `Stack` that returns plain figures.

Every throughput phase runs `plan.rounds` rounds and keeps each round's figures; `bench.report` quotes the
medians. CPU is read from /proc for the process trees named in each phase (see `bench.procs`).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from bench.load import Connection, LoadResult, closed_loop, open_loop, percentile
from bench.procs import CpuMeter, tree_memory
from bench.stack import Stack

OURS = ("api", "worker", "beat", "redis")
"""The service's own processes: what a job's CPU is counted over."""

JOB_WAIT_S = 30
"""`wait` the load clients send: they follow their job by long-polling, never by hammering /jobs."""


@dataclass(frozen=True)
class Plan:
    """How long and how big each phase is: the full run, or QUICK."""

    quick: bool
    rounds: int
    clients: int
    job_seconds: float
    slow_seconds: float
    warmup_seconds: float
    noop_tasks: int
    waiting_trades: int
    waiting_seconds: float
    waiting_age_s: float
    gateway_ms: int = 100
    slow_gateway_ms: int = 1000
    slow_offered_factor: float = 6
    """The slow-gateway open loop offers this many times the synchronous design's served rate at 1 s: just above
    the 5x that the issue's floor asks to be accepted with a p99 of at most 50 ms."""

    @classmethod
    def make(cls, quick: bool, clients: int = 32) -> Plan:
        if quick:
            return cls(quick, rounds=3, clients=clients, job_seconds=4, slow_seconds=3, warmup_seconds=1.5,
                       noop_tasks=1000, waiting_trades=1000, waiting_seconds=35, waiting_age_s=600)
        return cls(quick, rounds=3, clients=clients, job_seconds=20, slow_seconds=10, warmup_seconds=3,
                   noop_tasks=4000, waiting_trades=10_000, waiting_seconds=180, waiting_age_s=600)


# --- the sandbox ----------------------------------------------------------------------------------------------

def set_gateway_delay(stack: Stack, delay_ms: int) -> None:
    """Every gateway call answers after `delay_ms` (the sandbox's `delay` fault, for a million calls)."""
    requests.delete(f"{stack.sandbox}/sandbox/faults", timeout=10).raise_for_status()
    requests.post(f"{stack.sandbox}/sandbox/faults", timeout=10,
                  json={"method": "*", "fault": "delay", "times": 1_000_000, "delay_ms": delay_ms}).raise_for_status()


# --- helpers ----------------------------------------------------------------------------------------------

def _order_form(prefix: str, number: int, wait: int | None) -> dict[str, Any]:
    form: dict[str, Any] = {"totalAmount": "10.00", "subject": "bench order", "storeId": "bench_store",
                            "timeoutExpress": "2h", "outTradeNo": f"{prefix}{number:08d}"}
    if wait:
        form["wait"] = wait
    return form


def run_tag() -> str:
    """A short random tag that keeps the order numbers of one round apart from all others."""
    return uuid.uuid4().hex[:8].upper()


def _per(used: dict[str, float], count: int, names: Iterable[str]) -> dict[str, float]:
    per = {name: used.get(name, 0.0) / max(count, 1) for name in names}
    per["total"] = sum(per.values())
    return per


def _latency(result: LoadResult) -> dict[str, float]:
    values = sorted(s.seconds for s in result.ok)
    return {"p50_ms": percentile(values, 50) * 1000, "p90_ms": percentile(values, 90) * 1000,
            "p99_ms": percentile(values, 99) * 1000}


def _redis_commands(stack: Stack) -> dict[str, int]:
    stats = stack.redis().info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def _delta_commands(before: dict[str, int], after: dict[str, int], count: int) -> dict[str, float]:
    per = {name: (after[name] - before.get(name, 0)) / max(count, 1) for name in after}
    return {name: round(value, 2) for name, value in sorted(per.items(), key=lambda kv: -kv[1]) if value >= 0.05}


def purge_queues(stack: Stack, *names: str) -> int:
    """Drop every message waiting in the named Celery queues (all priority levels); returns how many. Dropped
    polls are no longer in flight: their slots in the dispatcher's budget are freed too."""
    from worker.store import Keys

    client = stack.redis()
    if "polls" in names:
        client.delete(Keys.polls_in_flight)
    dropped = 0
    for name in names:
        for key in client.scan_iter(match=f"{name}*"):
            if client.type(key) == b"list":
                dropped += int(client.llen(key))
                client.delete(key)
    return dropped


def wait_idle(stack: Stack, queues: Iterable[str], timeout: float = 60.0) -> None:
    """Until the queues are empty and no task is unacknowledged (twice in a row, 10 ms apart)."""
    client = stack.redis()
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        busy = sum(int(client.llen(q)) for q in queues) + int(client.hlen("unacked"))
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 2:
            return
        time.sleep(0.01)
    raise RuntimeError(f"queues {list(queues)} still busy after {timeout:g}s")


# --- the engine: a no-op Celery task --------------------------------------------------------------------------

def start_noop(stack: Stack, plan: Plan) -> None:
    """The no-op worker, started and warmed up: its first tasks make its connections and imports."""
    from bench.noop_app import QUEUE, publish

    stack.start_noop_worker()
    publish(min(200, plan.noop_tasks))
    wait_idle(stack, [QUEUE])


def stop_noop(stack: Stack) -> None:
    from bench.noop_app import QUEUE

    stack.stop("noop")
    purge_queues(stack, QUEUE)


def noop_round(stack: Stack, plan: Plan) -> dict[str, Any]:
    """One round of no-op tasks through the same broker, pool and concurrency: tasks/s and CPU per task."""
    from bench.noop_app import QUEUE, publish

    meter = CpuMeter({"worker": stack.pid("noop"), "redis": stack.pid("redis")}).start()
    started = time.perf_counter()
    publisher_s: list[float] = []
    thread = threading.Thread(target=lambda out=publisher_s: out.append(publish(plan.noop_tasks)))
    thread.start()
    thread.join()
    wait_idle(stack, [QUEUE])
    seconds = time.perf_counter() - started
    used = meter.stop()
    used["publisher"] = publisher_s[0] * 1000
    per = _per(used, plan.noop_tasks, ("publisher", "worker", "redis"))
    return {"tasks": plan.noop_tasks, "seconds": seconds, "tasks_per_s": plan.noop_tasks / seconds,
            "cpu_ms_per_task": per}


def noop_rounds(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """`plan.rounds` rounds of no-op tasks, on their own (when `ours` is not measured in the same run)."""
    start_noop(stack, plan)
    try:
        return [noop_round(stack, plan) for _ in range(plan.rounds)]
    finally:
        stop_noop(stack)


# --- ours: jobs through the API, the queue and the workers -----------------------------------------------------

def follow_job(prefix: str, unschedule: Callable[[str], None]) -> Callable[[Connection, int], bool]:
    """A client's operation: submit order `prefix`+number with `wait` and follow it until it ends, then take
    its trade off the poll schedule with `unschedule`; succeeds when the job did."""

    def operation(conn: Connection, number: int) -> bool:
        form = _order_form(prefix, number, JOB_WAIT_S)
        status, body = conn.request("POST", "/qrcode", form)
        # The same submission again is the same job: asking again with `wait` is the long-poll.
        while status in (200, 202) and body.get("status") not in ("succeeded", "failed"):
            status, body = conn.request("POST", "/qrcode", form)
        unschedule(form["outTradeNo"])
        return status == 200 and body.get("status") == "succeeded"

    return operation


def ours_rounds(stack: Stack, plan: Plan, before_each: Callable[[], None] | None = None) -> dict[str, Any]:
    """Precreate jobs submitted by `plan.clients` clients that each follow their job to `succeeded`.

    Each client takes its trade off the poll schedule once its job has succeeded (well before the first query
    is due), so that what is measured is the job pipeline alone; polling is measured by `waiting_trades`.
    `before_each` runs before every round (a round of the no-op baseline, so that the two alternate and see
    the machine in the same state).
    """
    from worker.store import Keys

    client = stack.redis()

    def unschedule(out_trade_no: str) -> None:
        client.zrem(Keys.poll_due, out_trade_no)

    roots = {name: stack.pid(name) for name in OURS} | {"sandbox": stack.pid("sandbox")}
    closed_loop(stack.api, plan.clients, plan.warmup_seconds, follow_job(f"BW{run_tag()}", unschedule))
    rounds = []
    commands: dict[str, float] = {}
    for index in range(plan.rounds):
        if before_each is not None:
            before_each()
        before = _redis_commands(stack)
        meter = CpuMeter(roots).start()
        result = closed_loop(stack.api, plan.clients, plan.job_seconds, follow_job(f"BJ{run_tag()}", unschedule))
        used = meter.stop()
        after = _redis_commands(stack)
        jobs = len(result.ok)
        if index == 0:
            commands = _delta_commands(before, after, jobs)
        rounds.append({"jobs": jobs, "failed": len(result.samples) - jobs, "errors": result.errors[:3],
                       "seconds": result.ended - result.started, "jobs_per_s": result.rate(), **_latency(result),
                       "cpu_ms_per_job": _per(used, jobs, OURS),
                       "sandbox_cpu_ms_per_job": used["sandbox"] / max(jobs, 1),
                       "client_cpu_ms_per_job": used["load_client"] / max(jobs, 1)})
    return {"rounds": rounds, "redis_commands_per_job": commands}


def _accept(prefix: str) -> Callable[[Connection, int], bool]:
    def operation(conn: Connection, number: int) -> bool:
        status, _ = conn.request("POST", "/qrcode", _order_form(prefix, number, None))
        return status == 202

    return operation


def ours_slow_rounds(stack: Stack, plan: Plan, sync_served_per_s: float) -> list[dict[str, Any]]:
    """With the gateway answering in 1 s, submissions without `wait`, twice per round:

    - a closed loop of `plan.clients` clients as fast as they go: how fast the API still accepts (capacity;
      saturated, so its latency is mostly queueing in front of the API);
    - an open loop offering `plan.slow_offered_factor` × `sync_served_per_s` (what the synchronous design serves
      at this gateway delay) on a fixed schedule: how long a submission takes at that load, counted from its
      scheduled start (`open`).
    """
    from worker.store import Keys

    offered = plan.slow_offered_factor * sync_served_per_s
    rounds = []
    roots = {"api": stack.pid("api")}
    for _ in range(plan.rounds):
        meter = CpuMeter(roots).start()
        result = closed_loop(stack.api, plan.clients, plan.slow_seconds, _accept(f"BS{run_tag()}"))
        used = meter.stop()
        accepted = len(result.ok)
        figures: dict[str, Any] = {
            "accepted": accepted, "rejected": len(result.samples) - accepted, "errors": result.errors[:3],
            "accepted_per_s": result.rate(), **_latency(result),
            "api_cpu_ms_per_submission": used["api"] / max(accepted, 1)}
        meter = CpuMeter(roots).start()
        result = open_loop(stack.api, offered, plan.slow_seconds, _accept(f"BO{run_tag()}"))
        used = meter.stop()
        accepted = len(result.ok)
        waited = sorted(s.waited for s in result.samples)
        figures["open"] = {
            "offered_per_s": result.offered_per_s, "scheduled": result.scheduled, "accepted": accepted,
            "rejected": len(result.samples) - accepted, "late": result.late, "errors": result.errors[:3],
            "accepted_per_s": result.rate(), **_latency(result),
            "start_lag_p99_ms": percentile(waited, 99) * 1000, "start_lag_max_ms": (waited or [0.0])[-1] * 1000,
            "api_cpu_ms_per_submission": used["api"] / max(accepted, 1),
            "client_cpu_ms_per_submission": used["load_client"] / max(accepted, 1)}
        rounds.append(figures)
        # The backlog would keep the workers busy for minutes at one call a second: drop it, and the polls of
        # the trades that were precreated meanwhile.
        for _ in range(2):
            purge_queues(stack, "payments", "polls")
            stack.redis().delete(Keys.poll_due)
            wait_idle(stack, ["payments", "polls"], timeout=plan.slow_gateway_ms / 1000 * 4 + 30)
    return rounds


# --- the synchronous design -----------------------------------------------------------------------------------

def _sync_call(prefix: str) -> Callable[[Connection, int], bool]:
    def operation(conn: Connection, number: int) -> bool:
        status, body = conn.request("POST", "/qrcode", _order_form(prefix, number, None))
        return status == 200 and bool(body.get("qr_code"))

    return operation


def sync_rounds(stack: Stack, plan: Plan, delay_ms: int, seconds: float) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{stack.sync_port}"
    roots = {"sync": stack.pid("sync")}
    closed_loop(url, plan.clients, min(plan.warmup_seconds, 2.0), _sync_call(f"SW{run_tag()}"))
    rounds = []
    for _ in range(plan.rounds):
        meter = CpuMeter(roots).start()
        result = closed_loop(url, plan.clients, seconds, _sync_call(f"SY{run_tag()}"))
        used = meter.stop()
        served = len(result.ok)
        rounds.append({"gateway_ms": delay_ms, "requests": served, "failed": len(result.samples) - served,
                       "errors": result.errors[:3], "requests_per_s": result.rate(), **_latency(result),
                       "cpu_ms_per_request": used["sync"] / max(served, 1)})
    return rounds


# --- waiting trades: the poll schedule --------------------------------------------------------------------

def _alipay_epoch(text: str) -> float:
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) - timedelta(hours=8)
    return moment.timestamp()


class CallLog:
    """Follows the sandbox's bounded call log, keeping every call seen once (the log drops its oldest)."""

    def __init__(self, stack: Stack) -> None:
        self.url = f"{stack.sandbox}/sandbox/calls"
        self.calls: list[dict[str, Any]] = []
        self._tail: list[dict[str, Any]] = []
        self.overflowed = False

    def fetch(self) -> None:
        current = requests.get(self.url, timeout=60).json()
        start = 0
        if self._tail:
            start = self._after_tail(current)
            if start < 0:
                self.overflowed = True
                start = 0
        self.calls.extend(current[start:])
        self._tail = current[-50:] if current else self._tail

    def _after_tail(self, current: list[dict[str, Any]]) -> int:
        size = len(self._tail)
        for index in range(len(current) - size, -1, -1):
            if current[index:index + size] == self._tail:
                return index + size
        return -1


def _write_waiting_orders(stack: Stack, count: int, age_s: float, intervals: tuple[float, ...],
                          prefix: str) -> tuple[dict[str, float], dict[str, float]]:
    """Precreated, unpaid orders written straight into the store and the poll schedule, as the API and the
    precreate task would leave them. Their creation times are spread over the last `age_s` seconds, so the
    schedule holds trades at every step of the cadence, and each is first due within its own interval.
    Returns each trade's creation time and first due time."""
    import random

    from worker.store import Keys
    from worker.tasks.poll import next_interval
    from worker.transitions import order_precreated

    rng = random.Random(7)  # noqa: S311 - spreading test data, not security
    client = stack.redis()
    now = time.time()
    created: dict[str, float] = {}
    first_due: dict[str, float] = {}
    pipe = client.pipeline(transaction=False)
    for number in range(count):
        otn = f"{prefix}{number:08d}"
        created_at = now - rng.uniform(0, age_s)
        stamp = datetime.fromtimestamp(created_at, UTC).isoformat(timespec="milliseconds")
        order = {"out_trade_no": otn, "trade_no": None, "status": "PENDING", "total_amount": "10.00",
                 "refunded_amount": "0.00", "subject": "bench waiting order", "store_id": "bench_store",
                 "timeout_express": "2h", "expires_at": None, "qr_code": None, "buyer_logon_id": None,
                 "buyer_user_id": None, "gmt_payment": None, "refunds": [], "created_at": stamp,
                 "updated_at": stamp, "job_id": uuid.uuid4().hex, "callback_url": None}
        expires = datetime.fromtimestamp(created_at, UTC) + timedelta(hours=2)
        order = order_precreated(order, qr_code=f"{stack.sandbox}/qr/{otn}", expires_at=expires.isoformat())
        due = now + rng.uniform(0, next_interval(now - created_at, intervals))
        pipe.set(Keys.order(otn), json.dumps(order, ensure_ascii=False, separators=(",", ":")))
        pipe.zadd(Keys.unsettled, {otn: now})
        pipe.zadd(Keys.poll_due, {otn: due})
        created[otn] = created_at
        first_due[otn] = due
        if number % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return created, first_due


def _late(seconds: float, interval: float) -> bool:
    """Whether a query came later than its interval allows; call times have one-second resolution and beat
    looks once a second, hence the 2 s (and 10 %) of slack."""
    return seconds > interval * 1.1 + 2


def _cadence(calls: list[dict[str, Any]], created: dict[str, float], first_due: dict[str, float], start: float,
             end: float, intervals: tuple[float, ...]) -> dict[str, Any]:
    """Judge each trade's queries against its cadence: a trade is on cadence when its first query came when it
    was first due, every gap after it was on time, and the last one was not overdue at the end. A gap under
    half the interval is a duplicate poll."""
    from worker.tasks.poll import next_interval

    seen: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        otn = call.get("out_trade_no")
        if call.get("method") == "alipay.trade.query" and otn in created:
            seen[otn].append(_alipay_epoch(call["at"]))
    gaps = on_time = duplicates = 0
    lateness: list[float] = []
    trades_on_cadence = 0
    for otn, born in created.items():
        times = sorted(t for t in seen.get(otn, ()) if start - 1 <= t <= end + 1)
        # Asked first when first due; a trade never asked is on cadence only if it was not due before the end.
        good = not _late((times[0] if times else end) - first_due[otn], 0.0)
        for first, second in zip(times, times[1:], strict=False):
            expected = next_interval(first - born, intervals)
            gap = second - first
            gaps += 1
            lateness.append(gap - expected)
            if gap < expected / 2:
                duplicates += 1
                good = False
            elif not _late(gap, expected):
                on_time += 1
            else:
                good = False
        if times:
            expected = next_interval(times[-1] - born, intervals)
            if _late(end - times[-1], expected):
                good = False  # not asked again when it was due
        trades_on_cadence += good
    lateness.sort()
    return {"trades": len(created), "trades_polled": sum(1 for otn in created if seen.get(otn)),
            "trades_on_cadence": trades_on_cadence, "on_cadence_fraction": trades_on_cadence / max(len(created), 1),
            "gaps": gaps, "gaps_on_cadence": on_time, "duplicate_polls": duplicates,
            "gap_lateness_p50_s": percentile(lateness, 50), "gap_lateness_p99_s": percentile(lateness, 99)}


def _scheduler_cost(stack: Stack, trades: list[str]) -> dict[str, float]:
    """The dispatcher's own work per poll (claim from the schedule, enqueue one task), timed by running the
    service's `dispatch_polls` here, with the worker and beat stopped, on trades all made due at once."""
    from worker.store import Keys
    from worker.tasks.poll import dispatch_polls

    client = stack.redis()
    client.zadd(Keys.poll_due, dict.fromkeys(trades, 0.0), xx=True)
    meter = CpuMeter({"redis": stack.pid("redis")}).start()
    started = time.thread_time()
    dispatched = 0
    while True:
        client.delete(Keys.polls_in_flight)  # no worker takes them here: free the budget for the next run
        count = dispatch_polls.run()
        dispatched += count
        if count == 0:
            break
    bench_ms = (time.thread_time() - started) * 1000
    used = meter.stop()
    purge_queues(stack, "polls")
    return {"dispatched": dispatched, "dispatch_cpu_ms_per_poll": bench_ms / max(dispatched, 1),
            "dispatch_redis_cpu_ms_per_poll": used["redis"] / max(dispatched, 1)}


def waiting_trades(stack: Stack, plan: Plan) -> dict[str, Any]:
    """`plan.waiting_trades` unpaid trades on the poll schedule for `plan.waiting_seconds`, with the worker and
    beat on production settings: polls per second against the cadence's demand, CPU per poll, worker memory,
    duplicate polls and whether each trade was queried on its cadence (from the sandbox's call log)."""
    from worker.settings import get_settings
    from worker.store import Keys
    from worker.tasks.poll import next_interval

    intervals = get_settings().poll_intervals_s
    client = stack.redis()
    # The orders of the earlier phases are not part of this one: off the schedule and out of reconciliation.
    client.delete(Keys.poll_due, Keys.unsettled)
    purge_queues(stack, "payments", "polls")
    requests.delete(f"{stack.sandbox}/sandbox/calls", timeout=10)
    log = CallLog(stack)
    rss_start = tree_memory(stack.pid("worker"))
    memory_before = int(client.info("memory")["used_memory"])
    created, first_due = _write_waiting_orders(stack, plan.waiting_trades, plan.waiting_age_s, intervals,
                                               f"BP{run_tag()}")
    memory_after = int(client.info("memory")["used_memory"])
    start = time.time()
    # What the cadence asks for, averaged over the window: young trades slow down as they age.
    moments = [start + plan.waiting_seconds * k / 4 for k in range(5)]
    demand = statistics.mean(sum(1 / next_interval(at - born, intervals) for born in created.values())
                             for at in moments)
    roots = {name: stack.pid(name) for name in OURS if name != "api"}
    meter = CpuMeter(roots).start()
    rss_series = [rss_start.rss_bytes / 2**20]  # every ~10 s: flat memory is a plateau, not a slope
    while time.time() - start < plan.waiting_seconds:
        time.sleep(min(10.0, max(0.0, plan.waiting_seconds - (time.time() - start))))
        log.fetch()
        rss_series.append(tree_memory(stack.pid("worker")).rss_bytes / 2**20)
    used = meter.stop()
    end = time.time()
    rss_end = tree_memory(stack.pid("worker"))
    backlog = int(client.llen("polls"))
    stack.stop("beat", "worker")
    log.fetch()
    queries = [c for c in log.calls if c.get("method") == "alipay.trade.query" and c.get("out_trade_no") in created
               and start - 1 <= _alipay_epoch(c["at"]) <= end + 1]
    polls = len(queries)
    seconds = end - start
    figures: dict[str, Any] = {
        "trades": len(created), "seconds": seconds, "polls": polls, "polls_per_s": polls / seconds,
        "cadence_demand_polls_per_s": demand, "polls_queue_backlog_at_end": backlog,
        "cpu_ms_per_poll": _per(used, polls, roots),
        "worker_rss_mb_start": rss_start.rss_bytes / 2**20, "worker_rss_mb_end": rss_end.rss_bytes / 2**20,
        "worker_rss_mb_series": [round(mb, 2) for mb in rss_series],
        "worker_rss_mb_growth_second_half": rss_series[-1] - rss_series[len(rss_series) // 2],
        "worker_pss_mb_start": rss_start.pss_bytes / 2**20, "worker_pss_mb_end": rss_end.pss_bytes / 2**20,
        "worker_processes": rss_end.processes, "worker_largest_rss_mb_end": rss_end.largest_rss_bytes / 2**20,
        "redis_bytes_per_waiting_order": (memory_after - memory_before) / max(len(created), 1),
        "call_log_overflowed": log.overflowed,
        **_cadence(log.calls, created, first_due, start, end, intervals),
    }
    figures.update(_scheduler_cost(stack, list(created)[:2000]))
    figures["scheduler_cpu_ms_per_poll"] = (figures["cpu_ms_per_poll"]["beat"] + figures["dispatch_cpu_ms_per_poll"]
                                            + figures["dispatch_redis_cpu_ms_per_poll"])
    client.delete(Keys.poll_due)
    return figures


# --- memory ---------------------------------------------------------------------------------------------------

def memory(stack: Stack, sample: int = 200) -> dict[str, Any]:
    """Redis bytes per job and per order: MEMORY USAGE over a sample of each kind of key."""
    from worker.store import Keys

    client = stack.redis()

    def sample_keys(pattern: str) -> list[str]:
        keys: list[str] = []
        for key in client.scan_iter(match=pattern, count=1000):
            keys.append(key.decode())
            if len(keys) >= sample:
                break
        return keys

    orders = sample_keys(Keys.order("BJ*"))
    samples = {
        "order": orders,
        "job": [Keys.job(json.loads(raw)["job_id"]) for raw in client.mget(orders) if raw] if orders else [],
        "precreate_identity": sample_keys(Keys.precreate_identity("BJ*")),
        "waiting_order": sample_keys(Keys.order("BP*")),
    }
    figures: dict[str, Any] = {}
    for name, keys in samples.items():
        sizes = [int(client.memory_usage(key, samples=0) or 0) for key in keys]
        figures[f"bytes_per_{name}"] = statistics.mean(sizes) if sizes else None
    parts = [figures.get("bytes_per_job"), figures.get("bytes_per_order"), figures.get("bytes_per_precreate_identity")]
    figures["bytes_per_precreate"] = sum(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    return figures
