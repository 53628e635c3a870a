"""RSA2 keys and signatures as Alipay defines them (ALIPAY.md 1.2, 1.3, 3.2).

Plain functions over `cryptography`, shared by the client and the sandbox: the sandbox is a separate Alipay
and imports nothing else from the worker.
"""

from __future__ import annotations

import base64
import binascii
import textwrap
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PrivateKey = rsa.RSAPrivateKey
PublicKey = rsa.RSAPublicKey


class KeyFormatError(ValueError):
    """The text is not an RSA key in any format Alipay's tools produce."""


def _pem_body(text: str) -> str:
    """The base64 body of a PEM or of a bare one-line key, whitespace removed."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("-----")]
    return "".join(lines)


def load_private_key(text: str | bytes) -> PrivateKey:
    """Load an RSA private key: PKCS#1 or PKCS#8 PEM, or the bare base64 body Alipay's key tool writes."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    candidates: list[bytes] = []
    if "-----BEGIN" in text:
        candidates.append(text.strip().encode())
    body = _pem_body(text)
    wrapped = "\n".join(textwrap.wrap(body, 64))
    candidates += [
        f"-----BEGIN PRIVATE KEY-----\n{wrapped}\n-----END PRIVATE KEY-----\n".encode(),
        f"-----BEGIN RSA PRIVATE KEY-----\n{wrapped}\n-----END RSA PRIVATE KEY-----\n".encode(),
    ]
    for pem in candidates:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            continue
        if isinstance(key, rsa.RSAPrivateKey):
            return key
        raise KeyFormatError("not an RSA private key")
    raise KeyFormatError("not an RSA private key in PKCS#1 or PKCS#8 PEM, or bare base64")


def load_public_key(text: str | bytes) -> PublicKey:
    """Load an RSA public key: X.509 SubjectPublicKeyInfo or PKCS#1 PEM, or the bare one-line base64 body."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    body = _pem_body(text)
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("not base64 key material") from exc
    for loader in (serialization.load_der_public_key,):
        try:
            key = loader(der)
        except (ValueError, TypeError):
            key = None
        if isinstance(key, rsa.RSAPublicKey):
            return key
    try:
        pem = f"-----BEGIN RSA PUBLIC KEY-----\n{body}\n-----END RSA PUBLIC KEY-----\n".encode()
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError("not an RSA public key in PEM or bare base64") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("not an RSA public key")
    return key


def public_key_of(key: PrivateKey) -> PublicKey:
    return key.public_key()


def pem_private(key: PrivateKey, pkcs8: bool = True) -> str:
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def pem_public(key: PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def bare_public(key: PublicKey) -> str:
    """The one-line base64 form in which Alipay's console shows a public key."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def generate_private_key() -> PrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def content_to_sign(params: Mapping[str, object], exclude: Iterable[str] = ("sign",)) -> str:
    """The string Alipay signs: every non-empty parameter but `exclude`, sorted by key, `k=v` joined by `&`.

    Values are raw (not URL-encoded). Requests exclude only `sign`; notifications also exclude `sign_type`.
    """
    skip = set(exclude)
    pairs = sorted(
        (k, str(v)) for k, v in params.items() if k not in skip and v is not None and str(v) != ""
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


def sign(key: PrivateKey, content: str, charset: str = "utf-8") -> str:
    """RSA2: SHA256withRSA, PKCS#1 v1.5, standard base64 on one line."""
    raw = key.sign(content.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(key: PublicKey, content: str, signature: str, charset: str = "utf-8") -> bool:
    """True when `signature` is a valid RSA2 signature of `content`; never raises on bad input."""
    if not signature:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, content.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
