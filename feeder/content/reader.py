"""Parsing one article file into an `Article`, or a `ContentError` that
names the file and the exact problem.

The format is the seed's: a YAML front-matter block between `---` lines, then
an optional Markdown body. Unknown fields are ignored; `secured` is never read
into the `Article` at all.

A wrong required field (`title`, `publishedDateTime`, `originalUrl`,
`published`, and `id` and `topics`, which decide what an item is and where it
goes) skips the file; every wrong field is reported at once, not only the
first. A wrong optional field (an image without an http(s) URL, a related
item without a link, an unusable enclosure...) is left out with a warning
and the article is still published.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import date, datetime, time, tzinfo
from typing import Any, NamedTuple, TypeVar

from feeder.content import frontmatter
from feeder.content.names import is_undecodable
from feeder.content.scan import ContentFile
from feeder.content.schema import FIELDS, SECRET_FIELDS, FieldSpec
from feeder.errors import ContentError, describe_os_error, describe_yaml_error
from feeder.model import Article, Enclosure, Image, Provider, Related
from feeder.text import clean_text, xml_safe
from feeder.urls import http_uri

__all__ = ["MAX_TOPICS", "ParsedFile", "parse_article", "parse_file", "read_article"]

_T = TypeVar("_T")


class ParsedFile(NamedTuple):
    article: Article
    data: bytes  # the file's bytes
    warnings: tuple[str, ...]  # optional fields left out, each naming the field


def read_article(file: ContentFile, *, max_size: int, tz: tzinfo) -> Article:
    """Read and parse one file; raises `ContentError` naming it."""
    return parse_file(file, max_size=max_size, tz=tz).article


def parse_file(file: ContentFile, *, max_size: int, tz: tzinfo) -> ParsedFile:
    """The article in a file, the file's bytes and the warnings about it."""
    if file.problem is not None:
        raise ContentError(file.rel, file.problem)
    if is_undecodable(file.rel):
        # Its name could not be an id, a message or a database key as it is.
        raise ContentError(file.rel, "the file name is not valid UTF-8: rename it (for example with "
                                     "`convmv -f latin1 -t utf8`)")
    if file.size > max_size:
        raise ContentError(
            file.rel, f"file is {file.size:,} bytes, over the limit of {max_size:,} (content.max_file_size)"
        )
    try:
        data = _read(file.path, max_size + 1, file.size)
    except OSError as exc:
        raise ContentError(file.rel, f"cannot read: {describe_os_error(exc)}") from None
    if len(data) > max_size:
        raise ContentError(file.rel, f"file is over the limit of {max_size:,} bytes (content.max_file_size)")
    article, warnings = _parse(data, rel=file.rel, tz=tz)
    return ParsedFile(article, data, warnings)


def _read(path: str, limit: int, expected: int = -1) -> bytes:
    """At most `limit` bytes of a file. With the size the scan saw, one read
    asks for one byte more: a regular file answers short only at its end, so
    a file that did not grow since is read in one system call, not two."""
    # os.read rather than open(): no buffered file object for a one-shot read.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        parts = []
        remaining = limit
        if 0 <= expected < limit:
            first = os.read(fd, expected + 1)
            if len(first) <= expected:
                return first
            parts.append(first)
            remaining -= len(first)
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def parse_article(data: bytes, *, rel: str, tz: tzinfo, warnings: list[str] | None = None) -> Article:
    """Parse the bytes of one article file; optional fields left out are added to `warnings`."""
    article, found = _parse(data, rel=rel, tz=tz)
    if warnings is not None:
        warnings.extend(found)
    return article


