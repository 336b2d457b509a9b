"""Splitting an article file into its YAML front matter and body, loading
the front matter safely, and writing a file back: one reader and one writer
for the content scan and for ingest."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml
import yaml_rs
from frontmatter.default_handlers import YAMLHandler

__all__ = ["YAMLError", "dump", "load", "opening", "split"]

# What a malformed front matter raises (yaml-rs's error, and ValueError).
YAMLError = (yaml_rs.YAMLDecodeError, ValueError)


class _FrontMatter(YAMLHandler):
    """python-frontmatter's YAML handler, loading with yaml-rs.

    yaml-rs builds plain data in Rust about ten times faster than PyYAML's C
    loader (30 µs against 290 µs for the seed's front matter), which is most
    of the cost of a cold build. It constructs no objects from tags, limits
    alias expansion, and refuses duplicate keys. It reads YAML 1.2, so `yes`
    and `no` are strings, not booleans: `published` must be true or false.
    """

    def load(self, fm: str, **kwargs: object) -> Any:
        return yaml_rs.loads(fm, alias_limits=_ALIAS_LIMITS)

    def split(self, text: str) -> tuple[str, str]:
        """Front matter and body of a text that starts with a delimiter line.

        The same split as the library's, found with one forward search for
        the closing line instead of a regular-expression split of the whole
        file, which costs as much as parsing the YAML.
        """
        opened = _OPENING.match(text)
        closing = _CLOSING.search(text, opened.end()) if opened else None
        if opened is None or closing is None:
            raise ValueError("no closing delimiter")
        return text[opened.end():closing.start()], text[closing.end():]


# Aliases may not expand a small file into a huge structure ("billion laughs").
_ALIAS_LIMITS = yaml_rs.AliasLimits(max_total_replayed_events=100_000)
# Delimiter lines: three or more dashes, then nothing but spaces or tabs.
_OPENING = re.compile(r"-{3,}[ \t]*(?=\n|\Z)")
_CLOSING = re.compile(r"\n-{3,}[ \t]*(?:\n|\Z)")
_HANDLER = _FrontMatter(fm_boundary=re.compile(r"^-{3,}[ \t]*$", re.MULTILINE))


def opening(text: str) -> re.Match[str] | None:
    """The opening delimiter line, when the text starts with one."""
    return _OPENING.match(text)


def split(text: str) -> tuple[str, str]:
    """(front matter, body); ValueError when the block is not closed."""
    return _HANDLER.split(text)


def load(front: str) -> Any:
    """The front matter as plain data; raises one of `YAMLError` or RecursionError."""
    return _HANDLER.load(front)


def dump(fields: Mapping[str, Any], body: str) -> bytes:
    """An article file: YAML front matter between `---` lines, then the body."""
    front = yaml.safe_dump(dict(fields), sort_keys=False, allow_unicode=True, width=1_000_000,
                           default_flow_style=False)
    return f"---\n{front}---\n{body.strip()}\n".encode()
