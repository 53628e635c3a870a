"""What every job task shares: starting an attempt, recording Alipay's errors, retrying with back-off.

Retries always reuse the job's identity (out_trade_no, out_request_no): a retry is the same request again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from celery import Task

from worker import defaults, metrics, services
from worker.alipay.errors import GatewayAnswer
from worker.logging_json import bind
from worker.settings import get_settings
from worker.states import JobStatus
from worker.transitions import Record, job_finished, job_retrying, job_started

log = logging.getLogger(__name__)


class GiveUp(Exception):
    """Raised by `retry_or_give_up` after the job was failed: the task just returns."""


def backoff_s(attempt: int, cap_s: float, base_s: float = defaults.RETRY_BACKOFF_BASE_S) -> float:
    """Exponential back-off with jitter: between half and all of min(cap, base * 2**(attempt-1))."""
    ceiling = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


def error_record(exc: BaseException) -> dict[str, Any]:
    """A job's `error`: Alipay's own code, msg, sub_code, sub_msg when it answered; our own code otherwise."""
    if isinstance(exc, GatewayAnswer):
        return {"code": exc.code, "msg": exc.msg, "sub_code": exc.sub_code, "sub_msg": exc.sub_msg,
                "kind": str(exc.kind)}
    kind = str(getattr(exc, "kind", "unknown"))
    code = {"transient": "gateway_unavailable", "signature": "gateway_bad_signature"}.get(
        kind, "gateway_outcome_unknown")
    return {"code": code, "msg": str(exc)[:300], "sub_code": None, "sub_msg": None, "kind": kind}


def start_attempt(job_id: str) -> Record | None:
    """Mark the job running with one more attempt; None when there is nothing to do (unknown or finished).
    The task's log lines carry the job id, its out_trade_no and the attempt number from here on."""
    bind(job_id=job_id)
    return _started(services.store().update_job(job_id, job_started))


def start_order_attempt(job_id: str, out_trade_no: str,
                        queued: Sequence[str] | None = None) -> tuple[Record | None, list[bytes | None]]:
    """`start_attempt` for a job that ends by changing its order (a precreate), which also returns the job and
    the order as the start left them, for `succeed` to start from. `queued`: the two as the submission wrote
    them, which its message carries: the likely current values, so that the start need not read them."""
    bind(job_id=job_id)
    expected = [record.encode() for record in queued] if queued else None
    job, records = services.store().start_job(job_id, out_trade_no, job_started, expected=expected)
    return _started(job), records


def _started(job: Record | None) -> Record | None:
    if job is None or JobStatus(job["status"]).final:
        return None
    bind(out_trade_no=job.get("out_trade_no"), attempt=job.get("attempts"))
    return job


def succeed(job_id: str, result: Mapping[str, Any], *,
            order: tuple[str, Callable[[Record], Record]] | None = None, poll_due: float | None = None,
            expected: Sequence[bytes | None] | None = None) -> None:
    """End the job `succeeded` with `result`; with `order` (out_trade_no, change), change the order in the same
    transaction, and put the trade on the poll schedule at `poll_due`. `expected`: the job and the order as
    `start_order_attempt` left them."""
    def finished(j: Record) -> Record:
        return job_finished(j, JobStatus.SUCCEEDED, result=result)

    store = services.store()
    if order is None:
        job = store.update_job(job_id, finished)
    else:
        job = store.finish_job_and_order(job_id, order[0], finished, order[1], poll_due=poll_due, expected=expected)
    if job is not None and job["status"] == JobStatus.SUCCEEDED:
        metrics.job_succeeded(job["type"])
        log.info("%s job %s succeeded after %s attempt(s)", job["type"], job_id, job.get("attempts"))


def fail(job_id: str, error: Mapping[str, Any]) -> None:
    job = services.store().update_job(job_id, lambda j: job_finished(j, JobStatus.FAILED, error=error))
    if job is not None and job["status"] == JobStatus.FAILED:
        metrics.job_failed(job["type"])
        log.info("%s job %s failed after %s attempt(s): %s %s", job["type"], job_id, job.get("attempts"),
                 error.get("code"), error.get("sub_code") or "")


def retry_or_give_up(task: Task, job: Record, error: Mapping[str, Any],
                     on_give_up: Callable[[], object] | None = None) -> NoReturn:
    """Schedule another attempt with back-off, or end the job `failed` once its attempts are used up."""
    settings = get_settings()
    attempts = int(job.get("attempts", 0))
    if attempts >= settings.max_attempts:
        log.warning("job %s gives up after %d attempts: %s", job["job_id"], attempts, error.get("code"))
        if on_give_up is not None:
            on_give_up()
        fail(job["job_id"], dict(error, msg=f"gave up after {attempts} attempts: {error.get('msg')}"))
        raise GiveUp()
    services.store().update_job(job["job_id"], lambda j: job_retrying(j, error))
    metrics.job_retried(job["type"])
    countdown = backoff_s(attempts, settings.retry_backoff_cap_s)
    log.info("job %s attempt %d failed (%s); retry in %.1fs", job["job_id"], attempts, error.get("code"), countdown)
    raise task.retry(countdown=countdown, max_retries=None)
