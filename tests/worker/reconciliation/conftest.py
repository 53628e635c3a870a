"""A store on the tests' own Redis, a fake gateway that answers from dicts, and helpers to put orders in place.

The fake stands where an `AlipayClient` goes: `call(method, biz)` is what `worker.alipay.trade` and
`worker.alipay.bill` use, and `request("GET", url, ...)`, as on a urllib3 pool, is the download of the bill
zip. It counts every call.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from worker.alipay.errors import BusinessError, GatewayUnreachable
from worker.states import RefundStatus
from worker.store import Keys, Store
from worker.transitions import order_trade_status, refund_reserved, refund_settled

BILL_METHOD = "alipay.data.dataservice.bill.downloadurl.query"


def not_exist(method: str, sub_code: str = "ACQ.TRADE_NOT_EXIST") -> BusinessError:
    return BusinessError(method=method, code="40004", msg="Business Failed", sub_code=sub_code)


@dataclass
class Download:
    """The little of a urllib3 response that `bill.download` reads."""

    status: int
    content: bytes

    def read(self) -> bytes:
        return self.content

    def release_conn(self) -> None:
        pass

    def get_redirect_location(self) -> bool:
        return False


@dataclass
class FakeGateway:
    trades: dict[str, Any] = field(default_factory=dict)
    """out_trade_no -> the alipay.trade.query answer, or an exception to raise."""
    refunds: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(out_trade_no, out_request_no) -> the refund query answer (default: the refund is not shown)."""
    bill: bytes | Exception = b""
    delay_s: float = 0.0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, method: str, biz: dict[str, Any], **_: Any) -> dict[str, Any]:
        with self._lock:
            self.calls.append((method, dict(biz)))
        if self.delay_s:
            time.sleep(self.delay_s)
        if method == "alipay.trade.query":
            answer = self.trades.get(biz["out_trade_no"], not_exist(method))
        elif method == "alipay.trade.fastpay.refund.query":
            answer = self.refunds.get((biz["out_trade_no"], biz["out_request_no"]),
                                      {"code": "10000", "out_trade_no": biz["out_trade_no"]})
        elif method == BILL_METHOD:
            answer = self.bill if isinstance(self.bill, Exception) else {
                "code": "10000", "bill_download_url": "http://bills.invalid/download?token=t"}
        else:
            raise AssertionError(f"unexpected call {method}")
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    def request(self, method: str, url: str, **_: Any) -> Download:
        assert method == "GET"
        with self._lock:
            self.calls.append(("bill.download", {"url": url}))
        assert isinstance(self.bill, bytes)
        return Download(200, self.bill)

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]


def down(method: str = "alipay.trade.query") -> GatewayUnreachable:
    return GatewayUnreachable(f"{method}: connection refused", method=method)


@pytest.fixture
def store(redis_db) -> Store:
    return Store(redis_db, job_ttl_s=3600, order_ttl_s=0)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


def put_order(store: Store, otn: str, total: str = "10.00", *, status: str = "PENDING",
              expires_at: str = "2099-01-01T00:00:00+00:00", qr_code: str | None = "https://qr.example/x",
              gmt_payment: str | None = None, created_at: str = "2026-11-25T01:00:00+00:00") -> dict:
    """An order submitted like the API does, then moved to `status` through the transitions."""
    job = {"job_id": "p-" + otn, "type": "precreate", "status": "succeeded", "attempts": 1, "out_trade_no": otn,
           "request": {}, "result": None, "error": None}
    order = {"out_trade_no": otn, "trade_no": None, "status": "PENDING", "total_amount": total,
             "refunded_amount": "0.00", "subject": "s", "store_id": "st", "expires_at": expires_at,
             "qr_code": qr_code, "gmt_payment": None, "refunds": [], "created_at": created_at,
             "updated_at": created_at, "job_id": job["job_id"], "callback_url": None}
    store.submit_precreate(job, order, "fp-" + otn)
    if status != "PENDING":
        fields = {"trade_no": "T" + otn, "gmt_payment": gmt_payment}
        store.update_order(otn, lambda o: order_trade_status(o, status, fields))
    found = store.get_order(otn)
    assert found is not None
    return found


def put_refund(store: Store, otn: str, orn: str, amount: str, status: RefundStatus,
               gmt_refund_pay: str | None = None, job: dict | None = None) -> dict:
    """A refund reserved on the order (with its job, when given) and moved to `status`."""
    job_id = job["job_id"] if job else uuid.uuid4().hex
    if job is not None:
        store.redis.set(Keys.job(job_id), json.dumps(job))

    def change(order: dict) -> dict:
        reserved = refund_reserved(order, out_request_no=orn, amount=Decimal(amount), job_id=job_id)
        if status == RefundStatus.PENDING:
            return reserved
        return refund_settled(reserved, orn, status, {"gmt_refund_pay": gmt_refund_pay})

    order, _ = store.update_order(otn, change)
    assert order is not None
    return order


# --- hand-made bills ------------------------------------------------------------------------------------------

HEADER = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
          "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
          "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")


def pay_row(otn: str, amount: str, at: str = "2026-11-25 09:00:00", subject: str = "咖啡, 大杯") -> list[str]:
    return [f"2026112522001400{otn}", otn, "交易", subject, at, at, "st", "", "", "", "abc***@example.com",
            amount, amount, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", "", "0.00", "0.00", ""]


def refund_row(otn: str, orn: str, amount: str, at: str = "2026-11-25 11:00:00") -> list[str]:
    row = pay_row(otn, f"-{amount}", at)
    row[2], row[4], row[21] = "退款", "2026-11-25 08:59:00", orn
    return row


def _cell(value: str) -> str:
    text = value + "\t"
    return f'"{text}"' if "," in value or '"' in value else text


def bill_text(rows: list[list[str]], day: str = "2026-11-25", totals: tuple[str, str] | None = None) -> str:
    """A trade bill as Alipay writes it: `#` header lines, the columns, tab-suffixed CSV rows, the 合计 lines."""
    pays = [r for r in rows if r[2] == "交易"]
    refunds = [r for r in rows if r[2] == "退款"]
    pay_sum = sum((Decimal(r[12]) for r in pays), Decimal("0"))
    refund_sum = sum((Decimal(r[12]) for r in refunds), Decimal("0"))
    y, m, d = day.split("-")
    following = f"{y}年{m}月{int(d) + 1:02d}日"
    lines = [
        "#支付宝业务明细查询",
        "#账号：[20881021778468800156]",
        f"#起始日期：[{y}年{m}月{d}日 00:00:00]   终止日期：[{following} 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        HEADER,
        *(",".join(_cell(v) for v in row) for row in rows),
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{len(pays)}笔，商家实收：￥{totals[0] if totals else f'{pay_sum:.2f}'}元。",
        f"#退款合计：{len(refunds)}笔，商家实收：￥{totals[1] if totals else f'{refund_sum:.2f}'}元。",
        f"#导出时间：[{following} 09:00:00]",
    ]
    return "\r\n".join(lines) + "\r\n"


def bill_zip(rows: list[list[str]], day: str = "2026-11-25", totals: tuple[str, str] | None = None,
             name: str = "20881021778468800156_20261125_业务明细.csv") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, bill_text(rows, day, totals).encode("gbk"))
    return buffer.getvalue()
