"""The audit report: one self-contained HTML file of what the monitor knew and sent in a period.

``collect`` reads the projections (live at the head, or rebuilt as of a time) and streams the
period's events once; ``render`` writes the HTML (inline style, no script, no external request).
Reproducible: nothing in the report comes from the clock, the machine or the order of a dict;
everything is sorted, so the same log, configuration and arguments give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any, Callable, Sequence

from monitor.collectors.http import redact_url
from monitor.events import (
    ALERT_DELIVERED, ALERT_FAILED, CHECKPOINT_ANCHORED, DEADLINE_REACHED, SOURCE_FAILED, SOURCE_POLLED,
)
from monitor.projections.browse import (
    Browse, alert_rows, anchor_events, browse_changes, browse_incident_ids, event_head, item_texts,
)
from monitor.projections.incidents import incident_rows, incident_timeline
from monitor.views.console import incident_view, render, timeline_view
from monitor.views.evidence import segments

REPORT_VERSION = 1
MAX_FAILURES_LISTED = 2000  # per source; the count is always complete


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def configuration(config, detector, apprise_tags: Sequence[str] | None) -> dict[str, Any]:
    """The configuration in force when the report was built, never a secret: source URLs with
    secret-looking parameters masked, routes, the catalog's size and digest, apprise tags only."""
    try:
        config_sha = _sha256(config.path.read_bytes()) if config.path else None
    except OSError:
        config_sha = None
    catalog_sha = _sha256(resources.files("monitor").joinpath("data/catalog.toml").read_bytes())
    gazetteer_sha = _sha256(resources.files("monitor").joinpath("data/gazetteer.toml").read_bytes())
    sources = [{"id": s.id, "kind": s.kind, "url": redact_url(s.url), "every": str(s.every), "enabled": s.enabled,
                "language": s.language, "jurisdiction": s.jurisdiction} for s in config.sources]
    routes = []
    for r in config.alerts.routes:
        routes.append({"tag": r.tag, "group_by": r.group_by, "kinds": list(r.kinds or ()),
                       "min_severity": r.min_severity, "regions": list(r.regions or ()),
                       "companies": list(r.companies or ()), "countries": list(getattr(r, "countries", ()) or ()),
                       "sources": list(getattr(r, "sources", ()) or ())})
    return {"file": config.path.name if config.path else None, "sha256": config_sha, "sources": sources,
            "routes": routes, "catalog": {"rules": len(detector.catalog.rules), "shipped_sha256": catalog_sha,
                                          "added_by_config": len(config.rules)},
            "gazetteer": {"regions": len(detector.gazetteer.regions), "countries": len(detector.gazetteer.countries),
                          "companies": len(detector.gazetteer.companies), "shipped_sha256": gazetteer_sha},
            "apprise": {"configured": apprise_tags is not None, "tags": sorted(apprise_tags or [])},
            "digest_window": str(config.alerts.digest_window), "reminder_days": list(config.monitor.reminder_days)}


