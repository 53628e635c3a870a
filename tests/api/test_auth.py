"""API keys: client endpoints need a Bearer key when API_KEYS is set; what Alipay and buyers reach stays open."""

from __future__ import annotations

import logging

import pytest

from api import create_app
from api.auth import key_accepted
from worker.settings import Settings
from worker.store import Store


@pytest.fixture
def client(keys, redis_db):
    settings = Settings.from_env({
        "ALIPAY_APP_PRIVATE_KEY_FILE": str(keys.path("app_private_key.pem")),
        "ALIPAY_PUBLIC_KEY_FILE": str(keys.path("alipay_public_key.txt")),
        "API_KEYS": "key-one, key-two",
    })
    app = create_app({"SETTINGS": settings, "STORE": Store(redis_db), "CELERY": object(), "TESTING": True})
    return app.test_client()


@pytest.mark.parametrize("path", ["/jobs/x", "/orders/x", "/orders/x/events", "/qrcode", "/refund", "/refund_query"])
def test_client_endpoints_need_a_key(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized" and response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers={"Authorization": "Basic key-one"}).status_code == 401


def test_a_configured_key_is_accepted(client) -> None:
    for key in ("key-one", "key-two"):
        response = client.get("/jobs/nope", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 404 and response.json["error"]["code"] == "job_not_found"


def test_alipay_and_health_stay_open(client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.post("/notify", data={"out_trade_no": "x"}).data == b"failure"
    assert client.get("/no/such/page").status_code == 404


def test_keys_never_reach_the_log(client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client.get("/orders/x", headers={"Authorization": "Bearer not-a-key-secret"})
    client.get("/orders/x", headers={"Authorization": "Bearer key-one"})
    assert "key-one" not in caplog.text and "not-a-key-secret" not in caplog.text


def test_comparison_checks_every_key() -> None:
    assert key_accepted("b", ("a", "b")) and not key_accepted("c", ("a", "b")) and not key_accepted("", ("a",))
