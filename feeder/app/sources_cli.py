"""`feeder sources add|import|export|list|remove`: the followed feeds managed
as feed readers manage subscriptions. Changes go to the sources file
(`sources_file`), never to the configuration itself; a running daemon
notices the file change and reloads as on SIGHUP."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feeder.app.exitstatus import EXIT_CONFIG, EXIT_OK, EXIT_SOURCES
from feeder.config import Settings, SourceSettings, parse_config
from feeder.errors import ConfigError
from feeder.urls import canonical_link

__all__ = ["add_commands"]

Command = Callable[..., argparse.ArgumentParser]


def add_commands(sub: Any, command: Command) -> None:
    sources = sub.add_parser("sources", help="add, import, export, list and remove followed feeds",
                             description="Manage the feeds feeder follows, as feed readers do. Changes are "
                                         "written to the sources file (sources_file, beside the configuration "
                                         "by default); a running daemon picks them up.")
    actions = sources.add_subparsers(dest="sources_command", metavar="ACTION")
    actions.required = True
    add = command(actions, "add", cmd_add, "follow a feed, or the feed a web page names",
                  "Fetch URL once (through the same guard and limits as ingest). A web page is searched for "
                  "the feeds it names with <link rel=\"alternate\"> (RSS first, then Atom, then JSON Feed; "
                  "the usual /feed, /rss.xml, /atom.xml, /index.xml only when it names none). The feed found "
                  "is shown and saved.")
    add.add_argument("url", metavar="URL")
    add.add_argument("--name", help="the provider's name and folder (default: the feed's title)")
    add.add_argument("--topic", action="append", default=[], metavar="T", help="a topic of every entry "
                     "(repeatable)")
    add.add_argument("--publish", action="store_true", help="entries start published (default: held for review)")
    add.add_argument("--pick", type=int, metavar="N", help="of the feeds a page names, the Nth (from 1)")
    imp = command(actions, "import", cmd_import, "follow every feed of an OPML file",
                  "Follow every feed (outline with xmlUrl) of an OPML subscription list, as Miniflux, "
                  "FreshRSS, NetNewsWire, Feedly and Inoreader export them. Folders become topics unless "
                  "--topic is given; feeds already followed are reported and skipped. Nothing is fetched.")
    imp.add_argument("file", metavar="FILE.opml", type=Path)
    imp.add_argument("--topic", action="append", default=[], metavar="T", help="topics of every feed, instead "
                     "of its folders (repeatable)")
    imp.add_argument("--publish", action="store_true", help="entries start published (default: held for review)")
    exp = command(actions, "export", cmd_export, "write every followed feed as OPML 2.0",
                  "Write every followed feed as OPML 2.0 (title, xmlUrl, htmlUrl, topics as folders and "
                  "categories), for feed readers to import.")
    exp.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE (default: standard output)")
    lst = command(actions, "list", cmd_list, "every followed feed, its last fetch and when it is due",
                  "List every followed feed with its last fetch, its outcome and its next due time, from the "
                  "state database (safe while a daemon runs).")
    lst.add_argument("--json", action="store_true", help="print it as JSON")
    rm = command(actions, "remove", cmd_remove, "stop following a feed",
                 "Stop following a feed of the sources file (by name, folder or URL). Its articles stay in "
                 "the content folder; a daemon subscribed to its hub unsubscribes.")
    rm.add_argument("name", metavar="NAME")


def _sources_file(settings: Settings) -> Path:
    if settings.sources_file is None:
        raise ConfigError("no sources file: set sources_file", key="sources_file")
    return settings.sources_file


def _followed(settings: Settings) -> dict[str, SourceSettings]:
    """Every followed feed by canonical URL."""
    return {canonical_link(s.url): s for s in settings.sources}


def _checked(settings: Settings, entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries that make a valid configuration beside the sources already
    followed, and a line for each that does not."""
    from slugify import slugify

    kept, problems = [], []
    taken = {s.slug for s in settings.sources}
    base = settings.source.parent if settings.source else Path.cwd()
    for entry in entries:
        try:
            parsed = parse_config({"site": {"title": "-", "base_url": "https://example.invalid/"},
                                   "sources": [entry]}, base=base).sources[0]
        except ConfigError as exc:
            problems.append(f"{entry.get('url')}: {exc.problem}")
            continue
        if parsed.slug in taken:
            # Two feeds with one name (two "Blog"s): the second gets its host too.
            host = urlsplit(parsed.url).hostname or "source"
            entry["name"] = f"{entry.get('name') or host} ({host})"
            if slugify(entry["name"], max_length=60) in taken:
                problems.append(f"{entry['url']}: another source already uses the name {entry['name']!r}")
                continue
            taken.add(slugify(entry["name"], max_length=60))
        else:
            taken.add(parsed.slug)
        kept.append(entry)
    return kept, problems


