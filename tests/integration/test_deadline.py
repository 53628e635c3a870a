"""An unpaid trade is polled until its timeoutExpress passes, then closed at the gateway."""

from __future__ import annotations

import time
from datetime import datetime

from tests.integration.stack import Stack, eventually


def test_unpaid_trades_are_closed_at_their_deadline(stack: Stack) -> None:
    scanned, first = stack.precreate("1.00", timeout_express="1m")
    unscanned, second = stack.precreate("1.00", timeout_express="1m")
    for body in (first, second):
        assert stack.job(body["job_id"])["status"] == "succeeded"
    assert stack.sandbox_post(f"/sandbox/trades/{scanned}/scan").status_code < 300
    stack.wait_order(scanned, lambda o: o["status"] == "WAIT_BUYER_PAY")
    expires = datetime.fromisoformat(stack.order(unscanned)["expires_at"]).timestamp()
    assert 50 < expires - time.time() <= 60

    closed = eventually(lambda: all(stack.order(o)["status"] == "TRADE_CLOSED" for o in (scanned, unscanned)),
                        timeout=90, interval=0.5, message="both orders closed")
    assert closed
    assert time.time() >= expires - 1
    assert stack.order(unscanned)["closed_reason"] == "deadline_not_scanned"
    # The sandbox closes its own copy at the same moment; whoever is first, the order ends closed.
    assert stack.order(scanned)["closed_reason"] in ("deadline", "poll", "notification")
    assert stack.gateway_trade(scanned)["trade_status"] == "TRADE_CLOSED"
    queries = stack.calls(unscanned, "alipay.trade.query")
    assert len(queries) >= 5  # polled on its cadence while waiting
    assert [c["method"] for c in stack.calls(unscanned)][-1] == "alipay.trade.close"
    # No poll after the close: the trade left the schedule.
    count = len(stack.calls(unscanned))
    time.sleep(1.5)
    assert len(stack.calls(unscanned)) == count
