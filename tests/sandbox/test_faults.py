"""Injected faults, observed with a real HTTP client."""

from __future__ import annotations

import http.client
import json
import time

import pytest
import requests

from tests.sandbox.helpers import response_node, signed_params
from worker.alipay.signing import verify


def refund_params(app_key, no: str, out_request_no: str, amount: str = "1.00") -> dict:
    return signed_params("alipay.trade.refund",
                         {"out_trade_no": no, "refund_amount": amount, "out_request_no": out_request_no}, app_key)


@pytest.fixture
def paid(sdk, sandbox, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="f", out_trade_no=no, total_amount="10.00")
    sandbox.pay(no)
    return no


def connection_error(url: str, params: dict) -> BaseException:
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get(url, params=params, timeout=10)
    reason = caught.value.args[0]
    return reason.args[1] if len(getattr(reason, "args", ())) > 1 else reason


def test_reset_drops_the_connection_before_processing(sandbox, app_key, paid):
    sandbox.fault("alipay.trade.refund", "reset")
    cause = connection_error(sandbox.gateway, refund_params(app_key, paid, "R1"))
    assert isinstance(cause, ConnectionResetError) and cause.errno == 104
    assert not isinstance(cause, http.client.RemoteDisconnected)
    assert sandbox.trade(paid)["refunded_amount"] == "0.00", "not processed"
    (call,) = sandbox.calls(paid)[-1:]
    assert call["fault"] == "reset" and call["code"] is None and call["out_request_no"] == "R1"
    assert requests.get(sandbox.gateway, params=refund_params(app_key, paid, "R1"), timeout=10).status_code == 200
    assert sandbox.trade(paid)["refunded_amount"] == "1.00"


def test_lost_response_processes_then_closes_without_answering(sandbox, app_key, paid):
    sandbox.fault("alipay.trade.refund", "lost_response")
    cause = connection_error(sandbox.gateway, refund_params(app_key, paid, "R1"))
    assert isinstance(cause, http.client.RemoteDisconnected)
    assert sandbox.trade(paid)["refunded_amount"] == "1.00", "processed"
    call = sandbox.calls(paid)[-1]
    assert call["fault"] == "lost_response" and call["code"] == "10000"
    retry = requests.get(sandbox.gateway, params=refund_params(app_key, paid, "R1"), timeout=10).json()
    assert retry["alipay_trade_refund_response"]["fund_change"] == "N"
    assert sandbox.trade(paid)["refunded_amount"] == "1.00"


def test_delay_answers_late(sandbox, app_key, paid):
    sandbox.fault("alipay.trade.query", "delay", delay_ms=300)
    params = signed_params("alipay.trade.query", {"out_trade_no": paid}, app_key)
    started = time.monotonic()
    r = requests.get(sandbox.gateway, params=params, timeout=10)
    assert time.monotonic() - started >= 0.3
    assert r.json()["alipay_trade_query_response"]["trade_status"] == "TRADE_SUCCESS"
    with pytest.raises(requests.ReadTimeout):
        sandbox.fault("alipay.trade.refund", "delay", delay_ms=1500)
        requests.get(sandbox.gateway, params=refund_params(app_key, paid, "R9"), timeout=0.5)
    assert sandbox.trade(paid)["refunded_amount"] == "1.00", "a timed-out call may still have happened"


def test_http_502_is_not_processed(sandbox, app_key, paid):
    sandbox.fault("alipay.trade.refund", "http_502")
    r = requests.get(sandbox.gateway, params=refund_params(app_key, paid, "R1"), timeout=10)
    assert r.status_code == 502 and "Bad Gateway" in r.text
    assert sandbox.trade(paid)["refunded_amount"] == "0.00"


@pytest.mark.parametrize(("kind", "code", "sub_code"), [
    ("unavailable", "20000", "isp.unknow-error"),
    ("system_error", "40004", "ACQ.SYSTEM_ERROR"),
])
def test_signed_gateway_failures_are_not_processed(sandbox, app_key, alipay_key, paid, kind, code, sub_code):
    sandbox.fault("alipay.trade.refund", kind)
    r = requests.get(sandbox.gateway, params=refund_params(app_key, paid, "R1"), timeout=10)
    raw = response_node(r.text, "alipay_trade_refund_response")
    assert verify(alipay_key.public_key(), raw, r.json()["sign"])
    node = json.loads(raw)
    assert node["code"] == code and node["sub_code"] == sub_code
    if kind == "unavailable":
        assert node["msg"] == "Service Currently Unavailable"
    assert sandbox.trade(paid)["refunded_amount"] == "0.00"


def test_times_counts_down_and_faults_queue_in_order(sandbox, app_key, paid):
    sandbox.fault("alipay.trade.query", "http_502", times=2)
    sandbox.fault("*", "system_error")
    params = signed_params("alipay.trade.query", {"out_trade_no": paid}, app_key)
    assert [requests.get(sandbox.gateway, params=params, timeout=10).status_code for _ in range(2)] == [502, 502]
    third = requests.get(sandbox.gateway, params=params, timeout=10).json()["alipay_trade_query_response"]
    assert third["sub_code"] == "ACQ.SYSTEM_ERROR"
    fourth = requests.get(sandbox.gateway, params=params, timeout=10).json()["alipay_trade_query_response"]
    assert fourth["code"] == "10000"
    assert sandbox.get("/sandbox/faults").json() == []
    faults = [c["fault"] for c in sandbox.calls(paid) if c["method"] == "alipay.trade.query"]
    assert faults == ["http_502", "http_502", "system_error", None]


def test_a_fault_for_one_method_leaves_others_alone(sandbox, app_key, paid):
    sandbox.fault("alipay.trade.refund", "http_502")
    params = signed_params("alipay.trade.query", {"out_trade_no": paid}, app_key)
    assert requests.get(sandbox.gateway, params=params, timeout=10).status_code == 200
    assert len(sandbox.get("/sandbox/faults").json()) == 1
    assert sandbox.post("/sandbox/faults", json={"fault": "reset"}).status_code == 201
    assert sandbox.delete("/sandbox/faults") == {"cleared": 2}


def test_faults_of_one_method_can_be_cleared_alone(sandbox):
    sandbox.fault("alipay.trade.query", "delay", times=5, delay_ms=10)
    sandbox.fault("notify", "reset", times=5)
    assert sandbox.delete("/sandbox/faults?method=alipay.trade.query") == {"cleared": 1}
    assert [f["method"] for f in sandbox.get("/sandbox/faults").json()] == ["notify"]
    assert sandbox.delete("/sandbox/faults") == {"cleared": 1}


@pytest.mark.parametrize("body", [
    {"method": "alipay.trade.nope", "fault": "reset"},
    {"method": "*", "fault": "explode"},
    {"method": "*", "fault": "reset", "times": 0},
    {"method": "*", "fault": "delay", "delay_ms": -1},
    {"method": "*", "fault": "delay", "times": "2"},
])
def test_fault_requests_are_checked(sandbox, body):
    r = sandbox.post("/sandbox/faults", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"].startswith("invalid_")