def _parse(data: bytes, *, rel: str, tz: tzinfo) -> tuple[Article, tuple[str, ...]]:
    if b"\x00" in data:
        if _utf16(data):
            raise ContentError(rel, "UTF-16 text (as Windows Notepad saves \"Unicode\"): save it as UTF-8")
        raise ContentError(rel, "binary file (contains NUL bytes), not a text article")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError(rel, f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    text = text.replace("\r\n", "\n")
    opening = frontmatter.opening(text)
    if opening is None:
        raise ContentError(rel, "no YAML front-matter block: the file must start with a '---' line")
    try:
        front, body = frontmatter.split(text)
    except ValueError:
        raise ContentError(rel, "front-matter block is not closed by a '---' line") from None
    try:
        meta = frontmatter.load(front)
    except frontmatter.YAMLError as exc:
        line_offset = text.count("\n", 0, opening.end())
        raise ContentError(rel, _duplicate_key_line(str(exc), front, line_offset)
                           or describe_yaml_error(exc, line_offset=line_offset)) from None
    except RecursionError:
        raise ContentError(rel, "invalid YAML: nested too deeply") from None
    if not isinstance(meta, dict):
        raise ContentError(rel, f"front matter must be a mapping of fields, not {_kind(meta)}")
    leak = secret_reused(meta, front)
    if leak is not None:
        raise ContentError(rel, f"field '{leak}' repeats the value of 'secured' (a YAML alias, a merge key or a "
                                "copy): the file is skipped so that the secret is never published", field=leak)
    reader = _FieldReader(rel, meta, tz)
    article = reader.article(body)
    return article, tuple(reader.warnings)


# Topics per article: an article is in one feed per topic, and each of those
# lists every topic, so a file's cost grows with the square of its topics.
MAX_TOPICS = 100

# A secret this long is looked for inside other texts too (a copy pasted into
# a title); a shorter one only as a whole value (`title: *s`).
_SECRET_SUBSTRING = 8


def secret_reused(meta: dict[Any, Any], front: str | None = None) -> str | None:
    """The first field (in the file's order) whose value, or part of it,
    is what `secured` holds: reached through an anchor and alias, a merge
    key, or copied. None when no field is; checked before any field is read,
    so that neither a published field nor a message can hold the secret.

    Given the YAML text (`front`), the common case is decided from it alone:
    no anchor (so no alias or merge key), and the secret's text written once,
    on its own line."""
    secret = next((meta[name] for name in SECRET_FIELDS if name in meta), None)
    if secret is None:
        return None
    if front is not None and isinstance(secret, str) and "&" not in front and len(secret) >= _SECRET_SUBSTRING \
            and front.count(secret) == 1:
        return None
    texts: set[str] = set()
    containers: set[int] = set()
    for name in SECRET_FIELDS:
        if name in meta:
            _collect(meta[name], texts, containers)
    if not texts and not containers:
        return None
    long = [t for t in texts if len(t) >= _SECRET_SUBSTRING]
    for key, value in meta.items():
        if key in SECRET_FIELDS:
            continue
        if _holds(key, texts, long, containers):
            return "(a field name)"
        if _holds(value, texts, long, containers):
            return str(key)
    return None


def _collect(value: Any, texts: set[str], containers: set[int]) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if v:
                texts.add(v)
        elif isinstance(v, dict):
            containers.add(id(v))
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            containers.add(id(v))
            stack.extend(v)


def _holds(value: Any, texts: set[str], long: list[str], containers: set[int]) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if v in texts or any(t in v for t in long):
                return True
        elif isinstance(v, dict | list):
            if id(v) in containers:
                return True
            stack.extend(v.keys() if isinstance(v, dict) else v)
            if isinstance(v, dict):
                stack.extend(v.values())
    return False


def _plain_provider(value: Any) -> Provider | bool | None:
    """A provider mapping of the common shape as the reader reads it, None
    for none, False for any other shape (the full path decides)."""
    if value is None:
        return None
    if type(value) is not dict:
        return False
    name, domain = value.get("name"), value.get("domain")
    if type(name) is not str or not (domain is None or type(domain) is str):
        return False
    cleaned = clean_text(name)
    if not cleaned:
        return False
    return Provider(cleaned, (clean_text(domain) or None) if domain is not None else None)


def _utf16(data: bytes) -> bool:
    """UTF-16 text: a byte-order mark, or ASCII text with a NUL beside every character."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    head = data[:200]
    half = len(head) // 2
    return half > 4 and (head[1::2].count(0) > half * 0.9 or head[0::2].count(0) > half * 0.9)


_DUPLICATE = re.compile(r"duplicate mapping key: '([^'\n]*)'")


def _duplicate_key_line(message: str, front: str, line_offset: int) -> str | None:
    """yaml-rs names a key given twice but not where: the line of its second appearance."""
    m = _DUPLICATE.search(message)
    if m is None:
        return None
    key = re.escape(m.group(1))
    lines = [n for n, line in enumerate(front.split("\n"), start=1)
             if re.match(rf"\s*(?:-\s+)?[\"']?{key}[\"']?\s*:", line)]
    if len(lines) < 2:
        return None
    return (f"invalid YAML at line {lines[1] + line_offset}: the key '{m.group(1)}' is given a second time "
            f"(first at line {lines[0] + line_offset})")


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
    """Validates front-matter fields. Each check raises a `ContentError`
    naming the field; `article` collects them: every problem of a required
    field (the file is skipped), a warning for each optional one left out."""

    def __init__(self, rel: str, meta: dict[Any, Any], tz: tzinfo):
        self.rel = rel
        self.meta = meta
        self.tz = tz
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def fail(self, field: str, problem: str) -> ContentError:
        return ContentError(self.rel, f"field '{field}' {problem}", field=field)

    def optional(self, default: _T, read: Callable[..., _T], *args: Any) -> _T:
        """`read(*args)`, or `default` with a warning when it raises `ContentError`."""
        try:
            return read(*args)
        except ContentError as exc:
            self.warnings.append(f"{exc.problem}; left out")
            return default

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
        cleaned = clean_text(self.string(value, field))
        if required and not cleaned:
            raise self.fail(field, "has no text once control characters are removed")
        return cleaned

    def opt_str(self, value: Any, field: str) -> str | None:
        if value is None:
            return None
        return clean_text(self.string(value, field)) or None

    def url(self, value: Any, field: str) -> str:
        uri = http_uri(self.string(value, field))
        if uri is None:
            raise self.fail(field, f"must be an absolute http or https URL, not {_kind(value)}")
        return uri

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
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value  # the seed's form: YAML read it, with its zone
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

    def opt_moment(self, value: Any, field: str) -> datetime | None:
        return None if value is None else self.moment(value, field)

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
        plain = _plain_provider(value)
        if plain is not False:
            return plain  # type: ignore[return-value]
        if value is None:
            return None
        if isinstance(value, str):
            name = clean_text(value)
            return Provider(name) if name else None
        m = self.mapping(value, field)
        name = self.text(self.require(m, "name", field + "."), field + ".name", required=True)
        domain = self.opt_str(m.get("domain"), field + ".domain")
        return Provider(name, domain)

    def topics(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        items = self.seq(value, "topics")
        names: dict[str, None] = {}
        for i, item in enumerate(items):
            name = clean_text(self.string(item, f"topics[{i}]"))  # shown in feeds and on the landing page
            if name:  # a blank topic names no feed: ignore it
                names[name] = None
                if len(names) == MAX_TOPICS:
                    if len(items) > i + 1:
                        self.warnings.append(f"field 'topics' has more than {MAX_TOPICS} topics; the first "
                                             f"{MAX_TOPICS} are used, the other {len(items) - i - 1} left out")
                    break
        return tuple(names)

    def each(self, value: Any, field: str, read: Callable[[Any, str], _T]) -> tuple[_T, ...]:
        """The usable items of an optional list; each unusable one is a warning."""
        items: list[Any] = self.optional([], self.seq, value, field)
        found: list[_T] = []
        for i, item in enumerate(items):
            try:
                found.append(read(item, f"{field}[{i}]"))
            except ContentError as exc:
                self.warnings.append(f"{exc.problem}; left out")
        return tuple(found)

    def image(self, item: Any, where: str) -> Image:
        if isinstance(item, str):
            return Image(self.url(item, where))
        m = self.mapping(item, where)
        return Image(
            self.url(self.require(m, "url", where + "."), where + ".url"),
            self.optional(None, self.integer, m.get("width"), where + ".width"),
            self.optional(None, self.integer, m.get("height"), where + ".height"),
        )

    def related_item(self, item: Any, where: str) -> Related:
        # The common shape, read without the checks' wrappers (three of these in
        # every seed file were a third of its field checks); anything else, and
        # every problem, takes the full path below, which alone words messages.
        if type(item) is dict:
            title, excerpt, when, prov = (item.get("title"), item.get("excerpt"), item.get("publishedDateTime"),
                                          item.get("provider"))
            link = item.get("webUrl")
            if link is None:
                link = item.get("originalUrl")
            if type(title) is str and type(link) is str and (excerpt is None or type(excerpt) is str) \
                    and (when is None or (type(when) is datetime and when.tzinfo is not None)):
                name = clean_text(title)
                uri = http_uri(link)
                provider = _plain_provider(prov)
                if name and uri is not None and not isinstance(provider, bool):
                    return Related(name, uri, clean_text(excerpt) if excerpt else "", when, provider)
        return self._related_item(item, where)

    def _related_item(self, item: Any, where: str) -> Related:
        m = self.mapping(item, where)
        url_field = "webUrl" if m.get("webUrl") is not None else "originalUrl"
        return Related(
            title=self.text(self.require(m, "title", where + "."), where + ".title", required=True),
            url=self.url(self.require(m, url_field, where + "."), f"{where}.{url_field}"),
            excerpt=self.optional("", self.text, m.get("excerpt"), where + ".excerpt"),
            published_at=self.optional(None, self.opt_moment, m.get("publishedDateTime"), where + ".publishedDateTime"),
            provider=self.optional(None, self.provider, m.get("provider"), where + ".provider"),
        )

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

    def body_format(self, value: Any) -> str:
        if value is None:
            return "markdown"
        kind = self.string(value, "bodyFormat").strip().lower()
        if kind not in ("markdown", "html"):
            raise self.fail("bodyFormat", "must be markdown or html")
        return kind

    def published(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail("published", f"must be true or false, not {_kind(value)}")
        return value

    # One reader per kind of field in the schema.
    def _text(self, spec: FieldSpec, raw: Any) -> str | None:
        if spec.required:
            return self.text(raw, spec.name, required=True)
        # An optional text is "" where the Article's default is "" (the excerpt), else None.
        return self.text(raw, spec.name) if _DEFAULTS[spec.attribute] == "" else self.opt_str(raw, spec.name)

    def _datetime(self, spec: FieldSpec, raw: Any) -> datetime | None:
        return self.moment(raw, spec.name) if spec.required else self.opt_moment(raw, spec.name)

    def _url(self, spec: FieldSpec, raw: Any) -> str | None:
        return self.url(raw, spec.name) if spec.required else self.opt_url(raw, spec.name)

    def _images(self, spec: FieldSpec, raw: Any) -> tuple[Image, ...]:
        return self.each(raw, spec.name, self.image)

    def _related(self, spec: FieldSpec, raw: Any) -> tuple[Related, ...]:
        return self.each(raw, spec.name, self.related_item)

    def article(self, body: str) -> Article:
        """Every field the schema names: a wrong required or strict one is an
        error (all of them reported), a wrong optional one a warning."""
        values: dict[str, Any] = {}
        meta = self.meta
        for spec, read in _PLAN:
            try:
                raw = self.require(meta, spec.name) if spec.required else meta.get(spec.name)
                values[spec.attribute] = read(self, spec, raw)
            except ContentError as exc:
                if spec.strict:
                    self.errors.append(exc.problem)
                else:
                    self.warnings.append(f"{exc.problem}; left out")
                    values[spec.attribute] = _DEFAULTS[spec.attribute]
        if self.errors:
            raise ContentError(self.rel, "; ".join(self.errors))
        return Article(source=self.rel, body=xml_safe(body.strip()), **values)


_READERS: dict[str, Callable[[_FieldReader, FieldSpec, Any], Any]] = {
    "text": _FieldReader._text,
    "datetime": _FieldReader._datetime,
    "url": _FieldReader._url,
    "bool": lambda r, spec, raw: r.published(raw),
    "integer": lambda r, spec, raw: r.integer(raw, spec.name),
    "provider": lambda r, spec, raw: r.provider(raw, spec.name),
    "topics": lambda r, spec, raw: r.topics(raw),
    "images": _FieldReader._images,
    "related": _FieldReader._related,
    "enclosure": lambda r, spec, raw: r.enclosure(raw),
    "episode": lambda r, spec, raw: r.episode_type(raw),
    "bodyformat": lambda r, spec, raw: r.body_format(raw),
    "id": lambda r, spec, raw: r.identity(),
}
# Each field with its reader, in the schema's order.
_PLAN = tuple((spec, _READERS[spec.kind]) for spec in FIELDS)
# What an optional field left out becomes.
_DEFAULTS = {name: f.default for name, f in Article.__dataclass_fields__.items()}
