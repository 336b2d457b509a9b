"""The sources file (`sources_file`, beside the configuration by default):
the followed feeds `feeder sources` adds and removes, one YAML list with the
keys of the configuration's `sources`. Edited as a round trip (ruamel.yaml),
so an operator's comments and layout outside the changed entries stay byte
for byte; written atomically, so a daemon reading it never sees half of it.
The configuration file itself is never written."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from feeder.errors import ConfigError, describe_os_error
from feeder.output.atomic import atomic_write

__all__ = ["HEADER", "add_sources", "remove_source"]

HEADER = """\
# Feeds feeder follows, managed by `feeder sources add|import|remove` (edit it
# by hand too: same keys as `sources` in the configuration; comments are kept).
"""


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML()  # round trip: comments, order and quoting kept
    y.preserve_quotes = True
    y.width = 4096  # never folds a long URL
    y.indent(mapping=2, sequence=2, offset=0)
    return y


def _load(path: Path) -> tuple[Any, str]:
    """The file's document (a list; empty when the file does not exist) and its text."""
    from ruamel.yaml.error import YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        raise ConfigError(f"cannot read: {describe_os_error(exc)}", path=path) from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=path) from None
    try:
        doc = _yaml().load(text)
    except YAMLError as exc:
        raise ConfigError(f"is not valid YAML: {str(exc).splitlines()[0]}", path=path) from None
    if doc is not None and not isinstance(doc, list):
        raise ConfigError("must be a list of feeds, each with at least a url", path=path)
    return doc, text


def _dump(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def _save(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot write: {describe_os_error(exc)}", path=path) from None


def add_sources(path: Path, entries: Sequence[dict[str, Any]]) -> None:
    """Append `entries` (mappings with the keys of a source) to the file, made
    with a header when it does not exist. The existing text is kept as it is:
    the new entries are dumped on their own and added at the end."""
    if not entries:
        return
    from ruamel.yaml.comments import CommentedMap

    doc, text = _load(path)
    new = [CommentedMap(entry) for entry in entries]
    if doc is None or not text.strip() or (not doc and "[]" in text):
        # A new (or empty) file: a header, then the list.
        kept = text if text.strip() and "[]" not in text else HEADER
        _save(path, kept + ("" if kept.endswith("\n") else "\n") + _dump(new))
        return
    # Appending to a block list written at the left margin: the new entries'
    # own dump, placed after the old text, which stays byte for byte. A file
    # shaped otherwise (a flow list, indented entries) goes through the round trip.
    appended = text + ("" if text.endswith("\n") else "\n") + _dump(new)
    if _reads_as(appended, len(doc) + len(new)):
        _save(path, appended)
    else:
        doc.extend(new)
        for node in (doc, *doc):
            if hasattr(node, "fa"):
                node.fa.set_block_style()  # one entry per line from now on
        _save(path, _dump(doc))


def _reads_as(text: str, count: int) -> bool:
    from ruamel.yaml.error import YAMLError

    try:
        doc = _yaml().load(text)
    except YAMLError:
        return False
    return isinstance(doc, list) and len(doc) == count


def remove_source(path: Path, matches: Any) -> dict[str, Any] | None:
    """Remove the first entry for which `matches(entry)` holds; returns it
    (None when none does, and the file is not written)."""
    doc, _ = _load(path)
    if not doc:
        return None
    for i, entry in enumerate(doc):
        if isinstance(entry, dict) and matches(entry):
            removed = dict(entry)
            del doc[i]
            _save(path, _dump(doc) if doc else HEADER + "[]\n")
            return removed
    return None
