"""Reading Alipay's daily trade bill: the zip behind `bill_download_url`, its GBK CSV, rows and 合计 lines.

The format (sandbox/bill.py documents it line by line): `#` header lines with the account and the period,
a column header line, one CSV row per payment (业务类型 `交易`) and per refund (`退款`), every value followed
by a tab, then `#` lines closing the list with the 合计 (totals) of each kind and the export time. Amounts are
yuan with two decimals, refunds negative; times are Beijing wall-clock time.

`parse_zip` refuses anything it cannot read exactly, and a bill whose 合计 lines disagree with its rows
(count or sum of 商家实收): a half-read bill must never drive repairs.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from worker.alipay.client import BEIJING
from worker.reconciliation.errors import BillFormatError

PAYMENT_TYPE = "交易"
REFUND_TYPE = "退款"

COLUMN_TRADE_NO = "支付宝交易号"
COLUMN_OUT_TRADE_NO = "商户订单号"
COLUMN_TYPE = "业务类型"
COLUMN_SUBJECT = "商品名称"
COLUMN_CREATED = "创建时间"
COLUMN_FINISHED = "完成时间"
COLUMN_STORE_ID = "门店编号"
COLUMN_BUYER = "对方账户"
COLUMN_ORDER_AMOUNT = "订单金额（元）"
COLUMN_RECEIVED = "商家实收（元）"
COLUMN_REQUEST_NO = "退款批次号/请求号"
REQUIRED_COLUMNS = (COLUMN_TRADE_NO, COLUMN_OUT_TRADE_NO, COLUMN_TYPE, COLUMN_FINISHED, COLUMN_ORDER_AMOUNT,
                    COLUMN_RECEIVED, COLUMN_REQUEST_NO)

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
HEADER_TIME_FORMAT = "%Y年%m月%d日 %H:%M:%S"

_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]{1,2})?")
_ACCOUNT = re.compile(r"账号[：:]\s*\[([^\]]*)\]")
_PERIOD = re.compile(r"起始日期[：:]\s*\[([^\]]*)\]\s*终止日期[：:]\s*\[([^\]]*)\]")
_TOTAL = re.compile(r"(交易|退款)合计[：:]\s*([0-9]+)\s*笔[，,]\s*商家实收[：:]\s*[￥¥]?\s*"
                    r"(-?[0-9]+(?:\.[0-9]{1,2})?)\s*元")
_UTF8_NAME_FLAG = 0x800


class RowKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


@dataclass(frozen=True)
class BillRow:
    """One row of the bill. `amount` is positive for both kinds (the bill writes refunds negative)."""

    line: int
    kind: RowKind
    trade_no: str
    out_trade_no: str
    out_request_no: str | None
    amount: Decimal
    received: Decimal
    """商家实收 as written (negative for a refund): what the 合计 lines add up."""
    finished_at: datetime
    created_at: datetime | None
    subject: str
    store_id: str | None
    buyer_logon_id: str | None

    @property
    def finished_text(self) -> str:
        """The completion time as Alipay writes it (`yyyy-MM-dd HH:mm:ss`, Beijing)."""
        return self.finished_at.astimezone(BEIJING).strftime(TIME_FORMAT)


@dataclass(frozen=True)
class KindTotal:
    count: int
    received: Decimal


@dataclass(frozen=True)
class Bill:
    account: str | None
    start: datetime | None
    end: datetime | None
    rows: tuple[BillRow, ...]
    totals: dict[RowKind, KindTotal]
    """The bill's own 合计 lines, already checked against the rows."""

    @property
    def payments(self) -> list[BillRow]:
        return [r for r in self.rows if r.kind == RowKind.PAYMENT]

    @property
    def refunds(self) -> list[BillRow]:
        return [r for r in self.rows if r.kind == RowKind.REFUND]


def parse_zip(data: bytes) -> Bill:
    """Open the zip Alipay serves and parse its detail CSV (`…_业务明细.csv`, not the `(汇总)` summary)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise BillFormatError(f"the bill is not a zip file ({exc})") from None
    with archive:
        member = _detail_member(archive.infolist())
        raw = archive.read(member)
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise BillFormatError(f"the bill is not GBK text ({exc.reason} at byte {exc.start})") from None
    return parse_text(text)


def _member_name(info: zipfile.ZipInfo) -> str:
    """Alipay's zips carry GBK names without the UTF-8 flag; Python then reads them as cp437."""
    if info.flag_bits & _UTF8_NAME_FLAG:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _detail_member(infos: Sequence[zipfile.ZipInfo]) -> zipfile.ZipInfo:
    csvs = [info for info in infos if _member_name(info).lower().endswith(".csv")]
    details = [info for info in csvs if "汇总" not in _member_name(info)]
    if len(details) != 1:
        names = ", ".join(_member_name(i) for i in infos) or "nothing"
        raise BillFormatError(f"expected one detail CSV in the bill zip, found {names}")
    return details[0]


def parse_text(text: str) -> Bill:
    """Parse the bill's text (already decoded) and check its 合计 lines against its rows."""
    lines = text.lstrip("\ufeff").splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip().startswith(COLUMN_TRADE_NO)), None)
    if header_at is None:
        raise BillFormatError(f"no column header line (starting with {COLUMN_TRADE_NO}) in the bill")
    columns = [c.strip() for c in next(csv.reader([lines[header_at]]))]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise BillFormatError(f"the bill has no column {', '.join(missing)}")
    end_at = next((i for i in range(header_at + 1, len(lines)) if lines[i].lstrip().startswith("#")), len(lines))
    head, tail = lines[:header_at], lines[end_at:]
    rows = tuple(_rows(lines, header_at + 1, end_at, columns))
    account, start, end = _header(head)
    totals = _totals(tail)
    _check_totals(rows, totals)
    return Bill(account=account, start=start, end=end, rows=rows, totals=totals)


