"""Prometheus metrics: counters and a latency histogram kept by every process, gauges read from Redis at scrape.

With PROMETHEUS_MULTIPROC_DIR set (`make run` and the test stack set it), every process (gunicorn workers,
Celery prefork children) writes its samples to files in that directory, and a scrape sums the files of all of
them; the directory must be emptied before the service starts. Unset, a process counts only its own work.

The recording functions below never raise: a metrics failure must not fail a job.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import REGISTRY

from worker.states import JobType, OrderStatus

if TYPE_CHECKING:
    from worker.store import Store

log = logging.getLogger(__name__)

PREFIX = "alipay_worker"
GATEWAY_OUTCOMES = ("success", "business", "transient", "unknown", "signature")
WEBHOOK_OUTCOMES = ("delivered", "retrying", "failed")
LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


if multiprocess_dir():
    # Samples are files in this directory; a process must be able to open its own before its first sample.
    os.makedirs(multiprocess_dir() or "", exist_ok=True)
disable_created_metrics()

JOBS_SUBMITTED = Counter(f"{PREFIX}_jobs_submitted", "Jobs accepted by the API and queued, by type.", ["type"])
JOBS_SUCCEEDED = Counter(f"{PREFIX}_jobs_succeeded", "Jobs that ended succeeded, by type.", ["type"])
JOBS_FAILED = Counter(f"{PREFIX}_jobs_failed", "Jobs that ended failed (refused, or out of attempts).", ["type"])
JOBS_RETRIED = Counter(f"{PREFIX}_jobs_retried", "Attempts that failed and were scheduled again, by job type.",
                       ["type"])
GATEWAY_CALLS = Counter(f"{PREFIX}_gateway_calls", "Calls to Alipay's gateway, by method and outcome.",
                        ["method", "outcome"])
GATEWAY_LATENCY = Histogram(f"{PREFIX}_gateway_call_duration_seconds",
                            "Time from signing a gateway call to its verified answer or failure, by method.",
                            ["method"], buckets=LATENCY_BUCKETS_S)
NOTIFICATIONS = Counter(f"{PREFIX}_notifications", "Alipay notifications answered: accepted or refused, by reason.",
                        ["result", "reason"])
WEBHOOK_DELIVERIES = Counter(f"{PREFIX}_webhook_deliveries",
                             "Attempts to post an event to a merchant's callbackUrl, by outcome.", ["outcome"])

for _type in JobType:
    for _counter in (JOBS_SUBMITTED, JOBS_SUCCEEDED, JOBS_FAILED, JOBS_RETRIED):
        _counter.labels(type=_type.value)
for _outcome in WEBHOOK_OUTCOMES:
    WEBHOOK_DELIVERIES.labels(outcome=_outcome)

P = ParamSpec("P")
_warned = False


def _never_raises(record: Callable[P, None]) -> Callable[P, None]:
    @wraps(record)
    def safely(*args: P.args, **kwargs: P.kwargs) -> None:
        global _warned
        try:
            record(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - counting must never break the work being counted
            if not _warned:
                _warned = True
                log.warning("metrics not recorded (%s: %s); further failures are not logged", type(exc).__name__, exc)

    return safely


@_never_raises
def job_submitted(job_type: str) -> None:
    JOBS_SUBMITTED.labels(type=job_type).inc()


@_never_raises
def job_succeeded(job_type: str) -> None:
    JOBS_SUCCEEDED.labels(type=job_type).inc()


@_never_raises
def job_failed(job_type: str) -> None:
    JOBS_FAILED.labels(type=job_type).inc()


@_never_raises
def job_retried(job_type: str) -> None:
    JOBS_RETRIED.labels(type=job_type).inc()


@_never_raises
def gateway_call(method: str, outcome: str, seconds: float) -> None:
    """The AlipayClient's `on_call` hook: one finished call, `outcome` one of GATEWAY_OUTCOMES."""
    GATEWAY_CALLS.labels(method=method, outcome=outcome).inc()
    GATEWAY_LATENCY.labels(method=method).observe(seconds)


@_never_raises
def notification(accepted: bool, reason: str) -> None:
    NOTIFICATIONS.labels(result="accepted" if accepted else "refused", reason=reason).inc()


@_never_raises
def webhook_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()


def mark_process_dead(pid: int) -> None:
    """Bookkeeping when a process that wrote samples ends (gunicorn's child_exit, Celery's
    worker_process_shutdown): its live gauges are dropped; its counters stay in the sums."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


class StoreCollector:
    """Gauges read from Redis at scrape time, in O(1): orders by status (a hash of counts the store keeps in
    the same transactions that change an order) and trades waiting in the poll schedule (ZCARD)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.store.order_counts()
            waiting = self.store.waiting_trades()
        except redis.RedisError as exc:
            log.warning("metrics: the store did not answer (%s); order gauges left out", type(exc).__name__)
            return
        orders = GaugeMetricFamily(f"{PREFIX}_orders", "Orders in the store, by status.", labels=["status"])
        for status in OrderStatus:
            orders.add_metric([status.value], counts.get(status.value, 0))
        yield orders
        yield GaugeMetricFamily(f"{PREFIX}_poll_waiting_trades",
                                "Unpaid trades waiting in the poll schedule.", value=waiting)


class _ThisProcess:
    """The default registry as a collector: what this process counted, when there is no multiprocess dir."""

    def collect(self) -> Iterator[Metric]:
        return iter(REGISTRY.collect())


def scrape_registry(store: Store | None = None) -> CollectorRegistry:
    """A registry for one scrape: every process's samples (or this process's), plus the store's gauges."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    if store is not None:
        registry.register(StoreCollector(store))
    return registry

