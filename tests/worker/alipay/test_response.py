"""Hostile and odd gateway answers: only a verified node may ever be read as a success."""

from __future__ import annotations

import json

import pytest

from tests.conftest import KeySet
from worker.alipay import signing
from worker.alipay.errors import BusinessError, GatewayBusy, MalformedResponse, OutcomeUnknown, SignatureError
from worker.alipay.response import parse_response, scan_object

from .conftest import signed_body, unsigned_body

METHOD = "alipay.trade.query"
NODE = "alipay_trade_query_response"
PAID = (
    '{"code":"10000","msg":"Success","out_trade_no":"T1",'
    '"trade_status":"TRADE_SUCCESS","total_amount":"9.99"}'
)
UNPAID = '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}'


def parse(keys: KeySet, body: str) -> dict[str, object]:
    return parse_response(METHOD, body, keys.alipay.public_key())


def test_signed_success(keys: KeySet) -> None:
    assert parse(keys, signed_body(METHOD, PAID, keys.alipay)) == json.loads(PAID)


def test_whitespace_and_member_order_are_kept_as_signed(keys: KeySet) -> None:
    node = '{\n  "code": "10000",\n  "msg": "Success",\n  "trade_status": "TRADE_SUCCESS"\n}'
    sign = signing.sign(keys.alipay, node)
    body = f'{{ "sign" : "{sign}" ,\n "alipay_cert_sn":"abc", "{NODE}" :  {node} }}'
    assert parse(keys, body)["trade_status"] == "TRADE_SUCCESS"


@pytest.mark.parametrize("cut", [47, 60, -60, -5, -1])
def test_truncated_success_is_a_signature_error(keys: KeySet, cut: int) -> None:
    body = signed_body(METHOD, PAID, keys.alipay)
    assert '"code":"10000"' in body[:cut]
    with pytest.raises(SignatureError):
        parse(keys, body[:cut])


def test_truncated_before_the_code_is_unknown(keys: KeySet) -> None:
    with pytest.raises(MalformedResponse):
        parse(keys, signed_body(METHOD, PAID, keys.alipay)[:30])


def test_trailing_garbage_makes_a_success_suspect(keys: KeySet) -> None:
    with pytest.raises(SignatureError):
        parse(keys, signed_body(METHOD, PAID, keys.alipay) + ',"x":1}')


def test_truncated_failure_is_unknown(keys: KeySet) -> None:
    body = signed_body(METHOD, UNPAID, keys.alipay)
    with pytest.raises(MalformedResponse):
        parse(keys, body[:40])


@pytest.mark.parametrize("cut", [-10, -1])
def test_truncated_failure_after_its_node_is_an_unverified_failure(keys: KeySet, cut: int) -> None:
    body = signed_body(METHOD, UNPAID, keys.alipay)
    with pytest.raises(BusinessError) as caught:
        parse(keys, body[:cut])
    assert caught.value.verified is False


def test_duplicated_node_cannot_smuggle_a_forged_success(keys: KeySet) -> None:
    forged = PAID.replace("9.99", "0.01")
    body = f'{{"{NODE}":{UNPAID},"{NODE}":{forged},"sign":"{signing.sign(keys.alipay, UNPAID)}"}}'
    assert json.loads(body)[NODE]["code"] == "10000"
    with pytest.raises(BusinessError) as caught:
        parse(keys, body)
    assert caught.value.verified is True
    assert caught.value.sub_code == "ACQ.TRADE_NOT_EXIST"


def test_duplicated_node_with_the_forged_copy_first(keys: KeySet) -> None:
    forged = PAID.replace("9.99", "0.01")
    body = f'{{"{NODE}":{forged},"{NODE}":{PAID},"sign":"{signing.sign(keys.alipay, PAID)}"}}'
    with pytest.raises(SignatureError):
        parse(keys, body)


def test_duplicated_sign_only_the_first_counts(keys: KeySet, other_key: signing.PrivateKey) -> None:
    forged = PAID.replace("9.99", "0.01")
    first, second = signing.sign(other_key, forged), signing.sign(keys.alipay, PAID)
    body = f'{{"{NODE}":{forged},"sign":"{first}","sign":"{second}"}}'
    with pytest.raises(SignatureError):
        parse(keys, body)


def test_braces_and_escaped_quotes_inside_strings(keys: KeySet) -> None:
    node = (
        '{"code":"10000","msg":"Success","subject":"a}b\\"}\\\\","body":"{\\"x\\":[1,{}]}",'
        '"trade_status":"TRADE_SUCCESS","fund_bill_list":[{"amount":"1.00","fund_channel":"ALIPAYACCOUNT"}]}'
    )
    fields = parse(keys, signed_body(METHOD, node, keys.alipay))
    assert fields["subject"] == 'a}b"}\\'
    assert fields["body"] == '{"x":[1,{}]}'
    assert fields["fund_bill_list"] == [{"amount": "1.00", "fund_channel": "ALIPAYACCOUNT"}]


