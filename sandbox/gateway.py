"""`/gateway.do`: read the common parameters, verify the app's RSA2 signature, run the method, sign the answer.

Parameters may come in the query string, in a form body, or split between them (official SDKs put the common
ones in the URL and biz_content in the body; python-alipay-sdk sends a GET); the body wins a tie. Problems with
the common parameters or the signature are answered unsigned, as Alipay does:

    {"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature",...}}

(`error_response` instead when the method is missing or unknown). Everything after a good signature is signed
with the sandbox's key over the exact text of the node as written, which escapes `/` as `\\/` like Alipay:

    {"alipay_trade_precreate_response":{"code":"10000",...,"qr_code":"http:\\/\\/127.0.0.1:10087\\/qr\\/bax..."},"sign":"..."}
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Request, Response, request

from sandbox.context import current_sandbox
from sandbox.core import Sandbox
from sandbox.errors import UNAVAILABLE, GatewayError, business, invalid, missing
from sandbox.faults import BEFORE_PROCESSING, FAULT_ENVIRON_KEY, Fault, FaultKind
from sandbox.methods import METHODS, Call
from sandbox.values import alipay_time, parse_alipay_time
from worker.alipay.signing import content_to_sign, sign, verify

bp = Blueprint("gateway", __name__)

CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gb2312"}
CONTENT_TYPE = "application/json;charset={charset}"
BAD_GATEWAY_PAGE = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")
_REQUIRED = (
    ("method", "isv.missing-method"),
    ("sign", "isv.missing-signature"),
    ("app_id", "isv.missing-app-id"),
    ("timestamp", "isv.missing-timestamp"),
    ("version", "isv.missing-version"),
    ("sign_type", "isv.missing-signature-type"),
)


@dataclass
class Answer:
    node_name: str
    node: dict[str, Any]
    signed: bool


def read_params(req: Request) -> tuple[dict[str, str], str | None]:
    """All parameters, decoded with the request's `charset`; the charset is None when it is not supported."""
    sources = [req.query_string.decode("latin-1")]
    if req.mimetype == "application/x-www-form-urlencoded":
        sources.append(req.get_data().decode("latin-1"))
    pairs = [pair for source in sources for pair in parse_qsl(source, keep_blank_values=True, encoding="latin-1")]
    declared = dict(pairs).get("charset", "").strip().lower() or "utf-8"
    charset = CHARSETS.get(declared)
    encoding = charset or "utf-8"
    params = {k: v for source in sources
              for k, v in parse_qsl(source, keep_blank_values=True, encoding=encoding, errors="replace")}
    if req.mimetype == "multipart/form-data":
        params.update(req.form.to_dict())
    return params, charset


def node_name(method: str | None) -> str:
    return f"{method.replace('.', '_')}_response" if method in METHODS else "error_response"


