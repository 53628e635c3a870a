"""Following an unpaid trade until it is paid, closed, or its `timeoutExpress` passes.

Waiting trades hold no worker slot and no countdown message: each one is a member of a Redis sorted set
scored by the time its next query is due. `dispatch_polls`, run by beat every POLL_TICK_S, claims what is due
(with a lease, so a trade is never polled twice at once) and enqueues one `poll_trades` task per POLLS_PER_TASK
trades, but never more than POLL_MAX_IN_FLIGHT polls enqueued and not yet started (`Store.claim_due_polls`):
when the workers fall behind the cadence, the backlog stays in the schedule, oldest due first, instead of
growing in the broker.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from worker import defaults, services
from worker.alipay import trade
from worker.alipay.errors import AlipayError, BusinessError
from worker.celery_app import app
from worker.logging_json import bind
from worker.settings import get_settings
from worker.states import OrderStatus
from worker.transitions import Record, order_closed, order_trade_status

log = logging.getLogger(__name__)

NOT_SCANNED = "ACQ.TRADE_NOT_EXIST"
STATE_CHANGED = frozenset({"ACQ.TRADE_STATUS_ERROR", "ACQ.REASON_TRADE_STATUS_INVALID", "ACQ.REASON_ILLEGAL_STATUS",
                           "ACQ.TRADE_HAS_SUCCESS", "ACQ.TRADE_HAS_FINISHED", "ACQ.TRADE_HAS_CLOSE"})


def next_interval(elapsed_s: float, intervals: tuple[float, ...]) -> float:
    """The poll interval for a trade precreated `elapsed_s` ago: the schedule is walked by time, not by count,
    so nothing needs to be stored per poll."""
    spent = 0.0
    for interval in intervals:
        spent += interval
        if elapsed_s < spent:
            return interval
    return intervals[-1]


def _seconds_left(order: Record, now: float) -> float:
    expires_at = order.get("expires_at")
    if not expires_at:
        return float("inf")
    return datetime.fromisoformat(expires_at).timestamp() - now


def _created(order: Record) -> float:
    return datetime.fromisoformat(order["created_at"]).timestamp()


@app.task(name="alipay.dispatch_polls")
def dispatch_polls() -> int:
    """Enqueue a poll for the trades that are due, oldest due first, as many as the in-flight budget has room
    for (and at most POLL_BATCH); returns how many. Safe to run twice at once: the count, the claim and the
    in-flight record are one Lua script, and a claimed trade is pushed POLL_LEASE_S ahead."""
    due = services.store().claim_due_polls(time.time(), limit=defaults.POLL_BATCH, lease_s=defaults.POLL_LEASE_S,
                                           max_in_flight=get_settings().poll_max_in_flight)
    for first in range(0, len(due), defaults.POLLS_PER_TASK):
        poll_trades.apply_async((due[first:first + defaults.POLLS_PER_TASK],), expires=defaults.POLL_LEASE_S)
    return len(due)


def _open_order(out_trade_no: str) -> Record | None:
    """The order if it still waits for the buyer; otherwise it leaves the poll schedule and None is returned."""
    store = services.store()
    order = store.get_order(out_trade_no)
    if order is None or not OrderStatus(order["status"]).open:
        store.unschedule_poll(out_trade_no)
        return None
    return order


@app.task(name="alipay.poll_trades")
def poll_trades(out_trade_nos: list[str]) -> None:
    """Poll a few trades one after the other (see `poll_trade` and POLLS_PER_TASK). A trade whose poll fails
    unexpectedly (Redis gone, say) does not hold back the others: it stays leased and is dispatched again when
    its lease runs out."""
    services.store().polls_started(*out_trade_nos)
    for otn in out_trade_nos:
        try:
            _poll(otn)
        except Exception:  # noqa: BLE001 - logged; the lease brings the trade back
            log.exception("poll of %s failed; it is dispatched again when its lease runs out", otn)


@app.task(name="alipay.poll_trade")
def poll_trade(out_trade_no: str) -> None:
    """Poll one trade: what `poll_trades` does for each of its trades."""
    services.store().polls_started(out_trade_no)
    _poll(out_trade_no)


def _poll(out_trade_no: str) -> None:
    """Query the trade once and record what Alipay says; then schedule the next query, or hand the trade to
    `close_trade` when its deadline has passed. `ACQ.TRADE_NOT_EXIST` means the buyer has not scanned yet."""
    bind(out_trade_no=out_trade_no)
    store = services.store()
    order = _open_order(out_trade_no)
    if order is None:
        return
    now = time.time()
    state_known = True
    try:
        answer = trade.query(services.alipay(), out_trade_no=out_trade_no)
        order, _ = store.update_order(
            out_trade_no, lambda o: order_trade_status(o, answer.get("trade_status", ""), trade.payment_fields(answer)))
    except BusinessError as exc:
        if exc.sub_code != NOT_SCANNED:
            log.warning("query %s refused: %s %s", out_trade_no, exc.code, exc.sub_code)
    except AlipayError as exc:
        state_known = False
        log.info("query %s failed (%s); will ask again", out_trade_no, exc.kind)
    if order is None or not OrderStatus(order["status"]).open:
        store.unschedule_poll(out_trade_no)
        return
    left = _seconds_left(order, time.time())
    if left <= 0:
        close_trade.delay(out_trade_no, state_known)
        return
    interval = next_interval(now - _created(order), get_settings().poll_intervals_s)
    store.schedule_poll(out_trade_no, time.time() + min(interval, left))


@app.task(name="alipay.close_trade")
def close_trade(out_trade_no: str, state_known: bool = True) -> None:
    """At the deadline: close the unpaid trade at Alipay (alipay.trade.close), or cancel it
    (alipay.trade.cancel) when the last query could not tell its state, then mark the order TRADE_CLOSED.

    A trade that was never scanned does not exist at Alipay and its QR code has expired: it is closed here.
    When Alipay says the state changed (paid in the last second), the trade is queried again at once; a
    payment always wins. Gateway failures put the trade back on the schedule for another try.
    """
    bind(out_trade_no=out_trade_no)
    store = services.store()
    if _open_order(out_trade_no) is None:
        return
    client = services.alipay()
    try:
        if state_known:
            trade.close(client, out_trade_no=out_trade_no)
            reason = "deadline"
        else:
            answer = trade.cancel(client, out_trade_no=out_trade_no)
            if answer.get("retry_flag") == "Y":
                store.schedule_poll(out_trade_no, time.time() + defaults.DEADLINE_RETRY_S)
                return
            reason = "cancelled" if answer.get("action") != "refund" else "cancelled_refunded"
    except BusinessError as exc:
        if exc.sub_code == NOT_SCANNED:
            reason = "deadline_not_scanned"
        elif exc.sub_code in STATE_CHANGED:
            store.schedule_poll(out_trade_no, time.time())
            return
        else:
            log.warning("closing %s refused: %s %s", out_trade_no, exc.code, exc.sub_code)
            store.schedule_poll(out_trade_no, time.time() + defaults.DEADLINE_RETRY_S)
            return
    except AlipayError as exc:
        log.info("closing %s failed (%s); will try again", out_trade_no, exc.kind)
        store.schedule_poll(out_trade_no, time.time() + defaults.DEADLINE_RETRY_S)
        return
    store.update_order(out_trade_no, lambda o: order_closed(o, reason))
    store.unschedule_poll(out_trade_no)
