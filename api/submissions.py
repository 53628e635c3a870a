"""Turning a validated request into a job: write it, queue it, optionally wait for it, answer.

A submission is idempotent by its identity (out_trade_no for a precreate, out_trade_no + out_request_no for a
refund): the same parameters give back the same job and queue nothing; other parameters are a 409. When the
broker is the store's own Redis (the default), the task's message is pushed in the same write as the job, so
the two exist together or not at all. With another broker the task is queued after the write; when that fails
(broker down) the job is withdrawn and the client gets a 503, so nothing is half-written either way.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from celery import Celery
from flask import Response, jsonify, url_for

from api.errors import ApiError, Conflict, InvalidRequest, NotFound, ServiceUnavailable
from api.schemas import JobRequest, QrcodeRequest, RefundRequest
from api.waiters import JobWaiters, Waiter
from worker import defaults, metrics
from worker.broker import held_back, publish_options
from worker.settings import Settings
from worker.states import TASK_FOR_JOB, JobStatus, JobType, OrderStatus
from worker.store import Conflict as StoreConflict
from worker.store import OrderNotFound, Outbox, Store, Submission
from worker.transitions import Record, TransitionRefused, now_iso

log = logging.getLogger(__name__)

_QUEUE_DOWN = "The job queue is unreachable; nothing was recorded, send it again."
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def public(record: Record) -> Record:
    """A job or order as clients see it: internal bookkeeping left out."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


class Submitter:
    def __init__(self, store: Store, celery: Celery, settings: Settings,
                 max_waiters: int = defaults.MAX_WAITERS, *, queue_with_job: bool = False) -> None:
        """`queue_with_job`: `celery` publishes on `worker.broker`'s transport to the Redis `store` is on, so a
        new job's task message can go into the store's write of the job."""
        self.store = store
        self.celery = celery
        self.settings = settings
        self.waiters = JobWaiters(store, max_waiters)
        self.queue_with_job = queue_with_job
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
        with self._listening(job, req) as waiter:
            try:
                submission = self.store.submit_precreate(job, order, req.fingerprint(), self._outbox(job))
            except StoreConflict as exc:
                raise Conflict(exc.message, field="outTradeNo") from None
            if submission.created:
                return self._finish(job, submission, req, waiter)
        return self._finish(job, submission, req, None)

    def refund(self, req: RefundRequest, idempotency_key: str | None = None) -> Response:
        """Submit a refund. Without out_request_no one is made: derived from the Idempotency-Key when there is
        one (so a retried request reuses it), random otherwise."""
        request = req.to_job_request()
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest() if idempotency_key else None
        if not request.get("out_request_no"):
            request["out_request_no"] = "K" + digest[:40] if digest else "R" + uuid.uuid4().hex
        job = self._new_job(JobType.REFUND, request, req.out_trade_no)
        fingerprint = req.fingerprint() if req.out_request_no or digest else uuid.uuid4().hex
        extra = {"out_request_no": request["out_request_no"]}
        with self._listening(job, req) as waiter:
            try:
                submission = self.store.submit_refund(job, fingerprint, idempotency_key=digest,
                                                      key_fingerprint=req.fingerprint(), outbox=self._outbox(job))
            except StoreConflict as exc:
                field = "Idempotency-Key" if exc.message.startswith("Idempotency-Key") else "out_request_no"
                raise Conflict(exc.message, field=field) from None
            except OrderNotFound:
                raise NotFound(f"No order {req.out_trade_no} is known here.", code="order_not_found",
                               field="out_trade_no") from None
            except TransitionRefused as exc:
                raise ApiError(exc.message, code=exc.code, status=409, field="refund_amount") from None
            if submission.created:
                return self._finish(job, submission, req, waiter, extra)
        return self._finish(job, submission, req, None, extra)

    def refund_query(self, req: JobRequest) -> Response:
        request = req.to_job_request()
        job = self._new_job(JobType.REFUND_QUERY, request, request.get("out_trade_no"))
        with self._listening(job, req) as waiter:
            return self._finish(job, self.store.submit_job(job, self._outbox(job)), req, waiter)

    def _listening(self, job: Record, req: JobRequest) -> AbstractContextManager[Waiter | None]:
        """A request that waits listens for its new job's end before the job can be queued: the end cannot be
        missed, and needs no read to be seen. (A repeat of an earlier submission waits on that job instead.)"""
        return self.waiters.watching(job["job_id"]) if getattr(req, "wait", None) else nullcontext()

    def _finish(self, job: Record, submission: Submission, req: JobRequest, waiter: Waiter | None,
                extra: dict[str, Any] | None = None) -> Response:
        """Queue a new job's task unless the write did, wait for the job when asked to, and answer."""
        job_id, created = submission.job_id, submission.created
        wait = getattr(req, "wait", None)
        current: Record | None = None
        if created:
            if not submission.queued:
                self._enqueue(job, submission.written)
            metrics.job_submitted(job["type"])
        if wait and created and waiter is not None:
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

    def _send(self, job: Record, written: tuple[bytes, ...]) -> None:
        """Publish the job's task. `written`: the records the submission wrote (a precreate's job and order), which
        the message carries so that the task starts from them instead of reading them."""
        job_id, kwargs, kwargsrepr = job["job_id"], {}, "{}"
        if written:
            kwargs = {"out_trade_no": job["out_trade_no"], "queued": [record.decode() for record in written]}
            kwargsrepr = f"{{'out_trade_no': {job['out_trade_no']!r}, 'queued': [{len(written)} records]}}"
        self.celery.send_task(TASK_FOR_JOB[JobType(job["type"])], args=[job_id], kwargs=kwargs, retry=True,
                              retry_policy=_PUBLISH_RETRY, argsrepr=repr([job_id]), kwargsrepr=kwargsrepr,
                              **self._publish_options)

    def _outbox(self, job: Record) -> Outbox | None:
        """With `queue_with_job`, the job's task message for the store to push in its write of the job: made by
        Celery as for any publish, but held back by the transport instead of sent."""
        if not self.queue_with_job:
            return None

        def messages(written: tuple[bytes, ...]) -> list[tuple[str, str]]:
            try:
                with held_back() as held:
                    self._send(job, written)
            except Exception as exc:  # noqa: BLE001 - nothing is written yet: the client may send it again
                log.warning("could not make the task of job %s (%s)", job["job_id"], type(exc).__name__)
                raise ServiceUnavailable(_QUEUE_DOWN) from None
            if len(held) != 1:
                raise RuntimeError("the task message was not held back: is Celery on worker.broker's transport?")
            return held

        return messages

    def _enqueue(self, job: Record, written: tuple[bytes, ...] = ()) -> None:
        """Queue the job's task after its write; when that fails, withdraw the job."""
        try:
            self._send(job, written)
        except Exception as exc:  # noqa: BLE001 - any failure to publish means the job must not stay
            log.warning("could not queue job %s (%s); withdrawn", job["job_id"], type(exc).__name__)
            self.store.withdraw(job)
            raise ServiceUnavailable(_QUEUE_DOWN) from None

    def wait(self, job_id: str, seconds: float) -> Record | None:
        """Hold the request until the job ends or `seconds` pass, if a waiter slot is free; else return at once."""
        return self.waiters.wait(job_id, seconds)
