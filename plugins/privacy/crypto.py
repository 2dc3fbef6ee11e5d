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
    return _decode_kek(value, "ENISHI_KEK")


def key_ring(settings: Settings) -> dict[str, bytes]:
    """Every KEK that may have wrapped a stored key, by fingerprint: the current one and, during a
    rotation, `ENISHI_KEK_PREVIOUS`."""
    current = key_encryption_key(settings)
    ring = {kek_id(current): current}
    if settings.previous_key_encryption_key:
        previous = _decode_kek(settings.previous_key_encryption_key, "ENISHI_KEK_PREVIOUS")
        ring.setdefault(kek_id(previous), previous)
    return ring


def _decode_kek(value: str, name: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ConfigError(f"{name} must be base64") from exc
    if len(key) != 32:
        raise ConfigError(f"{name} must be 32 bytes (base64 of 32 random bytes)")
    return key


def kek_id(kek: bytes) -> str:
    return hashlib.sha256(_derive(kek, b"id")).hexdigest()[:16]


def _derive(kek: bytes, label: bytes) -> bytes:
    return hmac.new(kek, label, hashlib.sha256).digest()


def new_wrapped_key(kek: bytes) -> bytes:
    return wrap(kek, secrets.token_bytes(32))


def wrap(kek: bytes, data_key: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_derive(kek, b"wrap")).encrypt(nonce, data_key, b"enishi-subject-key")


def unwrap(kek: bytes, wrapped: bytes) -> bytes:
    return AESGCM(_derive(kek, b"wrap")).decrypt(wrapped[:12], wrapped[12:], b"enishi-subject-key")


def encrypt(data_key: bytes, plaintext: str | bytes, context: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
    return nonce + AESGCM(data_key).encrypt(nonce, data, context)


def decrypt_bytes(data_key: bytes, ciphertext: bytes, context: bytes) -> bytes:
    return AESGCM(data_key).decrypt(ciphertext[:12], ciphertext[12:], context)


def decrypt(data_key: bytes, ciphertext: bytes, context: bytes) -> str:
    return decrypt_bytes(data_key, ciphertext, context).decode("utf-8")


def blind_index(kek: bytes, normalised: str) -> str:
    """An HMAC of a normalised value: equal inputs match, the value cannot be read back."""
    return hmac.new(_derive(kek, b"blind-index"), normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Codes and link tokens are stored hashed, so a database read does not hand them out."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(kek: bytes, message: str) -> str:
    return base64.urlsafe_b64encode(_derive(_derive(kek, b"links"), message.encode())[:18]).decode()


def verify(kek: bytes, message: str, signature: str) -> bool:
    return hmac.compare_digest(sign(kek, message), signature)
