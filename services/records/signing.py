"""What a signature covers: the SHA-256 of the canonical JSON of the signed content (sorted keys, no spaces, UTF-8).
A report and a prescription are signed by this hash; the same content always gives the same hash, and any change —
one character, one field — another, so a stored document can be checked against what was signed."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_hash(document: Any) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()
