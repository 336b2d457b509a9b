"""Digest feeds for newsletter tools: one item per closed day or week.

RSS-to-email services send one e-mail per new item. A digest feed gives them
one item per period (in the configured time zone), listing that period's
articles, with an id and a date fixed to the period. An item is made once,
when its period has closed, and kept in the state database from then on, so
it never changes, whatever later edits do to the articles it lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from html import escape

from feeder.model import Item, item_id

__all__ = ["DigestItem", "closed_periods", "digest_window", "make_item", "period_label", "period_start"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _start_of(day: date, kind: str) -> date:
    return day - timedelta(days=day.weekday()) if kind == "weekly" else day


def period_start(kind: str, moment: datetime, tz: tzinfo) -> datetime:
    """Start of the day (or the week, from Monday) that contains `moment`, in `tz`."""
    return datetime.combine(_start_of(moment.astimezone(tz).date(), kind), time(0), tzinfo=tz)


def closed_periods(kind: str, now: datetime, tz: tzinfo, count: int) -> list[tuple[datetime, datetime]]:
    """The `count` most recent periods that have ended, newest first, as (start, end)."""
    step = timedelta(days=7 if kind == "weekly" else 1)
    end_day = _start_of(now.astimezone(tz).date(), kind)
    periods = []
    for _ in range(count):
        start_day = end_day - step
        # Through dates, not timedeltas: a day with a clock change is still one day.
        periods.append((datetime.combine(start_day, time(0), tzinfo=tz), datetime.combine(end_day, time(0), tzinfo=tz)))
        end_day = start_day
    return periods


def digest_window(kind: str, now: datetime, tz: tzinfo, count: int) -> datetime | None:
    """Start of the oldest period a digest feed shows (`count` periods), or None without digests."""
    if kind == "off":
        return None
    return closed_periods(kind, now, tz, count)[-1][0]


def period_label(kind: str, start: datetime) -> str:
    d = start.date()
    text = f"{d.day} {_MONTHS[d.month - 1]} {d.year}"
    return f"week of {text}" if kind == "weekly" else f"{_DAYS[d.weekday()]} {text}"


@dataclass(frozen=True, slots=True)
class DigestItem:
    id: str
    title: str
    date: datetime  # the end of the period: fixed
    html: str
    count: int

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "date": self.date.isoformat(), "html": self.html,
                "count": self.count}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> DigestItem:
        return cls(str(data["id"]), str(data["title"]), datetime.fromisoformat(str(data["date"])),
                   str(data["html"]), int(data["count"]))  # type: ignore[call-overload]


def make_item(kind: str, feed_key: str, feed_title: str, start: datetime, end: datetime,
              items: Sequence[Item]) -> DigestItem:
    """The item for one period; `items` newest first."""
    label = period_label(kind, start)
    lines = []
    articles = [i.article for i in items]
    for a, text in zip(articles, (i.teaser for i in items), strict=True):
        by = f" ({escape(a.provider.name)})" if a.provider else ""
        href = escape(a.original_url, quote=True)
        lines.append(f'<li><a href="{href}">{escape(a.title)}</a>{by}' + (f"<br>{escape(text)}" if text else "")
                     + "</li>")
    intro = f"{len(articles)} article{'s' if len(articles) != 1 else ''} from {escape(feed_title)}, {label}."
    html = f"<p>{intro}</p>\n<ul>\n" + "\n".join(lines) + "\n</ul>"
    return DigestItem(
        id=item_id(f"digest/{kind}/{feed_key}/{start.date().isoformat()}"),
        title=f"{feed_title}: {label[0].upper()}{label[1:]}",
        date=end,
        html=html,
        count=len(articles),
    )
