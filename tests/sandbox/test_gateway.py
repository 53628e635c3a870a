"""The gateway's protocol, with hand-built requests: transports, signatures, common-parameter checks, and the
raw text of answers."""

from __future__ import annotations

import json

import pytest
import requests

from tests.sandbox.helpers import response_node, signed_params
from worker.alipay.signing import verify

JSON_TYPE = "application/json;charset=utf-8"


def verified_node(body: str, node_name: str, alipay_key) -> dict:
    """Verify the signature over the raw node text, then parse that text (never the whole body)."""
    raw = response_node(body, node_name)
    assert verify(alipay_key.public_key(), raw, json.loads(body)["sign"]), "bad signature"
    return json.loads(raw)


def test_official_sdk_style_post_with_biz_content_in_the_body(sandbox, app_key, alipay_key, otn):
    no = otn()
    biz = {"out_trade_no": no, "total_amount": "12.50", "subject": "官方 SDK/测试", "timeout_express": "5m"}
    params = signed_params("alipay.trade.precreate", biz, app_key, notify_url="http://127.0.0.1:9/notify",
                           alipay_sdk="alipay-sdk-java-4.38.0.ALL")
    biz_content = params.pop("biz_content")
    r = requests.post(sandbox.gateway, params=params, data={"biz_content": biz_content}, timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})
    assert r.status_code == 200 and r.headers["Content-Type"] == JSON_TYPE
    assert r.text.startswith('{"alipay_trade_precreate_response":{')
    node = verified_node(r.text, "alipay_trade_precreate_response", alipay_key)
    assert node["code"] == "10000" and node["out_trade_no"] == no
    assert "\\/qr\\/" in r.text, "slashes are escaped like Alipay's"
    assert sandbox.trade(no)["notify_url"] == "http://127.0.0.1:9/notify"


def test_everything_in_a_form_body_works_too(sandbox, app_key, alipay_key, otn):
    no = otn()
    params = signed_params("alipay.trade.precreate", {"out_trade_no": no, "total_amount": "1", "subject": "s"},
                           app_key)
    r = requests.post(sandbox.gateway, data=params, timeout=10)
    assert verified_node(r.text, "alipay_trade_precreate_response", alipay_key)["code"] == "10000"


def test_gbk_requests_get_gbk_answers(sandbox, app_key, alipay_key, otn):
    no = otn()
    biz = json.dumps({"out_trade_no": no, "total_amount": "1.00", "subject": "中文标题"}, ensure_ascii=False)
    params = signed_params("alipay.trade.precreate", None, app_key, biz_text=biz, charset="gbk")
    from worker.alipay.signing import content_to_sign, sign

    params["sign"] = sign(app_key, content_to_sign({k: v for k, v in params.items() if k != "sign"}), "gbk")
    r = requests.post(sandbox.gateway, data={k: v.encode("gbk") for k, v in params.items()}, timeout=10)
    assert r.headers["Content-Type"] == "application/json;charset=gbk"
    body = r.content.decode("gbk")
    raw = response_node(body, "alipay_trade_precreate_response")
    assert verify(alipay_key.public_key(), raw, json.loads(body)["sign"], "gbk")
    assert sandbox.trade(no)["subject"] == "中文标题"


def test_a_bad_signature_is_answered_without_a_signature(sandbox, other_key):
    params = signed_params("alipay.trade.query", {"out_trade_no": "x"}, other_key)
    r = requests.get(sandbox.gateway, params=params, timeout=10)
    body = r.json()
    assert set(body) == {"alipay_trade_query_response"}
    node = body["alipay_trade_query_response"]
    assert node["code"] == "40002" and node["msg"] == "Invalid Arguments"
    assert node["sub_code"] == "isv.invalid-signature" and "app_id=" in node["sub_msg"]
    assert sandbox.calls()[-1]["sign_ok"] is False


def test_a_tampered_parameter_breaks_the_signature(sandbox, app_key):
    params = signed_params("alipay.trade.query", {"out_trade_no": "x"}, app_key)
    params["biz_content"] = '{"out_trade_no":"y"}'
    node = requests.get(sandbox.gateway, params=params, timeout=10).json()["alipay_trade_query_response"]
    assert node["sub_code"] == "isv.invalid-signature"


