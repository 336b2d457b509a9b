"""Reading the content folder: finding article files and parsing each into an
`Article`, or a `ContentError` that names the file and the exact problem.

The format is the seed's: a YAML front-matter block between `---` lines, then
an optional Markdown body. Unknown fields are ignored; `secured` is never read
into the `Article` at all.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, time, tzinfo
from typing import Any

import yaml_rs
from frontmatter.default_handlers import YAMLHandler

from .errors import ContentError, describe_os_error, describe_yaml_error
from .model import Article, Enclosure, Image, Provider, Related
from .scan import ContentFile
from .text import is_http_url, plain_text, xml_safe

__all__ = ["parse_article", "parse_file", "read_article"]



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
        opening = _OPENING.match(text)
        closing = _CLOSING.search(text, opening.end()) if opening else None
        if opening is None or closing is None:
            raise ValueError("no closing delimiter")
        return text[opening.end():closing.start()], text[closing.end():]


# Aliases may not expand a small file into a huge structure ("billion laughs").
_ALIAS_LIMITS = yaml_rs.AliasLimits(max_total_replayed_events=100_000)
# Delimiter lines: three or more dashes, then nothing but spaces or tabs.
_OPENING = re.compile(r"-{3,}[ \t]*(?=\n|\Z)")
_CLOSING = re.compile(r"\n-{3,}[ \t]*(?:\n|\Z)")
_HANDLER = _FrontMatter(fm_boundary=re.compile(r"^-{3,}[ \t]*$", re.MULTILINE))


def read_article(file: ContentFile, *, max_size: int, tz: tzinfo) -> Article:
    """Read and parse one file; raises `ContentError` naming it."""
    return parse_file(file, max_size=max_size, tz=tz)[0]


def parse_file(file: ContentFile, *, max_size: int, tz: tzinfo) -> tuple[Article, bytes]:
    """The article in a file, and the file's bytes."""
    if file.size > max_size:
        raise ContentError(
            file.rel, f"file is {file.size:,} bytes, over the limit of {max_size:,} (content.max_file_size)"
        )
    try:
        data = _read(file.path, max_size + 1)
    except OSError as exc:
        raise ContentError(file.rel, f"cannot read: {describe_os_error(exc)}") from None
    if len(data) > max_size:
        raise ContentError(file.rel, f"file is over the limit of {max_size:,} bytes (content.max_file_size)")
    return parse_article(data, rel=file.rel, tz=tz), data


