"""Standard Webhooks signing (https://www.standardwebhooks.com, "Verifying webhook authenticity"):
a `whsec_` secret is base64 of random bytes; each request carries `webhook-id` (the same on
every retry), `webhook-timestamp` (integer seconds of the attempt) and `webhook-signature`, a
space-separated list of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per valid secret
(two during a rotation's grace period)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def message_id(event_id: uuid.UUID) -> str:
    """The `webhook-id` of an event: no `.` in it, as the spec requires of what is signed."""
    return f"msg_{event_id.hex}"


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode("ascii") + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(valid_secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, msg_id, timestamp, body) for secret in valid_secrets),
    }
