"""Typed settings read once from the environment and checked at start-up.

A bad value stops the process with one line naming the variable (`ConfigError`), before any job is taken.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from worker import defaults
from worker.alipay.signing import KeyFormatError, PrivateKey, PublicKey, load_private_key, load_public_key

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DEV_KEYS = VAR / "keys"
DEV_APP_ID = "2021000000000001"
"""The app id the bundled sandbox registers when none is configured."""


class ConfigError(Exception):
    """A setting is missing or wrong; `str()` is one line that names the variable."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = env.get(name) or default
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ConfigError(name, f"must be a URL with one of the schemes {', '.join(schemes)}")
    if parts.scheme not in ("unix", "memory") and not parts.hostname:
        raise ConfigError(name, "must be a URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ConfigError(name, "has a malformed port") from exc
    return value


def _read(env: Mapping[str, str], name: str, default: Path) -> str:
    path = Path(env.get(name) or default)
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(name, f"cannot read key file {path}: {exc.strerror or exc}") from exc


def _number(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(name, "must be a number") from exc
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum:g}")
    return value


def _webhook_secret(env: Mapping[str, str]) -> bytes | None:
    """Standard Webhooks' secret form: `whsec_` (optional) then base64 of at least 16 random bytes."""
    raw = env.get("WEBHOOK_SECRET")
    if not raw:
        return None
    body = raw.removeprefix("whsec_")
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 16:
        raise ConfigError("WEBHOOK_SECRET", "must be whsec_ followed by the base64 of at least 16 random bytes")
    return key


def _time_of_day(env: Mapping[str, str], name: str, default: str) -> time:
    raw = (env.get(name) or default).strip()
    match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", raw)
    if match is None:
        raise ConfigError(name, "must be a time of day HH:MM (24-hour, Beijing time), e.g. 10:00")
    return time(int(match[1]), int(match[2]))


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}")
    return value


def _intervals(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name)
    if not raw:
        return default
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError as exc:
        raise ConfigError(name, "must be comma-separated seconds, e.g. 2,5,30") from exc
    if not values or min(values) <= 0:
        raise ConfigError(name, "must list positive seconds")
    return values


