"""The client's `on_call` hook: told the method, the outcome and the time of every call, whatever happened."""

from __future__ import annotations

import pytest

from tests.conftest import KeySet
from worker.alipay import AlipayClient, AlipayError

from .conftest import Close, FakeGateway, Reply, signed_body

METHOD = "alipay.trade.query"
SUCCESS = '{"code":"10000","msg":"Success","out_trade_no":"T1","trade_status":"WAIT_BUYER_PAY"}'
REFUSED = '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"x"}'
BUSY = '{"code":"20000","msg":"Service Currently Unavailable"}'


def test_every_outcome_is_observed(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    seen: list[tuple[str, str, float]] = []
    client.on_call = lambda method, outcome, seconds: seen.append((method, outcome, seconds))
    gateway.answer(Reply(signed_body(METHOD, SUCCESS, keys.alipay)), Reply(signed_body(METHOD, REFUSED, keys.alipay)),
                   Reply(signed_body(METHOD, BUSY, keys.alipay)), Reply("bad gateway", status=502),
                   Reply(f'{{"alipay_trade_query_response":{SUCCESS}}}'), Close())
    client.call(METHOD, {"out_trade_no": "T1"})
    for _ in range(5):
        with pytest.raises(AlipayError):
            client.call(METHOD, {"out_trade_no": "T1"})
    assert [outcome for _, outcome, _ in seen] == ["success", "business", "transient", "transient", "signature",
                                                  "unknown"]
    assert all(method == METHOD and 0 <= seconds < 5 for method, _, seconds in seen)


def test_without_an_observer_nothing_changes(gateway: FakeGateway, client: AlipayClient, keys: KeySet) -> None:
    assert client.on_call is None
    gateway.answer(Reply(signed_body(METHOD, SUCCESS, keys.alipay)))
    assert client.call(METHOD, {"out_trade_no": "T1"})["out_trade_no"] == "T1"
