"""alipay.precreate: ask Alipay for the QR code of an order, then put the trade on the poll schedule."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from decimal import Decimal

from worker import services
from worker.alipay import trade
from worker.alipay.errors import AlipayError, BusinessError
from worker.celery_app import app
from worker.deadlines import deadline
from worker.settings import get_settings
from worker.tasks.gateway import (
    GiveUp,
    error_record,
    fail,
    retry_or_give_up,
    start_attempt,
    start_order_attempt,
    succeed,
)
from worker.transitions import order_failed, order_precreated

log = logging.getLogger(__name__)


@app.task(name="alipay.precreate", bind=True, max_retries=None)
def precreate(self, job_id: str, out_trade_no: str | None = None,  # type: ignore[no-untyped-def]
              queued: list[str] | None = None) -> None:
    """Call alipay.trade.precreate for the job's order.

    Idempotent: every attempt, including a redelivery after a worker died, re-sends the same out_trade_no with
    the same content, which Alipay answers with the same QR code. Network failures and gateway system errors
    retry with back-off; Alipay's business refusals end the job `failed` and the order `FAILED`.

    The API's message also names the order and carries the job and the order as it wrote them (`queued`), so
    that the first attempt neither reads them before starting nor before finishing; a message without them
    (requeued by the janitor) reads them.
    """
    if out_trade_no:
        job, records = start_order_attempt(job_id, out_trade_no, queued)
    else:
        job, records = start_attempt(job_id), None
    if job is None:
        return
    request, otn = job["request"], job["out_trade_no"]
    store = services.store()
    try:
        result = trade.precreate(
            services.alipay(), out_trade_no=otn, total_amount=Decimal(request["totalAmount"]),
            subject=request["subject"], store_id=request.get("storeId"),
            timeout_express=request.get("timeoutExpress"), body=request.get("body"),
            notify_url=get_settings().notify_url,
        )
    except BusinessError as exc:
        error = error_record(exc)
        log.info("precreate %s refused: %s %s", otn, exc.code, exc.sub_code)
        if exc.sub_code == "ACQ.TRADE_HAS_SUCCESS":
            store.schedule_poll(otn, time.time())  # paid already: let the poll record it
        else:
            store.update_order(otn, lambda o: order_failed(o, error))
        fail(job_id, error)
        return
    except AlipayError as exc:
        error = error_record(exc)
        try:
            retry_or_give_up(self, job, error,
                             on_give_up=lambda: store.update_order(otn, lambda o: order_failed(o, error)))
        except GiveUp:
            return
    expires_at = deadline(request.get("timeoutExpress") or "15d", datetime.now(UTC)).isoformat()
    qr_code = result.get("qr_code", "")
    succeed(job_id, result, order=(otn, lambda o: order_precreated(o, qr_code=qr_code, expires_at=expires_at)),
            poll_due=time.time() + get_settings().poll_intervals_s[0], expected=records)
