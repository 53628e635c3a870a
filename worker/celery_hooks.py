"""Celery signal receivers: JSON logs in workers and beat, each task's log context, and the metrics
bookkeeping of prefork children. Connected when `worker.celery_app` is imported; inert in the API process.
"""

from __future__ import annotations

import os
from typing import Any

from celery import signals

from worker import logging_json, metrics


@signals.celeryd_init.connect
def _log_json_early(options: dict[str, Any] | None = None, **_: Any) -> None:
    """A worker's first lines (its start-up checks run before Celery sets up logging) are JSON too."""
    logging_json.configure_logging((options or {}).get("loglevel"))


@signals.setup_logging.connect
def _log_json(loglevel: int | str | None = None, logfile: str | None = None, **_: Any) -> None:
    """Having a receiver here stops Celery from installing its own handlers, in workers, children and beat.
    Lines go to stderr, or to `--logfile` when one is given (kept open for the life of the process)."""
    stream = open(logfile, "a", buffering=1, encoding="utf-8") if logfile else None
    logging_json.configure_logging(loglevel, stream)


@signals.task_prerun.connect
def _start_task_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    logging_json.clear()
    logging_json.bind(task=getattr(task, "name", None), task_id=task_id)


@signals.task_postrun.connect
def _end_task_context(**_: Any) -> None:
    logging_json.clear()


@signals.worker_process_shutdown.connect
def _child_exits(pid: int | None = None, **_: Any) -> None:
    metrics.mark_process_dead(pid or os.getpid())
