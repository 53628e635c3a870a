"""The gateway's trades and refunds, held in memory behind one lock, with Alipay's state rules.

A precreate only reserves the out_trade_no and issues a QR code: the trade does not exist at the gateway
until the buyer scans (`scan`), so until then query, close, refund and refund query answer
`ACQ.TRADE_NOT_EXIST`. The lifecycle is

    precreated ──scan──▶ WAIT_BUYER_PAY ──pay──▶ TRADE_SUCCESS ──full refund──▶ TRADE_CLOSED
        │                     │                        └─ partial refunds stay TRADE_SUCCESS
        │                     └─ close / cancel / timeout_express ──▶ TRADE_CLOSED
        └─ close / cancel / timeout_express: the QR code is dead, the trade never appears

Every change of a scanned trade's status, and every refund, hands a notification to `emit`. Nothing here
sleeps or does I/O under the lock; `emit` must only queue. State is lost when the process ends.
"""

from __future__ import annotations

import heapq
import json
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sandbox import defaults
from sandbox.clock import SandboxClock
from sandbox.errors import ControlError, business
from sandbox.values import alipay_time, mask_logon_id, money, timeout_deadline

FUND_CHANNEL = "ALIPAYACCOUNT"
_TOKEN_ALPHABET = string.ascii_lowercase + string.digits

Emit = Callable[[str, dict[str, str]], None]
"""Receives (notify_url, business fields of a trade_status_sync notification)."""


class TradeStatus(StrEnum):
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    TRADE_SUCCESS = "TRADE_SUCCESS"
    TRADE_CLOSED = "TRADE_CLOSED"
    TRADE_FINISHED = "TRADE_FINISHED"


@dataclass(frozen=True)
class Order:
    """What a precreate asked for; two precreates of one out_trade_no must carry equal orders."""

    out_trade_no: str
    total_amount: Decimal
    subject: str
    body: str | None = None
    store_id: str | None = None
    operator_id: str | None = None
    terminal_id: str | None = None
    timeout_express: str | None = None
    qr_code_timeout_express: str | None = None


@dataclass
class Refund:
    out_request_no: str
    amount: Decimal
    at: datetime
    reason: str | None = None


@dataclass
class Trade:
    order: Order
    app_id: str
    notify_url: str | None
    qr_token: str
    precreated_at: datetime
    expires_at: datetime
    status: TradeStatus | None = None
    """None until the buyer scans: the trade does not exist at the gateway yet."""
    dead: bool = False
    """The QR code can no longer be scanned or paid."""
    trade_no: str | None = None
    buyer_id: str | None = None
    buyer_logon_id: str | None = None
    gmt_create: datetime | None = None
    gmt_payment: datetime | None = None
    gmt_close: datetime | None = None
    cancel_action: str | None = None
    refunds: list[Refund] = field(default_factory=list)

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds), Decimal("0"))

    def refund(self, out_request_no: str) -> Refund | None:
        return next((r for r in self.refunds if r.out_request_no == out_request_no), None)


@dataclass(frozen=True)
class BillEntry:
    """One row of the daily trade bill: a payment (`refund` None) or a refund."""

    trade_no: str
    out_trade_no: str
    subject: str
    store_id: str | None
    buyer_logon_id: str
    gmt_create: datetime
    finished_at: datetime
    amount: Decimal
    out_request_no: str | None = None

    @property
    def is_refund(self) -> bool:
        return self.out_request_no is not None