def _read(path: str, limit: int) -> bytes:
    # os.read rather than open(): no buffered file object for a one-shot read.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        parts = []
        remaining = limit
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def parse_article(data: bytes, *, rel: str, tz: tzinfo) -> Article:
    """Parse the bytes of one article file."""
    if b"\x00" in data:
        raise ContentError(rel, "binary file (contains NUL bytes), not a text article")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError(rel, f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    text = text.replace("\r\n", "\n")
    opening = _OPENING.match(text)
    if opening is None:
        raise ContentError(rel, "no YAML front-matter block: the file must start with a '---' line")
    try:
        front, body = _HANDLER.split(text)
    except ValueError:
        raise ContentError(rel, "front-matter block is not closed by a '---' line") from None
    try:
        meta = _HANDLER.load(front)
    except (yaml_rs.YAMLDecodeError, ValueError) as exc:
        line_offset = text.count("\n", 0, opening.end())
        raise ContentError(rel, describe_yaml_error(exc, line_offset=line_offset)) from None
    except RecursionError:
        raise ContentError(rel, "invalid YAML: nested too deeply") from None
    if not isinstance(meta, dict):
        raise ContentError(rel, f"front matter must be a mapping of fields, not {_kind(meta)}")
    return _FieldReader(rel, meta, tz).article(body)


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"the string {shown!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


class _FieldReader:
    """Validates front-matter fields, raising `ContentError`s that name the field."""

    def __init__(self, rel: str, meta: dict[Any, Any], tz: tzinfo):
        self.rel = rel
        self.meta = meta
        self.tz = tz

    def fail(self, field: str, problem: str) -> ContentError:
        return ContentError(self.rel, f"field '{field}' {problem}", field=field)

    def require(self, meta: dict[Any, Any], name: str, where: str = "") -> Any:
        value = meta.get(name)
        if value is None or value == "":
            raise self.fail(where + name, "is required" if name not in meta else "must not be empty")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise self.fail(field, f"must be text, not {_kind(value)}")
        return value

    def text(self, value: Any, field: str, *, required: bool = False) -> str:
        if value is None:
            return ""
        cleaned = plain_text(self.string(value, field))
        if required and not cleaned:
            raise self.fail(field, "has no text once HTML and control characters are removed")
        return cleaned

    def opt_str(self, value: Any, field: str) -> str | None:
        if value is None:
            return None
        return plain_text(self.string(value, field)) or None

    def url(self, value: Any, field: str) -> str:
        url = self.string(value, field).strip()
        if not is_http_url(url):
            raise self.fail(field, f"must be an absolute http or https URL, not {_kind(value)}")
        return url

    def opt_url(self, value: Any, field: str) -> str | None:
        return None if value is None or value == "" else self.url(value, field)

    def integer(self, value: Any, field: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(field, f"must be a number, not {_kind(value)}")
        if isinstance(value, float) and not value.is_integer():
            raise self.fail(field, f"must be a whole number, not {value}")
        return int(value)

    def moment(self, value: Any, field: str) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise self.fail(field, f"must be an ISO 8601 date or date-time, not {_kind(value)}") from None
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=self.tz)
        if isinstance(value, date):
            return datetime.combine(value, time(0), tzinfo=self.tz)
        raise self.fail(field, f"must be a date-time such as 2021-04-19T16:09:00Z, not {_kind(value)}")

    def mapping(self, value: Any, field: str) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, f"must be a mapping, not {_kind(value)}")
        return value

    def seq(self, value: Any, field: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(field, f"must be a list, not {_kind(value)}")
        return value

    def provider(self, value: Any, field: str) -> Provider | None:
        if value is None:
            return None
        if isinstance(value, str):
            name = plain_text(value)
            return Provider(name) if name else None
        m = self.mapping(value, field)
        name = self.text(self.require(m, "name", field + "."), field + ".name", required=True)
        domain = self.opt_str(m.get("domain"), field + ".domain")
        return Provider(name, domain)

    def topics(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        names: list[str] = []
        for i, item in enumerate(self.seq(value, "topics")):
            name = plain_text(self.string(item, f"topics[{i}]"))  # shown in feeds and on the landing page
            if name and name not in names:  # a blank topic names no feed: ignore it
                names.append(name)
        return tuple(names)

    def images(self, value: Any, field: str = "images") -> tuple[Image, ...]:
        images = []
        for i, item in enumerate(self.seq(value, field)):
            where = f"{field}[{i}]"
            if isinstance(item, str):
                images.append(Image(self.url(item, where)))
                continue
            m = self.mapping(item, where)
            images.append(
                Image(
                    self.url(self.require(m, "url", where + "."), where + ".url"),
                    self.integer(m.get("width"), where + ".width"),
                    self.integer(m.get("height"), where + ".height"),
                )
            )
        return tuple(images)

    def related(self, value: Any) -> tuple[Related, ...]:
        related = []
        for i, item in enumerate(self.seq(value, "related")):
            where = f"related[{i}]"
            m = self.mapping(item, where)
            url_field = "webUrl" if m.get("webUrl") is not None else "originalUrl"
            related.append(
                Related(
                    title=self.text(self.require(m, "title", where + "."), where + ".title", required=True),
                    url=self.url(self.require(m, url_field, where + "."), f"{where}.{url_field}"),
                    excerpt=self.text(m.get("excerpt"), where + ".excerpt"),
                    published_at=None if m.get("publishedDateTime") is None
                    else self.moment(m["publishedDateTime"], where + ".publishedDateTime"),
                    provider=self.provider(m.get("provider"), where + ".provider"),
                )
            )
        return tuple(related)

    def enclosure(self, value: Any) -> Enclosure | None:
        if value is None:
            return None
        m = self.mapping(value, "enclosure")
        length = self.integer(m.get("length"), "enclosure.length")
        if length is not None and length < 0:
            raise self.fail("enclosure.length", "must not be negative")
        return Enclosure(
            url=self.url(self.require(m, "url", "enclosure."), "enclosure.url"),
            type=self.opt_str(m.get("type"), "enclosure.type"),
            length=length,
            duration=self.duration(m.get("duration")),
        )

    def duration(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, time):  # an unquoted 01:02:03 reads as a time of day
            return value.hour * 3600 + value.minute * 60 + value.second
        if isinstance(value, str):
            parts = value.strip().split(":")
            if 1 <= len(parts) <= 3 and all(p.isdigit() for p in parts):
                seconds = 0
                for p in parts:
                    seconds = seconds * 60 + int(p)
                return seconds
            raise self.fail("enclosure.duration", f"must be seconds or HH:MM:SS, not {_kind(value)}")
        number = self.integer(value, "enclosure.duration")
        if number is not None and number < 0:
            raise self.fail("enclosure.duration", "must not be negative")
        return number

    def episode_type(self, value: Any) -> str | None:
        if value is None:
            return None
        kind = self.string(value, "episodeType").strip().lower()
        if kind not in ("full", "trailer", "bonus"):
            raise self.fail("episodeType", "must be full, trailer or bonus")
        return kind

    def identity(self) -> str:
        value = self.meta.get("id")
        if value is None:
            stem = self.rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            return stem
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.fail("id", f"must be text, not {_kind(value)}")
        ident = xml_safe(str(value)).strip()
        if not ident:
            raise self.fail("id", "must not be empty")
        return ident

    def article(self, body: str) -> Article:
        m = self.meta
        published = self.require(m, "published")
        if not isinstance(published, bool):
            raise self.fail("published", f"must be true or false, not {_kind(published)}")
        return Article(
            id=self.identity(),
            source=self.rel,
            title=self.text(self.require(m, "title"), "title", required=True),
            published_at=self.moment(self.require(m, "publishedDateTime"), "publishedDateTime"),
            original_url=self.url(self.require(m, "originalUrl"), "originalUrl"),
            published=published,
            excerpt=self.text(m.get("excerpt"), "excerpt"),
            updated_at=None if m.get("updatedDateTime") is None
            else self.moment(m["updatedDateTime"], "updatedDateTime"),
            web_url=self.opt_url(m.get("webUrl"), "webUrl"),
            type=self.opt_str(m.get("type"), "type"),
            category=self.opt_str(m.get("category"), "category"),
            quality=self.integer(m.get("quality"), "quality"),
            heat=self.integer(m.get("heat"), "heat"),
            provider=self.provider(m.get("provider"), "provider"),
            topics=self.topics(m.get("topics")),
            images=self.images(m.get("images")),
            related=self.related(m.get("related")),
            enclosure=self.enclosure(m.get("enclosure")),
            episode_type=self.episode_type(m.get("episodeType")),
            body=xml_safe(body.strip()),
        )

