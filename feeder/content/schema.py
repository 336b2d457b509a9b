"""The article-file format, defined once: every field's name in the file,
the `Article` attribute it becomes, what kind of value it holds, whether a
file without it (or with a wrong one) is skipped, and whether ingest writes it
from a followed feed. The reader (`feeder.content.reader`) and the writer
(`feeder.content.writer`, used by ingest) both work from this table.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BODY", "FIELDS", "REQUIRED", "SECRET_FIELDS", "SOURCE_FIELDS", "FieldSpec", "field"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str  # in the file, as the seed spells it
    attribute: str  # on `Article`
    kind: str  # text, datetime, url, bool, integer, provider, topics, images, related, enclosure, episode, id
    required: bool = False  # a file without it is skipped
    strict: bool = False  # a wrong value skips the file (otherwise it is left out with a warning)
    from_source: bool = False  # ingest writes it from the followed feed and keeps it up to date


# In the order ingest writes them: the source's fields first, as in the seed.
FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("title", "title", "text", required=True, strict=True, from_source=True),
    FieldSpec("excerpt", "excerpt", "text", from_source=True),
    FieldSpec("publishedDateTime", "published_at", "datetime", required=True, strict=True, from_source=True),
    FieldSpec("updatedDateTime", "updated_at", "datetime", from_source=True),
    FieldSpec("originalUrl", "original_url", "url", required=True, strict=True, from_source=True),
    FieldSpec("webUrl", "web_url", "url", from_source=True),
    FieldSpec("provider", "provider", "provider", from_source=True),
    FieldSpec("images", "images", "images", from_source=True),
    FieldSpec("enclosure", "enclosure", "enclosure", from_source=True),
    # Identity and the editorial flags decide what an item is and where it goes:
    # a wrong value skips the file rather than publish it somewhere unexpected.
    FieldSpec("id", "id", "id", strict=True),
    FieldSpec("published", "published", "bool", required=True, strict=True),
    FieldSpec("topics", "topics", "topics", strict=True),
    FieldSpec("type", "type", "text"),
    FieldSpec("category", "category", "text"),
    FieldSpec("quality", "quality", "integer"),
    FieldSpec("heat", "heat", "integer"),
    FieldSpec("related", "related", "related"),
    FieldSpec("episodeType", "episode_type", "episode"),
    # Written by ingest with an HTML body; an editor's file is Markdown.
    FieldSpec("bodyFormat", "body_format", "bodyformat"),
)

REQUIRED = tuple(f.name for f in FIELDS if f.required)
SOURCE_FIELDS = tuple(f.name for f in FIELDS if f.from_source)
# Never read into feeder's data, so never written anywhere.
SECRET_FIELDS = ("secured",)
# What the writer calls the Markdown body when it records what it wrote.
BODY = "body"

_BY_NAME = {f.name: f for f in FIELDS}


def field(name: str) -> FieldSpec:
    return _BY_NAME[name]