def render(answer: Answer, sandbox: Sandbox, charset: str) -> bytes:
    """The body: the node as Alipay writes it and, for a signed answer, the signature over that exact text."""
    text = json.dumps(answer.node, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        text = json.dumps(answer.node, separators=(",", ":")).replace("/", "\\/")
    body = f'{{"{answer.node_name}":{text}'
    if answer.signed:
        body += f',"sign":"{sign(sandbox.config.private_key, text, charset)}"'
    return (body + "}").encode(charset)


def _biz(params: Mapping[str, str]) -> dict[str, Any] | None:
    """biz_content as an object; {} when absent; None when it is not a JSON object."""
    text = params.get("biz_content")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _signature_ok(sandbox: Sandbox, params: Mapping[str, str], charset: str) -> bool:
    key = sandbox.config.apps.get(params.get("app_id", ""))
    if key is None or not params.get("sign"):
        return False
    return verify(key, content_to_sign(params), params["sign"], charset)


def _check_common(sandbox: Sandbox, params: Mapping[str, str], charset: str | None, sign_ok: bool) -> None:
    """The gateway's own checks, in Alipay's order; raises the unsigned error."""
    for name, sub_code in _REQUIRED:
        if not params.get(name):
            raise missing(sub_code)
    if charset is None:
        raise invalid("isv.invalid-charset")
    if params["method"] not in METHODS:
        raise invalid("isv.invalid-method")
    if params["app_id"] not in sandbox.config.apps:
        raise invalid("isv.invalid-app-id")
    if params["sign_type"] != "RSA2":
        raise invalid("isv.invalid-signature-type", "无效的签名类型，沙箱只支持RSA2")
    if parse_alipay_time(params["timestamp"]) is None:
        raise invalid("isv.invalid-timestamp")
    if params.get("format") and params["format"].lower() != "json":
        raise invalid("isv.invalid-format")
    if not sign_ok:
        raise invalid("isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，"
                      f"网关生成的验签字符串为：{content_to_sign(params)}")


def _process(sandbox: Sandbox, params: Mapping[str, str], charset: str | None, sign_ok: bool,
             biz: dict[str, Any] | None) -> Answer:
    name = node_name(params.get("method"))
    try:
        _check_common(sandbox, params, charset, sign_ok)
    except GatewayError as exc:
        return Answer(name, exc.node(), signed=False)
    try:
        if biz is None:
            raise invalid("isv.invalid-parameter", "参数biz_content不是合法的JSON对象")
        base_url = sandbox.config.public_url or request.host_url.rstrip("/")
        call = Call(sandbox, params["app_id"], biz, params, base_url)
        node = METHODS[params["method"]](call)
    except GatewayError as exc:
        node = exc.node()
    return Answer(name, node, signed=True)


def _faulted(fault: Fault, method: str | None) -> Answer | Response | None:
    """What a fault that strikes before processing answers; None for a dropped connection."""
    if fault.fault is FaultKind.RESET:
        request.environ[FAULT_ENVIRON_KEY] = FaultKind.RESET.value
        return None
    if fault.fault is FaultKind.HTTP_502:
        return Response(BAD_GATEWAY_PAGE, status=502, content_type="text/html")
    if fault.fault is FaultKind.UNAVAILABLE:
        return Answer(node_name(method), GatewayError(UNAVAILABLE, "isp.unknow-error").node(), signed=True)
    return Answer(node_name(method), business("ACQ.SYSTEM_ERROR").node(), signed=True)


@bp.route("/gateway.do", methods=["GET", "POST"])
def gateway() -> Response:
    """One gateway call: faults first, then the common checks, the method, the signed answer; always logged."""
    sandbox = current_sandbox()
    request.get_data()  # the whole body is read, so a dropped connection ends with a FIN, not a RST
    params, charset = read_params(request)
    method = params.get("method") or None
    biz = _biz(params)
    sign_ok = _signature_ok(sandbox, params, charset or "utf-8")
    entry: dict[str, Any] = {
        "method": method, "sign_ok": sign_ok, "at": alipay_time(sandbox.clock.now()),
        "app_id": params.get("app_id"), "http_method": request.method,
    }
    for key in ("out_trade_no", "out_request_no", "trade_no"):
        value = (biz or {}).get(key)
        entry[key] = str(value) if value is not None else None
    fault = sandbox.faults.take(method)
    if fault is not None:
        entry["fault"] = fault.fault.value

    outcome: Answer | Response | None
    if fault is not None and fault.fault in BEFORE_PROCESSING:
        outcome = _faulted(fault, method)
    else:
        outcome = _process(sandbox, params, charset, sign_ok, biz)
    if isinstance(outcome, Answer):
        entry.update(code=outcome.node.get("code"), sub_code=outcome.node.get("sub_code"))
    elif isinstance(outcome, Response):
        entry["http_status"] = outcome.status_code
    sandbox.calls.record(**entry)

    if outcome is None:
        return Response(status=500)  # never sent: FaultMiddleware drops the connection instead
    if isinstance(outcome, Response):
        return outcome
    out_charset = charset or "utf-8"
    response = Response(render(outcome, sandbox, out_charset), content_type=CONTENT_TYPE.format(charset=out_charset))
    if fault is not None and fault.fault is FaultKind.LOST_RESPONSE:
        request.environ[FAULT_ENVIRON_KEY] = FaultKind.LOST_RESPONSE.value
    elif fault is not None and fault.fault is FaultKind.DELAY:
        time.sleep(fault.delay_ms / 1000)
    return response
