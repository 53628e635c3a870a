"""Fixtures for the sandbox: fresh keys per session, a fresh sandbox server per test, a notification receiver,
and python-alipay-sdk pointed at the sandbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from sandbox import SandboxConfig, create_app, serve
from tests.sandbox.helpers import APP_ID, Receiver, SandboxClient
from worker.alipay.signing import PrivateKey, generate_private_key, pem_private, pem_public


@pytest.fixture(scope="session")
def app_key() -> PrivateKey:
    """The merchant app's key pair (the sandbox knows the public half)."""
    return generate_private_key()


@pytest.fixture(scope="session")
def alipay_key() -> PrivateKey:
    """The sandbox's own key pair: it signs with the private half, merchants verify with the public one."""
    return generate_private_key()


@pytest.fixture(scope="session")
def other_key() -> PrivateKey:
    return generate_private_key()


@pytest.fixture
def config(app_key: PrivateKey, alipay_key: PrivateKey) -> SandboxConfig:
    return SandboxConfig(app_id=APP_ID, app_public_key=app_key.public_key(), private_key=alipay_key)


@pytest.fixture
def app(config: SandboxConfig) -> Iterator[Flask]:
    app = create_app(config)
    yield app
    app.extensions["sandbox"].stop()


@pytest.fixture
def sandbox(app: Flask) -> Iterator[SandboxClient]:
    handle = serve(app)
    try:
        yield SandboxClient(handle.url)
    finally:
        handle.shutdown()


@pytest.fixture
def make_sdk(sandbox: SandboxClient, app_key: PrivateKey, alipay_key: PrivateKey) -> Callable[..., Any]:
    """python-alipay-sdk configured like a merchant, pointed at the sandbox."""
    from alipay import AliPay

    def make(key: PrivateKey | None = None, app_id: str = APP_ID, notify_url: str | None = None) -> Any:
        client = AliPay(appid=app_id, app_notify_url=notify_url,
                        app_private_key_string=pem_private(key or app_key, pkcs8=False),
                        alipay_public_key_string=pem_public(alipay_key.public_key()), sign_type="RSA2")
        client._gateway = sandbox.gateway
        return client

    return make


@pytest.fixture
def sdk(make_sdk: Callable[..., Any]) -> Any:
    return make_sdk()


@pytest.fixture
def otn() -> Callable[[], str]:
    """A fresh out_trade_no each call."""
    return lambda: "T" + uuid.uuid4().hex[:20]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


