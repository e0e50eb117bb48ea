"""The detected changes as an Atom 1.0 feed (RFC 4287), for analysts who follow them in a feed reader.

Pure: a connection, the filters, the feed's own URL and the time go in; the feed's bytes come out.
Entry ids are ``tag:`` URIs made from the change id, so a reader never shows a change twice, even
when the daemon moves to another host or the feed is fetched through another URL. Titles and every
other field come from the sources and are untrusted text: they are cleaned of control characters
(which XML 1.0 cannot carry) and only http(s) links are made.
"""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any, Sequence
from urllib.parse import quote, urlencode

from monitor import __version__
from monitor.alerts.render import Entry, attached_words, clean, kind_words, safe_url, status_words
from monitor.clock import parse_iso, to_iso
from monitor.projections.incidents import incident_updates
from monitor.vocabulary import SEVERITIES
from monitor.views.queries import ChangeRow, change_rows, describe_filters

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"

# Tag URIs (RFC 4151) need an authority and a date it held the name; both are fixed forever,
# because changing either would make every reader show every change again.
TAG_PREFIX = "tag:export-control-monitor,2024:"
CATEGORY_SCHEMES = {name: f"{TAG_PREFIX}{name}" for name in
                    ("kind", "severity", "region", "country", "company", "rule")}
FEED_TITLE = "Export-control changes"

# Characters XML 1.0 forbids even when escaped: C0 controls other than tab and line breaks, lone
# surrogates, U+FFFE/U+FFFF. ElementTree escapes markup but writes these as they are, into a
# document no reader can parse; every text and attribute goes through _text, whatever its origin.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: Any) -> str:
    return _NOT_XML.sub("", str(value))


def _timestamp(value: Any) -> str | None:
    """An RFC 3339 UTC timestamp of an ISO date or datetime (a date is midnight UTC); None when
    the source gave something that is not a date."""
    if not value:
        return None
    try:
        return to_iso(parse_iso(str(value)))
    except ValueError:
        return None


def feed_id(*, region: str | None, company: str | None, kinds: Sequence[str], min_severity: str) -> str:
    """A stable id per filter: each filtered feed is a feed of its own."""
    query = [("region", region), ("company", company), *(("kind", kind) for kind in sorted(kinds))]
    if min_severity != "low":
        query.append(("min_severity", min_severity))
    query = [(name, value) for name, value in query if value]
    return f"{TAG_PREFIX}changes" + (f"?{urlencode(query)}" if query else "")


def entry_id(change_id: str) -> str:
    return f"{TAG_PREFIX}change/{quote(str(change_id), safe='-._~')}"


def entry_title(entry: Entry) -> str:
    """"[HIGH] licence policy: Revision to License Review Policy…", the severity first, as alerts do."""
    return f"[{entry.severity.upper()}] {entry.kind}: {entry.title}"


def entry_summary(entry: Entry, data: dict[str, Any]) -> str:
    """One line per fact a reader filters by: the rule, where, who, what dates, and why it fired."""
    lines = []
    if entry.rule:
        lines.append(f"Rule: {entry.rule_title} ({entry.rule})" if entry.rule_title else f"Rule: {entry.rule}")
    for label, key in (("Regions", "regions"), ("Countries", "countries"), ("Companies", "companies")):
        if data.get(key):
            lines.append(f"{label}: {', '.join(map(str, data[key]))}")
    if entry.deadlines:
        lines.append(f"Deadlines: {', '.join(entry.deadlines)}")
    lines.append(f"Source: {entry.source}" + (f", published {entry.published}" if entry.published else ""))
    if entry.why:
        lines.append(f"Why: {'; '.join(entry.why)}")
    return "\n".join(lines)


def _category(parent: ET.Element, scheme: str, term: Any, label: str | None = None) -> None:
    attributes = {"term": _text(term), "scheme": CATEGORY_SCHEMES[scheme]}
    if label:
        attributes["label"] = _text(label)
    ET.SubElement(parent, "category", attributes)


def _entry(feed: ET.Element, row: ChangeRow) -> None:
    data = row.data
    entry = Entry.of(data)
    element = ET.SubElement(feed, "entry")
    if data.get("language"):
        element.set(XML_LANG, _text(data["language"]))
    ET.SubElement(element, "id").text = _text(entry_id(data["id"]))
    ET.SubElement(element, "title").text = _text(entry_title(entry))
    if entry.url:
        ET.SubElement(element, "link", {"rel": "alternate", "href": _text(entry.url)})
    ET.SubElement(element, "updated").text = _text(_timestamp(row.recorded_at) or row.recorded_at)
    published = _timestamp(data.get("published"))
    if published:
        ET.SubElement(element, "published").text = published
    _category(element, "kind", data.get("kind"), kind_words(data.get("kind")))
    _category(element, "severity", entry.severity)
    for scheme, key in (("region", "regions"), ("country", "countries"), ("company", "companies")):
        for term in data.get(key) or ():
            _category(element, scheme, term)
    if entry.rule:
        _category(element, "rule", entry.rule, entry.rule_title or None)
    ET.SubElement(element, "summary", {"type": "text"}).text = _text(entry_summary(entry, data))


