"""Reading the trade bill: rows, amounts, times, and the 合计 lines checked against the rows."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sandbox.bill import BillPeriod, render_zip
from sandbox.trades import BillEntry
from tests.worker.reconciliation.conftest import bill_text, bill_zip, pay_row, refund_row
from worker.alipay.client import BEIJING
from worker.reconciliation.bill_file import RowKind, parse_text, parse_zip
from worker.reconciliation.errors import BillFormatError


def test_a_hand_made_bill_is_read_row_by_row() -> None:
    bill = parse_zip(bill_zip([pay_row("A1", "10.00"), pay_row("B2", "0.01", "2026-11-25 23:59:59"),
                               refund_row("A1", "A1R", "3.50")]))
    assert bill.account == "20881021778468800156"
    assert bill.start == datetime(2026, 11, 25, tzinfo=BEIJING) and bill.end == bill.start + timedelta(days=1)
    first, second, refund = bill.rows
    assert (first.kind, first.out_trade_no, first.amount, first.out_request_no) == (
        RowKind.PAYMENT, "A1", Decimal("10.00"), None)
    assert first.subject == "咖啡, 大杯" and first.trade_no == "2026112522001400A1" and first.store_id == "st"
    assert second.finished_at == datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)
    assert second.finished_text == "2026-11-25 23:59:59"
    assert (refund.kind, refund.amount, refund.received, refund.out_request_no) == (
        RowKind.REFUND, Decimal("3.50"), Decimal("-3.50"), "A1R")
    assert bill.totals[RowKind.PAYMENT].count == 2 and bill.totals[RowKind.REFUND].received == Decimal("-3.50")
    assert [r.line for r in bill.rows] == [6, 7, 8]


def test_a_refund_without_request_number_is_named_by_the_order() -> None:
    row = refund_row("A1", "", "1.00")
    (parsed,) = parse_text(bill_text([row])).refunds
    assert parsed.out_request_no == "A1"


@pytest.mark.parametrize(("line", "wrong", "words"), [
    ("#交易合计：2笔，商家实收：￥20.00元。", "#交易合计：2笔，商家实收：￥20.01元。", "交易合计"),
    ("#交易合计：2笔，商家实收：￥20.00元。", "#交易合计：3笔，商家实收：￥20.00元。", "交易合计"),
    ("#退款合计：1笔，商家实收：￥-1.00元。", "#退款合计：1笔，商家实收：￥1.00元。", "退款合计"),
    ("#退款合计：1笔，商家实收：￥-1.00元。", "#退款合计：0笔，商家实收：￥-1.00元。", "退款合计"),
])
def test_totals_that_disagree_with_the_rows_are_refused(line: str, wrong: str, words: str) -> None:
    text = bill_text([pay_row("A1", "10.00"), pay_row("B1", "10.00"), refund_row("A1", "R", "1.00")])
    assert line in text and len(parse_text(text).rows) == 3
    with pytest.raises(BillFormatError, match=words):
        parse_text(text.replace(line, wrong))


@pytest.mark.parametrize(("broken", "words"), [
    (lambda t: t.replace("#退款合计", "#其他合计"), "退款合计"),
    (lambda t: t.replace("支付宝交易号,", "交易号,"), "column header"),
    (lambda t: t.replace("10.00\t", "10.0.0\t", 1), "not an amount"),
    (lambda t: t.replace("2026-11-25 09:00:00\t", "2026/11/25\t", 1), "yyyy-MM-dd"),
    (lambda t: t.replace("交易\t", "转账\t", 1), "业务类型"),
])
def test_a_malformed_bill_is_refused(broken, words: str) -> None:
    text = bill_text([pay_row("A1", "10.00"), refund_row("A1", "R", "1.00")])
    with pytest.raises(BillFormatError, match=words):
        parse_text(broken(text))


def test_not_a_zip_and_the_summary_file_are_told_apart() -> None:
    with pytest.raises(BillFormatError, match="not a zip"):
        parse_zip(b"<html>expired</html>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("20881021778468800156_20261125_业务明细(汇总).csv", "#汇总\r\n".encode("gbk"))
        archive.writestr("20881021778468800156_20261125_业务明细.csv",
                         bill_text([pay_row("A1", "10.00")]).encode("gbk"))
    assert [r.out_trade_no for r in parse_zip(buffer.getvalue()).rows] == ["A1"]


def test_the_sandboxes_bill_is_read_the_same_way() -> None:
    period = BillPeriod.parse("2026-11-25")
    assert period is not None
    at = datetime(2026, 11, 25, 10, tzinfo=BEIJING)
    entries = [
        BillEntry("T1", "O1", "账单, 测试", "S1", "abc***@example.com", at, at, Decimal("20.00")),
        BillEntry("T1", "O1", "账单, 测试", "S1", "abc***@example.com", at, at + timedelta(hours=1),
                  Decimal("-5.00"), "RF1"),
    ]
    bill = parse_zip(render_zip(entries, "2088102177846880", period, at + timedelta(days=1)))
    assert [(r.kind, r.out_trade_no, r.out_request_no, r.amount, r.subject) for r in bill.rows] == [
        (RowKind.PAYMENT, "O1", None, Decimal("20.00"), "账单, 测试"),
        (RowKind.REFUND, "O1", "RF1", Decimal("5.00"), "账单, 测试"),
    ]
    assert bill.rows[1].finished_text == "2026-11-25 11:00:00"