def collect(*, store, conn, until: int, window: tuple[int, int], period: dict[str, str | None], as_of: str | None,
            config: dict[str, Any], build: dict[str, str], verification: dict[str, Any],
            anchor_files: list[dict[str, Any]], witnesses: list[dict[str, Any]], command: str,
            progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Everything the report says, as JSON-able data. ``conn`` reads the projections (and an
    ``events`` table or view holding the log up to ``until``); ``window`` is the period's seqs."""
    low, high = window
    sources: dict[str, dict[str, Any]] = {s["id"]: {"source": s["id"], "polls": 0, "failures": 0,
                                                     "last_success_at": None, "failure_list": []}
                                           for s in config["sources"]}
    digests, reminders, anchors_in_period = [], [], 0
    for event in store.read(since=low - 1, until=high, types=[SOURCE_POLLED, SOURCE_FAILED, ALERT_DELIVERED,
                                                                 ALERT_FAILED, DEADLINE_REACHED, CHECKPOINT_ANCHORED]):
        if progress is not None:
            progress(event.seq)
        d = event.data
        if event.type in (SOURCE_POLLED, SOURCE_FAILED):
            row = sources.setdefault(d.get("source") or "?", {"source": d.get("source") or "?", "polls": 0,
                                                               "failures": 0, "last_success_at": None,
                                                               "failure_list": []})
            if event.type == SOURCE_POLLED:
                row["polls"] += 1
                row["last_success_at"] = d.get("at") or event.recorded_at
            else:
                row["failures"] += 1
                if len(row["failure_list"]) < MAX_FAILURES_LISTED:
                    row["failure_list"].append({"seq": event.seq, "at": d.get("at") or event.recorded_at,
                                                "reason": d.get("reason"), "message": d.get("message")})
        elif event.type in (ALERT_DELIVERED, ALERT_FAILED):
            digests.append({"seq": event.seq, "at": event.recorded_at, "outcome": "delivered" if event.type ==
                            ALERT_DELIVERED else ("dead" if d.get("dead") else "failed"),
                            "route": d.get("route"), "group": d.get("group"), "digest": d.get("digest_id"),
                            "alerts": len(d.get("alert_ids") or []),
                            "targets": sorted(d.get("targets") or d.get("delivered_targets") or []),
                            "error": d.get("error")})
        elif event.type == DEADLINE_REACHED:
            reminders.append({"seq": event.seq, "at": event.recorded_at, "deadline": d.get("deadline"),
                              "date": d.get("date"), "days_before": d.get("days_before"), "title": d.get("title"),
                              "source": d.get("source"), "key": d.get("key")})
        else:
            anchors_in_period += 1

    changes = []
    rows = browse_changes(conn, Browse(), limit=1 << 31, seq_range=(low, high))
    rows.reverse()  # oldest first: a report reads as a record
    texts = item_texts(conn, [data.get("cause") for _s, _a, data in rows])
    for seq, recorded_at, data in rows:
        text = texts.get(data.get("cause") or "", {"title": data.get("title") or "", "summary": ""})
        evidence = data.get("evidence") or []
        changes.append({"seq": seq, "recorded_at": recorded_at, **{k: data.get(k) for k in (
            "id", "kind", "severity", "title", "url", "source", "published", "rule", "regions", "countries",
            "companies", "incident", "language")}, "evidence": evidence,
            "title_segments": segments(text["title"] or data.get("title") or "", evidence, "title"),
            "summary_segments": segments(text["summary"], evidence, "summary") if text["summary"] else []})

    first_day, last_day = period["from"] or "0000-01-01", period["to"] or "9999-12-31"
    ids = browse_incident_ids(conn, Browse(), limit=1 << 31, updated_between=(first_day, last_day))
    incidents = []
    for row in (incident_rows(conn, ids=sorted(ids)) if ids else []):
        timeline, deadlines = timeline_view(conn, incident_timeline(conn, row["id"]) or [])
        incidents.append({**incident_view(row), "timeline": timeline, "deadlines": deadlines})
    incidents.sort(key=lambda i: (i["opened_at"], i["id"]))

    alerts = alert_rows(conn, queued_between=(low, high))
    log_anchors = anchor_events(conn, until)
    head = event_head(conn, until) if until else None
    return {
        "report": {"version": REPORT_VERSION, "period": period, "as_of": as_of, "command": command,
                   "window": {"first_seq": low, "last_seq": high}, "monitor": build},
        "head": {"seq": head[0], "hash": head[1], "recorded_at": head[2]} if head else
                {"seq": 0, "hash": "0" * 64, "recorded_at": None},
        "configuration": config,
        "verification": verification,
        "anchors": {"in_log": log_anchors, "in_period": anchors_in_period, "files": anchor_files,
                    "witnesses": witnesses},
        "sources": sorted(sources.values(), key=lambda s: s["source"]),
        "changes": changes,
        "incidents": incidents,
        "alerts": alerts,
        "digests": digests,
        "reminders": reminders,
    }


def as_json(data: dict[str, Any]) -> str:
    """The report's data as one JSON object (segments as [text, marks] pairs)."""
    def default(value):
        if hasattr(value, "text") and hasattr(value, "marks"):
            return [value.text, list(value.marks)]
        raise TypeError(type(value).__name__)

    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=default)


def render_report(data: dict[str, Any]) -> bytes:
    return render("audit.html", title="Audit report", r=data, json_digest=_sha256(as_json(data).encode()))
