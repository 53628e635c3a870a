"""One function per API method: what each sends, what it checks before sending, and the bill download."""

from __future__ import annotations

import io
import json
import socket
import zipfile
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import KeySet
from worker.alipay import (
    AlipayClient,
    GatewayHTTPError,
    GatewayUnreachable,
    MalformedResponse,
    OutcomeUnknown,
    bill,
    trade,
)

from .conftest import FakeGateway, Reply, signed_body

OK = '{"code":"10000","msg":"Success"}'


@pytest.mark.parametrize(
    ("call", "method", "biz"),
    [
        (
            lambda c: trade.precreate(
                c,
                out_trade_no="O1",
                total_amount=Decimal("0.01"),
                subject="s",
                store_id="NJ_001",
                timeout_express="5m",
                body="b",
            ),
            "alipay.trade.precreate",
            {
                "out_trade_no": "O1",
                "total_amount": "0.01",
                "subject": "s",
                "store_id": "NJ_001",
                "timeout_express": "5m",
                "body": "b",
            },
        ),
        (lambda c: trade.query(c, trade_no="T9"), "alipay.trade.query", {"trade_no": "T9"}),
        (lambda c: trade.close(c, out_trade_no="O1"), "alipay.trade.close", {"out_trade_no": "O1"}),
        (
            lambda c: trade.cancel(c, out_trade_no="O1", trade_no="T9"),
            "alipay.trade.cancel",
            {"out_trade_no": "O1", "trade_no": "T9"},
        ),
        (
            lambda c: trade.refund(
                c, refund_amount=Decimal("10"), out_trade_no="O1", out_request_no="R1", refund_reason="退货"
            ),
            "alipay.trade.refund",
            {"out_trade_no": "O1", "refund_amount": "10.00", "out_request_no": "R1", "refund_reason": "退货"},
        ),
        (
            lambda c: trade.refund_query(c, out_request_no="R1", out_trade_no="O1"),
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": "O1", "out_request_no": "R1"},
        ),
        (
            lambda c: bill.download_url(c, bill_date=date(2024, 1, 1)),
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": "2024-01-01"},
        ),
    ],
)
def test_each_method_sends_its_biz_content(
    gateway: FakeGateway,
    client: AlipayClient,
    keys: KeySet,
    call: Callable[[AlipayClient], Any],
    method: str,
    biz: dict[str, str],
) -> None:
    node = '{"code":"10000","msg":"Success","bill_download_url":"http://127.0.0.1/bill.zip"}'
    gateway.answer(Reply(signed_body(method, node, keys.alipay)))
    call(client)
    assert gateway.last.query["method"] == method
    assert json.loads(gateway.last.form["biz_content"]) == biz
    assert ("notify_url" in gateway.last.query) == (method == "alipay.trade.precreate")


def test_precreate_notify_url_overrides_the_default(
    gateway: FakeGateway, client: AlipayClient, keys: KeySet
) -> None:
    gateway.answer(Reply(signed_body("alipay.trade.precreate", OK, keys.alipay)))
    trade.precreate(
        client, out_trade_no="O1", total_amount=Decimal("1"), subject="s", notify_url="https://n/x"
    )
    assert gateway.last.query["notify_url"] == "https://n/x"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: trade.query(c), ValueError),
        (lambda c: trade.close(c, out_trade_no=""), ValueError),
        (lambda c: trade.cancel(c), ValueError),
        (lambda c: trade.refund(c, refund_amount=Decimal("1")), ValueError),
        (lambda c: trade.refund_query(c, out_request_no="R1"), ValueError),
        (lambda c: trade.refund_query(c, out_request_no="", out_trade_no="O1"), ValueError),
        (lambda c: trade.refund(c, refund_amount=1.5, out_trade_no="O1"), TypeError),
        (lambda c: trade.refund(c, refund_amount=Decimal("0"), out_trade_no="O1"), ValueError),
        (lambda c: trade.refund(c, refund_amount=Decimal("1.001"), out_trade_no="O1"), ValueError),
        (
            lambda c: trade.precreate(c, out_trade_no="O", total_amount=Decimal("100000000.01"), subject="s"),
            ValueError,
        ),
        (lambda c: trade.precreate(c, out_trade_no="O", total_amount="1.00", subject="s"), TypeError),
        (lambda c: trade.precreate(c, out_trade_no="", total_amount=Decimal("1"), subject="s"), ValueError),
        (lambda c: bill.download_url(c, bill_date="2024/01/01"), ValueError),
    ],
)
def test_bad_arguments_never_reach_the_gateway(
    gateway: FakeGateway, client: AlipayClient, call: Callable[[AlipayClient], Any], error: type
) -> None:
    with pytest.raises(error):
        call(client)
    assert gateway.received == []


