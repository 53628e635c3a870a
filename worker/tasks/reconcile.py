"""Reconciliation on beat's schedule: the sweep of unsettled orders and the daily bill run.

Both tasks are thin: they wire the process's store, gateway client and settings into the plain functions of
`worker.reconciliation`, which hold a Redis lock around each run. Two beats (or a beat and an operator's
command) starting the same run therefore do the work once; the loser returns at once. Neither task retries:
the next tick is the retry.
"""

from __future__ import annotations

from typing import Any

from worker import defaults, services
from worker.celery_app import app
from worker.reconciliation import SweepConfig, run_due, run_sweep
from worker.settings import get_settings


@app.task(name="alipay.reconcile_sweep")
def reconcile_sweep() -> dict[str, Any] | None:
    """Query the gateway about unsettled orders not heard of for RECONCILE_AFTER_S and apply the answers;
    returns the run's counts, or None when another sweep was running."""
    settings = get_settings()
    config = SweepConfig(older_than_s=settings.reconcile_after_s, batch=settings.reconcile_batch)
    result = run_sweep(services.store(), services.alipay(), config)
    return result.to_dict() if result is not None else None


@app.task(name="alipay.reconcile_bill", soft_time_limit=defaults.RECONCILE_BILL_TIME_LIMIT_S - 30,
          time_limit=defaults.RECONCILE_BILL_TIME_LIMIT_S)
def reconcile_bill() -> dict[str, Any] | None:
    """Beat's frequent tick for the daily bill: once RECONCILE_AT (Beijing) has passed, reconcile the previous
    Beijing day unless it already has a report or failed recently. Returns the report's counts, or None."""
    report = run_due(services.store(), services.alipay(), at=get_settings().reconcile_at)
    return report["counts"] if report is not None else None
