"""Our Alipay client against the offline sandbox over real HTTP: all seven methods, and every fault kind
classified the way the worker's retry policy expects (retries keep the same identity and then succeed)."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from sandbox import SandboxConfig, create_app, serve
from tests.conftest import KeySet
from worker.alipay import (
    AlipayClient,
    AlipayError,
    BusinessError,
    GatewayBusy,
    GatewayHTTPError,
    GatewayUnreachable,
    OutcomeUnknown,
    bill,
    trade,
)

APP_ID = "2021000117600099"
READ_TIMEOUT_S = 0.5


class Sandbox:
    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = requests.post(self.url + path, json=payload or {}, timeout=10)
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    def get(self, path: str) -> Any:
        answer = requests.get(self.url + path, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def fault(self, method: str, fault: str, delay_ms: int = 0) -> None:
        self.post("/sandbox/faults", {"method": method, "fault": fault, "times": 1, "delay_ms": delay_ms})

    def calls(self, out_trade_no: str) -> list[dict[str, Any]]:
        return [c for c in self.get("/sandbox/calls") if c.get("out_trade_no") == out_trade_no]


@pytest.fixture
def sandbox(keys: KeySet) -> Iterator[Sandbox]:
    config = SandboxConfig(app_id=APP_ID, app_public_key=keys.app.public_key(), private_key=keys.alipay)
    with serve(create_app(config)) as handle:
        yield Sandbox(handle.url)


@pytest.fixture
def client(sandbox: Sandbox, keys: KeySet) -> Iterator[AlipayClient]:
    with AlipayClient(
        f"{sandbox.url}/gateway.do", APP_ID, keys.app, keys.alipay.public_key(), read_timeout=READ_TIMEOUT_S
    ) as alipay_client:
        yield alipay_client


def order_no() -> str:
    return "IT" + uuid.uuid4().hex[:20]


def precreate(client: AlipayClient, out_trade_no: str, amount: str = "10.00") -> dict[str, Any]:
    return trade.precreate(
        client,
        out_trade_no=out_trade_no,
        total_amount=Decimal(amount),
        subject="测试 order",
        timeout_express="5m",
    )


def test_all_seven_methods(sandbox: Sandbox, client: AlipayClient) -> None:
    otn = order_no()
    created = precreate(client, otn)
    assert created["code"] == "10000" and created["out_trade_no"] == otn
    assert created["qr_code"].startswith(sandbox.url + "/")

    with pytest.raises(BusinessError) as not_scanned:
        trade.query(client, out_trade_no=otn)
    assert not_scanned.value.sub_code == "ACQ.TRADE_NOT_EXIST" and not_scanned.value.verified

    sandbox.post(f"/sandbox/trades/{otn}/scan")
    assert trade.query(client, out_trade_no=otn)["trade_status"] == "WAIT_BUYER_PAY"
    sandbox.post(f"/sandbox/trades/{otn}/pay")
    paid = trade.query(client, out_trade_no=otn)
    assert paid["trade_status"] == "TRADE_SUCCESS" and paid["total_amount"] == "10.00"

    with pytest.raises(BusinessError):
        trade.close(client, out_trade_no=otn)

    refunded = trade.refund(client, refund_amount=Decimal("3"), out_trade_no=otn, out_request_no="R1")
    assert refunded["fund_change"] == "Y" and refunded["refund_fee"] == "3.00"
    again = trade.refund(client, refund_amount=Decimal("3"), out_trade_no=otn, out_request_no="R1")
    assert again["fund_change"] == "N" and again["refund_fee"] == "3.00"
    looked_up = trade.refund_query(client, out_request_no="R1", trade_no=paid["trade_no"])
    assert looked_up["refund_amount"] == "3.00" and looked_up["out_request_no"] == "R1"

    to_close = order_no()
    precreate(client, to_close)
    sandbox.post(f"/sandbox/trades/{to_close}/scan")
    assert trade.close(client, out_trade_no=to_close)["out_trade_no"] == to_close
    assert trade.query(client, out_trade_no=to_close)["trade_status"] == "TRADE_CLOSED"

    to_cancel = order_no()
    precreate(client, to_cancel, "5.00")
    sandbox.post(f"/sandbox/trades/{to_cancel}/pay")
    cancelled = trade.cancel(client, out_trade_no=to_cancel)
    assert cancelled["action"] == "refund" and cancelled["retry_flag"] == "N"

    with pytest.raises(BusinessError) as no_bill_yet:
        bill.download_url(client, bill_date=paid["send_pay_date"][:10])
    assert no_bill_yet.value.sub_code == "BILL_NOT_EXIST"
    sandbox.post("/sandbox/clock", {"advance_s": 86400})
    url = bill.download_url(client, bill_date=paid["send_pay_date"][:10])
    data = bill.download(client, url)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = "".join(archive.read(name).decode("gbk") for name in archive.namelist())
    assert otn in text and to_cancel in text

    assert all(c["sign_ok"] for c in sandbox.get("/sandbox/calls"))


FAULTS: list[tuple[str, int, type[AlipayError]]] = [
    ("reset", 0, GatewayUnreachable),
    ("lost_response", 0, OutcomeUnknown),
    ("delay", 1500, OutcomeUnknown),
    ("http_502", 0, GatewayHTTPError),
    ("unavailable", 0, GatewayBusy),
    ("system_error", 0, GatewayBusy),
]


@pytest.mark.parametrize(("kind", "delay_ms", "expected"), FAULTS)
def test_precreate_faults_then_the_same_request_succeeds(
    sandbox: Sandbox, client: AlipayClient, kind: str, delay_ms: int, expected: type[AlipayError]
) -> None:
    otn = order_no()
    sandbox.fault("alipay.trade.precreate", kind, delay_ms)
    with pytest.raises(expected) as caught:
        precreate(client, otn)
    assert type(caught.value) is expected and caught.value.retryable
    created = precreate(client, otn)
    assert created["out_trade_no"] == otn
    calls = sandbox.calls(otn)
    assert [c.get("fault") for c in calls] == [kind, None]


@pytest.mark.parametrize(("kind", "delay_ms", "expected"), FAULTS)
def test_refund_faults_never_refund_twice(
    sandbox: Sandbox, client: AlipayClient, kind: str, delay_ms: int, expected: type[AlipayError]
) -> None:
    otn = order_no()
    precreate(client, otn)
    sandbox.post(f"/sandbox/trades/{otn}/pay")
    sandbox.fault("alipay.trade.refund", kind, delay_ms)
    with pytest.raises(expected):
        trade.refund(client, refund_amount=Decimal("4.00"), out_trade_no=otn, out_request_no="R1")
    retried = trade.refund(client, refund_amount=Decimal("4.00"), out_trade_no=otn, out_request_no="R1")
    assert retried["refund_fee"] == "4.00"
    processed = kind in ("lost_response", "delay")
    assert retried["fund_change"] == ("N" if processed else "Y")
    assert sandbox.get(f"/sandbox/trades/{otn}")["refunded_amount"] == "4.00"


def test_gateway_error_details(sandbox: Sandbox, client: AlipayClient) -> None:
    otn = order_no()
    sandbox.fault("alipay.trade.query", "unavailable")
    sandbox.fault("alipay.trade.query", "system_error")
    with pytest.raises(GatewayBusy) as unavailable:
        trade.query(client, out_trade_no=otn)
    assert (unavailable.value.code, unavailable.value.sub_code) == ("20000", "isp.unknow-error")
    assert unavailable.value.verified
    with pytest.raises(GatewayBusy) as system_error:
        trade.query(client, out_trade_no=otn)
    assert (system_error.value.code, system_error.value.sub_code) == ("40004", "ACQ.SYSTEM_ERROR")


def test_short_delay_is_just_slow(sandbox: Sandbox, client: AlipayClient) -> None:
    otn = order_no()
    sandbox.fault("alipay.trade.precreate", "delay", 100)
    assert precreate(client, otn)["out_trade_no"] == otn


@pytest.mark.parametrize(
    "call",
    [
        lambda c, otn: trade.close(c, out_trade_no=otn),
        lambda c, otn: trade.cancel(c, out_trade_no=otn),
        lambda c, otn: trade.refund_query(c, out_request_no="R1", out_trade_no=otn),
        lambda c, otn: bill.download_url(c, bill_date="2024-01-01"),
    ],
)
def test_wildcard_faults_reach_every_method(
    sandbox: Sandbox, client: AlipayClient, call: Callable[[AlipayClient, str], Any]
) -> None:
    sandbox.fault("*", "http_502")
    with pytest.raises(GatewayHTTPError):
        call(client, order_no())


def test_wrong_app_key_is_refused_unsigned(sandbox: Sandbox, keys: KeySet) -> None:
    with AlipayClient(f"{sandbox.url}/gateway.do", APP_ID, keys.alipay, keys.alipay.public_key()) as wrong:
        with pytest.raises(BusinessError) as caught:
            trade.query(wrong, out_trade_no=order_no())
    assert caught.value.sub_code == "isv.invalid-signature" and caught.value.verified is False
