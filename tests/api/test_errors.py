"""The JSON error answers (api.errors) on a small app of their own."""

from __future__ import annotations

import logging

import pytest
from flask import Flask, abort, request
from flask.testing import FlaskClient
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.wrappers import Response

from api.errors import (
    ApiError,
    Conflict,
    InvalidJson,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    register_error_handlers,
)
from api.params import request_params
from api.schemas import QrcodeRequest, validate

SECRET = "sk_live_do_not_leak"


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config.update(TESTING=True, MAX_CONTENT_LENGTH=1024)
    register_error_handlers(app)

    @app.get("/only-get")
    def only_get() -> str:
        return "ok"

    @app.route("/params", methods=["GET", "POST"])
    def params() -> dict[str, str]:
        return request_params(request)

    @app.route("/qrcode", methods=["GET", "POST"])
    def qrcode() -> dict[str, str]:
        return {"out_trade_no": validate(QrcodeRequest, request_params(request)).out_trade_no}

    @app.post("/get-json")
    def get_json() -> dict[str, object]:
        return {"body": request.get_json()}

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(f"database password is {SECRET}")

    @app.get("/redis-down")
    def redis_down() -> str:
        raise RedisConnectionError("Error 111 connecting to localhost:6379. Connection refused.")

    @app.get("/redis-slow")
    def redis_slow() -> str:
        raise RedisTimeoutError("Timeout reading from socket")

    @app.get("/broker-down")
    def broker_down() -> str:
        raise OperationalError("[Errno 111] Connection refused")

    @app.get("/conflict")
    def conflict() -> str:
        raise Conflict("Order A1 exists with other parameters.", field="outTradeNo")

    @app.get("/unauthorized")
    def unauthorized() -> str:
        raise Unauthorized()

    @app.get("/abort-custom")
    def abort_custom() -> str:
        abort(404, description="No job 42 is known here.")

    @app.get("/abort-response")
    def abort_response() -> str:
        abort(Response("teapot", status=418))

    @app.get("/slash/")
    def slash() -> str:
        return "ok"

    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def error_of(response: object) -> dict[str, object]:
    assert response.content_type == "application/json"  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert {"code", "message", "field"} <= set(error)
    assert isinstance(error["message"], str) and error["message"].endswith(".")
    return error


def test_unknown_url_is_404_json(client: FlaskClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert error_of(response) == {
        "code": "not_found",
        "message": "The requested URL was not found.",
        "field": None,
    }


def test_wrong_method_is_405_json_with_allow(client: FlaskClient) -> None:
    response = client.post("/only-get")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "POST" in str(error_of(response)["message"])
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "HEAD"}


def test_body_over_max_content_length_is_413(client: FlaskClient) -> None:
    response = client.post("/params", data={"subject": "x" * 2000})
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert "1024 bytes" in str(error["message"])
    body = "{" + '"a": "b",' * 200 + '"c": "d"}'
    response = client.post("/params", data=body, content_type="application/json")
    assert (response.status_code, error_of(response)["code"]) == (413, "payload_too_large")


@pytest.mark.parametrize("body", ["{not json", "[1]", '"a"', b"\xff\xfe{"])
def test_malformed_json_body_is_400_invalid_json(client: FlaskClient, body: str | bytes) -> None:
    response = client.post("/params", data=body, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_malformed_json_read_by_flask_is_400_invalid_json(client: FlaskClient) -> None:
    response = client.post("/get-json", data="{oops", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response) == {"code": "invalid_json", "message": "The request body is not valid JSON.",
                                  "field": None}


def test_json_read_by_flask_with_wrong_type_is_415(client: FlaskClient) -> None:
    response = client.post("/get-json", data="a=1", content_type="application/x-www-form-urlencoded")
    assert (response.status_code, error_of(response)["code"]) == (415, "unsupported_media_type")


def test_validation_error_names_every_field(client: FlaskClient) -> None:
    response = client.get("/qrcode?totalAmount=1.234&subject=s&storeId=1&timeoutExpress=16d&outTradeNo=A")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert error["field"] == "totalAmount"
    assert error["message"] == "Invalid parameters: totalAmount, timeoutExpress."
    assert [f["field"] for f in error["fields"]] == ["totalAmount", "timeoutExpress"]  # type: ignore[attr-defined]


def test_single_validation_error_has_no_fields_list(client: FlaskClient) -> None:
    response = client.post("/qrcode", json={"totalAmount": "1", "subject": "s", "storeId": "1",
                                            "timeoutExpress": "5m", "outTradeNo": "ab-c"})
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "invalid_request",
        "message": "outTradeNo must be 1 to 64 ASCII letters, digits or underscores.",
        "field": "outTradeNo",
    }


