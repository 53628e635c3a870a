"""Reconciliation with Alipay: the sweep of unsettled orders and the daily trade-bill comparison.

Plain functions over a `Store` and an `AlipayClient`, free of Celery and Flask: `worker.tasks.reconcile`
schedules them, `api.reconciliations` serves their results and runs a day from the command line.

- `sweep.run_sweep`: query every unsettled order not heard of for a while; apply what the gateway says.
- `daily.run_reconciliation`, `daily.run_due`: fetch a day's bill, compare it with the store, repair what is
  safe, keep the report.
- `lock.RunLock`: the Redis lock that makes each run happen once, however many beats start it.
"""

from worker.reconciliation.daily import (
    Discrepancy,
    Kind,
    due_day,
    previous_day,
    reconcile_day,
    run_due,
    run_reconciliation,
)
from worker.reconciliation.errors import BillFormatError, BillNotAvailable, ReconciliationBusy, ReconciliationError
from worker.reconciliation.lock import RunLock
from worker.reconciliation.reports import get_failure, get_report, last_sweep
from worker.reconciliation.sweep import SweepConfig, SweepResult, run_sweep, sweep

__all__ = [
    "BillFormatError",
    "BillNotAvailable",
    "Discrepancy",
    "Kind",
    "ReconciliationBusy",
    "ReconciliationError",
    "RunLock",
    "SweepConfig",
    "SweepResult",
    "due_day",
    "get_failure",
    "get_report",
    "last_sweep",
    "previous_day",
    "reconcile_day",
    "run_due",
    "run_reconciliation",
    "run_sweep",
    "sweep",
]
