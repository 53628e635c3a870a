"""JSON logs: one object per line from the API, the workers and beat, with the job's context and no secrets.

A line is `{"time", "level", "logger", "message", "process", ...}`, plus where they apply `task`, `task_id`,
`job_id`, `out_trade_no` and `attempt` (from the log context a task binds, or from `extra=`), any other
`extra=` field with a plain value, the fields of a gunicorn access line, and `exception`.

`RedactingFilter` stands in front of the formatter as a safety net: whatever a message, an exception or an
extra field holds, signatures, keys, PEM blocks, bearer tokens and the configured API keys come out as
`[REDACTED]` (so do passwords in URLs), and buyer identities masked (`abc***@example.com`, `2088********1234`).

`configure_logging()` installs it for a Celery worker or beat (see `worker/celery_hooks.py`);
`gunicorn_logconfig()` is the same set-up as the `logconfig_dict` of gunicorn.conf.py.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

import orjson

CONTEXT_FIELDS = ("task", "task_id", "job_id", "out_trade_no", "attempt")
"""Fields a line carries when they apply, in this order, after time, level, logger and message."""

QUIET_LOGGERS = ("urllib3", "requests")
"""Kept at INFO or above whatever the level: their DEBUG lines print whole URLs, and ours carry `sign`."""

REDACTED = "[REDACTED]"

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_context: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)


# --- context --------------------------------------------------------------------------------------------


def bind(**fields: Any) -> None:
    """Add fields to every line logged from here on in this context (a Celery task: until it ends).

    None values are ignored. Celery's task_prerun and task_postrun clear the context around each task.
    """
    current = _context.get() or {}
    _context.set({**current, **{key: value for key, value in fields.items() if value is not None}})


def clear() -> None:
    _context.set(None)


def current_context() -> dict[str, Any]:
    return dict(_context.get() or {})


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to the lines logged inside the block only (for code that is not a Celery task)."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


# --- redaction ------------------------------------------------------------------------------------------

_SECRET_NAMES = ("sign", "signature", "app_private_key", "alipay_private_key", "private_key", "api_key", "api_keys",
                 "webhook_secret", "secret", "password")
_IDENTITY_NAMES = ("buyer_logon_id", "buyer_user_id", "buyer_id", "buyer_open_id")
_SECRET_KEYS = frozenset(_SECRET_NAMES) | {"authorization"}
_IDENTITY_KEYS = frozenset(_IDENTITY_NAMES)

_SEPARATOR = r"""(\\?["']?\s*[=:]\s*\\?["']?)"""
_VALUE = r"""([^&\s"'\\;}]+)"""
_PEM = re.compile(r"-----BEGIN [^-\r\n]*-----.*?(?:-----END [^-\r\n]*-----|\Z)", re.DOTALL)
_AUTHORIZATION = re.compile(r"(?i)(?<!\w)(authorization)" + _SEPARATOR + r"((?:bearer|basic|token)\s+)?" + _VALUE)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_NAMED_SECRET = re.compile(r"(?i)(?<!\w)(" + "|".join(_SECRET_NAMES) + ")" + _SEPARATOR + _VALUE)
_NAMED_IDENTITY = re.compile(r"(?i)(?<!\w)(" + "|".join(_IDENTITY_NAMES) + ")" + _SEPARATOR + _VALUE)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):([^@/\s]+)@")
_ALIPAY_USER_ID = re.compile(r"(?<!\d)2088\d{12}(?!\d)")
_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/]{120,}={0,2}")
"""A key body or a signature printed without its name (an RSA2 signature is 344 characters)."""


def mask(value: str) -> str:
    """A buyer identity cut down to what Alipay itself shows: `abc***@example.com`, `2088********1234`."""
    if "*" in value:
        return value  # masked already (Alipay masks buyer_logon_id itself)
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:3]}***@{domain}"
    if len(value) >= 10:
        return value[:4] + "*" * (len(value) - 8) + value[-4:]
    return "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with secrets replaced by [REDACTED] and buyer identities masked; idempotent."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = _PEM.sub(REDACTED, text)
    text = _AUTHORIZATION.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m[1]} {REDACTED}", text)
    text = _NAMED_SECRET.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    text = _NAMED_IDENTITY.sub(lambda m: f"{m[1]}{m[2]}{mask(m[3])}", text)
    text = _URL_PASSWORD.sub(lambda m: m[0] if set(m[2]) == {"*"} else f"{m[1]}:{REDACTED}@", text)
    text = _ALIPAY_USER_ID.sub(lambda m: mask(m[0]), text)
    return _LONG_BASE64.sub(REDACTED, text)