class TradeBook:
    """All trades of the sandbox. Every public method is atomic and first closes what has expired."""

    def __init__(self, clock: SandboxClock, emit: Emit, seller_id: str = defaults.SELLER_ID) -> None:
        self._clock = clock
        self._emit = emit
        self._seller_id = seller_id
        self._lock = threading.Lock()
        self._trades: dict[str, Trade] = {}
        self._by_trade_no: dict[str, str] = {}
        self._by_token: dict[str, str] = {}
        self._expiry: list[tuple[datetime, str]] = []
        self._serial = 0

    # --- gateway methods ------------------------------------------------------------------------------

    def precreate(self, app_id: str, order: Order, notify_url: str | None) -> str:
        """Reserve `order.out_trade_no` and return its QR token; the same order again gets the same token."""
        with self._lock:
            now = self._sweep()
            trade = self._trades.get(order.out_trade_no)
            if trade is not None:
                if trade.status is TradeStatus.TRADE_SUCCESS:
                    raise business("ACQ.TRADE_HAS_SUCCESS")
                if trade.dead or trade.status is TradeStatus.TRADE_CLOSED:
                    raise business("ACQ.TRADE_HAS_CLOSE")
                if trade.order != order:
                    raise business("ACQ.CONTEXT_INCONSISTENT")
                return trade.qr_token
            limits = [timeout_deadline(t, now) for t in (order.timeout_express, order.qr_code_timeout_express)
                      if t]
            expires_at = min(limits) if limits else timeout_deadline(defaults.PRECREATE_TIMEOUT, now)
            token = "bax" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(21))
            trade = Trade(order=order, app_id=app_id, notify_url=notify_url, qr_token=token,
                          precreated_at=now, expires_at=expires_at)
            self._trades[order.out_trade_no] = trade
            self._by_token[token] = order.out_trade_no
            heapq.heappush(self._expiry, (expires_at, order.out_trade_no))
            return token

    def query(self, trade_no: str | None, out_trade_no: str | None) -> dict[str, Any]:
        with self._lock:
            self._sweep()
            trade = self._lookup(trade_no, out_trade_no)
            if trade is None or trade.status is None:
                echo = {"out_trade_no": out_trade_no} if out_trade_no and not trade_no else {}
                raise business("ACQ.TRADE_NOT_EXIST", **echo, buyer_pay_amount="0.00", invoice_amount="0.00",
                               point_amount="0.00", receipt_amount="0.00")
            return self._query_fields(trade)

    def close(self, trade_no: str | None, out_trade_no: str | None) -> dict[str, Any]:
        """Close a WAIT_BUYER_PAY trade. An unscanned precreate answers TRADE_NOT_EXIST but its QR code dies."""
        with self._lock:
            now = self._sweep()
            trade = self._lookup(trade_no, out_trade_no)
            if trade is None:
                raise business("ACQ.TRADE_NOT_EXIST")
            if trade.status is None:
                trade.dead = True
                raise business("ACQ.TRADE_NOT_EXIST")
            if trade.status is not TradeStatus.WAIT_BUYER_PAY:
                raise business("ACQ.TRADE_STATUS_ERROR")
            self._close(trade, now)
            return {"trade_no": trade.trade_no, "out_trade_no": trade.order.out_trade_no}

    def cancel(self, trade_no: str | None, out_trade_no: str | None) -> dict[str, Any]:
        """Undo a trade whatever its state: close it if unpaid (even unscanned), refund it in full if paid."""
        with self._lock:
            now = self._sweep()
            trade = self._lookup(trade_no, out_trade_no)
            if trade is None:
                raise business("ACQ.TRADE_NOT_EXIST")
            refund: Refund | None = None
            if trade.status is None:
                trade.dead = True
                trade.cancel_action = trade.cancel_action or "close"
            elif trade.status is TradeStatus.WAIT_BUYER_PAY:
                self._close(trade, now)
                trade.cancel_action = "close"
            elif trade.status is TradeStatus.TRADE_SUCCESS:
                ron = trade.order.out_trade_no
                if trade.refund(ron) is not None:
                    ron += "_cancel"
                refund = self._add_refund(trade, ron, trade.order.total_amount - trade.refunded, now, "cancel")
                trade.cancel_action = "refund"
            elif trade.cancel_action is None:
                trade.cancel_action = "refund" if trade.gmt_payment else "close"
            answer: dict[str, Any] = {"trade_no": trade.trade_no, "out_trade_no": trade.order.out_trade_no,
                                      "retry_flag": "N", "action": trade.cancel_action}
            if refund is not None:
                answer["gmt_refund_pay"] = alipay_time(refund.at)
            return {k: v for k, v in answer.items() if v is not None}

    def refund(self, trade_no: str | None, out_trade_no: str | None, amount: Decimal,
               out_request_no: str | None, reason: str | None = None) -> dict[str, Any]:
        """Refund `amount` once per out_request_no (the out_trade_no when absent); a repeat changes nothing."""
        with self._lock:
            now = self._sweep()
            trade = self._lookup(trade_no, out_trade_no)
            if trade is None or trade.status is None:
                raise business("ACQ.TRADE_NOT_EXIST")
            ron = out_request_no or trade.order.out_trade_no
            done = trade.refund(ron)
            if done is not None:
                if done.amount != amount:
                    raise business("ACQ.DISCORDANT_REPEAT_REQUEST")
                return self._refund_fields(trade, done, fund_change="N")
            if trade.status is not TradeStatus.TRADE_SUCCESS:
                raise business("ACQ.TRADE_STATUS_ERROR")
            if out_request_no is None and amount != trade.order.total_amount:
                raise business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
            if trade.refunded + amount > trade.order.total_amount:
                raise business("ACQ.REASON_TRADE_REFUND_FEE_ERR")
            refund = self._add_refund(trade, ron, amount, now, reason)
            return self._refund_fields(trade, refund, fund_change="Y")

    def refund_query(self, trade_no: str | None, out_trade_no: str | None,
                     out_request_no: str) -> dict[str, Any]:
        """The refund's fields, or only the trade's numbers when that refund never happened (Alipay's way)."""
        with self._lock:
            self._sweep()
            trade = self._lookup(trade_no, out_trade_no)
            if trade is None or trade.status is None:
                raise business("ACQ.TRADE_NOT_EXIST")
            answer: dict[str, Any] = {"trade_no": trade.trade_no, "out_trade_no": trade.order.out_trade_no}
            refund = trade.refund(out_request_no)
            if refund is not None:
                answer.update(
                    out_request_no=refund.out_request_no,
                    total_amount=money(trade.order.total_amount),
                    refund_amount=money(refund.amount),
                    refund_status="REFUND_SUCCESS",
                    gmt_refund_pay=alipay_time(refund.at),
                    send_back_fee=money(refund.amount),
                )
                if refund.reason:
                    answer["refund_reason"] = refund.reason
            return answer

    # --- the buyer, through the control API -----------------------------------------------------------

    def scan(self, out_trade_no: str, buyer_id: str | None = None,
             buyer_logon_id: str | None = None) -> dict[str, Any]:
        """The buyer scans: the trade comes into existence as WAIT_BUYER_PAY. Scanning twice changes nothing."""
        with self._lock:
            now = self._sweep()
            trade = self._payable(out_trade_no)
            if trade.status is None:
                self._scan(trade, now, buyer_id, buyer_logon_id)
            return self._view(trade)

    def pay(self, out_trade_no: str, buyer_id: str | None = None,
            buyer_logon_id: str | None = None) -> dict[str, Any]:
        """The buyer pays (scanning first when needed): TRADE_SUCCESS and a notification."""
        with self._lock:
            now = self._sweep()
            trade = self._payable(out_trade_no)
            if trade.status is None:
                self._scan(trade, now, buyer_id, buyer_logon_id)
            trade.status = TradeStatus.TRADE_SUCCESS
            trade.gmt_payment = now
            self._notify(trade)
            return self._view(trade)

    # --- read models ----------------------------------------------------------------------------------

    def view(self, out_trade_no: str) -> dict[str, Any] | None:
        with self._lock:
            self._sweep()
            trade = self._trades.get(out_trade_no)
            return self._view(trade) if trade else None

    def view_by_token(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            self._sweep()
            otn = self._by_token.get(token)
            return self._view(self._trades[otn]) if otn else None

    def views(self) -> list[dict[str, Any]]:
        with self._lock:
            self._sweep()
            return [self._view(t) for t in self._trades.values()]

    def bill_entries(self, start: datetime, end: datetime) -> list[BillEntry]:
        """Payments and refunds completed in [start, end), in completion order."""
        with self._lock:
            self._sweep()
            rows: list[BillEntry] = []
            for t in self._trades.values():
                if t.gmt_payment is None or t.trade_no is None or t.gmt_create is None:
                    continue
                payment = BillEntry(trade_no=t.trade_no, out_trade_no=t.order.out_trade_no,
                                    subject=t.order.subject, store_id=t.order.store_id,
                                    buyer_logon_id=mask_logon_id(t.buyer_logon_id or ""), gmt_create=t.gmt_create,
                                    finished_at=t.gmt_payment, amount=t.order.total_amount)
                if start <= t.gmt_payment < end:
                    rows.append(payment)
                rows.extend(replace(payment, finished_at=r.at, amount=-r.amount, out_request_no=r.out_request_no)
                            for r in t.refunds if start <= r.at < end)
            rows.sort(key=lambda e: (e.finished_at, e.trade_no, e.is_refund))
            return rows

    def sweep(self) -> None:
        """Close whatever `timeout_express` says is over; the background thread calls this regularly."""
        with self._lock:
            self._sweep()

    def next_expiry(self) -> datetime | None:
        with self._lock:
            return self._expiry[0][0] if self._expiry else None

    # --- internals (lock held) ------------------------------------------------------------------------

    def _sweep(self) -> datetime:
        now = self._clock.now()
        while self._expiry and self._expiry[0][0] <= now:
            expires_at, otn = heapq.heappop(self._expiry)
            trade = self._trades.get(otn)
            if trade is None or trade.dead:
                continue
            if trade.status is None:
                trade.dead = True
            elif trade.status is TradeStatus.WAIT_BUYER_PAY:
                self._close(trade, expires_at)
        return now

    def _lookup(self, trade_no: str | None, out_trade_no: str | None) -> Trade | None:
        if trade_no:
            otn = self._by_trade_no.get(trade_no)
            return self._trades.get(otn) if otn else None
        return self._trades.get(out_trade_no) if out_trade_no else None

    def _payable(self, out_trade_no: str) -> Trade:
        trade = self._trades.get(out_trade_no)
        if trade is None:
            raise ControlError(404, "not_found", f"no precreate for out_trade_no {out_trade_no}")
        if trade.status is TradeStatus.TRADE_SUCCESS:
            raise ControlError(409, "already_paid", "the trade is already paid")
        if trade.dead or trade.status is TradeStatus.TRADE_CLOSED:
            raise ControlError(409, "trade_closed", "the trade is closed; its QR code can no longer be paid")
        return trade

    def _scan(self, trade: Trade, now: datetime, buyer_id: str | None, buyer_logon_id: str | None) -> None:
        self._serial += 1
        trade.trade_no = f"{alipay_time(now)[:10].replace('-', '')}2200140{self._serial:013d}"
        trade.status = TradeStatus.WAIT_BUYER_PAY
        trade.gmt_create = now
        trade.buyer_id = buyer_id or defaults.BUYER_ID
        trade.buyer_logon_id = buyer_logon_id or defaults.BUYER_LOGON_ID
        self._by_trade_no[trade.trade_no] = trade.order.out_trade_no

    def _close(self, trade: Trade, at: datetime) -> None:
        trade.status = TradeStatus.TRADE_CLOSED
        trade.dead = True
        trade.gmt_close = at
        self._notify(trade)

    def _add_refund(self, trade: Trade, out_request_no: str, amount: Decimal, now: datetime,
                    reason: str | None) -> Refund:
        refund = Refund(out_request_no, amount, now, reason)
        trade.refunds.append(refund)
        if trade.refunded >= trade.order.total_amount:
            trade.status = TradeStatus.TRADE_CLOSED
            trade.dead = True
            trade.gmt_close = now
        self._notify(trade, refund)
        return refund

    def _notify(self, trade: Trade, refund: Refund | None = None) -> None:
        """Queue the trade_status_sync notification for the trade as it is now."""
        if not trade.notify_url or trade.status is None:
            return
        order = trade.order
        fields: dict[str, str | None] = {
            "trade_no": trade.trade_no,
            "out_trade_no": order.out_trade_no,
            "buyer_id": trade.buyer_id,
            "buyer_logon_id": mask_logon_id(trade.buyer_logon_id or ""),
            "seller_id": self._seller_id,
            "trade_status": trade.status.value,
            "total_amount": money(order.total_amount),
            "subject": order.subject,
            "body": order.body,
            "gmt_create": alipay_time(trade.gmt_create) if trade.gmt_create else None,
            "gmt_close": alipay_time(trade.gmt_close) if trade.gmt_close else None,
        }
        if trade.gmt_payment is not None:
            paid = money(order.total_amount)
            fields.update(
                receipt_amount=paid, invoice_amount=paid, buyer_pay_amount=paid, point_amount="0.00",
                gmt_payment=alipay_time(trade.gmt_payment),
                fund_bill_list=json.dumps([{"amount": paid, "fundChannel": FUND_CHANNEL}], separators=(",", ":")),
            )
        if refund is not None:
            fields.update(refund_fee=money(trade.refunded), gmt_refund=alipay_time(refund.at),
                          out_biz_no=refund.out_request_no)
        self._emit(trade.notify_url, {k: v for k, v in fields.items() if v})

    def _query_fields(self, trade: Trade) -> dict[str, Any]:
        order = trade.order
        paid = money(order.total_amount) if trade.gmt_payment else "0.00"
        fields: dict[str, Any] = {
            "trade_no": trade.trade_no,
            "out_trade_no": order.out_trade_no,
            "buyer_logon_id": mask_logon_id(trade.buyer_logon_id or ""),
            "buyer_user_id": trade.buyer_id,
            "trade_status": trade.status.value if trade.status else None,
            "total_amount": money(order.total_amount),
            "buyer_pay_amount": paid,
            "receipt_amount": paid,
            "invoice_amount": paid,
            "point_amount": "0.00",
            "send_pay_date": alipay_time(trade.gmt_payment) if trade.gmt_payment else None,
            "store_id": order.store_id,
            "terminal_id": order.terminal_id,
        }
        if trade.gmt_payment:
            fields["fund_bill_list"] = [{"fund_channel": FUND_CHANNEL, "amount": paid, "real_amount": paid}]
        return {k: v for k, v in fields.items() if v is not None}

    def _refund_fields(self, trade: Trade, refund: Refund, fund_change: str) -> dict[str, Any]:
        amount = money(refund.amount)
        return {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.order.out_trade_no,
            "buyer_logon_id": mask_logon_id(trade.buyer_logon_id or ""),
            "buyer_user_id": trade.buyer_id,
            "fund_change": fund_change,
            "refund_fee": money(trade.refunded),
            "gmt_refund_pay": alipay_time(refund.at),
            "send_back_fee": amount,
            "refund_detail_item_list": [{"fund_channel": FUND_CHANNEL, "amount": amount, "real_amount": amount}],
        }

    def _view(self, trade: Trade) -> dict[str, Any]:
        order = trade.order

        def when(moment: datetime | None) -> str | None:
            return alipay_time(moment) if moment else None

        return {
            "out_trade_no": order.out_trade_no,
            "trade_no": trade.trade_no,
            "trade_status": trade.status.value if trade.status else None,
            "scanned": trade.status is not None,
            "payable": not trade.dead and trade.status in (None, TradeStatus.WAIT_BUYER_PAY),
            "total_amount": money(order.total_amount),
            "refunded_amount": money(trade.refunded),
            "refunds": [{"out_request_no": r.out_request_no, "refund_amount": money(r.amount),
                         "gmt_refund": alipay_time(r.at)} for r in trade.refunds],
            "notify_url": trade.notify_url,
            "subject": order.subject,
            "body": order.body,
            "store_id": order.store_id,
            "timeout_express": order.timeout_express,
            "app_id": trade.app_id,
            "qr_token": trade.qr_token,
            "precreated_at": when(trade.precreated_at),
            "expires_at": when(trade.expires_at),
            "gmt_create": when(trade.gmt_create),
            "gmt_payment": when(trade.gmt_payment),
            "gmt_close": when(trade.gmt_close),
            "buyer_user_id": trade.buyer_id,
            "buyer_logon_id": mask_logon_id(trade.buyer_logon_id) if trade.buyer_logon_id else None,
        }