def test_brace_in_string_cannot_cut_the_node_short(keys: KeySet) -> None:
    node = '{"code":"40004","msg":"}","sub_code":"ACQ.TRADE_NOT_EXIST"}'
    forged = '{"code":"10000","msg":"}","trade_status":"TRADE_SUCCESS"}'
    body = f'{{"{NODE}":{forged},"sign":"{signing.sign(keys.alipay, node)}"}}'
    with pytest.raises(SignatureError):
        parse(keys, body)


@pytest.mark.parametrize("sign_member", ["", ',"sign":""', ',"sign":null', ',"sign":123'])
def test_unsigned_success_is_a_signature_error(keys: KeySet, sign_member: str) -> None:
    with pytest.raises(SignatureError) as caught:
        parse(keys, f'{{"{NODE}":{PAID}{sign_member}}}')
    assert isinstance(caught.value, OutcomeUnknown)


def test_success_signed_with_another_key(keys: KeySet, other_key: signing.PrivateKey) -> None:
    with pytest.raises(SignatureError):
        parse(keys, signed_body(METHOD, PAID, other_key))


def test_success_signed_with_the_apps_own_key_is_refused(keys: KeySet) -> None:
    with pytest.raises(SignatureError):
        parse(keys, signed_body(METHOD, PAID, keys.app))


def test_tampered_success(keys: KeySet) -> None:
    sign = signing.sign(keys.alipay, PAID)
    with pytest.raises(SignatureError):
        parse(keys, signed_body(METHOD, PAID.replace("9.99", "0.01"), None, sign=sign))


def test_failure_with_a_wrong_signature_is_an_alarm_too(keys: KeySet, other_key: signing.PrivateKey) -> None:
    with pytest.raises(SignatureError):
        parse(keys, signed_body(METHOD, UNPAID, other_key))


def test_unsigned_invalid_signature_error_is_an_unverified_business_error(keys: KeySet) -> None:
    node = (
        '{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}'
    )
    with pytest.raises(BusinessError) as caught:
        parse(keys, unsigned_body(METHOD, node))
    assert caught.value.verified is False
    assert (caught.value.code, caught.value.sub_code) == ("40002", "isv.invalid-signature")


def test_error_response_node_with_empty_sign(keys: KeySet) -> None:
    body = (
        '{"error_response":{"msg":"Invalid Arguments","code":"40002","sub_msg":"授权码code无效",'
        '"sub_code":"isv.code-invalid"},"alipay_cert_sn":"a5b59edf65dcda9ca26e071ab6f5a0a7","sign":""}'
    )
    with pytest.raises(BusinessError) as caught:
        parse(keys, body)
    assert caught.value.verified is False and caught.value.sub_code == "isv.code-invalid"


def test_unsigned_system_error_is_still_transient(keys: KeySet) -> None:
    node = '{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}'
    with pytest.raises(GatewayBusy) as caught:
        parse(keys, unsigned_body(METHOD, node))
    assert caught.value.verified is False


def test_escaped_slashes_signed_as_sent(keys: KeySet) -> None:
    node = '{"code":"10000","msg":"Success","qr_code":"https:\\/\\/qr.alipay.com\\/bax1"}'
    assert parse(keys, signed_body(METHOD, node, keys.alipay))["qr_code"] == "https://qr.alipay.com/bax1"


def test_escaped_slashes_signed_unescaped_like_java(keys: KeySet) -> None:
    node = '{"code":"10000","msg":"Success","qr_code":"https:\\/\\/qr.alipay.com\\/bax1"}'
    sign = signing.sign(keys.alipay, node.replace("\\/", "/"))
    assert parse(keys, signed_body(METHOD, node, None, sign=sign))["qr_code"] == "https://qr.alipay.com/bax1"


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<html>502</html>",
        "[]",
        "{}",
        '{"other_response":{"code":"40004"}}',
        f'{{"{NODE}":"text"}}',
        f'{{"{NODE}":{{"msg":"no code"}},"sign":""}}',
    ],
)
def test_unreadable_answers_are_unknown(keys: KeySet, body: str) -> None:
    with pytest.raises(MalformedResponse):
        parse(keys, body)


def test_invalid_json_inside_a_node_claiming_success(keys: KeySet) -> None:
    node = '{"code":"10000","msg":"Success",}'
    with pytest.raises(SignatureError):
        parse(keys, signed_body(METHOD, node, keys.alipay))


def test_node_for_another_method_is_not_accepted(keys: KeySet) -> None:
    body = signed_body("alipay.trade.refund", PAID, keys.alipay)
    with pytest.raises(SignatureError):
        parse(keys, body)


def test_scan_keeps_duplicates_in_order() -> None:
    text = '{"a":{"x":"}"},"a":[1,"]"],"b":"\\"","c":-1.5e3,"d":null}'
    scan = scan_object(text)
    assert scan.complete
    assert [(m.key, text[m.start : m.end]) for m in scan.members] == [
        ("a", '{"x":"}"}'),
        ("a", '[1,"]"]'),
        ("b", '"\\""'),
        ("c", "-1.5e3"),
        ("d", "null"),
    ]