def secrets_from_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The literal secrets a process knows from its environment: the API keys and the webhook secret."""
    env = os.environ if env is None else env
    found = [key.strip() for key in (env.get("API_KEYS") or "").split(",")]
    webhook = env.get("WEBHOOK_SECRET") or ""
    found += [webhook, webhook.removeprefix("whsec_")]
    # Longest first, so that a key containing another is replaced whole; very short values would mask noise.
    return tuple(sorted({s for s in found if len(s) >= 6}, key=len, reverse=True))


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no secret or full buyer identity reaches any handler; never drops one."""

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        super().__init__()
        self.secrets = tuple(secrets) if secrets is not None else secrets_from_env()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, self.scrub(key, value))
        return True

    def scrub(self, key: str, value: Any) -> Any:
        """An extra field's value, redacted by its name first and then by its content."""
        name = key.lower()
        if name in _SECRET_KEYS:
            return REDACTED
        if name in _IDENTITY_KEYS and value is not None:
            return mask(str(value))
        if isinstance(value, str):
            return redact(value, self.secrets)
        if isinstance(value, Mapping):
            return {k: self.scrub(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(key, v) for v in value]
        return value


# --- formatting -----------------------------------------------------------------------------------------


def _access_fields(atoms: Mapping[str, Any]) -> dict[str, Any]:
    """A gunicorn access line's fields, from the atoms gunicorn passes as the record's args (the request's
    headers are among them: only these are taken)."""
    status = str(atoms.get("s") or "")
    return {"method": atoms.get("m"), "path": atoms.get("U"), "status": int(status) if status.isdigit() else status,
            "duration_ms": atoms.get("M"), "bytes": atoms.get("B"), "remote_addr": atoms.get("h"),
            "user_agent": atoms.get("a")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages and tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        context = _context.get() or {}
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            value = context.get(name) if value is None else value
            if value is not None:
                entry[name] = value
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            entry.update(_access_fields(record.args))
        for key, value in vars(record).items():
            if (key not in _STANDARD_ATTRS and key not in entry and not key.startswith("_")
                    and (value is None or isinstance(value, str | int | float | bool))):
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            line = orjson.dumps(entry, default=str).decode()
        except (orjson.JSONEncodeError, TypeError):  # an int beyond 64 bits, say: the slower, lenient way
            line = json.dumps(entry, ensure_ascii=False, default=str)
        # Python's str.splitlines() also breaks at these two; escaped, a line is a line for every reader.
        return line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# --- set-up ---------------------------------------------------------------------------------------------


def _level(level: int | str | None) -> int:
    if isinstance(level, int):
        return level or logging.INFO
    return logging.getLevelNamesMapping().get(str(level or "INFO").upper(), logging.INFO)


PER_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")
"""Celery's "received" and "succeeded" lines, two per task: kept at WARNING, so failures still show, since our
tasks log what matters themselves (a measurable share of a job's CPU otherwise)."""


def configure_logging(level: int | str | None = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record of this process, as JSON lines, to `stream` (stderr): the root logger gets one
    handler, and loggers that had their own (Celery's, gunicorn's) hand their records to it. Idempotent."""
    numeric = _level(level)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in ("celery", "celery.task", "celery.redirected", "gunicorn.error", "gunicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
    for name in PER_TASK_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)
    return handler


def gunicorn_logconfig(level: int | str | None = logging.INFO) -> dict[str, Any]:
    """`configure_logging` as a dictConfig for gunicorn's `logconfig_dict` (which gunicorn re-applies on
    every reload): its error and access logs, and the app's own loggers, as JSON lines on stderr."""
    numeric = _level(level)
    quiet = logging.getLevelName(max(numeric, logging.INFO))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactingFilter}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json",
                              "filters": ["redact"]}},
        "root": {"level": logging.getLevelName(numeric), "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": logging.getLevelName(numeric), "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
            **{name: {"level": quiet} for name in QUIET_LOGGERS},
        },
    }
