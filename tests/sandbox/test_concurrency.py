"""Concurrent calls never break the refund rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.sandbox.helpers import signed_params


def test_twenty_concurrent_refunds_never_exceed_the_total(sdk, sandbox, app_key, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="c", out_trade_no=no, total_amount="10.00")
    sandbox.pay(no)
    requests_params = [
        signed_params("alipay.trade.refund",
                      {"out_trade_no": no, "refund_amount": "1.00", "out_request_no": f"R{i % 15}"}, app_key)
        for i in range(20)
    ]

    def refund(params: dict) -> dict:
        return requests.get(sandbox.gateway, params=params, timeout=20).json()["alipay_trade_refund_response"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(refund, requests_params))
    moved = [a for a in answers if a.get("fund_change") == "Y"]
    assert len(moved) == 10
    refused = {"ACQ.REASON_TRADE_REFUND_FEE_ERR", "ACQ.TRADE_STATUS_ERROR"}  # the latter once fully refunded
    assert all(a["code"] == "10000" or a["sub_code"] in refused for a in answers), answers
    view = sandbox.trade(no)
    assert view["refunded_amount"] == "10.00" and len(view["refunds"]) == 10
    assert len({r["out_request_no"] for r in view["refunds"]}) == 10
    assert view["trade_status"] == "TRADE_CLOSED"
