"""Alipay's daily (or monthly) trade bill: the download link and the zipped GBK CSV behind it.

`alipay.data.dataservice.bill.downloadurl.query` (bill_type `trade`) answers a `bill_download_url` on the
sandbox, valid for 30 s of sandbox time; after that the URL answers 410. It serves a zip
(`<account>_<yyyyMMdd>.csv.zip`) holding one file, `<account>_<yyyyMMdd>_业务明细.csv` (monthly bills use
`yyyyMM`), encoded in GBK, lines ending in CRLF, where `<account>` is the seller id followed by `0156`:

    #支付宝业务明细查询
    #账号：[20881021778468800156]
    #起始日期：[2026年11月25日 00:00:00]   终止日期：[2026年11月26日 00:00:00]
    #-----------------------------------------业务明细列表----------------------------------------
    支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注
    <one row per payment and per refund completed in the period, oldest first>
    #-----------------------------------------业务明细列表结束------------------------------------
    #交易合计：2笔，商家实收：￥30.00元。
    #退款合计：1笔，商家实收：￥-5.00元。
    #导出时间：[2026年11月26日 09:00:00]

Rows are CSV (quoted only where a value holds a comma or a quote) and, as in Alipay's files, every value is
followed by a tab character: strip each field. A payment row has 业务类型 `交易`, 订单金额 and 商家实收 equal to
the trade's total_amount, and an empty 退款批次号/请求号. A refund row has 业务类型 `退款`, the refund's amount
negated in both 订单金额 and 商家实收, and the out_request_no (the out_trade_no for a refund sent without
one). 创建时间 is the trade's creation (scan) time, 完成时间 the payment or refund time, both
`yyyy-MM-dd HH:mm:ss` Beijing time; 对方账户 is the buyer's masked logon id; red-packet, discount, fee and
commission columns are `0.00`. The dates in `#` lines read `yyyy年MM月dd日 HH:mm:ss`; the period is
[start, end) in Beijing time. The 合计 lines count the rows of each kind and sum their 商家实收.
"""

from __future__ import annotations

import csv
import io
import secrets
import threading
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import Blueprint, Response, abort, request

from sandbox import defaults
from sandbox.context import current_sandbox
from sandbox.trades import BillEntry
from sandbox.values import BEIJING, alipay_time, money

bp = Blueprint("bill", __name__)

COLUMNS = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
    "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
).split(",")
LIST_START = "#-----------------------------------------业务明细列表----------------------------------------"
LIST_END = "#-----------------------------------------业务明细列表结束------------------------------------"
FIRST_BILL_DATE = date(2016, 1, 1)


