"""The sandbox's settings: the app it trusts, the key it signs with, and where its URLs point.

`SandboxConfig.from_env()` reads them from the environment and fails with `ConfigError` (one line naming the
variable) when a key file is missing, unreadable or not a key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from sandbox import defaults
from worker.alipay.signing import KeyFormatError, PrivateKey, PublicKey, load_private_key, load_public_key

K = TypeVar("K")


class ConfigError(Exception):
    """A setting is missing or wrong; `str()` is one line that names the variable."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable


@dataclass(frozen=True)
class SandboxConfig:
    app_id: str
    """The registered app: requests must carry this app_id and be signed with its private key."""
    app_public_key: PublicKey
    """Verifies the registered app's requests."""
    private_key: PrivateKey
    """Signs the sandbox's answers and notifications (its public half is the merchant's "Alipay public key")."""
    seller_id: str = defaults.SELLER_ID
    """The merchant's PID in notifications and bills."""
    public_url: str | None = None
    """Base URL for QR codes and bill links; None means the URL the request arrived on."""
    default_notify_url: str | None = None
    """Where notifications go when a precreate carries no notify_url (Alipay's app-level setting)."""
    notify_timeout_s: float = defaults.NOTIFY_TIMEOUT_S
    notify_backoff_s: tuple[float, ...] = field(default=defaults.NOTIFY_BACKOFF_S)

    @property
    def apps(self) -> dict[str, PublicKey]:
        return {self.app_id: self.app_public_key}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxConfig:
        """Read `SANDBOX_APP_ID`, `SANDBOX_APP_PUBLIC_KEY_FILE`, `SANDBOX_PRIVATE_KEY_FILE`, `SANDBOX_SELLER_ID`,
        `SANDBOX_PUBLIC_URL` and `SANDBOX_NOTIFY_URL`."""
        env = os.environ if env is None else env
        return cls(
            app_id=env.get("SANDBOX_APP_ID") or defaults.APP_ID,
            app_public_key=_load(env, "SANDBOX_APP_PUBLIC_KEY_FILE", defaults.APP_PUBLIC_KEY_FILE,
                                 load_public_key, "an RSA public key"),
            private_key=_load(env, "SANDBOX_PRIVATE_KEY_FILE", defaults.PRIVATE_KEY_FILE,
                              load_private_key, "an RSA private key"),
            seller_id=env.get("SANDBOX_SELLER_ID") or defaults.SELLER_ID,
            public_url=_url(env, "SANDBOX_PUBLIC_URL"),
            default_notify_url=_url(env, "SANDBOX_NOTIFY_URL"),
        )


def _load(env: Mapping[str, str], name: str, default: str, loader: Callable[[str], K], what: str) -> K:
    path = Path(env.get(name) or default)
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ConfigError(name, f"cannot read key file {path}: {exc.strerror or exc}") from exc
    try:
        return loader(text)
    except KeyFormatError as exc:
        raise ConfigError(name, f"{path} is not {what}: {exc}") from exc


def _url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(name, "must be an http(s) URL with a host")
    return value.rstrip("/")
