"""Envelope encryption: AES-256-GCM data keys per subject, wrapped by the key-encryption key (KEK)
from configuration; blind indexes and search tokens (HMACs of normalised values, so equal values
and substrings can be found without storing them); the HMAC that signs one-click links.

The process's `KeyRing` is installed by the runtime: the ORM models decrypt their sealed fields
with it (`enishi.models.Contact.family_name`), where no runtime is at hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .settings import ConfigError, Settings

DEV_KEK_FILE = Path(".enishi-kek")


def key_encryption_key(settings: Settings) -> bytes:
    """The KEK: `ENISHI_KEK` / `ENISHI_KEK_FILE` (base64 of 32 bytes). In development only, a key
    is created on first use in `.enishi-kek` so that `make run` works with no set-up."""
    value = settings.key_encryption_key
    if value is None:
        if settings.is_production:
            raise ConfigError("personal data is encrypted at rest: set ENISHI_KEK or ENISHI_KEK_FILE")
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


def wrap(kek: bytes, data_key: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_derive(kek, b"wrap")).encrypt(nonce, data_key, b"enishi-subject-key")


# Ciphers by data key, as KeyRing keeps unwrapped keys: setting up AES-GCM costs more than
# decrypting a name with it, and a page opens several fields per key.
_ciphers: dict[bytes, AESGCM] = {}


def _cipher(data_key: bytes) -> AESGCM:
    cipher = _ciphers.get(data_key)
    if cipher is None:
        if len(_ciphers) >= 10_000:  # bounded memory, like KeyRing's cache
            _ciphers.clear()
        cipher = _ciphers[data_key] = AESGCM(data_key)
    return cipher


def encrypt(data_key: bytes, plaintext: str | bytes, context: bytes) -> bytes:
    """Seal `plaintext` with a data key (AES-256-GCM, random nonce). `context` is authenticated, not
    stored: pass the same bytes to `decrypt` (name the field and record, so a ciphertext copied
    elsewhere fails to open)."""
    nonce = secrets.token_bytes(12)
    data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
    return nonce + _cipher(data_key).encrypt(nonce, data, context)


def decrypt_bytes(data_key: bytes, ciphertext: bytes, context: bytes) -> bytes:
    """Open what `encrypt` sealed, as bytes; raises `cryptography.exceptions.InvalidTag` on a wrong key or context."""
    return _cipher(data_key).decrypt(ciphertext[:12], ciphertext[12:], context)


def decrypt(data_key: bytes, ciphertext: bytes, context: bytes) -> str:
    """Open what `encrypt` sealed from a text, as that text."""
    return decrypt_bytes(data_key, ciphertext, context).decode("utf-8")


def grams(text: str) -> set[str]:
    """What a search key is indexed as: its bigrams, and single characters outside ASCII (one
    kanji or kana is a meaningful query, one Latin letter or digit is not)."""
    found = {text[i : i + 2] for i in range(len(text) - 1)}
    found.update(ch for ch in text if not ch.isascii())
    return found


def query_grams(key: str) -> set[str]:
    """The grams a stored text must all hold to contain `key` (a search key)."""
    return {key} if len(key) == 1 else {key[i : i + 2] for i in range(len(key) - 1)}


class KeyRing:
    """The KEKs this process may use (the current one first) and the keys derived from them.

    Blind indexes and search tokens are keyed by the KEK, so `enishi keys rotate` recomputes them
    with the subject keys; until it has, lookups try every KEK of the ring."""

    def __init__(self, settings: Settings) -> None:
        self.keks = key_ring(settings)
        self.current_id, self.current = next(iter(self.keks.items()))
        self._index_keys = [_derive(kek, b"blind-index") for kek in self.keks.values()]
        self._token_keys = [_derive(kek, b"search-token") for kek in self.keks.values()]
        self._term_keys = [_derive(kek, b"filter-term") for kek in self.keks.values()]
        self._wrappers = {kid: AESGCM(_derive(kek, b"wrap")) for kid, kek in self.keks.items()}
        self._unwrapped: dict[bytes, bytes] = {}

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh subject key and its wrapped form under the current KEK."""
        data_key = secrets.token_bytes(32)
        return data_key, wrap(self.current, data_key)

    def unwrap(self, kek_id: str | None, wrapped: bytes) -> bytes:
        """The subject key inside `wrapped`, by the KEK named (rows from before fingerprints try each)."""
        data_key = self._unwrapped.get(wrapped)
        if data_key is not None:
            return data_key
        candidates = [self._wrappers[kek_id]] if kek_id in self._wrappers else [] if kek_id else list(self._wrappers.values())
        for wrapper in candidates:
            try:
                data_key = wrapper.decrypt(wrapped[:12], wrapped[12:], b"enishi-subject-key")
            except InvalidTag:
                continue
            if len(self._unwrapped) >= 10_000:  # a page's worth many times over; bounded memory
                self._unwrapped.clear()
            self._unwrapped[wrapped] = data_key
            return data_key
        raise ConfigError("a subject key was wrapped by a key-encryption key that is not configured (set ENISHI_KEK_PREVIOUS)")

    def blind_index(self, normalised: str) -> str:
        """An HMAC of a normalised value: equal inputs match, the value cannot be read back."""
        return _hmac_hex(self._index_keys[0], normalised)

    def blind_indexes(self, normalised: str) -> list[str]:
        """The value's index under every KEK of the ring: what a lookup must accept mid-rotation."""
        return [_hmac_hex(key, normalised) for key in self._index_keys]

    def search_tokens(self, keys) -> set[str]:
        """The tokens stored for texts already reduced to search keys."""
        return _tokens(self._token_keys[0], {gram for key in keys for gram in grams(key)})

    def query_tokens(self, key: str) -> list[set[str]]:
        """Per KEK, the tokens a record must all hold to match the search key `key`."""
        wanted = query_grams(key)
        return [_tokens(token_key, wanted) for token_key in self._token_keys]

    def term_tokens(self, terms) -> set[str]:
        """The tokens stored for filter terms (a contact's custom fields: `custom_field_terms`).
        Keyed apart from search tokens, so a term never matches a search."""
        return _tokens(self._term_keys[0], terms)

    def query_term_tokens(self, terms) -> list[set[str]]:
        """Per KEK, the tokens of `terms`."""
        return [_tokens(term_key, terms) for term_key in self._term_keys]


