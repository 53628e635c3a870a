"""The buyer's views: QR images, the cashier page and its status endpoint, over orders written straight to Redis."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from api.cashier import IMAGE_MAX_AGE_S, OPEN_ENDPOINTS
from worker.settings import Settings
from worker.store import Keys, Store

OTN = "CASHIER_0001"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BUYER_FIELDS = {"buyer_logon_id", "buyer_user_id", "trade_no", "gmt_payment", "job_id", "callback_url", "qr_code",
                "refunds"}


def _order(**changes: Any) -> dict[str, Any]:
    expires = datetime.now(UTC) + timedelta(minutes=10)
    order = {
        "out_trade_no": OTN, "trade_no": None, "status": "PENDING", "total_amount": "88.80",
        "refunded_amount": "0.00", "subject": "Pour-over coffee", "store_id": "store_7", "timeout_express": "10m",
        "expires_at": expires.isoformat(timespec="seconds"), "qr_code": "https://qr.alipay.com/bax012345678",
        "buyer_logon_id": "abc***@example.com", "buyer_user_id": "2088000000000001", "gmt_payment": None,
        "refunds": [], "created_at": "2026-11-26T01:00:00+00:00", "updated_at": "2026-11-26T01:00:00+00:00",
        "job_id": "f" * 32, "callback_url": "https://shop.example.com/cb",
    }
    order.update(changes)
    return order


@pytest.fixture
def make_app(keys, redis_db: redis.Redis) -> Callable[..., Flask]:
    def make(**env: str) -> Flask:
        settings = Settings.from_env({
            "REDIS_URL": "redis://127.0.0.1:6399/0",
            "ALIPAY_APP_PRIVATE_KEY_FILE": str(keys.path("app_private_key.pem")),
            "ALIPAY_PUBLIC_KEY_FILE": str(keys.path("alipay_public_key.txt")),
            **env,
        })
        return create_app({"SETTINGS": settings, "STORE": Store(redis_db), "CELERY": object(), "TESTING": True})

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def put_order(redis_db: redis.Redis) -> Callable[..., dict[str, Any]]:
    def put(**changes: Any) -> dict[str, Any]:
        order = _order(**changes)
        redis_db.set(Keys.order(order["out_trade_no"]), json.dumps(order))
        return order

    return put


def _png_width(data: bytes) -> int:
    return int(struct.unpack(">I", data[16:20])[0])  # IHDR is the first chunk


# --- QR images --------------------------------------------------------------------------------------------


def test_the_png_is_a_png_cached_for_good(client: FlaskClient, put_order) -> None:
    put_order()
    response = client.get(f"/orders/{OTN}/qrcode.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data.startswith(PNG_MAGIC)
    cache = response.cache_control
    assert cache.public and cache.immutable and cache.max_age == IMAGE_MAX_AGE_S
    assert response.headers["ETag"].startswith('"') and response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_svg_is_an_svg(client: FlaskClient, put_order) -> None:
    put_order()
    response = client.get(f"/orders/{OTN}/qrcode.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert b"<svg" in response.data and response.cache_control.immutable and response.headers["ETag"]


def test_scale_sets_the_size_and_the_etag(client: FlaskClient, put_order) -> None:
    put_order()
    one, two = (client.get(f"/orders/{OTN}/qrcode.png?scale={s}") for s in (1, 2))
    assert _png_width(two.data) == 2 * _png_width(one.data)
    assert _png_width(client.get(f"/orders/{OTN}/qrcode.png").data) == 8 * _png_width(one.data)
    assert one.headers["ETag"] != two.headers["ETag"]


@pytest.mark.parametrize("scale", ["0", "21", "x", "2.5", "-1", ""])
def test_a_bad_scale_is_refused(client: FlaskClient, put_order, scale: str) -> None:
    put_order()
    response = client.get(f"/orders/{OTN}/qrcode.png?scale={scale}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_request" and response.json["error"]["field"] == "scale"


@pytest.mark.parametrize("kind", ["png", "svg"])
def test_a_known_etag_answers_304_without_a_body(client: FlaskClient, put_order, kind: str) -> None:
    put_order()
    first = client.get(f"/orders/{OTN}/qrcode.{kind}")
    etag = first.headers["ETag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(f"/orders/{OTN}/qrcode.{kind}", headers={"If-None-Match": sent})
        assert again.status_code == 304 and again.data == b"", sent
        assert again.headers["ETag"] == etag and again.cache_control.immutable
    assert client.get(f"/orders/{OTN}/qrcode.{kind}", headers={"If-None-Match": '"other"'}).status_code == 200


def test_order_retention_shortens_the_image_max_age(make_app, put_order) -> None:
    put_order()
    response = make_app(ORDER_RETENTION_DAYS="2").test_client().get(f"/orders/{OTN}/qrcode.png")
    assert response.cache_control.max_age == 2 * 86400


@pytest.mark.parametrize("kind", ["png", "svg"])
def test_no_image_for_an_unknown_order_or_one_without_a_qr_code(client: FlaskClient, put_order, kind: str) -> None:
    unknown = client.get(f"/orders/NO_SUCH_ORDER/qrcode.{kind}")
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "order_not_found"
    assert "immutable" not in unknown.headers.get("Cache-Control", "")
    put_order(qr_code=None, expires_at=None)
    pending = client.get(f"/orders/{OTN}/qrcode.{kind}")
    assert pending.status_code == 404 and pending.json["error"]["code"] == "qr_code_not_found"
    put_order(qr_code=None, expires_at=None, status="FAILED")
    failed = client.get(f"/orders/{OTN}/qrcode.{kind}")
    assert failed.status_code == 404 and "failed" in failed.json["error"]["message"]


# --- the cashier page -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "query", "lang", "words"), [
    ({"Accept-Language": "en-US,en;q=0.9"}, "", "en", "Scan with Alipay to pay"),
    ({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, "", "zh-CN", "打开支付宝扫一扫付款"),
    ({"Accept-Language": "zh-TW"}, "", "zh-CN", "剩余付款时间"),
    ({"Accept-Language": "fr-FR"}, "", "en", "Expires in"),
    ({}, "", "en", "Scan with Alipay to pay"),
    ({"Accept-Language": "zh-CN"}, "?lang=en", "en", "Scan with Alipay to pay"),
    ({"Accept-Language": "en"}, "?lang=zh", "zh-CN", "打开支付宝扫一扫付款"),
])
def test_the_page_speaks_the_buyers_language(client: FlaskClient, put_order, headers, query, lang, words) -> None:
    put_order()
    response = client.get(f"/orders/{OTN}/pay{query}", headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in page and words in page
    assert "¥88.80" in page and "Pour-over coffee" in page and "store_7" in page
    assert f'src="/orders/{OTN}/qrcode.svg"' in page and 'name="viewport"' in page
    assert response.headers["Cache-Control"] == "no-store" and "Accept-Language" in response.vary


def test_the_page_escapes_what_the_merchant_wrote(client: FlaskClient, put_order) -> None:
    put_order(subject="</script><script>alert(1)</script>")
    page = client.get(f"/orders/{OTN}/pay").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_the_page_waits_for_a_qr_code_still_being_issued(client: FlaskClient, put_order) -> None:
    put_order(qr_code=None, expires_at=None)
    page = client.get(f"/orders/{OTN}/pay").get_data(as_text=True)
    assert "Preparing the QR code" in page and 'id="preparing" class="note">' in page
    assert "qrcode.svg\"" not in page.split('id="qr"')[1].split(">")[0]


@pytest.mark.parametrize(("changes", "view"), [
    ({"status": "PENDING"}, "pending"),
    ({"status": "WAIT_BUYER_PAY"}, "pending"),
    ({"status": "TRADE_SUCCESS"}, "paid"),
    ({"status": "TRADE_FINISHED"}, "paid"),
    ({"status": "TRADE_CLOSED", "closed_reason": "deadline"}, "closed"),
    ({"status": "FAILED", "qr_code": None}, "closed"),
    ({"status": "TRADE_CLOSED", "closed_reason": "refunded", "refunded_amount": "88.80"}, "refunded"),
    ({"status": "TRADE_SUCCESS", "refunded_amount": "8.80"}, "refunded"),
])
def test_the_page_and_the_status_agree_on_the_view(client: FlaskClient, put_order, changes, view: str) -> None:
    put_order(**changes)
    assert client.get(f"/orders/{OTN}/pay/status").json["view"] == view
    page = client.get(f"/orders/{OTN}/pay").get_data(as_text=True)
    assert f'<section id="view-{view}">' in page
    assert page.count("<section id=\"view-") == 4 and page.count("hidden>") >= 3


def test_an_unknown_order_is_a_404_in_html_for_a_browser_and_json_otherwise(client: FlaskClient) -> None:
    browser = client.get("/orders/NO_SUCH_ORDER/pay", headers={"Accept": "text/html,*/*;q=0.8",
                                                               "Accept-Language": "zh-CN"})
    assert browser.status_code == 404 and browser.mimetype == "text/html"
    assert "找不到订单" in browser.get_data(as_text=True)
    plain = client.get("/orders/NO_SUCH_ORDER/pay")
    assert plain.status_code == 404 and plain.json["error"]["code"] == "order_not_found"


# --- the status endpoint ----------------------------------------------------------------------------------


def test_the_status_says_what_the_page_needs_and_nothing_about_the_buyer(client: FlaskClient, put_order) -> None:
    order = put_order(status="TRADE_SUCCESS", trade_no="2026112622001", gmt_payment="2026-11-26 09:01:02")
    response = client.get(f"/orders/{OTN}/pay/status")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert set(body) == {"out_trade_no", "status", "view", "total_amount", "refunded_amount", "subject", "store_id",
                         "expires_at", "seconds_left", "qr_code_ready"}
    assert not BUYER_FIELDS & set(body)
    assert "abc***" not in response.get_data(as_text=True) and "2088000000000001" not in response.get_data(as_text=True)
    assert body["status"] == "TRADE_SUCCESS" and body["view"] == "paid"
    assert body["total_amount"] == "88.80" and body["refunded_amount"] == "0.00"
    assert body["subject"] == "Pour-over coffee" and body["store_id"] == "store_7"
    assert body["expires_at"] == order["expires_at"] and 590 <= body["seconds_left"] <= 600
    assert body["qr_code_ready"] is True


def test_the_status_counts_down_to_zero_and_knows_no_deadline_before_the_qr_code(client: FlaskClient,
                                                                                   put_order) -> None:
    put_order(expires_at=(datetime.now(UTC) - timedelta(minutes=1)).isoformat())
    assert client.get(f"/orders/{OTN}/pay/status").json["seconds_left"] == 0
    put_order(qr_code=None, expires_at=None)
    body = client.get(f"/orders/{OTN}/pay/status").json
    assert body["seconds_left"] is None and body["qr_code_ready"] is False and body["view"] == "pending"


def test_the_status_of_an_unknown_order_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/orders/NO_SUCH_ORDER/pay/status")
    assert response.status_code == 404 and response.json["error"]["code"] == "order_not_found"


# --- open even with API keys ------------------------------------------------------------------------------


def test_the_open_endpoints_exist_and_need_no_key(make_app, put_order) -> None:
    put_order()
    app = make_app(API_KEYS="k1")
    assert OPEN_ENDPOINTS <= {rule.endpoint for rule in app.url_map.iter_rules()}
    client = app.test_client()
    for path in ("pay", "pay/status", "qrcode.png", "qrcode.svg"):
        assert client.get(f"/orders/{OTN}/{path}").status_code == 200, path
    assert client.get(f"/orders/{OTN}").status_code == 401
