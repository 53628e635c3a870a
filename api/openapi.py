"""GET /openapi.json: the OpenAPI 3.1 description of the client API, built once per app.

Paths come from the app's own URL map, so a path or method is never out of step with the routes; what each
endpoint takes and answers comes from the models that really validate the requests (``api.schemas``) and from
the models of the answers (``api.models``). An endpoint of the URL map with no entry in ``OPERATIONS`` is left
out of the document, and the tests fail until it has one.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api import models
from api.errors import RETRY_AFTER_SECONDS
from api.schemas import TRADE_NO_PATTERN, JobRequest, QrcodeRequest, RefundQueryRequest, RefundRequest

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"
API_VERSION = "0.1.0"
REF = "#/components/schemas/{model}"
"""Where the models' schemas live in the document; also the ``ref_template`` their JSON schemas are built with."""

BODY_TYPES = ("application/json", "application/x-www-form-urlencoded")
"""The POST body types a submission accepts (``api.params``); the query string works too."""

SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS"})
"""Methods Flask adds to every rule by itself; not described."""

_lock = threading.Lock()


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _operation_id(method: str, path: str) -> str:
    return method.lower() + "_" + (re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root")


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **extra}


def _header(description: str, schema: dict[str, Any] | None = None, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema or {"type": "string"}}


# ------------------------------------------------------------------------------------------ responses

ERROR_RESPONSES: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("BadRequest", _json(ref("Error"), "The parameters are invalid (`invalid_request`: every bad parameter is "
                                            "named, in `field` and, when several, `fields`), or the JSON body is "
                                            "not an object (`invalid_json`). Nothing was recorded.")),
    401: ("Unauthorized", _json(ref("Error"), "`unauthorized`: the service runs with API keys and the request has no "
                                              "valid `Authorization: Bearer <key>`.",
                                headers={"WWW-Authenticate": _header("`Bearer`.")})),
    404: ("NotFound", _json(ref("Error"), "Nothing is known here under that name: `not_found`, or a precise code "
                                          "such as `job_not_found`, `order_not_found`, `qr_code_not_found`.")),
    405: ("MethodNotAllowed", _json(ref("Error"), "`method_not_allowed`: the URL exists, not for this method.",
                                    headers={"Allow": _header("The methods the URL accepts.")})),
    409: ("Conflict", _json(ref("Error"), "`conflict`: the same identity (`outTradeNo`, `out_trade_no` + "
                                          "`out_request_no`, `Idempotency-Key`) was used with other parameters; "
                                          "for a refund also `order_not_refundable` (not paid) and "
                                          "`refund_exceeds_total`. Nothing was sent to Alipay.")),
    413: ("PayloadTooLarge", _json(ref("Error"), "`payload_too_large`: the body is over the service's limit.")),
    414: ("URITooLong", {"description": "The URL is longer than the HTTP server takes (gunicorn: 4094 bytes for the "
                                        "request line); answered by the server, before the API, as HTML. Send long "
                                        "parameters in a POST body.",
                         "content": {"text/html": {"schema": {"type": "string"}}}}),
    503: ("ServiceUnavailable", _json(ref("Error"), "`service_unavailable`: Redis or the broker is down. Nothing was "
                                                    "recorded: the same request may be sent again.",
                                      headers={"Retry-After": _header(
                                          "Seconds to wait before trying again.",
                                          {"type": "string", "examples": [str(RETRY_AFTER_SECONDS)]})})),
}
"""Every error answer (``components/responses``), with the shared ``Error`` body but for the server's own 414."""

ALWAYS = frozenset({405, 414})
"""Errors any operation may answer: a method the URL does not take, a URL too long for the server."""

_LOCATION = {"Location": _header("The job's URL, `/jobs/{job_id}`.")}


def _submitted(*, order: bool) -> dict[str, Any]:
    """The answers to a submission, with links to the job (and the order) they name."""
    links = {"job": {"operationId": _operation_id("GET", "/jobs/{job_id}"),
                     "parameters": {"job_id": "$response.body#/job_id"}, "description": "Follow the job."}}
    if order:
        links["order"] = {"operationId": _operation_id("GET", "/orders/{out_trade_no}"),
                          "parameters": {"out_trade_no": "$response.body#/out_trade_no"},
                          "description": "The order the job acts on."}
    return {
        "200": _json(ref("Job"), "With `wait`: the job ended within the wait; the whole job."),
        "202": _json(ref("Submission"), "Accepted and queued, or the same submission again (the same job): "
                                        "follow `links.job`.", headers=_LOCATION, links=links),
    }


