"""The trade bill: download URL, expiry, and the zipped GBK CSV parsed back."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime, timedelta

import requests

from sandbox.values import BEIJING


def bill_url(sdk, bill_date: str) -> dict:
    return sdk.server_api("alipay.data.dataservice.bill.downloadurl.query",
                          biz_content={"bill_type": "trade", "bill_date": bill_date})


def parse_bill(content: bytes) -> tuple[str, list[str], list[dict[str, str]], list[str]]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    (name,) = archive.namelist()
    text = archive.read(name).decode("gbk")
    lines = text.split("\r\n")
    assert lines[-1] == ""
    head = [ln for ln in lines[:4]]
    tail = [ln for ln in lines[-5:-1]]
    body = lines[4:-5]
    rows = [{k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(body)]
    return name, head, rows, tail


def test_a_day_with_a_payment_and_a_refund(sdk, sandbox, otn):
    day = datetime.fromisoformat(sandbox.get("/sandbox/clock").json()["now_utc"]).astimezone(BEIJING)
    paid, refunded, unpaid = otn(), otn(), otn()
    for no, amount in ((paid, "20.00"), (refunded, "30.00"), (unpaid, "5.00")):
        sdk.api_alipay_trade_precreate(subject="账单, 测试", out_trade_no=no, total_amount=amount, store_id="S1")
    sandbox.pay(paid)
    sandbox.pay(refunded)
    sandbox.scan(unpaid)
    sdk.api_alipay_trade_refund(refund_amount="5.00", out_trade_no=refunded, out_request_no="RF1")

    today = bill_url(sdk, day.strftime("%Y-%m-%d"))
    assert today["code"] == "40004" and today["sub_code"] == "BILL_NOT_EXIST"

    sandbox.advance(86400)
    answer = bill_url(sdk, day.strftime("%Y-%m-%d"))
    assert answer["code"] == "10000" and answer["bill_download_url"].startswith(sandbox.url + "/")
    r = requests.get(answer["bill_download_url"], timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    name, head, rows, tail = parse_bill(r.content)
    assert name == f"20881021778468800156_{day:%Y%m%d}_业务明细.csv"
    assert head[0] == "#支付宝业务明细查询" and head[1] == "#账号：[20881021778468800156]"
    following = day + timedelta(days=1)
    assert head[2] == f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{following:%Y年%m月%d日} 00:00:00]"
    assert tail[0].startswith("#-----") and "业务明细列表结束" in tail[0]
    assert tail[1] == "#交易合计：2笔，商家实收：￥50.00元。"
    assert tail[2] == "#退款合计：1笔，商家实收：￥-5.00元。"
    assert tail[3].startswith("#导出时间：[")

    mine = [row for row in rows if row["商户订单号"] in (paid, refunded, unpaid)]
    by_kind = {(row["商户订单号"], row["业务类型"]): row for row in mine}
    assert set(by_kind) == {(paid, "交易"), (refunded, "交易"), (refunded, "退款")}
    payment = by_kind[(paid, "交易")]
    assert payment["订单金额（元）"] == payment["商家实收（元）"] == "20.00"
    assert payment["商品名称"] == "账单, 测试" and payment["门店编号"] == "S1"
    assert payment["支付宝交易号"] == sdk.api_alipay_trade_query(out_trade_no=paid)["trade_no"]
    assert payment["退款批次号/请求号"] == "" and payment["对方账户"].count("***") == 1
    refund = by_kind[(refunded, "退款")]
    assert refund["订单金额（元）"] == refund["商家实收（元）"] == "-5.00"
    assert refund["退款批次号/请求号"] == "RF1"
    assert datetime.strptime(refund["完成时间"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).date() == day.date()

    sandbox.advance(31)
    assert requests.get(answer["bill_download_url"], timeout=10).status_code == 410


def test_bill_parameters(sdk, sandbox):
    assert bill_url(sdk, "2015-12-31")["sub_code"] == "BILL_NOT_EXIST"
    assert bill_url(sdk, "2026-13-01")["sub_code"] == "ACQ.INVALID_PARAMETER"
    assert bill_url(sdk, "20260101")["sub_code"] == "ACQ.INVALID_PARAMETER"
    assert sdk.server_api("alipay.data.dataservice.bill.downloadurl.query",
                          biz_content={"bill_date": "2024-01-01"})["sub_code"] == "isv.invalid-parameter"
    empty = requests.get(bill_url(sdk, "2024-02")["bill_download_url"], timeout=10)
    _, head, rows, tail = parse_bill(empty.content)
    assert rows == [] and tail[1] == "#交易合计：0笔，商家实收：￥0.00元。"
    assert "2024年02月01日 00:00:00" in head[2] and "2024年03月01日 00:00:00" in head[2]
    assert requests.get(sandbox.url + "/downloadBillFile.resource?token=nope", timeout=10).status_code == 404
