"""Turning a validated request into a job: write it, queue it, optionally wait for it, answer.

A submission is idempotent by its identity (out_trade_no for a precreate, out_trade_no + out_request_no for a
refund): the same parameters give back the same job and queue nothing; other parameters are a 409. When the
task cannot be queued (broker down) the job is withdrawn and the client gets a 503, so nothing is half-written.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from contextlib import nullcontext
from typing import Any

from celery import Celery
from flask import Response, jsonify, url_for

from api.errors import ApiError, Conflict, InvalidRequest, NotFound, ServiceUnavailable
from api.schemas import JobRequest, QrcodeRequest, RefundRequest
from api.waiters import JobWaiters
from worker import defaults, metrics
from worker.broker import publish_options
from worker.settings import Settings
from worker.states import TASK_FOR_JOB, JobStatus, JobType, OrderStatus
from worker.store import Conflict as StoreConflict
from worker.store import OrderNotFound, Store
from worker.transitions import Record, TransitionRefused, now_iso

log = logging.getLogger(__name__)

_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def public(record: Record) -> Record:
    """A job or order as clients see it: internal bookkeeping left out."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


class Submitter:
    def __init__(self, store: Store, celery: Celery, settings: Settings,
                 max_waiters: int = defaults.MAX_WAITERS) -> None:
        self.store = store
        self.celery = celery
        self.settings = settings
        self.waiters = JobWaiters(store, max_waiters)
        self._publish_options = publish_options(settings.broker_url)

    def _new_job(self, job_type: JobType, request: dict[str, Any], out_trade_no: str | None) -> Record:
        stamp = now_iso()
        return {"job_id": uuid.uuid4().hex, "type": job_type.value, "status": JobStatus.QUEUED.value,
                "attempts": 0, "created_at": stamp, "updated_at": stamp, "out_trade_no": out_trade_no,
                "request": request, "result": None, "error": None, "last_error": None}

    def precreate(self, req: QrcodeRequest) -> Response:
        if req.callback_url and self.settings.webhook_secret is None:
            raise InvalidRequest("callbackUrl needs webhooks configured on the service (WEBHOOK_SECRET).",
                                 code="webhooks_not_configured", field="callbackUrl")
        request = req.to_job_request()
        job = self._new_job(JobType.PRECREATE, request, req.out_trade_no)
        stamp = job["created_at"]
        order = {
            "out_trade_no": req.out_trade_no, "trade_no": None, "status": OrderStatus.PENDING.value,
            "total_amount": request["totalAmount"], "refunded_amount": "0.00", "subject": req.subject,
            "store_id": req.store_id, "timeout_express": req.timeout_express, "expires_at": None,
            "qr_code": None, "buyer_logon_id": None, "buyer_user_id": None, "gmt_payment": None, "refunds": [],
            "created_at": stamp, "updated_at": stamp, "job_id": job["job_id"], "callback_url": req.callback_url,
        }
        try:
            submission = self.store.submit_precreate(job, order, req.fingerprint())
        except StoreConflict as exc:
            raise Conflict(exc.message, field="outTradeNo") from None
        return self._finish(job, submission.job_id, submission.created, req, written=submission.written)

    def refund(self, req: RefundRequest, idempotency_key: str | None = None) -> Response:
        """Submit a refund. Without out_request_no one is made: derived from the Idempotency-Key when there is
        one (so a retried request reuses it), random otherwise."""
        request = req.to_job_request()
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest() if idempotency_key else None
        if not request.get("out_request_no"):
            request["out_request_no"] = "K" + digest[:40] if digest else "R" + uuid.uuid4().hex
        job = self._new_job(JobType.REFUND, request, req.out_trade_no)
        fingerprint = req.fingerprint() if req.out_request_no or digest else uuid.uuid4().hex
        try:
            submission = self.store.submit_refund(job, fingerprint, idempotency_key=digest,
                                                  key_fingerprint=req.fingerprint())
        except StoreConflict as exc:
            field = "Idempotency-Key" if exc.message.startswith("Idempotency-Key") else "out_request_no"
            raise Conflict(exc.message, field=field) from None
        except OrderNotFound:
            raise NotFound(f"No order {req.out_trade_no} is known here.", code="order_not_found",
                           field="out_trade_no") from None
        except TransitionRefused as exc:
            raise ApiError(exc.message, code=exc.code, status=409, field="refund_amount") from None
        return self._finish(job, submission.job_id, submission.created, req,
                            extra={"out_request_no": request["out_request_no"]})

    def refund_query(self, req: JobRequest) -> Response:
        request = req.to_job_request()
        job = self._new_job(JobType.REFUND_QUERY, request, request.get("out_trade_no"))
        self.store.submit_job(job)
        return self._finish(job, job["job_id"], True, req)

    def _finish(self, job: Record, job_id: str, created: bool, req: JobRequest,
                extra: dict[str, Any] | None = None, written: tuple[bytes, ...] = ()) -> Response:
        wait = getattr(req, "wait", None)
        current: Record | None = None
        # A new job's request listens before queueing it: its end cannot be missed, and needs no read to be seen.
        with self.waiters.watching(job_id) if created and wait else nullcontext() as waiter:
            if created:
                self._enqueue(job, written)
                metrics.job_submitted(job["type"])
            if waiter is not None and wait:
                current = self.waiters.until_final(waiter, job_id, float(wait), job)
            elif wait and not created:
                current = self.wait(job_id, float(wait))
        if current is not None and JobStatus(current["status"]).final:
            return jsonify(public(current))
        if current is None:
            current = self.store.get_job(job_id) or job
        body = {"job_id": job_id, "type": current["type"], "status": current["status"],
                "out_trade_no": current.get("out_trade_no"), **(extra or {}),
                "links": {"job": url_for("jobs.get_job", job_id=job_id),
                          "order": url_for("jobs.get_order", out_trade_no=current["out_trade_no"])
                          if current.get("out_trade_no") else None}}
        if extra is None and current["type"] == JobType.REFUND:
            body["out_request_no"] = current["request"].get("out_request_no")
        response = jsonify(body)
        response.status_code = 202
        response.headers["Location"] = body["links"]["job"]
        return response

    def _enqueue(self, job: Record, written: tuple[bytes, ...] = ()) -> None:
        """Queue the job's task. `written`: the records the submission wrote (a precreate's job and order), which
        the message carries so that the task starts from them instead of reading them."""
        job_id, kwargs, kwargsrepr = job["job_id"], {}, "{}"
        if written:
            kwargs = {"out_trade_no": job["out_trade_no"], "queued": [record.decode() for record in written]}
            kwargsrepr = f"{{'out_trade_no': {job['out_trade_no']!r}, 'queued': [{len(written)} records]}}"
        try:
            self.celery.send_task(TASK_FOR_JOB[JobType(job["type"])], args=[job_id], kwargs=kwargs, retry=True,
                                  retry_policy=_PUBLISH_RETRY, argsrepr=repr([job_id]), kwargsrepr=kwargsrepr,
                                  **self._publish_options)
        except Exception as exc:  # noqa: BLE001 - any failure to publish means the job must not stay
            log.warning("could not queue job %s (%s); withdrawn", job["job_id"], type(exc).__name__)
            self.store.withdraw(job)
            raise ServiceUnavailable("The job queue is unreachable; nothing was recorded, send it again.") from None

    def wait(self, job_id: str, seconds: float) -> Record | None:
        """Hold the request until the job ends or `seconds` pass, if a waiter slot is free; else return at once."""
        return self.waiters.wait(job_id, seconds)