_IMAGE_CACHE = {"ETag": _header("Changes only if the image would."),
                "Cache-Control": _header("Public, long-lived and immutable: a QR code never changes.")}


# ------------------------------------------------------------------------------------------ parameters

_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "job_id": {"type": "string", "description": "The job's id, from a submission.",
               "examples": ["0f8fad5bd9cb469fa16570867728950e"]},
    "out_trade_no": {"type": "string", "pattern": TRADE_NO_PATTERN, "description": "The merchant's order number.",
                     "examples": ["SEED20240101000001"]},
    "day": {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "A day, yyyy-MM-dd (Beijing time).", "examples": ["2026-11-25"]},
}
_CONVERTER_TYPES = {"int": {"type": "integer"}, "float": {"type": "number"},
                    "uuid": {"type": "string", "format": "uuid"}}
_RULE_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a refund without `out_request_no` safe to repeat: the same key with the same "
                   "parameters answers with the same job. 1 to 255 printable ASCII characters, no spaces.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$",
               "examples": ["order-42-refund-1"]},
}


def _qr_scale() -> dict[str, Any]:
    from api import cashier

    return {"name": "scale", "in": "query", "required": False,
            "description": "Pixels (PNG) or units (SVG) per module of the code.",
            "schema": {"type": "integer", "minimum": 1, "maximum": cashier.QR_SCALE_MAX,
                       "default": cashier.QR_SCALE}}


def _page_language() -> dict[str, Any]:
    from api.cashier_texts import LANGUAGES

    return {"name": "lang", "in": "query", "required": False,
            "description": "The page's language; without it, the first of `Accept-Language` that is one of these.",
            "schema": {"type": "string", "enum": list(LANGUAGES)}}


# ------------------------------------------------------------------------------------------ operations


@dataclass(frozen=True)
class Operation:
    """How one endpoint is described; its path and methods come from the URL map."""

    tag: str
    summary: str
    description: str = ""
    request: type[JobRequest] | None = None
    """The model of the parameters: query parameters for a GET, the body (JSON or form) for a POST."""
    responses: dict[str, Any] = field(default_factory=dict)
    """Success answers, by status."""
    errors: tuple[int, ...] = ()
    """Error answers (``ERROR_RESPONSES``); 401 is added when the endpoint needs a key, 405 and 414 always."""
    parameters: tuple[Any, ...] = ()
    """Further parameters (headers, or a callable that builds them), on top of the model's and the path's."""
    body: dict[str, Any] | None = None
    """A request body other than the model's."""


_SUBMISSION_ERRORS = (400, 413, 503)

