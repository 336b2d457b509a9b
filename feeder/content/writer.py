"""Writing article files in the seed's format, and updating them later
without undoing what an editor changed.

The rule: feeder owns the fields it writes from the source (`SOURCE_FIELDS`
and the body). On an update it replaces such a field only while the file
still holds exactly what feeder last wrote there; a field an editor changed
stays as the editor left it. Every other field (`published`, `topics`, and
anything an editor adds) is written once, when the file is created, and
never touched again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from feeder.output.atomic import atomic_write

__all__ = ["SOURCE_FIELDS", "merge", "read_file", "render_file"]

# Fields (and their order) that come from the source and follow its updates.
SOURCE_FIELDS = ("title", "excerpt", "publishedDateTime", "updatedDateTime", "originalUrl", "webUrl", "provider",
                 "images", "enclosure")
BODY = "body"


def render_file(fields: Mapping[str, Any], body: str) -> bytes:
    """An article file: YAML front matter between `---` lines, then the body."""
    front = yaml.safe_dump(dict(fields), sort_keys=False, allow_unicode=True, width=1_000_000, default_flow_style=False)
    return f"---\n{front}---\n{body.strip()}\n".encode()


def read_file(path: Path) -> tuple[dict[str, Any], str] | None:
    """The front matter and body of an existing file, or None if it is gone or unreadable."""
    from feeder.content.reader import _HANDLER  # the same front-matter reader the content scan uses

    try:
        text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
        front, body = _HANDLER.split(text)
        meta = _HANDLER.load(front)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    return meta, body.strip()


def _same(a: Any, b: Any) -> bool:
    # What YAML gives back may differ in type from what was written (a date
    # string read back as a datetime): compare as text.
    return a == b or str(a) == str(b)


def merge(current: dict[str, Any], current_body: str, written: Mapping[str, Any], new: Mapping[str, Any]
          ) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """Apply a source's new values to a file an editor may have changed.

    `written` holds what feeder last wrote (fields and "body"); returns the
    file's new fields and body, and the new `written`.
    """
    fields = dict(current)
    now_written = dict(written)
    for name in (*SOURCE_FIELDS, BODY):
        if name not in new:
            continue
        on_file = current_body if name == BODY else current.get(name)
        if name in written and not _same(on_file, written[name]):
            continue  # an editor changed it: theirs from now on
        if name == BODY:
            current_body = new[name]
        else:
            fields[name] = new[name]
        now_written[name] = new[name]
    return fields, current_body, now_written


def write(path: Path, fields: Mapping[str, Any], body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, render_file(fields, body))
