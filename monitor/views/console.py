"""The analyst's console: server-rendered pages over the projections (and the JSON API beside them).

Pure: each function takes an open read-only connection, the checked query and the time as data,
and returns what to serve. Templates (``monitor/templates``) are rendered by Jinja2 with
autoescape on, so every value from the log is escaped wherever it lands; nothing loads from
anywhere but the console itself (the style sheet is inline, the charts are inline SVG, no script).
"""

from __future__ import annotations

import functools
import sqlite3
from datetime import date, timedelta
from typing import Any, Iterable, Sequence
from urllib.parse import urlencode


from monitor.events import SOURCE_POLLED
from monitor.projections.browse import (
    Browse, alert_rows, anchor_events, browse_changes, browse_incident_ids, changes_by_id, changes_per_week,
    event_counts, item_texts, latest_change_day, log_head, source_history, source_table,
)
from monitor.projections.incidents import incident_rows, incident_timeline, resolve_incident
from monitor.views.charts import uptime, weekly_by_kind
from monitor.views.evidence import segments
from monitor.views.params import ConsoleQuery
from monitor.views.queries import upcoming_deadlines
from monitor.views.shapes import alert_json, change_json, deadline_json, incident_json, source_json, when
from monitor.vocabulary import ALERT_STATUSES, INCIDENT_STATUSES, KINDS, SEVERITIES

HTML = "text/html; charset=utf-8"
JSON = "application/json"



@functools.cache
def _env():
    """The templates, loaded with jinja2 at the first page (a daemon that only polls never needs it)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("monitor", "templates"), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render(template: str, **context: Any) -> bytes:
    context.setdefault("page", None)
    context.setdefault("head", None)
    context.setdefault("title", "")
    return _env().get_template(template).render(**context).encode("utf-8")


# --- shared shaping -----------------------------------------------------------------------------

def day_of(data: dict[str, Any], recorded_at: str | None = None) -> str:
    return (data.get("published") or recorded_at or "")[:10] or "-"


def incident_view(row: dict[str, Any]) -> dict[str, Any]:
    items = row["items"]
    return {**row, "sources": sorted({i["source"] for i in items}),
            "languages": sorted({i["language"] for i in items if i["language"]}),
            "opened": when(row["opened_at"]), "updated": when(row["updated_at"])}


def change_view(seq: int, recorded_at: str, data: dict[str, Any]) -> dict[str, Any]:
    return {**{k: data.get(k) for k in ("id", "kind", "severity", "title", "url", "source", "rule", "incident",
                                         "language")},
            "regions": data.get("regions") or [], "countries": data.get("countries") or [],
            "companies": data.get("companies") or [], "seq": seq, "day": day_of(data, recorded_at)}


def rule_view(catalog, rule_id: str | None) -> dict[str, Any] | None:
    rule = catalog.rules.get(rule_id) if (catalog is not None and rule_id) else None
    if rule is None:
        return None
    identifiers = [(k, list(v)) for k, v in sorted((rule.identifiers or {}).items()) if v]
    return {"id": rule.id, "title": rule.title, "issuer": rule.issuer, "identifiers": identifiers}


def timeline_view(conn: sqlite3.Connection, entries: Sequence[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """The timeline entries with each item's text cut at its evidence, and the deadlines its items state."""
    changes = changes_by_id(conn, [e["change"] for e in entries if e["type"] == "item"])
    texts = item_texts(conn, [c.get("cause") for c in changes.values()])
    out, deadlines = [], {}
    for e in entries:
        if e["type"] == "status":
            out.append({**e, "when": when(e["at"])})
            continue
        change = changes.get(e["change"], {})
        text = texts.get(change.get("cause") or "", {"title": e.get("title") or change.get("title") or "",
                                                     "summary": ""})
        evidence = change.get("evidence") or []
        out.append({**e, "day": day_of(change, change.get("recorded_at")) if change else (e.get("published") or "-"),
                    "title_segments": segments(text["title"] or e.get("title") or "untitled", evidence, "title"),
                    "summary_segments": segments(text["summary"], evidence, "summary") if text["summary"] else [],
                    "why": evidence,
                    "evidence": evidence})
        for d in change.get("deadlines") or []:
            if isinstance(d, dict) and d.get("date"):
                deadlines[(d.get("kind"), d.get("date"))] = {"kind": d.get("kind"), "date": d.get("date"),
                                                             "source": e["source"], "change": e["change"]}
    return out, sorted(deadlines.values(), key=lambda d: (str(d["date"]), str(d["kind"])))


def weekly_chart(conn: sqlite3.Connection, today: date, weeks: int = 12):
    """Changes per week by kind, the ``weeks`` weeks up to the newest change (not after today)."""
    newest = latest_change_day(conn, today.isoformat())
    try:
        last = date.fromisoformat(newest) if newest else today
    except ValueError:
        last = today
    first = last - timedelta(weeks=weeks)
    return weekly_by_kind(changes_per_week(conn, first.isoformat(), last.isoformat()), last, weeks)


# --- pages --------------------------------------------------------------------------------------

