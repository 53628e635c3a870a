"""Where reconciliation results live in Redis: one report per bill day, the last sweep, recent failures.

Reports are JSON strings kept RECONCILE_REPORT_RETENTION_S; a new run for the same day replaces the report.
The last sweep's counts are one key, replaced by every sweep. A failed bill run leaves a short record that
also tells the daily tick to wait before it tries that day again.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from worker import defaults
from worker.store import Keys, Store


def _load(raw: bytes | str | None) -> dict[str, Any] | None:
    return None if raw is None else json.loads(raw)


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def save_report(store: Store, report: dict[str, Any]) -> None:
    """Keep the report of `report["date"]`, replacing an earlier one, and clear that day's failure record."""
    day = report["date"]
    pipe = store.redis.pipeline()
    pipe.set(Keys.reconciliation_report(day), _dump(report), ex=defaults.RECONCILE_REPORT_RETENTION_S)
    pipe.delete(Keys.reconciliation_failure(day))
    pipe.execute()


def get_report(store: Store, day: date | str) -> dict[str, Any] | None:
    text = day.isoformat() if isinstance(day, date) else day
    return _load(store.redis.get(Keys.reconciliation_report(text)))


def record_failure(store: Store, day: date, failure: dict[str, Any], wait_s: float) -> None:
    """Remember why the run for `day` failed; the daily tick leaves that day alone for `wait_s` seconds."""
    store.redis.set(Keys.reconciliation_failure(day.isoformat()), _dump(failure), px=max(1, int(wait_s * 1000)))


def get_failure(store: Store, day: date | str) -> dict[str, Any] | None:
    text = day.isoformat() if isinstance(day, date) else day
    return _load(store.redis.get(Keys.reconciliation_failure(text)))


def save_sweep(store: Store, result: dict[str, Any]) -> None:
    store.redis.set(Keys.reconciliation_sweep_last, _dump(result))


def last_sweep(store: Store) -> dict[str, Any] | None:
    return _load(store.redis.get(Keys.reconciliation_sweep_last))
