"""Writing article files in the seed's format, and updating them later
without undoing what an editor changed.

The rule: feeder owns the fields it writes from the source (the schema's
`SOURCE_FIELDS`, and the body). On an update it replaces such a field only while the file
still holds exactly what feeder last wrote there; a field an editor changed
stays as the editor left it. Every other field (`published`, `topics`, and
anything an editor adds) is written once, when the file is created, and
never touched again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from feeder.content import frontmatter
from feeder.content.schema import BODY, SOURCE_FIELDS
from feeder.output.atomic import atomic_write

__all__ = ["BODY", "merge", "read_file", "source_fields", "write"]


def source_fields(**values: Any) -> dict[str, Any]:
    """The source-owned fields of an entry, in the schema's order, leaving out those that are None or empty lists.

    Raises KeyError for a name that is not a source field of the schema.
    """
    unknown = set(values) - set(SOURCE_FIELDS)
    if unknown:
        raise KeyError(f"not source fields of the article schema: {sorted(unknown)}")
    return {name: values[name] for name in SOURCE_FIELDS if values.get(name) is not None and values[name] != []}


def read_file(path: Path) -> tuple[dict[str, Any], str] | None:
    """The front matter and body of an existing file, or None if it is gone or unreadable."""
    try:
        text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
        front, body = frontmatter.split(text)
        meta = frontmatter.load(front)
    except (OSError, UnicodeDecodeError, *frontmatter.YAMLError, RecursionError):
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
    atomic_write(path, frontmatter.dump(fields, body))
