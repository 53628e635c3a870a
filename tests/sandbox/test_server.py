"""The sandbox's HTTP server: kept-alive connections as a real gateway keeps them, and faults still on them."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlencode, urlsplit

import pytest

from sandbox import serve
from tests.sandbox.helpers import response_node, signed_params


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def _query(conn: http.client.HTTPConnection, app_key, out_trade_no: str, *, body_tail: str = "") -> dict:
    form = urlencode(signed_params("alipay.trade.query", {"out_trade_no": out_trade_no}, app_key)) + body_tail
    conn.request("POST", "/gateway.do", body=form.encode(),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    answer = conn.getresponse()
    assert answer.status == 200 and not answer.will_close
    return json.loads(response_node(answer.read().decode(), "alipay_trade_query_response"))


def test_one_connection_serves_requests_one_after_another(sandbox, sdk, app_key, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="k", out_trade_no=no, total_amount="1.00")
    sandbox.pay(no)
    conn = _connection(sandbox.url)
    first = _query(conn, app_key, no)
    port = conn.sock.getsockname()[1]
    # a body the app leaves partly unread (an unknown field past the form) does not spill into the next request
    second = _query(conn, app_key, no, body_tail="&" + "x" * 5000)
    conn.request("GET", "/healthz")
    health = conn.getresponse()
    assert health.status == 200 and health.read()
    assert conn.sock.getsockname()[1] == port, "the same connection throughout"
    assert first["trade_status"] == second["trade_status"] == "TRADE_SUCCESS"
    conn.close()


def test_a_reset_on_a_kept_alive_connection_is_still_a_reset(sandbox, sdk, app_key, otn):
    no = otn()
    sdk.api_alipay_trade_precreate(subject="k", out_trade_no=no, total_amount="1.00")
    conn = _connection(sandbox.url)
    _query(conn, app_key, no)
    sandbox.fault("alipay.trade.query", "reset")
    with pytest.raises(ConnectionResetError):
        _query(conn, app_key, no)
    conn.close()


def test_stopping_the_sandbox_ends_its_kept_alive_connections(app, app_key):
    handle = serve(app)
    conn = _connection(handle.url)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read()
    handle.shutdown()
    conn.sock.settimeout(5)
    assert conn.sock.recv(1) == b"", "closed by the server"
    conn.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", handle.port), timeout=1).close()
