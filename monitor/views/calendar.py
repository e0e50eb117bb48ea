"""Upcoming deadlines as an iCalendar feed (RFC 5545), to subscribe to from a calendar client.

Each deadline is an all-day event whose UID comes from the item and the kind of deadline, not from
the date: when a rule's comment period is extended, the client moves the event instead of showing
both dates. No VALARM is added: the monitor already sends its own reminders (14, 3 and 0 days
before, by default), and clients would add a second, unconfigurable set on every subscriber's device.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import date, datetime, timedelta
from typing import Any

from monitor.alerts.render import clean, kind_words, safe_url
from monitor.clock import parse_iso
from monitor.views.queries import describe_filters, upcoming_deadlines

CONTENT_TYPE = "text/calendar; charset=utf-8"
PRODID = "-//export-control-monitor//deadlines//EN"
UID_DOMAIN = "export-control-monitor"
CALENDAR_NAME = "Export-control deadlines"
REFRESH = timedelta(hours=1)  # how often clients should fetch again (deadlines change rarely)

SUMMARY_PREFIXES = {"comments_close": "Comments close", "effective": "Takes effect",
                    "compliance": "Compliance date"}


def deadline_uid(source: str, key: str, deadline: str) -> str:
    """Stable across renders and across a moved date: the item and the kind of deadline."""
    digest = hashlib.sha256("\x1f".join((source, key, deadline)).encode()).hexdigest()[:24]
    return f"deadline-{digest}@{UID_DOMAIN}"


def summary(row: dict[str, Any]) -> str:
    prefix = SUMMARY_PREFIXES.get(row["deadline"]) or clean(row["deadline"], 40).replace("_", " ").capitalize()
    return f"{prefix}: {clean(row['title'], 200) or 'untitled'}"


def description(row: dict[str, Any]) -> str:
    """What the deadline belongs to, so the event explains itself without opening the monitor."""
    lines = [f"{kind_words(row['kind']).capitalize()} ({clean(row['severity'], 20) or 'unknown'} severity) "
             f"from {clean(row['source'], 160)}."]
    if row["rule"]:
        rule_title = clean(row["rule_title"], 160)
        lines.append(f"Rule: {rule_title} ({row['rule']})" if rule_title else f"Rule: {row['rule']}")
    for label, key in (("Regions", "regions"), ("Countries", "countries"), ("Companies", "companies")):
        if row[key]:
            lines.append(f"{label}: {', '.join(clean(v, 60) for v in row[key])}")
    url = safe_url(row["url"])
    if url:
        lines.append(url)
    lines.append(f"Change {clean(row['change_id'], 80)} (monitor changes --json)")
    return "\n".join(lines)


# icalendar is imported by the two functions that build a calendar: it costs ~4 MB of memory, and
# the daemon and most commands never write one.


def _event(row: dict[str, Any], now: datetime) -> "icalendar.Event":
    from icalendar import Event

    event = Event()
    event.add("uid", deadline_uid(row["source"], row["key"], row["deadline"]))
    event.add("dtstamp", now)
    event.add("dtstart", row["date"])  # a date: an all-day event, the same day in every time zone
    event.add("dtend", row["date"] + timedelta(days=1))  # exclusive
    event.add("summary", summary(row))
    event.add("description", description(row))
    url = safe_url(row["url"])
    if url:
        event.add("url", url)
    event.add("categories", [clean(row["deadline"], 40), clean(row["kind"], 40) or "change"])
    event.add("transp", "TRANSPARENT")  # a deadline does not make anyone busy
    try:
        event.add("last-modified", parse_iso(row["recorded_at"]))  # when the monitor learnt this date
    except (TypeError, ValueError):
        pass
    return event


def deadlines_calendar(conn: sqlite3.Connection, *, today: date, now: datetime, region: str | None = None,
                       company: str | None = None) -> bytes:
    """Deadlines on or after ``today`` of the changes matching the filters; ``now`` stamps the events
    (DTSTAMP, which RFC 5545 requires to be the time the calendar was made)."""
    from icalendar import Calendar, vDuration

    # Every text value goes through clean(): icalendar escapes commas, semicolons and newlines, but a
    # lone carriage return would end its content line and start a property of the caller's choosing.
    filters = clean(describe_filters(region=region, company=company), 200)
    name = f"{CALENDAR_NAME}: {filters}" if filters else CALENDAR_NAME
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", name)  # RFC 7986
    calendar.add("x-wr-calname", name)  # the same, for clients that predate RFC 7986
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))  # the same, for older clients
    for row in upcoming_deadlines(conn, today, region=region, company=company):
        calendar.add_component(_event(row, now))
    return calendar.to_ical()