@dataclass(frozen=True)
class Settings:
    redis_url: str
    broker_url: str
    gateway_url: str
    app_id: str
    app_private_key: PrivateKey = field(repr=False)
    alipay_public_key: PublicKey = field(repr=False)
    notify_url: str
    seller_id: str | None
    api_keys: tuple[str, ...] = field(repr=False)
    port: int
    job_retention_s: int
    order_retention_s: int
    max_attempts: int
    retry_backoff_cap_s: float
    poll_intervals_s: tuple[float, ...]
    poll_tick_s: float
    poll_max_in_flight: int
    """Most polls enqueued and not yet started at once; the dispatcher enqueues no more."""
    visibility_timeout_s: int
    connect_timeout_s: float
    read_timeout_s: float
    worker_concurrency: int
    worker_pool: str
    webhook_secret: bytes | None = field(repr=False)
    webhook_retry_s: tuple[float, ...]
    webhook_retry_for_s: float
    stale_job_s: float
    reconcile_sweep_s: float
    reconcile_after_s: float
    reconcile_batch: int
    reconcile_at: time
    """Beijing time of day after which the previous day's bill is reconciled."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting; raises ConfigError naming the first bad variable."""
        env = os.environ if env is None else env
        port_raw = env.get("PORT") or "10086"
        if not port_raw.isdigit() or not 0 < int(port_raw) < 65536:
            raise ConfigError("PORT", "must be a TCP port number")
        port = int(port_raw)
        redis_url = _url(env, "REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix"))
        broker_url = _url(
            env, "CELERY_BROKER_URL", redis_url, ("redis", "rediss", "unix", "amqp", "amqps", "pyamqp")
        )
        sandbox_port = env.get("SANDBOX_PORT") or "10087"
        gateway = _url(env, "ALIPAY_GATEWAY", f"http://127.0.0.1:{sandbox_port}/gateway.do", ("http", "https"))
        notify_url = _url(env, "ALIPAY_NOTIFY_URL", f"http://127.0.0.1:{port}/notify", ("http", "https"))
        app_id = env.get("ALIPAY_APP_ID") or DEV_APP_ID
        if not app_id.isdigit() or len(app_id) > 32:
            raise ConfigError("ALIPAY_APP_ID", "must be the numeric app id Alipay assigned (at most 32 digits)")
        private_text = _read(env, "ALIPAY_APP_PRIVATE_KEY_FILE", DEV_KEYS / "app_private_key.pem")
        public_text = _read(env, "ALIPAY_PUBLIC_KEY_FILE", DEV_KEYS / "alipay_public_key.pem")
        try:
            private_key = load_private_key(private_text)
        except KeyFormatError as exc:
            raise ConfigError("ALIPAY_APP_PRIVATE_KEY_FILE", str(exc)) from None
        try:
            public_key = load_public_key(public_text)
        except KeyFormatError as exc:
            raise ConfigError("ALIPAY_PUBLIC_KEY_FILE", str(exc)) from None
        api_keys = tuple(k.strip() for k in (env.get("API_KEYS") or "").split(",") if k.strip())
        return cls(
            redis_url=redis_url,
            broker_url=broker_url,
            gateway_url=gateway,
            app_id=app_id,
            app_private_key=private_key,
            alipay_public_key=public_key,
            notify_url=notify_url,
            seller_id=env.get("ALIPAY_SELLER_ID") or None,
            api_keys=api_keys,
            port=port,
            job_retention_s=int(_number(env, "JOB_RETENTION_DAYS", defaults.JOB_RETENTION_S / 86400) * 86400),
            order_retention_s=int(
                _number(env, "ORDER_RETENTION_DAYS", defaults.ORDER_RETENTION_S / 86400) * 86400
            ),
            max_attempts=int(_number(env, "JOB_MAX_ATTEMPTS", defaults.MAX_ATTEMPTS, minimum=1)),
            retry_backoff_cap_s=_number(env, "RETRY_BACKOFF_CAP_S", defaults.RETRY_BACKOFF_CAP_S, 0.01),
            poll_intervals_s=_intervals(env, "POLL_INTERVALS_S", defaults.POLL_INTERVALS_S),
            poll_tick_s=_number(env, "POLL_TICK_S", defaults.POLL_TICK_S, minimum=0.05),
            poll_max_in_flight=int(_number(env, "POLL_MAX_IN_FLIGHT", defaults.POLL_MAX_IN_FLIGHT, minimum=1)),
            visibility_timeout_s=int(_number(env, "VISIBILITY_TIMEOUT_S", defaults.VISIBILITY_TIMEOUT_S, 1)),
            connect_timeout_s=_number(env, "ALIPAY_CONNECT_TIMEOUT_S", defaults.HTTP_CONNECT_TIMEOUT_S, 0.01),
            read_timeout_s=_number(env, "ALIPAY_READ_TIMEOUT_S", defaults.HTTP_READ_TIMEOUT_S, 0.01),
            worker_concurrency=int(_number(env, "WORKER_CONCURRENCY", defaults.WORKER_CONCURRENCY, 1)),
            worker_pool=_choice(env, "WORKER_POOL", defaults.WORKER_POOL, ("threads", "prefork", "solo")),
            webhook_secret=_webhook_secret(env),
            webhook_retry_s=_intervals(env, "WEBHOOK_RETRY_S", defaults.WEBHOOK_RETRY_S),
            webhook_retry_for_s=_number(env, "WEBHOOK_RETRY_FOR_S", defaults.WEBHOOK_RETRY_FOR_S, 1),
            stale_job_s=_number(env, "STALE_JOB_S", defaults.STALE_JOB_S, 1),
            reconcile_sweep_s=_number(env, "RECONCILE_SWEEP_S", defaults.RECONCILE_SWEEP_S, 1),
            reconcile_after_s=_number(env, "RECONCILE_AFTER_S", defaults.RECONCILE_AFTER_S, 0),
            reconcile_batch=int(_number(env, "RECONCILE_BATCH", defaults.RECONCILE_BATCH, 1)),
            reconcile_at=_time_of_day(env, "RECONCILE_AT", defaults.RECONCILE_AT),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read on first use."""
    return Settings.from_env()