@pytest.mark.parametrize(("drop", "sub_code"), [
    ("method", "isv.missing-method"),
    ("sign", "isv.missing-signature"),
    ("app_id", "isv.missing-app-id"),
    ("timestamp", "isv.missing-timestamp"),
    ("version", "isv.missing-version"),
    ("sign_type", "isv.missing-signature-type"),
])
def test_missing_common_parameters(sandbox, app_key, drop, sub_code):
    params = signed_params("alipay.trade.query", {"out_trade_no": "x"}, app_key)
    del params[drop]
    body = requests.get(sandbox.gateway, params=params, timeout=10).json()
    assert "sign" not in body
    node = body["error_response" if drop == "method" else "alipay_trade_query_response"]
    assert node == {"code": "40001", "msg": "Missing Required Arguments", "sub_code": sub_code,
                    "sub_msg": node["sub_msg"]}


@pytest.mark.parametrize(("change", "sub_code"), [
    ({"method": "alipay.trade.pay"}, "isv.invalid-method"),
    ({"app_id": "2021000000009999"}, "isv.invalid-app-id"),
    ({"sign_type": "RSA"}, "isv.invalid-signature-type"),
    ({"timestamp": "yesterday"}, "isv.invalid-timestamp"),
    ({"charset": "latin-1"}, "isv.invalid-charset"),
    ({"format": "XML"}, "isv.invalid-format"),
])
def test_invalid_common_parameters(sandbox, app_key, change, sub_code):
    params = signed_params("alipay.trade.query", {"out_trade_no": "x"}, app_key, **change)
    body = requests.get(sandbox.gateway, params=params, timeout=10).json()
    assert "sign" not in body
    (node,) = body.values()
    assert node["code"] == "40002" and node["sub_code"] == sub_code


def test_unknown_method_answers_in_error_response(sandbox, app_key):
    params = signed_params("alipay.trade.pay", {}, app_key)
    body = requests.get(sandbox.gateway, params=params, timeout=10).json()
    assert body["error_response"]["sub_code"] == "isv.invalid-method"


@pytest.mark.parametrize("biz_text", ["{not json", "[1, 2]", '"text"'])
def test_malformed_biz_content(sandbox, app_key, alipay_key, biz_text):
    params = signed_params("alipay.trade.query", None, app_key, biz_text=biz_text)
    r = requests.get(sandbox.gateway, params=params, timeout=10)
    node = verified_node(r.text, "alipay_trade_query_response", alipay_key)
    assert node["code"] == "40002" and node["sub_code"] == "isv.invalid-parameter"


def test_query_needs_a_trade_number(sandbox, app_key, alipay_key):
    r = requests.get(sandbox.gateway, params=signed_params("alipay.trade.query", {}, app_key), timeout=10)
    assert verified_node(r.text, "alipay_trade_query_response", alipay_key)["sub_code"] == "isv.invalid-parameter"


def test_an_unscanned_query_answers_like_alipay(sandbox, app_key, alipay_key, otn):
    no = otn()
    requests.get(sandbox.gateway, timeout=10, params=signed_params(
        "alipay.trade.precreate", {"out_trade_no": no, "total_amount": "1.00", "subject": "s"}, app_key))
    r = requests.get(sandbox.gateway, params=signed_params("alipay.trade.query", {"out_trade_no": no}, app_key),
                     timeout=10)
    assert verified_node(r.text, "alipay_trade_query_response", alipay_key) == {
        "code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在",
        "out_trade_no": no, "buyer_pay_amount": "0.00", "invoice_amount": "0.00", "point_amount": "0.00",
        "receipt_amount": "0.00"}


def test_numbers_in_biz_content_are_accepted(sandbox, app_key, alipay_key, otn):
    no = otn()
    biz_text = '{"out_trade_no":"' + no + '","total_amount":9.9,"subject":"n"}'
    r = requests.get(sandbox.gateway, timeout=10,
                     params=signed_params("alipay.trade.precreate", None, app_key, biz_text=biz_text))
    assert verified_node(r.text, "alipay_trade_precreate_response", alipay_key)["code"] == "10000"
    assert sandbox.trade(no)["total_amount"] == "9.90"
