"""A tiny HTTP gateway that records requests and plays canned answers, plus signed-body helpers.

The gateway is a stdlib `ThreadingHTTPServer` on 127.0.0.1: tests queue what it should do with the next
request (answer, hang, close without answering, reset, any raw bytes) and read back what it received,
including the client port each request came from. It closes the connection after every exchange unless
`keep_alive` is set, which makes it speak HTTP/1.1 and keep the connection open after a `Reply`.
"""

from __future__ import annotations

import gc
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from alipay import AliPay

from tests.conftest import KeySet
from worker.alipay import signing
from worker.alipay.client import AlipayClient
from worker.alipay.response import node_name

APP_ID = "2014072300007148"
HANG_LIMIT_S = 5.0


@dataclass
class Reply:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html;charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    """Read the request, then keep the caller waiting until the test ends."""


@dataclass
class Close:
    """Read the request, then close the connection cleanly without a word."""


@dataclass
class Reset:
    """Read the request, then abort the connection with a TCP RST (SO_LINGER on, timeout 0)."""


@dataclass
class Raw:
    """Read the request, write these bytes as the whole answer (status line included), then close."""

    data: bytes


Action = Reply | Hang | Close | Reset | Raw


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    query_pairs: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]
    client_port: int


@dataclass
class FakeGateway:
    server: ThreadingHTTPServer
    actions: deque[Action] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    keep_alive: bool = False

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/gateway.do"

    def answer(self, *actions: Action) -> None:
        self.actions.extend(actions)

    @property
    def last(self) -> Received:
        return self.received[-1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    timeout = 10.0
    """A kept-alive connection the client never closes cannot hold the server's shutdown for ever."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        if self.server.gateway.keep_alive:
            self.protocol_version = "HTTP/1.1"
        super().handle()

    def _handle(self) -> None:
        gateway = self.server.gateway
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query_pairs = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
        gateway.received.append(
            Received(
                method=self.command,
                path=urlsplit(self.path).path,
                query=dict(query_pairs),
                query_pairs=query_pairs,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                form=dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)),
                client_port=int(self.client_address[1]),
            )
        )
        action = gateway.actions.popleft() if gateway.actions else Reply(b"no canned answer", status=500)
        self.close_connection = not (gateway.keep_alive and isinstance(action, Reply))
        if isinstance(action, Reply):
            data = action.body.encode("utf-8") if isinstance(action.body, str) else action.body
            self.send_response(action.status)
            self.send_header("Content-Type", action.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in action.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        elif isinstance(action, Raw):
            self.wfile.write(action.data)
        elif isinstance(action, Hang):
            gateway.release.wait(HANG_LIMIT_S)
        elif isinstance(action, Reset):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()

    do_GET = _handle
    do_POST = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    gateway: FakeGateway

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    server = _Server(("127.0.0.1", 0), _Handler)
    fake = FakeGateway(server)
    server.gateway = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield fake
    fake.release.set()
    if fake.keep_alive:
        # urllib3's PoolManager.clear() leaves a pool's idle connections to the pool's finalizer, and a pool
        # caught in a failed exchange's reference cycle waits for the garbage collector: run it, so that the
        # kept-alive connections close and their handler threads end before the server joins them.
        gc.collect()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="session")
def other_key() -> signing.PrivateKey:
    """A key that is neither the app's nor Alipay's."""
    return signing.generate_private_key()


@pytest.fixture
def client(gateway: FakeGateway, keys: KeySet) -> Iterator[AlipayClient]:
    with AlipayClient(
        gateway.url,
        APP_ID,
        keys.app,
        keys.alipay.public_key(),
        notify_url="https://merchant.example.com/alipay/notify",
        connect_timeout=2.0,
        read_timeout=0.3,
    ) as alipay_client:
        yield alipay_client


@pytest.fixture(scope="session")
def sdk_merchant(keys: KeySet) -> AliPay:
    """python-alipay-sdk as the merchant sees it: signs with the app key, verifies with Alipay's."""
    return AliPay(
        appid=APP_ID,
        app_private_key_string=signing.pem_private(keys.app, pkcs8=False),
        alipay_public_key_string=signing.pem_public(keys.alipay.public_key()),
    )


@pytest.fixture(scope="session")
def sdk_alipay(keys: KeySet) -> AliPay:
    """python-alipay-sdk playing Alipay: signs with Alipay's key, verifies with the app's public key."""
    return AliPay(
        appid=APP_ID,
        app_private_key_string=signing.pem_private(keys.alipay),
        alipay_public_key_string=signing.pem_public(keys.app.public_key()),
    )


def signed_body(
    method: str, node_text: str, key: signing.PrivateKey | None, *, sign: str | None = None
) -> str:
    """A gateway answer the way Alipay writes it: the node's raw text, then `sign` over exactly that text."""
    signature = sign if sign is not None else signing.sign(key, node_text) if key is not None else ""
    return f'{{"{node_name(method)}":{node_text},"sign":"{signature}"}}'


def unsigned_body(method: str, node_text: str) -> str:
    return f'{{"{node_name(method)}":{node_text}}}'
