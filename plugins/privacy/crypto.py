"""Envelope encryption: AES-256-GCM data keys per subject, wrapped by the key-encryption key (KEK)
from configuration. Also the HMAC used to sign one-click links."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from enishi.settings import ConfigError, Settings

DEV_KEK_FILE = Path(".enishi-kek")


def key_encryption_key(settings: Settings) -> bytes:
    """The KEK: `ENISHI_KEK` / `ENISHI_KEK_FILE` (base64 of 32 bytes). In development only, a key
    is created on first use in `.enishi-kek` so that `make run` works with no set-up."""
    value = settings.key_encryption_key
    if value is None:
        if settings.is_production:
            raise ConfigError("the privacy plugin needs a key-encryption key: set ENISHI_KEK or ENISHI_KEK_FILE")
        if not DEV_KEK_FILE.exists():
            DEV_KEK_FILE.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
            os.chmod(DEV_KEK_FILE, 0o600)
        value = DEV_KEK_FILE.read_text().strip()
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ConfigError("the key-encryption key must be base64") from exc
    if len(key) != 32:
        raise ConfigError("the key-encryption key must be 32 bytes (base64 of 32 random bytes)")
    return key


def _derive(kek: bytes, label: bytes) -> bytes:
    return hmac.new(kek, label, hashlib.sha256).digest()


def new_wrapped_key(kek: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_derive(kek, b"wrap")).encrypt(nonce, secrets.token_bytes(32), b"enishi-subject-key")


def unwrap(kek: bytes, wrapped: bytes) -> bytes:
    return AESGCM(_derive(kek, b"wrap")).decrypt(wrapped[:12], wrapped[12:], b"enishi-subject-key")


def encrypt(data_key: bytes, plaintext: str, context: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext.encode("utf-8"), context)


def decrypt(data_key: bytes, ciphertext: bytes, context: bytes) -> str:
    return AESGCM(data_key).decrypt(ciphertext[:12], ciphertext[12:], context).decode("utf-8")


def sign(kek: bytes, message: str) -> str:
    return base64.urlsafe_b64encode(_derive(_derive(kek, b"links"), message.encode())[:18]).decode()


def verify(kek: bytes, message: str, signature: str) -> bool:
    return hmac.compare_digest(sign(kek, message), signature)