def _rows(lines: list[str], first: int, stop: int, columns: list[str]) -> list[BillRow]:
    body = [(number + 1, lines[number]) for number in range(first, stop) if lines[number].strip()]
    parsed = list(csv.reader(text for _, text in body))
    if len(parsed) != len(body):
        raise BillFormatError("a quoted value in the bill spans several lines")
    rows: list[BillRow] = []
    for (line_no, _), values in zip(body, parsed, strict=True):
        if len(values) != len(columns):
            raise BillFormatError(f"line {line_no}: {len(values)} values for {len(columns)} columns")
        rows.append(_row(line_no, dict(zip(columns, (v.strip() for v in values), strict=True))))
    return rows


def _row(line_no: int, cells: dict[str, str]) -> BillRow:
    kind_text = cells[COLUMN_TYPE]
    if kind_text == PAYMENT_TYPE:
        kind = RowKind.PAYMENT
    elif kind_text == REFUND_TYPE:
        kind = RowKind.REFUND
    else:
        raise BillFormatError(f"line {line_no}: unknown 业务类型 {kind_text!r}")
    out_trade_no = cells[COLUMN_OUT_TRADE_NO]
    if not out_trade_no or not cells[COLUMN_TRADE_NO]:
        raise BillFormatError(f"line {line_no}: no {COLUMN_OUT_TRADE_NO} or {COLUMN_TRADE_NO}")
    order_amount = _amount(line_no, COLUMN_ORDER_AMOUNT, cells[COLUMN_ORDER_AMOUNT])
    received = _amount(line_no, COLUMN_RECEIVED, cells[COLUMN_RECEIVED])
    request_no = cells[COLUMN_REQUEST_NO] or None
    if kind == RowKind.REFUND:
        if order_amount >= 0:
            raise BillFormatError(f"line {line_no}: a refund with a non-negative amount {order_amount}")
        request_no = request_no or out_trade_no  # Alipay's rule for a refund sent without out_request_no
    elif order_amount <= 0:
        raise BillFormatError(f"line {line_no}: a payment with a non-positive amount {order_amount}")
    created = cells.get(COLUMN_CREATED) or ""
    return BillRow(
        line=line_no,
        kind=kind,
        trade_no=cells[COLUMN_TRADE_NO],
        out_trade_no=out_trade_no,
        out_request_no=request_no if kind == RowKind.REFUND else None,
        amount=abs(order_amount),
        received=received,
        finished_at=_time(line_no, COLUMN_FINISHED, cells[COLUMN_FINISHED]),
        created_at=_time(line_no, COLUMN_CREATED, created) if created else None,
        subject=cells.get(COLUMN_SUBJECT, ""),
        store_id=cells.get(COLUMN_STORE_ID) or None,
        buyer_logon_id=cells.get(COLUMN_BUYER) or None,
    )


def _amount(line_no: int, column: str, text: str) -> Decimal:
    if not _AMOUNT.fullmatch(text):
        raise BillFormatError(f"line {line_no}: {column} {text!r} is not an amount")
    return Decimal(text)


def _time(line_no: int, column: str, text: str) -> datetime:
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError:
        raise BillFormatError(f"line {line_no}: {column} {text!r} is not yyyy-MM-dd HH:mm:ss") from None


def _header(head: list[str]) -> tuple[str | None, datetime | None, datetime | None]:
    text = "\n".join(head)
    account = _ACCOUNT.search(text)
    period = _PERIOD.search(text)
    start = end = None
    if period is not None:
        try:
            start = datetime.strptime(period[1].strip(), HEADER_TIME_FORMAT).replace(tzinfo=BEIJING)
            end = datetime.strptime(period[2].strip(), HEADER_TIME_FORMAT).replace(tzinfo=BEIJING)
        except ValueError:
            raise BillFormatError(f"the bill's period {period[0]!r} cannot be read") from None
    return (account[1] if account else None), start, end


def _totals(tail: list[str]) -> dict[RowKind, KindTotal]:
    totals: dict[RowKind, KindTotal] = {}
    for line in tail:
        match = _TOTAL.search(line)
        if match is not None:
            kind = RowKind.PAYMENT if match[1] == PAYMENT_TYPE else RowKind.REFUND
            totals[kind] = KindTotal(int(match[2]), Decimal(match[3]))
    for kind, label in ((RowKind.PAYMENT, PAYMENT_TYPE), (RowKind.REFUND, REFUND_TYPE)):
        if kind not in totals:
            raise BillFormatError(f"the bill has no {label}合计 line")
    return totals


def _check_totals(rows: tuple[BillRow, ...], totals: dict[RowKind, KindTotal]) -> None:
    for kind, label in ((RowKind.PAYMENT, PAYMENT_TYPE), (RowKind.REFUND, REFUND_TYPE)):
        mine = [r for r in rows if r.kind == kind]
        summed = sum((r.received for r in mine), Decimal("0"))
        stated = totals[kind]
        if len(mine) != stated.count or summed != stated.received:
            raise BillFormatError(
                f"{label}合计 says {stated.count} rows and {stated.received:.2f}, "
                f"the rows add up to {len(mine)} and {summed:.2f}"
            )