def _hmac_hex(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _tokens(key: bytes, texts) -> set[str]:
    """Search tokens and filter terms as stored: 64 bits of each text's HMAC (collisions among the
    tokens of millions of people stay negligible) at a quarter of a whole HMAC's size."""
    return {_hmac_hex(key, text)[:16] for text in texts}


_installed: KeyRing | None = None


def install(ring: KeyRing) -> None:
    global _installed
    _installed = ring


def installed() -> KeyRing:
    """The KeyRing the runtime installed for this process."""
    if _installed is None:
        raise RuntimeError("no key ring: create an enishi Runtime first")
    return _installed


def blind_indexes(normalised: str) -> list[str]:
    """The blind indexes a stored value equal to `normalised` may carry (one per KEK of the ring,
    so a lookup works mid-rotation): `ContactEmail.address_index.in_(blind_indexes(normalize_email(a)))`."""
    return installed().blind_indexes(normalised)


def token_hash(token: str) -> str:
    """Codes and link tokens are stored hashed, so a database read does not hand them out."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(settings: Settings, message: str) -> str:
    """A URL-safe HMAC of `message` under a key derived from the KEK, for links that must not be
    forged, such as a one-click withdrawal link. The KEK itself never leaves this module."""
    return base64.urlsafe_b64encode(_derive(_derive(key_encryption_key(settings), b"links"), message.encode())[:18]).decode()


def verify(settings: Settings, message: str, signature: str) -> bool:
    """Whether `signature` is `sign(settings, message)`, compared in constant time."""
    return hmac.compare_digest(sign(settings, message), signature)
