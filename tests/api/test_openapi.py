"""GET /openapi.json: valid OpenAPI 3.1, made from the models that validate requests, and covering every route."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from redis.backoff import NoBackoff
from redis.retry import Retry

from api import create_app
from api.models import RESPONSE_MODELS
from api.openapi import OPERATIONS, REF, SKIPPED_METHODS, document, openapi_path
from api.schemas import JobRequest, QrcodeRequest, RefundQueryRequest, RefundRequest
from tests.conftest import free_port
from worker import defaults
from worker.settings import Settings
from worker.store import Store

SUBMISSIONS: dict[str, type[JobRequest]] = {
    "/qrcode": QrcodeRequest, "/refund": RefundRequest, "/refund_query": RefundQueryRequest,
}
PATH_VALUES = {"job_id": "0" * 32, "out_trade_no": "OPENAPI_0001", "day": "2026-11-25"}
QRCODE = {"totalAmount": "88.80", "subject": "coffee", "storeId": "store_1", "timeoutExpress": "5m",
          "outTradeNo": "OPENAPI_0001"}


def _settings(keys: Any, **env: str) -> Settings:
    return Settings.from_env({"ALIPAY_APP_PRIVATE_KEY_FILE": str(keys.path("app_private_key.pem")),
                              "ALIPAY_PUBLIC_KEY_FILE": str(keys.path("alipay_public_key.txt")), **env})


@pytest.fixture
def app(keys, redis_db) -> Flask:
    queue = SimpleNamespace(send_task=lambda *args, **kwargs: None)
    return create_app({"SETTINGS": _settings(keys), "STORE": Store(redis_db), "CELERY": queue, "TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def conforms(spec: dict[str, Any], name: str, instance: object) -> list[str]:
    """The errors of ``instance`` against the document's ``components/schemas/<name>``."""
    root = {"$ref": REF.format(model=name), "components": spec["components"]}
    return [error.message for error in Draft202012Validator(root).iter_errors(instance)]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]


def url(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path


# --- the document -------------------------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    validate_openapi(spec)
    assert spec["openapi"].startswith("3.1.")


def test_every_route_is_described(app: Flask, spec: dict[str, Any]) -> None:
    missing = [
        f"{method} {rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules() if rule.endpoint != "static"
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS)
        if method.lower() not in spec["paths"].get(openapi_path(rule.rule), {})
    ]
    assert not missing, f"describe these routes in api.openapi.OPERATIONS: {missing}"