@dataclass(frozen=True)
class BillPeriod:
    """A bill's days: [start, end) in Beijing time; `label` is `yyyyMMdd` or `yyyyMM`."""

    start: datetime
    end: datetime
    label: str

    @classmethod
    def parse(cls, bill_date: str) -> BillPeriod | None:
        """`yyyy-MM-dd` for a day, `yyyy-MM` for a month; None when malformed."""
        try:
            if len(bill_date) == 10:
                day = datetime.strptime(bill_date, "%Y-%m-%d").replace(tzinfo=BEIJING)
                return cls(day, day + timedelta(days=1), day.strftime("%Y%m%d"))
            if len(bill_date) == 7:
                month = datetime.strptime(bill_date, "%Y-%m").replace(tzinfo=BEIJING)
                following = (month + timedelta(days=32)).replace(day=1)
                return cls(month, following, month.strftime("%Y%m"))
        except ValueError:
            return None
        return None

    def available_at(self, now: datetime) -> bool:
        """Bills exist for periods wholly before today (Beijing) and from 2016 on."""
        today = now.astimezone(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.end <= today and self.start.date() >= FIRST_BILL_DATE


def account_of(seller_id: str) -> str:
    return f"{seller_id}0156"


def _cn_time(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y年%m月%d日 %H:%M:%S")


def render_csv(entries: list[BillEntry], seller_id: str, period: BillPeriod, exported_at: datetime) -> str:
    """The bill's text (before GBK encoding), in the format of the module docstring."""
    out = io.StringIO()
    lines = [
        "#支付宝业务明细查询",
        f"#账号：[{account_of(seller_id)}]",
        f"#起始日期：[{_cn_time(period.start)}]   终止日期：[{_cn_time(period.end)}]",
        LIST_START,
    ]
    out.write("\r\n".join(lines) + "\r\n")
    out.write(",".join(COLUMNS) + "\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    zero = "0.00"
    for e in entries:
        amount = money(e.amount)
        row = [e.trade_no, e.out_trade_no, "退款" if e.is_refund else "交易", e.subject,
               alipay_time(e.gmt_create), alipay_time(e.finished_at), e.store_id or "", "", "", "",
               e.buyer_logon_id, amount, amount, zero, zero, zero, zero, zero, "", zero, zero,
               e.out_request_no or "", zero, zero, ""]
        writer.writerow([f"{value}\t" for value in row])
    trades = [e for e in entries if not e.is_refund]
    refunds = [e for e in entries if e.is_refund]
    total = sum((e.amount for e in trades), Decimal("0"))
    refunded = sum((e.amount for e in refunds), Decimal("0"))
    lines = [
        LIST_END,
        f"#交易合计：{len(trades)}笔，商家实收：￥{money(total)}元。",
        f"#退款合计：{len(refunds)}笔，商家实收：￥{money(refunded)}元。",
        f"#导出时间：[{_cn_time(exported_at)}]",
    ]
    out.write("\r\n".join(lines) + "\r\n")
    return out.getvalue()


def render_zip(entries: list[BillEntry], seller_id: str, period: BillPeriod, exported_at: datetime) -> bytes:
    """The zip Alipay's link serves: one GBK CSV named `<account>_<label>_业务明细.csv`."""
    text = render_csv(entries, seller_id, period, exported_at)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{account_of(seller_id)}_{period.label}_业务明细.csv",
                         text.encode("gbk", errors="replace"))
    return buffer.getvalue()


@dataclass(frozen=True)
class BillLink:
    bill_type: str
    period: BillPeriod
    expires_at: datetime


class BillLinks:
    """Issued download tokens; each valid for `ttl_s` seconds of sandbox time."""

    def __init__(self, ttl_s: float = defaults.BILL_URL_TTL_S) -> None:
        self._ttl = timedelta(seconds=ttl_s)
        self._lock = threading.Lock()
        self._links: dict[str, BillLink] = {}

    def issue(self, bill_type: str, period: BillPeriod, now: datetime) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._links = {t: link for t, link in self._links.items() if link.expires_at > now}
            self._links[token] = BillLink(bill_type, period, now + self._ttl)
        return token

    def get(self, token: str) -> BillLink | None:
        with self._lock:
            return self._links.get(token)


def download_url(base_url: str, seller_id: str, period: BillPeriod, token: str, now: datetime) -> str:
    name = f"{account_of(seller_id)}_{period.label}.csv.zip"
    return (f"{base_url}/downloadBillFile.resource?bizType=trade&userId={account_of(seller_id)}"
            f"&fileType=csv.zip&bizDates={period.label}&downloadFileName={name}"
            f"&timestamp={int(now.timestamp() * 1000)}&token={token}")


@bp.get("/downloadBillFile.resource")
def download() -> Response:
    """The zip behind a bill_download_url: 404 for an unknown token, 410 once its 30 s have passed."""
    sandbox = current_sandbox()
    link = sandbox.bills.get(request.args.get("token", ""))
    if link is None:
        abort(404, "unknown bill link")
    now = sandbox.clock.now()
    if now >= link.expires_at:
        abort(410, "this bill link has expired; ask for a new one")
    entries = sandbox.book.bill_entries(link.period.start, link.period.end)
    body = render_zip(entries, sandbox.config.seller_id, link.period, now)
    name = f"{account_of(sandbox.config.seller_id)}_{link.period.label}.csv.zip"
    return Response(body, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
