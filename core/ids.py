"""Global ids: the opaque `base64("TypeName:uuid")` every `id` field of the API answers, and the
`ID` column of file exports carries (so an export names records exactly as the API does)."""

from __future__ import annotations

import base64
import uuid


def global_id(type_name: str, record_id: uuid.UUID | str) -> str:
    return base64.b64encode(f"{type_name}:{record_id}".encode()).decode()