OPERATIONS: dict[str, Operation] = {
    "payments.qrcode": Operation(
        "payments", "Create a QR-code payment (alipay.trade.precreate)",
        "Records the order and queues a precreate job. The same `outTradeNo` with the same parameters answers "
        "with the same job and calls Alipay no more; with other parameters, 409.",
        request=QrcodeRequest, responses=_submitted(order=True), errors=(*_SUBMISSION_ERRORS, 409)),
    "refunds.refund": Operation(
        "refunds", "Refund part or all of a paid order (alipay.trade.refund)",
        "Reserves the amount on the order and queues a refund job; accepted only for a paid order and while "
        "refunded + in flight + this refund does not exceed the total.",
        request=RefundRequest, responses=_submitted(order=True), errors=(*_SUBMISSION_ERRORS, 404, 409),
        parameters=(IDEMPOTENCY_KEY,)),
    "refunds.refund_query": Operation(
        "refunds", "Ask Alipay about one refund (alipay.trade.fastpay.refund.query)",
        "Queues a refund-query job; its result holds Alipay's `refund_status` and amounts.",
        request=RefundQueryRequest, responses=_submitted(order=False), errors=_SUBMISSION_ERRORS),
    "jobs.get_job": Operation(
        "jobs", "A job, as the workers last recorded it",
        responses={"200": _json(ref("Job"), "The job.")}, errors=(404, 503)),
    "jobs.get_order": Operation(
        "orders", "An order: its status, payment and refunds",
        responses={"200": _json(ref("Order"), "The order.")}, errors=(404, 503)),
    "jobs.get_order_events": Operation(
        "orders", "The order's webhook events and their delivery",
        responses={"200": _json(ref("OrderEvents"), "The events, oldest first.")}, errors=(404, 503)),
    "notify.notify": Operation(
        "alipay", "Alipay's asynchronous notification",
        "Called by Alipay, not by clients. `success` only when the RSA2 signature verifies, `app_id` (and "
        "`seller_id` when configured) match, the order is known and `total_amount` matches, or for a duplicate "
        "of a processed notification; otherwise `failure`, and nothing changes.",
        body={"required": True, "content": {"application/x-www-form-urlencoded": {
            "schema": ref("AlipayNotification")}}},
        responses={"200": {"description": "`success` or `failure`, as Alipay expects.", "content": {
            "text/plain": {"schema": {"type": "string", "enum": ["success", "failure"]}}}}},
        errors=(413, 503)),
    "health.healthz": Operation(
        "operations", "The process is up",
        responses={"200": _json(ref("Health"), "Up.")}),
    "health.readyz": Operation(
        "operations", "Redis and the broker answer and a worker replies",
        responses={"200": _json(ref("Readiness"), "Ready."),
                   "503": _json(ref("Readiness"), "Not ready; `reasons` says why.")}),
    "openapi.openapi_json": Operation(
        "operations", "This document",
        responses={"200": _json({"type": "object"}, "The OpenAPI description of the API.")}),
    "cashier.qrcode_png": Operation(
        "cashier", "The order's QR code as a PNG image",
        responses={"200": {"description": "The image.", "headers": _IMAGE_CACHE, "content": {"image/png": {}}},
                   "304": {"description": "Not modified (`If-None-Match`)."}},
        errors=(400, 404, 503), parameters=(_qr_scale,)),
    "cashier.qrcode_svg": Operation(
        "cashier", "The order's QR code as an SVG image",
        responses={"200": {"description": "The image.", "headers": _IMAGE_CACHE,
                           "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                   "304": {"description": "Not modified (`If-None-Match`)."}},
        errors=(400, 404, 503), parameters=(_qr_scale,)),
    "cashier.pay_page": Operation(
        "cashier", "The buyer's cashier page",
        "An HTML page with the QR code, amount, subject and a countdown, following the order live. "
        "In Chinese or English, by `lang` or `Accept-Language`.",
        responses={"200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
                   "404": {"description": "No such order: a page for a browser (`Accept: text/html`), else the "
                                          "JSON error.",
                           "content": {"text/html": {"schema": {"type": "string"}},
                                       "application/json": {"schema": ref("Error")}}}},
        errors=(503,), parameters=(_page_language,)),
    "cashier.pay_status": Operation(
        "cashier", "What the cashier page shows, for its live updates",
        responses={"200": _json(ref("BuyerStatus"), "The order as the buyer sees it.")}, errors=(404, 503)),
    "reconciliations.get_reconciliation": Operation(
        "reconciliation", "One day's reconciliation of Alipay's bill",
        "The report of the day's bill reconciliation; 404 when there is none (the message says why the last "
        "attempt failed, when it did).",
        responses={"200": _json(ref("ReconciliationReport"), "The report.")}, errors=(400, 404, 503)),
    "reconciliations.get_last_sweep": Operation(
        "reconciliation", "The last sweep of unsettled orders",
        responses={"200": _json(ref("SweepResult"), "What the sweep checked and changed.")}, errors=(404, 503)),
    "metrics.metrics": Operation(
        "operations", "Prometheus metrics",
        "The text exposition format, or OpenMetrics when `Accept` asks for it.",
        responses={"200": {"description": "The metrics.", "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/openmetrics-text": {"schema": {"type": "string"}}}}},
        errors=(503,)),
}
"""Every endpoint of the client API, by Flask endpoint name."""


# ------------------------------------------------------------------------------------------ the document


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``/jobs/<job_id>`` → ``/jobs/{job_id}``."""
    return _RULE_ARGUMENT.sub(lambda m: "{" + m[2] + "}", rule)


def _path_parameters(rule: str) -> list[dict[str, Any]]:
    found = []
    for match in _RULE_ARGUMENT.finditer(rule):
        converter, name = match[1] or "default", match[2]
        schema = _PATH_PARAMETERS.get(name) or _CONVERTER_TYPES.get(converter) or {"type": "string"}
        found.append({"name": name, "in": "path", "required": True, "schema": schema})
    return found


def request_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema exactly as pydantic writes it (by alias), references pointing into components."""
    return model.model_json_schema(by_alias=True, ref_template=REF)


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One query parameter per field of ``model``, each with that field's own schema."""
    schema = request_schema(model)
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop,
         **({"description": prop["description"]} if "description" in prop else {})}
        for name, prop in schema["properties"].items()
    ]