def test_every_description_is_of_a_route(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(OPERATIONS) <= endpoints, f"no such endpoints: {sorted(set(OPERATIONS) - endpoints)}"


def test_the_document_is_built_once_per_app(app: Flask) -> None:
    assert document(app) is document(app)


@pytest.mark.parametrize(("rule", "path"), [
    ("/jobs/<job_id>", "/jobs/{job_id}"), ("/a/<int:n>/<path:rest>", "/a/{n}/{rest}"), ("/healthz", "/healthz"),
])
def test_openapi_path(rule: str, path: str) -> None:
    assert openapi_path(rule) == path


# --- requests: the models that validate them ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "model"), SUBMISSIONS.items())
def test_query_parameters_are_the_fields_of_the_request_model(spec: dict[str, Any], path: str,
                                                              model: type[JobRequest]) -> None:
    schema = model.model_json_schema(by_alias=True)
    query = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"}
    assert list(query) == list(schema["properties"])
    for name, parameter in query.items():
        assert parameter["schema"] == schema["properties"][name]
        assert parameter["required"] is (name in schema.get("required", ()))


@pytest.mark.parametrize(("path", "model"), SUBMISSIONS.items())
def test_post_bodies_are_the_request_model_as_json_or_form(spec: dict[str, Any], path: str,
                                                           model: type[JobRequest]) -> None:
    content = spec["paths"][path]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
    schema = model.model_json_schema(by_alias=True, ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        assert spec["components"]["schemas"][name] == definition
    for media in content.values():
        assert media["schema"] == {"$ref": REF.format(model=model.__name__)}
    assert spec["components"]["schemas"][model.__name__] == schema


def test_refunds_describe_the_idempotency_key_header(spec: dict[str, Any]) -> None:
    for method in ("get", "post"):
        headers = [p for p in spec["paths"]["/refund"][method]["parameters"] if p["in"] == "header"]
        assert [h["name"] for h in headers] == ["Idempotency-Key"] and headers[0]["required"] is False


# --- answers -------------------------------------------------------------------------------------------------


def test_every_answer_model_is_a_component(spec: dict[str, Any]) -> None:
    assert {model.__name__ for model in RESPONSE_MODELS} <= set(spec["components"]["schemas"])


def test_every_operation_names_its_answers(spec: dict[str, Any]) -> None:
    for path, method, op in operations(spec):
        statuses = set(op["responses"])
        assert statuses & {"200", "202"}, f"{method} {path}"
        assert {"405", "414"} <= statuses, f"{method} {path}"
        assert ("401" in statuses) is (op.get("security") != []), f"{method} {path}"


def test_submissions_and_reads_answer_as_described(client: FlaskClient, spec: dict[str, Any]) -> None:
    submitted = client.post("/qrcode", data=QRCODE)
    assert submitted.status_code == 202
    assert conforms(spec, "Submission", submitted.json) == []
    job_id = submitted.json["job_id"]
    assert conforms(spec, "Job", client.get(f"/jobs/{job_id}").json) == []
    assert conforms(spec, "Order", client.get("/orders/OPENAPI_0001").json) == []
    assert conforms(spec, "OrderEvents", client.get("/orders/OPENAPI_0001/events").json) == []
    unpaid = client.post("/refund", json={"refund_amount": "1.00", "out_trade_no": "OPENAPI_0001",
                                          "refund_reason": "test", "out_request_no": "R1"})
    assert unpaid.status_code == 409 and conforms(spec, "Error", unpaid.json) == []
    query = client.get("/refund_query?trade_no=2026112622001400000000000001&out_request_no=R1")
    assert query.status_code == 202 and conforms(spec, "Submission", query.json) == []
    assert conforms(spec, "Health", client.get("/healthz").json) == []


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "described"), [
    ("GET", "/qrcode", {}, 400, "/qrcode"),
    ("POST", "/qrcode", {"json": [1, 2]}, 400, "/qrcode"),
    ("POST", "/refund", {"json": {"refund_amount": "1.00", "out_trade_no": "NOPE", "refund_reason": "x"}}, 404,
     "/refund"),
    ("POST", "/qrcode", {"data": dict(QRCODE, subject="other")}, 409, "/qrcode"),
    ("POST", "/qrcode", {"data": {"subject": "x" * (defaults.MAX_REQUEST_BYTES + 1)}}, 413, "/qrcode"),
    ("GET", "/jobs/nope", {}, 404, "/jobs/{job_id}"),
    ("DELETE", "/qrcode", {}, 405, "/qrcode"),
    ("GET", "/reconciliations/yesterday", {}, 400, "/reconciliations/{day}"),
])
def test_errors_answer_as_described(client: FlaskClient, spec: dict[str, Any], method: str, path: str,
                                    kwargs: dict[str, Any], status: int, described: str) -> None:
    client.post("/qrcode", data=QRCODE)
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == status
    assert conforms(spec, "Error", response.json) == []
    assert all(str(status) in op["responses"] for op in spec["paths"][described].values())


def test_a_redis_outage_answers_as_described(keys, spec: dict[str, Any]) -> None:
    down = Store(redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)))
    client = create_app({"SETTINGS": _settings(keys), "STORE": down, "CELERY": object(), "TESTING": True}
                        ).test_client()
    for path in ("/jobs/{job_id}", "/orders/{out_trade_no}", "/orders/{out_trade_no}/pay/status"):
        response = client.get(url(path))
        assert response.status_code == 503 and conforms(spec, "Error", response.json) == []
        assert "503" in spec["paths"][path]["get"]["responses"]


def test_several_bad_fields_are_all_named_as_described(client: FlaskClient, spec: dict[str, Any]) -> None:
    response = client.get("/qrcode?totalAmount=1.234&timeoutExpress=5x")
    assert response.status_code == 400 and len(response.json["error"]["fields"]) == 5
    assert conforms(spec, "Error", response.json) == []


# --- API keys --------------------------------------------------------------------------------------------------


def test_operations_marked_open_need_no_key_and_the_others_do(keys, redis_db) -> None:
    app = create_app({"SETTINGS": _settings(keys, API_KEYS="openapi-key-0001"), "STORE": Store(redis_db),
                      "CELERY": object(), "TESTING": True})
    client = app.test_client()
    spec = client.get("/openapi.json").json
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert spec["security"] == [{"bearerAuth": []}]
    for path, method, op in operations(spec):
        status = client.open(url(path), method=method.upper()).status_code
        assert (status == 401) is (op.get("security") != []), f"{method.upper()} {path}: {status}"
