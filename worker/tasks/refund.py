"""alipay.refund: refund part or all of a paid order, exactly once, whatever fails on the way."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from worker import services
from worker.alipay import trade
from worker.alipay.errors import AlipayError, BusinessError
from worker.celery_app import app
from worker.states import RefundStatus
from worker.tasks.gateway import GiveUp, error_record, fail, retry_or_give_up, start_attempt, succeed
from worker.transitions import find_refund, refund_settled

log = logging.getLogger(__name__)


@app.task(name="alipay.refund", bind=True, max_retries=None)
def refund(self, job_id: str) -> None:  # type: ignore[no-untyped-def]
    """Call alipay.trade.refund with the job's out_request_no, reserved on the order when it was submitted.

    Every attempt re-sends the same out_trade_no + out_request_no + amount, which Alipay never applies twice.
    An answer with fund_change `N` (the refund was already applied, or is not yet visible) is confirmed with
    alipay.trade.fastpay.refund.query before the job succeeds. Network failures and system errors retry with
    back-off; when attempts run out the refund stays reserved as UNKNOWN for reconciliation, never released
    on a guess. A business refusal ends the job `failed` and frees the reserved amount.
    """
    job = start_attempt(job_id)
    if job is None:
        return
    request, otn = job["request"], job["out_trade_no"]
    orn = request["out_request_no"]
    store, client = services.store(), services.alipay()
    try:
        answer = trade.refund(client, out_trade_no=otn, refund_amount=Decimal(request["refund_amount"]),
                              out_request_no=orn, refund_reason=request.get("refund_reason"))
        confirmed = answer.get("fund_change") == "Y" or trade.refund_done(
            trade.refund_query(client, out_trade_no=otn, out_request_no=orn))
    except BusinessError as exc:
        error = error_record(exc)
        log.info("refund %s/%s refused: %s %s", otn, orn, exc.code, exc.sub_code)
        store.update_order(otn, lambda o: refund_settled(o, orn, RefundStatus.FAILED))
        fail(job_id, error)
        return
    except AlipayError as exc:
        _retry(self, job, error_record(exc), otn, orn)
        return
    if not confirmed:
        _retry(self, job, {"code": "refund_not_confirmed", "kind": "unknown", "sub_code": None, "sub_msg": None,
                           "msg": "Alipay answered fund_change N and the refund query does not show it yet."},
               otn, orn)
        return
    store.update_order(otn, lambda o: refund_settled(o, orn, RefundStatus.REFUND_SUCCESS, answer))
    succeed(job_id, answer)


def _retry(task: Any, job: dict[str, Any], error: dict[str, Any], otn: str, orn: str) -> None:
    store = services.store()
    order = store.get_order(otn) or {}
    known = find_refund(order, orn)
    if known is not None and known["status"] == RefundStatus.REFUND_SUCCESS:
        # A verified notification (or a refund query) already showed the refund done: nothing is unknown.
        succeed(job["job_id"], {"out_trade_no": otn, "out_request_no": orn, "refund_amount": known["refund_amount"],
                                "refund_status": "REFUND_SUCCESS", "confirmed_by": "order"})
        return
    try:
        retry_or_give_up(task, job, error,
                         on_give_up=lambda: store.update_order(
                             otn, lambda o: refund_settled(o, orn, RefundStatus.UNKNOWN)))
    except GiveUp:
        return