def _describe(op: Operation, method: str, path: str, rule: str, is_open: bool) -> dict[str, Any]:
    parameters = _path_parameters(rule)
    for extra in op.parameters:
        parameters.append(extra() if callable(extra) else extra)
    described: dict[str, Any] = {"tags": [op.tag], "summary": op.summary, "operationId": _operation_id(method, path)}
    if op.description:
        described["description"] = op.description
    if op.request is not None and method == "GET":
        parameters += query_parameters(op.request)
    elif op.request is not None:
        name = op.request.__name__
        described["requestBody"] = {
            "required": True,
            "description": "The parameters, as JSON or as a form; they may also be sent in the query string "
                           "(the body wins on the same name).",
            "content": {media: {"schema": ref(name)} for media in BODY_TYPES},
        }
    elif op.body is not None:
        described["requestBody"] = op.body
    if parameters:
        described["parameters"] = parameters
    responses = dict(op.responses)
    errors = set(op.errors) | ALWAYS | (set() if is_open else {401})
    for status in sorted(errors):
        responses.setdefault(str(status), {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"})
    described["responses"] = dict(sorted(responses.items()))
    if is_open:
        described["security"] = []
    return described


def _rules(app: Flask) -> Iterator[tuple[str, str, str]]:
    """(rule, method, endpoint) for every described route, in the URL map's order."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint not in OPERATIONS:
            continue
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
            yield rule.rule, method, rule.endpoint


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for request_model in (QrcodeRequest, RefundRequest, RefundQueryRequest):
        schema = request_schema(request_model)
        schemas.update(schema.pop("$defs", {}))
        schemas[request_model.__name__] = schema
    _, top = models_json_schema([(m, "serialization") for m in models.RESPONSE_MODELS], by_alias=True,
                                ref_template=REF)
    schemas.update(top.get("$defs", {}))
    return {
        "schemas": schemas,
        "responses": {name: response for name, response in ERROR_RESPONSES.values()},
        "securitySchemes": {"bearerAuth": {
            "type": "http", "scheme": "bearer",
            "description": "One of the service's API keys. Needed only when the service runs with `API_KEYS`; "
                           "Alipay's notifications, the health checks and the buyer's pages never need one.",
        }},
    }


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``: pure, reads only the URL map, the models and the open endpoints."""
    from api.auth import open_endpoints_of

    open_endpoints = open_endpoints_of(app)
    paths: dict[str, dict[str, Any]] = {}
    for rule, method, endpoint in _rules(app):
        path = openapi_path(rule)
        paths.setdefault(path, {})[method.lower()] = _describe(OPERATIONS[endpoint], method, path, rule,
                                                               endpoint in open_endpoints)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "alipay-worker",
            "version": API_VERSION,
            "description": "Alipay QR-code payments (当面付), refunds and refund queries, run as jobs. A submission "
                           "answers 202 with a job to follow (or, with `wait`, 200 with the ended job). Money is "
                           "a decimal string in yuan with at most two decimals. Every error of the API is the JSON "
                           "`Error`.",
        },
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS.values())],
        "paths": paths,
        "components": _components(),
    }


def document(app: Flask) -> bytes:
    """The document as served, built on first use and kept for the app's life (the routes no longer change)."""
    cached: bytes | None = app.extensions.get("openapi")
    if cached is None:
        with _lock:
            cached = app.extensions.get("openapi")
            if cached is None:
                cached = json.dumps(build_document(app), ensure_ascii=False).encode()
                app.extensions["openapi"] = cached
    return cached


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return Response(document(current_app), mimetype="application/json")
