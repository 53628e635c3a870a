"""Gathers a client request's parameters from its query string and its body into one flat string mapping.

The schemas (``api.schemas``) then validate that mapping, whatever way the client sent it: the seed service's
``GET /qrcode?totalAmount=...``, an HTML form, or a JSON body.
"""

from __future__ import annotations

import json
from typing import NoReturn

from flask import Request

from api.errors import FieldError, InvalidJson, InvalidRequest

JSON_TYPES = frozenset({"application/json"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _json_body(request: Request) -> dict[str, str]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        # Numbers stay the text the client wrote: no float rounding, and the money parser sees "1e2" or
        # "12.345" as written and refuses them.
        data = json.loads(raw, parse_float=str, parse_int=str, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidJson("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidJson("The JSON body must be an object of parameters.")
    params: dict[str, str] = {}
    bad: list[FieldError] = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, str):
            params[key] = value
        else:
            bad.append(
                {"field": key, "code": "invalid_type", "message": f"{key} must be a string or a number."}
            )
    if bad:
        raise InvalidRequest.from_fields(bad)
    return params


def request_params(request: Request) -> dict[str, str]:
    """The request's parameters: the query string, overlaid by the body's on the same name.

    The body is read when it is JSON (an object; ``null`` values count as absent, strings are kept, numbers
    become the exact text they were written as, so ``12.3`` is ``"12.3"`` and ``1e2`` stays ``"1e2"``;
    booleans, arrays and objects are refused) or a form (url-encoded or multipart; files are ignored).
    A body of another type is ignored. When a name appears more than once in the query string or a form, its
    first value is used. Raises ``InvalidJson`` for a JSON body that is not an object and ``InvalidRequest``
    for JSON values that are booleans, arrays or objects; no side effects beyond reading the body.
    """
    params = {key: request.args[key] for key in request.args}
    if request.mimetype in JSON_TYPES or request.mimetype.endswith("+json"):
        params.update(_json_body(request))
    elif request.mimetype in FORM_TYPES:
        params.update({key: request.form[key] for key in request.form})
    return params