def incident_entry_id(incident: str, seq: int) -> str:
    return f"{TAG_PREFIX}incident/{quote(str(incident), safe='-._~')}/{int(seq)}"


def _incident_entry(feed: ET.Element, update: dict[str, Any]) -> None:
    """One update of an incident: it opened, or its status moved; with every source that had reported it."""
    element = ET.SubElement(feed, "entry")
    if update.get("language"):
        element.set(XML_LANG, _text(clean(update["language"], 16)))
    status = status_words(update["status"])
    moved = f"{status_words(update['previous'])} → {status}" if update.get("previous") else f"new: {status}"
    ET.SubElement(element, "id").text = incident_entry_id(update["incident"], update["seq"])
    ET.SubElement(element, "title").text = _text(f"[{clean(update['severity'], 20).upper()}] {status}: "
                                                 f"{clean(update['title'])}")
    url = safe_url(update.get("url"))
    if url:
        ET.SubElement(element, "link", {"rel": "alternate", "href": _text(url)})
    ET.SubElement(element, "updated").text = _timestamp(update["at"]) or _text(update["at"])
    _category(element, "kind", "incident", "incident")
    _category(element, "severity", clean(update["severity"], 20))
    for scheme, key in (("region", "regions"), ("country", "countries"), ("company", "companies")):
        for term in update.get(key) or ():
            _category(element, scheme, term)
    if update.get("rule"):
        _category(element, "rule", update["rule"])
    reports = "; ".join(f"{clean(r['source'], 40)} ({', '.join(p for p in (clean(r.get('language'), 8), attached_words(r.get('attached_by'))) if p)})"
                        for r in update.get("reports") or ())
    lines = [f"Incident: {clean(update['incident'], 80)}", f"Status: {moved}"]
    if update.get("rule"):
        lines.append(f"Rule: {clean(update['rule'], 80)}")
    if reports:
        lines.append(f"Reported by: {reports}")
    ET.SubElement(element, "summary", {"type": "text"}).text = _text("\n".join(lines))


def changes_feed(conn: sqlite3.Connection, *, region: str | None = None, company: str | None = None,
                 kinds: Sequence[str] = (), min_severity: str = "low", limit: int = 100, feed_url: str,
                 now: datetime) -> bytes:
    """The newest ``limit`` changes matching the filters, newest first, as an Atom feed.

    ``feed_url`` is where the feed is served (its ``rel="self"`` link); ``now`` is the feed's
    ``updated`` only when it has no entry, otherwise that is when the newest entry was recorded, so
    an unchanged feed renders the same ``updated`` at every fetch.
    """
    rows = list(change_rows(conn, kinds=kinds, region=region, company=company, min_severity=min_severity,
                            limit=limit, newest_first=True))
    updates = incident_updates(conn, region=region, company=company, kinds=kinds,
                               severities=SEVERITIES[SEVERITIES.index(min_severity):], limit=limit)
    filters = describe_filters(region=region, company=company, kinds=kinds, min_severity=min_severity)
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    ET.SubElement(feed, "id").text = _text(feed_id(region=region, company=company, kinds=kinds,
                                                   min_severity=min_severity))
    ET.SubElement(feed, "title").text = _text(f"{FEED_TITLE}: {filters}" if filters else FEED_TITLE)
    ET.SubElement(feed, "subtitle").text = (
        "Export-control rule changes detected by the monitor, with the evidence that matched.")
    ET.SubElement(feed, "link", {"rel": "self", "type": "application/atom+xml", "href": _text(feed_url)})
    # changes and incident updates, newest first by their position in the log
    entries = sorted([*((row.seq, _entry, row) for row in rows), *((u["seq"], _incident_entry, u) for u in updates)],
                     key=lambda e: e[0], reverse=True)[:limit]
    times = [_timestamp(row.recorded_at) for row in rows[:1]] + [_timestamp(u["at"]) for u in updates[:1]]
    newest = max((t for t in times if t), default=None)
    ET.SubElement(feed, "updated").text = newest or to_iso(now)
    author = ET.SubElement(feed, "author")
    ET.SubElement(author, "name").text = "export-control monitor"
    ET.SubElement(feed, "generator", {"version": __version__}).text = "export-control-monitor"
    for _seq, write, row in entries:
        write(feed, row)
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
