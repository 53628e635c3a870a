"""Random interleavings of notifications, polls, deadline closes, refunds and duplicates against the store.

Invariants: an order never leaves a final state wrongly, refunds never exceed the total, and each state change
produces its side effect (a webhook event) exactly once, however often the same news arrives.
"""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from worker.states import OrderStatus, RefundStatus
from worker.store import Store
from worker.transitions import TransitionRefused, order_closed, order_trade_status, refund_settled, refund_totals

TOTAL = Decimal("10.00")
REQUESTS = ["R1", "R2", "R3", "R4"]


class OrderLife(RuleBasedStateMachine):
    client: redis.Redis

    @initialize()
    def create(self) -> None:
        self.store = Store(self.client)
        self.otn = "P" + uuid.uuid4().hex[:16]
        job = {"job_id": uuid.uuid4().hex, "type": "precreate", "status": "queued", "attempts": 0,
               "out_trade_no": self.otn, "request": {}, "result": None, "error": None}
        order = {"out_trade_no": self.otn, "status": "PENDING", "total_amount": str(TOTAL), "refunded_amount": "0.00",
                 "refunds": [], "created_at": "2026-01-01T00:00:00+00:00", "callback_url": "http://127.0.0.1:9/h"}
        self.store.submit_precreate(job, order, "fp")
        self.ever_paid = False
        self.succeeded: set[str] = set()

    def order(self) -> dict:
        order = self.store.get_order(self.otn)
        assert order is not None
        return order

    @rule(status=st.sampled_from(["WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"]),
          source=st.sampled_from(["poll", "notification", "reconciliation"]), copies=st.integers(1, 3))
    def gateway_says(self, status: str, source: str, copies: int) -> None:
        for _ in range(copies):  # duplicates of the same news
            self.store.update_order(self.otn, lambda o: order_trade_status(o, status, {"trade_no": "T1"},
                                                                          source=source))

    @rule(reason=st.sampled_from(["deadline", "deadline_not_scanned", "cancelled"]))
    def deadline_close(self, reason: str) -> None:
        self.store.update_order(self.otn, lambda o: order_closed(o, reason))

    @rule(name=st.sampled_from(REQUESTS), cents=st.integers(1, 1100))
    def ask_refund(self, name: str, cents: int) -> None:
        request = {"out_request_no": name, "refund_amount": str(Decimal(cents) / 100)}
        job = {"job_id": uuid.uuid4().hex, "type": "refund", "status": "queued", "attempts": 0,
               "out_trade_no": self.otn, "request": request, "result": None, "error": None}
        try:
            self.store.submit_refund(job, f"{name}-{cents}")
        except (TransitionRefused, Exception) as exc:  # conflicts and refusals write nothing
            assert isinstance(exc, TransitionRefused) or type(exc).__name__ == "Conflict"

    @rule(name=st.sampled_from(REQUESTS), outcome=st.sampled_from(list(RefundStatus)), copies=st.integers(1, 3))
    def refund_outcome(self, name: str, outcome: RefundStatus, copies: int) -> None:
        for _ in range(copies):
            self.store.update_order(self.otn, lambda o: refund_settled(o, name, outcome))

    @invariant()
    def money_states_and_events_hold(self) -> None:
        order = self.order()
        status = OrderStatus(order["status"])
        refunded, inflight = refund_totals(order)
        assert refunded + inflight <= TOTAL
        assert Decimal(order["refunded_amount"]) == refunded
        if self.ever_paid:
            assert status.paid or (status == OrderStatus.TRADE_CLOSED and order.get("closed_reason") == "refunded")
        self.ever_paid = self.ever_paid or status.paid
        done = {r["out_request_no"] for r in order["refunds"] if r["status"] == RefundStatus.REFUND_SUCCESS}
        assert self.succeeded <= done
        self.succeeded = done
        # Each change has its one event, however many times the same news came.
        kinds = Counter(e["type"] for e in self.store.events_of(self.otn))
        assert kinds["order.paid"] == (1 if self.ever_paid else 0)
        assert kinds["order.refunded"] == sum(r["status"] == RefundStatus.REFUND_SUCCESS for r in order["refunds"])
        assert kinds["order.closed"] <= 1


@pytest.fixture
def machine(redis_db):
    OrderLife.client = redis_db
    return OrderLife


def test_order_life_under_random_interleavings(machine) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(max_examples=60, stateful_step_count=25, deadline=None,
                                                         suppress_health_check=[HealthCheck.function_scoped_fixture]))