def index_page(conn: sqlite3.Connection, query: ConsoleQuery, *, today: date, choices: dict[str, list],
               head) -> bytes:
    ids = browse_incident_ids(conn, query.browse, limit=query.limit)
    incidents = [incident_view(r) for r in incident_rows(conn, ids=ids)] if ids else []
    changes = [change_view(*row) for row in browse_changes(conn, query.browse, limit=query.limit, before=query.before)]
    next_link = None
    if len(changes) == query.limit:
        params = {**query.given, "before": str(changes[-1]["seq"])}
        next_link = "/?" + urlencode(params) + "#changes"
    chart = weekly_chart(conn, today)
    selects = [("region", "Region", choices["regions"]), ("country", "Country", choices["countries"]),
               ("company", "Company", choices["companies"]), ("kind", "Kind", [(k, k) for k in KINDS]),
               ("severity", "Severity", [(s, s) for s in reversed(SEVERITIES)]),
               ("status", "Status", [(s, s) for s in INCIDENT_STATUSES]),
               ("source", "Source", [(s, s) for s in choices["sources"]]),
               ("language", "Language", [(s, s) for s in choices["languages"]])]
    api_link = "/api/changes" + (("?" + urlencode(query.given)) if query.given else "")
    return render("index.html", page="/", title="Incidents and changes", incidents=incidents, changes=changes,
                  chart=chart, selects=selects, given=query.given, limit=query.limit, next_link=next_link,
                  api_link=api_link, head=head)


def incident_page(conn: sqlite3.Connection, incident_id: str, *, catalog, head) -> bytes | None:
    resolved = resolve_incident(conn, incident_id)
    entries = incident_timeline(conn, incident_id) if resolved else None
    rows = incident_rows(conn, ids=[resolved]) if entries is not None else []
    if not rows:
        return None
    merged_from = incident_id if resolved != incident_id else None
    inc = incident_view(rows[0])
    timeline, deadlines = timeline_view(conn, entries)
    return render("incident.html", title=inc["title"], inc=inc, timeline=timeline, deadlines=deadlines,
                  rule=rule_view(catalog, inc["rule"]), merged_from=merged_from, head=head)


def source_rows(conn: sqlite3.Connection, sources: Iterable) -> list[dict[str, Any]]:
    """`monitor sources --json` rows (configured sources, with their projection state)."""
    states = source_table(conn)
    return [source_json(source, states.get(source.id)) for source in sources]


def sources_page(conn: sqlite3.Connection, sources: Sequence, *, head) -> bytes:
    rows, history = [], {}
    for row in source_rows(conn, sources):
        polls = source_history(conn, row["source"], 48)
        history[row["source"]] = polls
        health = row["health"]
        if health == "ok" and any(t != SOURCE_POLLED for t, _ in polls):
            health = "degraded"
        rows.append({**row, "health": health, "last_success": when(row["last_success_at"]),
                     "next_attempt": when(row["next_attempt_at"]) if row["next_attempt_at"] != "at the next poll"
                     else row["next_attempt_at"]})
    uptime_rows = uptime(history, SOURCE_POLLED)
    return render("sources.html", page="/sources", title="Sources", sources=rows, uptime=any(history.values()),
                  uptime_rows=uptime_rows, head=head)


def alerts_page(conn: sqlite3.Connection, statuses: Sequence[str], *, can_retry: bool, csrf: str, retry_hint: str,
                message: str | None, head, limit: int = 500) -> bytes:
    rows = alert_rows(conn, statuses, newest_first=True, limit=limit)
    counts: dict[str, int] = {}
    for row in alert_rows(conn):
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    for row in rows:
        row["delivered"] = [{**d, "when": when(d["at"])} for d in row["delivered"]]
        row["next_attempt"] = when(row["next_attempt_at"])
    return render("alerts.html", page="/alerts", title="Alerts", alerts=rows, statuses=ALERT_STATUSES, counts=counts,
                  can_retry=can_retry, csrf=csrf, retry_hint=retry_hint, message=message,
                  given={"status": ",".join(statuses)} if statuses else {}, head=head)


def deadline_rows(conn: sqlite3.Connection, today: date) -> list[dict[str, Any]]:
    """`monitor deadlines --json` rows: upcoming deadlines, soonest first."""
    return [deadline_json(row, today) for row in upcoming_deadlines(conn, today)]


def deadlines_page(conn: sqlite3.Connection, today: date, *, head) -> bytes:
    rows = upcoming_deadlines(conn, today)
    shown = [{**deadline_json(r, today), "language": None} for r in rows]
    return render("deadlines.html", page="/deadlines", title="Deadlines", deadlines=shown, head=head)


def log_page(conn: sqlite3.Connection, verification: dict[str, Any] | None, every: int) -> bytes:
    head = log_head(conn)
    anchors = [{**a, "when": when(a["at"])} for a in anchor_events(conn)]
    return render("log.html", page="/log", title="Log", head=head, verification=verification, every=every,
                  anchors=list(reversed(anchors)), counts=event_counts(conn))


def message_page(title: str, text: str, *, hint: str | None = None, error: bool = True, login: bool = False,
                 next_path: str = "/") -> bytes:
    return render("message.html", title=title, text=text, hint=hint, error=error, login=login, next=next_path)


# --- the JSON API: the CLI's --json shapes -------------------------------------------------------

def api_changes(conn: sqlite3.Connection, query: ConsoleQuery) -> list[dict[str, Any]]:
    return [change_json(seq, data) for seq, _at, data in
            browse_changes(conn, query.browse, limit=query.limit, before=query.before)]


def api_incidents(conn: sqlite3.Connection, query: ConsoleQuery) -> list[dict[str, Any]]:
    ids = browse_incident_ids(conn, query.browse, limit=query.limit)
    return [incident_json(r) for r in incident_rows(conn, ids=ids)] if ids else []


def api_alerts(conn: sqlite3.Connection, statuses: Sequence[str]) -> list[dict[str, Any]]:
    return [alert_json(r) for r in alert_rows(conn, statuses)]


__all__ = ["Browse", "HTML", "JSON", "alerts_page", "api_alerts", "api_changes", "api_incidents", "deadline_rows",
           "deadlines_page", "incident_page", "index_page", "log_page", "message_page", "render", "source_rows",
           "sources_page"]
