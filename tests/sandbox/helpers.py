"""Helpers for the sandbox tests: an HTTP client for the control API, hand-signed requests, raw-body
signature checks, a notification receiver and a deadline poll."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import requests

from worker.alipay.signing import PrivateKey, content_to_sign, sign, verify

APP_ID = "2021000117600042"


class SandboxClient:
    """The sandbox over HTTP: gateway URL, control API helpers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.gateway = f"{url}/gateway.do"

    def post(self, path: str, **kw: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kw)

    def delete(self, path: str) -> Any:
        return requests.delete(self.url + path, timeout=10).json()

    def scan(self, otn: str) -> requests.Response:
        return self.post(f"/sandbox/trades/{otn}/scan")

    def pay(self, otn: str) -> requests.Response:
        return self.post(f"/sandbox/trades/{otn}/pay")

    def trade(self, otn: str) -> dict[str, Any]:
        return self.get(f"/sandbox/trades/{otn}").json()

    def advance(self, seconds: float) -> dict[str, Any]:
        r = self.post("/sandbox/clock", json={"advance_s": seconds})
        assert r.status_code == 200, r.text
        return r.json()

    def fault(self, method: str, fault: str, times: int = 1, delay_ms: int = 0) -> dict[str, Any]:
        r = self.post("/sandbox/faults", json={"method": method, "fault": fault, "times": times,
                                               "delay_ms": delay_ms})
        assert r.status_code == 201, r.text
        return r.json()

    def calls(self, otn: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.get("/sandbox/calls").json() if otn is None or c["out_trade_no"] == otn]

    def notifications(self, otn: str | None = None) -> list[dict[str, Any]]:
        rows = self.get("/sandbox/notifications").json()
        return [n for n in rows if otn is None or n["out_trade_no"] == otn]


def signed_params(method: str, biz: dict[str, Any] | None, key: PrivateKey, /, app_id: str = APP_ID,
                  biz_text: str | None = None, **extra: str) -> dict[str, str]:
    """A request's parameters signed by hand, the way Alipay's official SDKs do (ALIPAY.md 1.2)."""
    params = {"app_id": app_id, "method": method, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
              "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"), "version": "1.0", **extra}
    if biz_text is not None or biz is not None:
        params["biz_content"] = biz_text if biz_text is not None else json.dumps(biz, ensure_ascii=False)
    params["sign"] = sign(key, content_to_sign(params))
    return params


def response_node(body: str, node_name: str) -> str:
    """The raw text of `node_name`'s value in a gateway body, by brace matching that respects strings."""
    start = body.index("{", body.index(f'"{node_name}"') + len(node_name) + 2)
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(body)):
        c = body[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return body[start:i + 1]
    raise AssertionError("unbalanced node")


def notification_ok(fields: dict[str, str], alipay_key: PrivateKey) -> bool:
    """ALIPAY.md 3.2: drop sign and sign_type, sort, join raw values, verify with Alipay's public key."""
    return verify(alipay_key.public_key(), content_to_sign(fields, exclude=("sign", "sign_type")), fields["sign"])


class Receiver:
    """A merchant's notify_url: records every POST and answers from `answers` (then `success`)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, str]] = []
        self.answers: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                with receiver.lock:
                    receiver.posts.append(dict(parse_qsl(raw, keep_blank_values=True)))
                    answer = receiver.answers.pop(0) if receiver.answers else "success"
                body = answer.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def received(self, otn: str) -> list[dict[str, str]]:
        with self.lock:
            return [p for p in self.posts if p.get("out_trade_no") == otn]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll until `predicate()` is truthy and return its value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)