def test_valid_submission_passes(client: FlaskClient) -> None:
    response = client.get("/qrcode?totalAmount=1&subject=s&storeId=1&timeoutExpress=5m&outTradeNo=A1")
    assert response.status_code == 200 and response.get_json() == {"out_trade_no": "A1"}


def test_unexpected_exception_is_500_without_details(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        response = client.get(f"/boom?api_key={SECRET}Q", headers={"Authorization": f"Bearer {SECRET}H"})
    assert response.status_code == 500
    assert error_of(response) == {
        "code": "internal_error",
        "message": "The server failed to handle the request.",
        "field": None,
    }
    assert SECRET not in response.get_data(as_text=True)
    records = [r for r in caplog.records if r.name == "api.errors"]
    assert len(records) == 1 and records[0].exc_info is not None
    assert "GET /boom" in records[0].getMessage()
    assert f"{SECRET}Q" not in caplog.text and f"{SECRET}H" not in caplog.text


@pytest.mark.parametrize("path", ["/redis-down", "/redis-slow", "/broker-down"])
def test_backend_down_is_503(client: FlaskClient, path: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="api.errors"):
        response = client.get(path)
    assert response.status_code == 503
    assert error_of(response)["code"] == "service_unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_api_error_subclasses(client: FlaskClient) -> None:
    response = client.get("/conflict")
    assert response.status_code == 409
    assert error_of(response) == {"code": "conflict", "message": "Order A1 exists with other parameters.",
                                  "field": "outTradeNo"}
    response = client.get("/unauthorized")
    assert (response.status_code, error_of(response)["code"]) == (401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_abort_with_a_description_keeps_it(client: FlaskClient) -> None:
    response = client.get("/abort-custom")
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "No job 42 is known here.", "field": None}


def test_abort_with_a_response_is_left_alone(client: FlaskClient) -> None:
    response = client.get("/abort-response")
    assert (response.status_code, response.get_data(as_text=True)) == (418, "teapot")


def test_redirects_are_not_errors(client: FlaskClient) -> None:
    response = client.get("/slash")
    assert response.status_code == 308 and response.headers["Location"].endswith("/slash/")


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidRequest(), 400, "invalid_request"),
        (InvalidJson(), 400, "invalid_json"),
        (Unauthorized(), 401, "unauthorized"),
        (NotFound(), 404, "not_found"),
        (Conflict(), 409, "conflict"),
        (PayloadTooLarge(), 413, "payload_too_large"),
        (ServiceUnavailable(), 503, "service_unavailable"),
        (ApiError("Odd.", code="teapot", status=418), 418, "teapot"),
    ],
)
def test_error_classes(error: ApiError, status: int, code: str) -> None:
    assert (error.status, error.code) == (status, code)
    body = error.to_dict()
    assert body == {"error": {"code": code, "message": error.message, "field": None}}
    assert error.message.endswith(".")


def test_status_override_does_not_leak_to_the_class() -> None:
    ApiError(status=422)
    assert ApiError.status == 400 and ApiError().status == 400


def test_fields_appear_only_when_several() -> None:
    one = InvalidRequest.from_fields([{"field": "a", "code": "required", "message": "a is required."}])
    assert one.to_dict() == {"error": {"code": "invalid_request", "message": "a is required.", "field": "a"}}
    two = InvalidRequest.from_fields([
        {"field": "a", "code": "required", "message": "a is required."},
        {"field": "b", "code": "too_long", "message": "b is too long."},
    ])
    assert two.to_dict() == {
        "error": {
            "code": "invalid_request",
            "message": "Invalid parameters: a, b.",
            "field": "a",
            "fields": [
                {"field": "a", "code": "required", "message": "a is required."},
                {"field": "b", "code": "too_long", "message": "b is too long."},
            ],
        }
    }
    with pytest.raises(ValueError, match="at least one"):
        InvalidRequest.from_fields([])
