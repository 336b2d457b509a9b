"""File names as the catalog keeps them, and as messages show them.

Linux file names are bytes; Python hands over the ones that are not UTF-8
with each undecodable byte as a lone surrogate (`os.fsdecode`,
"surrogateescape"), which neither SQLite nor PostgreSQL will store. The
catalog keys such a name by a text that both accept and that maps back to
the name exactly: each undecodable byte 0xXX becomes the private-use
character U+10FFXX (the last 128 of plane 16, which no real file name uses).
Names that are UTF-8, all but a few, are their own key; the translation is
one C call where it is needed at all.

Such a file is never an article: it is reported with its name shown as
`bad\\xffname.md` (`shown`) and asked to be renamed.
"""

from __future__ import annotations

__all__ = ["from_key", "is_undecodable", "shown", "to_key"]

# U+DC80..U+DCFF (surrogateescape's bytes 0x80..0xFF) ↔ U+10FF80..U+10FFFF.
_TO_KEY = {0xDC00 + b: 0x10FF00 + b for b in range(0x80, 0x100)}
_FROM_KEY = {v: k for k, v in _TO_KEY.items()}
_FIRST_KEY_CHAR = chr(0x10FF80)


def to_key(name: str) -> str:
    """The catalog's key for a path as the file system gave it (idempotent)."""
    if name.isascii():
        return name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.translate(_TO_KEY)
    return name


def from_key(key: str) -> str:
    """The path a key stands for, as the file system wants it."""
    if key.isascii() or not is_undecodable(key):
        return key
    return key.translate(_FROM_KEY)


def is_undecodable(key: str) -> bool:
    """Whether the file behind a key has a name that is not UTF-8."""
    return not key.isascii() and max(key) >= _FIRST_KEY_CHAR


def shown(key: str) -> str:
    """A key as a message shows it: undecodable bytes as `\\xff`."""
    if not is_undecodable(key):
        return key
    return from_key(key).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
