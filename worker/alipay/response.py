"""Reading a gateway.do answer: find the `*_response` node in the raw text, verify it, classify it.

See ALIPAY.md section 2.

Alipay signs the raw text of the node, so the node is located by scanning the body, never by re-serialising a
parsed copy; business fields are then parsed from that verified substring only. A body with a duplicated node
key therefore cannot smuggle an unverified second copy past the check.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import signing
from .errors import MalformedResponse, OutcomeUnknown, SignatureError, from_answer

SUCCESS_CODE = "10000"
ERROR_NODE = "error_response"

_WHITESPACE = " \t\r\n"
_CLAIMS_SUCCESS = re.compile(r'"code"\s*:\s*"10000"')


class _Unreadable(ValueError):
    """The text stops or goes wrong before the structure being read is complete."""


@dataclass(frozen=True)
class Member:
    """One top-level `"key": value` pair: its decoded key and the span of its raw value text."""

    key: str
    start: int
    end: int


def node_name(method: str) -> str:
    """`alipay.trade.query` -> `alipay_trade_query_response`."""
    return method.replace(".", "_") + "_response"


def _skip_whitespace(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKET_OR_QUOTE = re.compile(r'["{}\[\]]')
_SCALAR_END = re.compile(r"[,}\]" + _WHITESPACE + "]")


def _string_end(text: str, i: int) -> int:
    """Index just past the JSON string that opens at `i`, honouring backslash escapes."""
    match = _STRING.match(text, i)
    if match is None:
        raise _Unreadable("unterminated string")
    return match.end()


def _value_end(text: str, i: int) -> int:
    """Index just past the JSON value that starts at `i`; brackets inside strings do not count."""
    if i >= len(text):
        raise _Unreadable("missing value")
    char = text[i]
    if char == '"':
        return _string_end(text, i)
    if char in "{[":
        depth = 0
        while (found := _BRACKET_OR_QUOTE.search(text, i)) is not None:
            i = found.start()
            char = text[i]
            if char == '"':
                i = _string_end(text, i)
                continue
            if char in "{[":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise _Unreadable("unbalanced brackets")
    found = _SCALAR_END.search(text, i)
    j = found.start() if found is not None else len(text)
    if j == i or j == len(text):
        raise _Unreadable("bad scalar")
    return j


@dataclass(frozen=True)
class Scan:
    """The top-level members of a body, in order (duplicates kept), and whether the object was complete."""

    members: list[Member]
    complete: bool

    def first(self, key: str) -> Member | None:
        return next((m for m in self.members if m.key == key), None)


def scan_object(text: str) -> Scan:
    """Read the top-level JSON object as far as the text allows.

    Reading stops quietly at the first flaw: a truncated body still yields the members before the cut, with
    `complete` False. Values are not decoded, only delimited, so their raw text can be verified.
    """
    members: list[Member] = []
    try:
        i = _skip_whitespace(text, 0)
        if i >= len(text) or text[i] != "{":
            return Scan(members, False)
        i = _skip_whitespace(text, i + 1)
        if i < len(text) and text[i] == "}":
            return Scan(members, _skip_whitespace(text, i + 1) == len(text))
        while i < len(text) and text[i] == '"':
            key_end = _string_end(text, i)
            key = json.loads(text[i:key_end])
            i = _skip_whitespace(text, key_end)
            if i >= len(text) or text[i] != ":":
                break
            start = _skip_whitespace(text, i + 1)
            end = _value_end(text, start)
            members.append(Member(key, start, end))
            i = _skip_whitespace(text, end)
            if i < len(text) and text[i] == "}":
                return Scan(members, _skip_whitespace(text, i + 1) == len(text))
            if i >= len(text) or text[i] != ",":
                break
            i = _skip_whitespace(text, i + 1)
    except (_Unreadable, ValueError):
        pass
    return Scan(members, False)


def _signature(text: str, scan: Scan) -> str:
    """The first top-level `sign` when it is a string, else ''."""
    member = scan.first("sign")
    if member is None or text[member.start] != '"':
        return ""
    try:
        value = json.loads(text[member.start : member.end])
    except ValueError:
        return ""
    return value if isinstance(value, str) else ""


def verify_node(public_key: signing.PublicKey, node_text: str, signature: str) -> bool:
    """RSA2 check of the node's raw text; like Alipay's Java SDK, retried once with `\\/` read as `/`."""
    if signing.verify(public_key, node_text, signature):
        return True
    return "\\/" in node_text and signing.verify(public_key, node_text.replace("\\/", "/"), signature)


def _unreadable(method: str, text: str, reason: str, status_code: int) -> OutcomeUnknown:
    if _CLAIMS_SUCCESS.search(text):
        return SignatureError(f"{method}: {reason}, yet it claims success", method=method)
    return MalformedResponse(f"{method}: {reason}", method=method, status_code=status_code)


def parse_response(
    method: str, text: str, public_key: signing.PublicKey, *, status_code: int = 200
) -> dict[str, Any]:
    """The verified fields of a code-10000 answer; raises the matching AlipayError for anything else.

    - signed and verified, code 10000: the node's fields;
    - signed and verified, another code: GatewayBusy or BusinessError with `verified=True`;
    - a signature that does not verify: SignatureError, whatever the code;
    - unsigned (absent or empty `sign`): code 10000 is a SignatureError; an error code is classified as above
      with `verified=False`; no code at all is a MalformedResponse;
    - no readable node: SignatureError when the text looks like a success, else MalformedResponse;
    - a body cut short (not one complete JSON object) is never a success, even when the node verifies: its
      failures count as unverified.
    """
    scan = scan_object(text)
    node = scan.first(node_name(method)) or scan.first(ERROR_NODE)
    if node is None or text[node.start] != "{":
        raise _unreadable(method, text, "no readable response node in the body", status_code)
    node_text = text[node.start : node.end]
    try:
        fields = json.loads(node_text)
    except ValueError:
        raise _unreadable(method, text, "the response node is not valid JSON", status_code) from None
    if not isinstance(fields, dict):
        raise _unreadable(method, text, "the response node is not an object", status_code)

    signature = _signature(text, scan)
    if signature and not verify_node(public_key, node_text, signature):
        raise SignatureError(f"{method}: the response signature does not verify", method=method)
    verified = bool(signature) and scan.complete
    code = str(fields.get("code") or "")
    if code == SUCCESS_CODE:
        if not scan.complete:
            raise SignatureError(f"{method}: a truncated response claims success", method=method)
        if not verified:
            raise SignatureError(f"{method}: an unsigned response claims success", method=method)
        return fields
    if not code:
        raise MalformedResponse(f"{method}: the response has no code", method=method, status_code=status_code)
    raise from_answer(method, fields, verified=verified)
