"""Client-facing errors of the API, and the handlers that answer every failure with one JSON body.

Every error answer has the shape ``{"error": {"code": "<snake_case>", "message": "<one sentence>",
"field": "<parameter>"|null}}``; a validation error that names several parameters adds ``"fields"``, a list of
``{"field", "code", "message"}``. The exception tree::

    ApiError                    any error meant for the client; status, code, message, field
    ├── InvalidRequest          400 invalid_request: parameters failed validation, every bad one named
    ├── InvalidJson             400 invalid_json: the body is not a JSON object
    ├── Unauthorized            401 unauthorized: missing or wrong API key
    ├── NotFound                404 not_found: no such job, order, ...
    ├── Conflict                409 conflict: same identity, different parameters
    ├── PayloadTooLarge         413 payload_too_large: the body is above the configured limit
    └── ServiceUnavailable      503 service_unavailable: Redis or the broker is down; retrying later is safe
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypedDict

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.sansio.response import Response as BaseResponse

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
"""Seconds a client is told to wait (``Retry-After``) before retrying after a 503."""


class FieldError(TypedDict):
    """One bad parameter: its name as the client sent it, a snake_case code and a sentence for a person."""

    field: str
    code: str
    message: str


class ApiError(Exception):
    """An error answered to the client as the JSON error body; raise it from a view or a helper."""

    status: int = 400
    default_code: ClassVar[str] = "bad_request"
    default_message: ClassVar[str] = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        field: str | None = None,
        fields: Iterable[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message: str = message or self.default_message
        self.code: str = code or self.default_code
        if status is not None:
            self.status = status
        self.fields: list[FieldError] = list(fields or ())
        if field is None and self.fields:
            field = self.fields[0]["field"]
        self.field: str | None = field
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The response body; ``fields`` appears only when more than one parameter is named."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        if len(self.fields) > 1:
            error["fields"] = [dict(f) for f in self.fields]
        return {"error": error}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, field={self.field!r})"


class InvalidRequest(ApiError):
    """400: one or more parameters are missing or malformed; build it with :meth:`from_fields`."""

    status = 400
    default_code = "invalid_request"
    default_message = "The request parameters are invalid."

    @classmethod
    def from_fields(cls, fields: Iterable[FieldError]) -> InvalidRequest:
        """One error naming every bad parameter; the message is the field's own when there is only one."""
        bad = list(fields)
        if not bad:
            raise ValueError("InvalidRequest.from_fields needs at least one field error")
        if len(bad) == 1:
            message = bad[0]["message"]
        else:
            message = "Invalid parameters: " + ", ".join(f["field"] for f in bad) + "."
        return cls(message, fields=bad)


class InvalidJson(ApiError):
    """400: the body was sent as JSON but is not a JSON object."""

    status = 400
    default_code = "invalid_json"
    default_message = "The request body is not valid JSON."


class Unauthorized(ApiError):
    """401: the ``Authorization: Bearer <key>`` header is missing or the key is unknown."""

    status = 401
    default_code = "unauthorized"
    default_message = "A valid API key is required in the Authorization header."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class NotFound(ApiError):
    """404: the job, order or page asked for does not exist."""

    status = 404
    default_code = "not_found"
    default_message = "The requested resource was not found."


class Conflict(ApiError):
    """409: the identity (``out_trade_no``, ``out_request_no``) is already used with different parameters."""

    status = 409
    default_code = "conflict"
    default_message = "The request conflicts with an earlier one that used different parameters."


class PayloadTooLarge(ApiError):
    """413: the request body is larger than ``MAX_CONTENT_LENGTH``."""

    status = 413
    default_code = "payload_too_large"
    default_message = "The request body is too large."


class ServiceUnavailable(ApiError):
    """503: a backing service is down; nothing was half-written, so the same request may be sent again."""

    status = 503
    default_code = "service_unavailable"
    default_message = "The service is temporarily unavailable; please retry shortly."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(RETRY_AFTER_SECONDS)})
        super().__init__(message, **kwargs)


_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    410: "gone",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "unprocessable_content",
    428: "precondition_required",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

_HTTP_MESSAGES: dict[int, str] = {
    400: "The request could not be understood.",
    401: "A valid API key is required in the Authorization header.",
    403: "You are not allowed to access this resource.",
    404: "The requested URL was not found.",
    413: "The request body is too large.",
    500: "The server failed to handle the request.",
    503: "The service is temporarily unavailable; please retry shortly.",
}


def error_response(error: ApiError) -> Response:
    """The JSON response for ``error``, with its status and headers."""
    response = Response(
        json.dumps(error.to_dict(), ensure_ascii=False),
        status=error.status,
        mimetype="application/json",
    )
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "error"


def _is_json_decode_failure(exc: BaseException) -> bool:
    """True for the 400 that Flask raises when ``request.get_json()`` meets a malformed body."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, json.JSONDecodeError | UnicodeDecodeError):
            return True
        if isinstance(seen, BadRequest) and str(seen.description).startswith("Failed to decode JSON"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _from_http_exception(exc: HTTPException) -> ApiError:
    status = exc.code or 500
    if status == 400 and _is_json_decode_failure(exc):
        return InvalidJson()
    code = _HTTP_CODES.get(status) or _snake(exc.name)
    custom = exc.description if exc.description != type(exc).description else None
    if custom:
        message = str(custom)
    elif status == 405:
        message = f"The method {request.method} is not allowed for this URL."
    elif status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"The request body is larger than {limit} bytes." if limit else _HTTP_MESSAGES[413]
    else:
        message = _HTTP_MESSAGES.get(status, f"{exc.name}.")
    headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
    return ApiError(message, code=code, status=status, headers=headers)


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc)


def _handle_http_exception(exc: HTTPException) -> Response | BaseResponse:
    if exc.response is not None:
        return exc.response
    return error_response(_from_http_exception(exc))


def _handle_backend_down(exc: Exception) -> Response:
    log.warning(
        "backing service unavailable during %s %s: %s: %s",
        request.method, request.path, type(exc).__name__, exc,
    )
    return error_response(ServiceUnavailable())


def _handle_unexpected(exc: Exception) -> Response:
    # Only the method and path: the query string, body and headers may carry keys and buyer data.
    log.error("unhandled %s during %s %s", type(exc).__name__, request.method, request.path, exc_info=exc)
    return error_response(ApiError(_HTTP_MESSAGES[500], code="internal_error", status=500))


def _backend_errors() -> tuple[type[Exception], ...]:
    """Exceptions meaning Redis or the Celery broker cannot be reached, from whichever client is installed."""
    found: list[type[Exception]] = []
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:
        pass
    else:
        found += [RedisConnectionError, RedisTimeoutError]
    try:
        from kombu.exceptions import OperationalError
    except ImportError:
        pass
    else:
        found.append(OperationalError)
    return tuple(found)


def register_error_handlers(app: Flask) -> None:
    """Make ``app`` answer every error, expected or not, with the JSON error body and the right status.

    HTTP errors keep their status and headers (``Allow`` on a 405); a malformed JSON body read with
    ``request.get_json()`` becomes 400 ``invalid_json``; Redis or broker connection failures become 503;
    anything else is logged with its traceback and answered 500 ``internal_error`` without details.
    """
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    for exc_type in _backend_errors():
        app.register_error_handler(exc_type, _handle_backend_down)
    app.register_error_handler(Exception, _handle_unexpected)
