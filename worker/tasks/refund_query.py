"""alipay.refund_query: ask Alipay about a refund (alipay.trade.fastpay.refund.query)."""

from __future__ import annotations

from worker import services
from worker.alipay import trade
from worker.alipay.errors import AlipayError, BusinessError
from worker.celery_app import app
from worker.states import RefundStatus
from worker.tasks.gateway import GiveUp, error_record, fail, retry_or_give_up, start_attempt, succeed
from worker.transitions import refund_settled


@app.task(name="alipay.refund_query", bind=True, max_retries=None)
def refund_query(self, job_id: str) -> None:  # type: ignore[no-untyped-def]
    """Query one refund. A read: retried freely. When it shows a refund the order does not yet count as done
    (a refund whose outcome was unknown), the order is brought up to date."""
    job = start_attempt(job_id)
    if job is None:
        return
    request = job["request"]
    otn, trade_no = request.get("out_trade_no"), request.get("trade_no")
    orn = request.get("out_request_no") or otn
    try:
        answer = trade.refund_query(services.alipay(), out_request_no=orn, out_trade_no=otn, trade_no=trade_no)
    except BusinessError as exc:
        fail(job_id, error_record(exc))
        return
    except AlipayError as exc:
        try:
            retry_or_give_up(self, job, error_record(exc))
        except GiveUp:
            return
    order_no = otn or answer.get("out_trade_no")
    if order_no and trade.refund_done(answer):
        services.store().update_order(order_no, lambda o: refund_settled(o, orn, RefundStatus.REFUND_SUCCESS,
                                                                          answer))
    succeed(job_id, answer)
