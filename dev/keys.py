"""Development RSA keys, generated once under var/keys/ so that the service and the sandbox trust each other."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from worker.alipay.signing import generate_private_key, pem_private, pem_public

FILES = ("app_private_key.pem", "app_public_key.pem", "alipay_private_key.pem", "alipay_public_key.pem")


def ensure_dev_keys(directory: Path) -> Path:
    """Create the merchant's and the sandbox's key pairs unless all four files exist; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    if all((directory / name).exists() for name in FILES):
        return directory
    for role in ("app", "alipay"):
        key = generate_private_key()
        private = directory / f"{role}_private_key.pem"
        private.write_text(pem_private(key))
        private.chmod(0o600)
        (directory / f"{role}_public_key.pem").write_text(pem_public(key.public_key()))
    return directory


def ensure_webhook_secret(directory: Path) -> str:
    """A development WEBHOOK_SECRET (Standard Webhooks form), made once and kept in var/keys/webhook_secret."""
    path = directory / "webhook_secret"
    if not path.exists():
        path.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()
