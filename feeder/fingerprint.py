"""One hash for "has this changed?": of JSON-able parts, stable across runs."""

from __future__ import annotations

import hashlib
import json

__all__ = ["hash_of"]


def hash_of(*parts: object) -> str:
    """A SHA-256 of the parts as canonical JSON (sorted keys; other values as text)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