def test_monthly_bill_url(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    node = '{"code":"10000","msg":"Success","bill_download_url":"http:\\/\\/127.0.0.1\\/b.zip?x=1&y=2"}'
    gateway.answer(Reply(signed_body(bill.METHOD, node, keys.alipay)))
    assert (
        bill.download_url(client, bill_date="2024-01", bill_type="signcustomer")
        == "http://127.0.0.1/b.zip?x=1&y=2"
    )


def test_bill_url_missing_from_a_success(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    gateway.answer(Reply(signed_body(bill.METHOD, OK, keys.alipay)))
    with pytest.raises(MalformedResponse):
        bill.download_url(client, bill_date="2024-01-01")


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("20880000_20240101.csv", "#支付宝交易明细\n".encode("gbk"))
    return buffer.getvalue()


def test_download_the_zip(gateway: FakeGateway, client: AlipayClient) -> None:
    data = a_zip()
    gateway.answer(Reply(data, content_type="application/zip"), Reply(data))
    base = gateway.url.replace("/gateway.do", "/bill.zip")
    assert bill.download(client, f"{base}?fileId=1") == data
    assert bill.download(client.pool, f"{base}?fileId=2") == data
    assert [(r.method, r.query) for r in gateway.received] == [
        ("GET", {"fileId": "1"}),
        ("GET", {"fileId": "2"}),
    ]


def test_download_follows_redirects(gateway: FakeGateway, client: AlipayClient) -> None:
    data = a_zip()
    base = gateway.url.replace("/gateway.do", "")
    gateway.answer(
        Reply("", status=302, headers={"Location": "/moved.zip?fileId=1"}),
        Reply("", status=301, headers={"Location": f"{base}/final.zip?fileId=1&a=%7E"}),
        Reply(data),
    )
    assert bill.download(client, f"{base}/bill.zip?fileId=1") == data
    assert [(r.method, r.path, r.query) for r in gateway.received] == [
        ("GET", "/bill.zip", {"fileId": "1"}),
        ("GET", "/moved.zip", {"fileId": "1"}),
        ("GET", "/final.zip", {"fileId": "1", "a": "~"}),
    ]


def test_download_gives_up_after_too_many_redirects(gateway: FakeGateway, client: AlipayClient) -> None:
    gateway.answer(*[Reply("", status=302, headers={"Location": "/again.zip"})] * (bill.MAX_REDIRECTS + 1))
    with pytest.raises(OutcomeUnknown) as caught:
        bill.download(client, gateway.url.replace("/gateway.do", "/bill.zip"))
    assert caught.value.method == bill.DOWNLOAD
    assert len(gateway.received) == bill.MAX_REDIRECTS + 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply("<html>expired</html>"), MalformedResponse),
        (Reply("gone", status=404), MalformedResponse),
        (Reply("busy", status=503), GatewayHTTPError),
    ],
)
def test_download_failures(gateway: FakeGateway, client: AlipayClient, reply: Reply, error: type) -> None:
    gateway.answer(reply)
    with pytest.raises(error) as caught:
        bill.download(client, gateway.url.replace("/gateway.do", "/bill.zip"))
    assert caught.value.method == bill.DOWNLOAD


def test_download_refused(client: AlipayClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(GatewayUnreachable):
            bill.download(client, f"http://127.0.0.1:{sock.getsockname()[1]}/bill.zip")