def _entry(url: str, name: str | None, topics: list[str], publish: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"url": url}
    if name:
        entry["name"] = name
    if topics:
        entry["topics"] = list(topics)
    entry["publish"] = publish
    return entry


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.ingest.probe import NoFeed, probe
    from feeder.ingest.sourcefile import add_sources

    path = _sources_file(settings)
    if args.url.startswith(("http://", "https://")):
        already = _followed(settings).get(canonical_link(args.url))
        if already is not None:
            print(f"feeder: {args.url} is already followed as {already.name or already.slug}", file=sys.stderr)
            return EXIT_CONFIG
    try:
        found = probe(settings, args.url, pick=args.pick)
    except NoFeed as exc:
        print(f"feeder: {exc}", file=sys.stderr)
        return EXIT_SOURCES
    if len(found.found) > 1:
        print(f"feeder: {args.url} names {len(found.found)} feeds:")
        for i, link in enumerate(found.found, start=1):
            chosen = " (chosen)" if link.url == found.url or i == (args.pick or 1) else ""
            print(f"  {i}. {link.kind.upper():4} {link.url}{'  ' + link.title if link.title else ''}{chosen}")
        if args.pick is None:
            print("  (--pick N takes another)")
    elif found.guessed:
        print(f"feeder: {args.url} names no feed; found one at {found.url}")
    already = _followed(settings).get(canonical_link(found.url))
    if already is not None:
        print(f"feeder: {found.url} is already followed as {already.name or already.slug}", file=sys.stderr)
        return EXIT_CONFIG
    name = args.name or found.feed.title or None
    entries, problems = _checked(settings, [_entry(found.url, name, args.topic, args.publish)])
    if problems:
        print(f"feeder: {problems[0]}", file=sys.stderr)
        return EXIT_CONFIG
    add_sources(path, entries)
    newest = found.newest
    when = newest.astimezone(settings.tzinfo).isoformat(timespec="minutes") if newest else "no dates"
    print(f"feeder: following {entries[0].get('name') or found.url}: {found.url}\n"
          f"  {found.feed.title or '(no title)'}: {len(found.feed.items)} entries, newest {when}\n"
          f"  saved in {path}")
    return EXIT_OK


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.ingest.opml import BadOpml, read_opml
    from feeder.ingest.sourcefile import add_sources

    path = _sources_file(settings)
    try:
        outlines = read_opml(args.file.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=args.file) from None
    except BadOpml as exc:
        print(f"feeder: {args.file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    followed = _followed(settings)
    duplicates = 0
    seen: dict[str, dict[str, Any]] = {}
    for o in outlines:
        key = canonical_link(o.url) if o.url.startswith(("http://", "https://")) else o.url
        if key in followed:
            duplicates += 1
            print(f"  skipped {o.url}: already followed as {followed[key].name or followed[key].slug}")
            continue
        if key in seen:
            # One feed in two folders (Feedly, Inoreader): one source with both topics.
            if not args.topic:
                topics = seen[key].setdefault("topics", [])
                topics += [c for c in o.categories if c not in topics]
                seen[key]["topics"] = topics
            continue
        seen[key] = _entry(o.url, o.title or None, args.topic or list(o.categories), args.publish)
    entries, problems = _checked(settings, list(seen.values()))
    for problem in problems:
        print(f"  skipped {problem}")
    add_sources(path, entries)
    print(f"feeder: imported {len(entries)} of {len(seen) + duplicates} feeds from {args.file} into {path}; "
          f"{duplicates} already followed, {len(problems)} not usable")
    return EXIT_OK


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.ingest.opml import Outline, write_opml
    from feeder.output.atomic import atomic_write
    from feeder.storage.state import State

    rows = {}
    state = State.open_readonly(settings.state_dir, settings.state.url)
    if state is not None:
        with state:
            rows = state.sources(s.slug for s in settings.sources)
    outlines = []
    for s in settings.sources:
        row = rows.get(s.slug)
        outlines.append(Outline(row.url if row else s.url, s.name or (row.title if row else None) or "",
                                (row.home or "") if row else "", s.topics))
    data = write_opml(outlines, f"{settings.site.title}: followed feeds")
    if args.output is None:
        sys.stdout.buffer.write(data)
        return EXIT_OK
    try:
        atomic_write(args.output.absolute(), data)
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", path=args.output) from None
    if not args.quiet:
        print(f"feeder: exported {len(outlines)} feeds to {args.output}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.storage.state import State

    rows, subs = {}, {}
    state = State.open_readonly(settings.state_dir, settings.state.url)
    if state is not None:
        with state:
            rows = state.sources(s.slug for s in settings.sources)
            subs = state.subscriptions()
    listed: list[dict[str, Any]] = []
    for s in settings.sources:
        row, sub = rows.get(s.slug), subs.get(s.slug)
        outcome = None
        if row is not None and row.last_fetch:
            outcome = "gone" if row.gone else (row.last_error or {200: "ok", 304: "not modified"}.get(
                row.last_status or 200, f"HTTP {row.last_status}"))
        listed.append({
            "name": s.name or s.slug, "folder": s.slug, "url": row.url if row else s.url, "configured": s.url,
            "in": "sources file" if s.in_file else "configuration", "topics": list(s.topics),
            "publish": s.publish, "title": row.title if row else None,
            "last_fetch": _local(row.last_fetch if row else None, settings), "outcome": outcome,
            "failures": row.failures if row else 0,
            "next_fetch": _local(row.next_fetch if row else None, settings),
            "websub": sub.state if sub else None,
        })
    if args.json:
        print(json.dumps(listed, indent=2))
        return EXIT_OK
    if not listed:
        print("feeder: no sources: feeder sources add URL, or feeder sources import FILE.opml")
    for shown in listed:
        push = f", websub {shown['websub']}" if shown["websub"] else ""
        last = f"last fetch {shown['last_fetch']}: {shown['outcome']}" if shown["last_fetch"] else "never fetched"
        print(f"{shown['name']}: {shown['url']}\n  {last}; next {shown['next_fetch'] or 'at the next ingest'}{push}")
    return EXIT_OK


def _local(when: str | None, settings: Settings) -> str | None:
    if not when:
        return None
    return datetime.fromisoformat(when).astimezone(settings.tzinfo or timezone.utc).isoformat(timespec="seconds")


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from feeder.ingest.sourcefile import remove_source

    wanted = args.name
    match = next((s for s in settings.sources if wanted in (s.name, s.slug, s.url)
                  or canonical_link(s.url) == canonical_link(wanted)), None) \
        if wanted.startswith(("http://", "https://")) else \
        next((s for s in settings.sources if wanted in (s.name, s.slug)), None)
    if match is None:
        print(f"feeder: no followed feed named {wanted!r} (feeder sources list shows them)", file=sys.stderr)
        return EXIT_CONFIG
    if not match.in_file:
        print(f"feeder: {wanted!r} is listed in {settings.source or 'the configuration'}, not in the sources "
              "file: remove it there", file=sys.stderr)
        return EXIT_CONFIG
    path = _sources_file(settings)
    removed = remove_source(path, lambda e: isinstance(e.get("url"), str) and canonical_link(e["url"]) ==
                            canonical_link(match.url))
    if removed is None:
        print(f"feeder: {wanted!r} was not found in {path}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"feeder: no longer following {match.name or match.slug} ({match.url}); its articles stay in "
          f"{settings.content_dir / match.slug}")
    return EXIT_OK
