"""The JSON shapes of the command line's ``--json``, written once: `monitor changes --json` and
``/api/changes`` (and the other pairs) build their objects here, so they cannot drift apart."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from monitor.clock import parse_iso, to_iso

CHANGE_FIELDS = ("id", "kind", "severity", "title", "url", "source", "published", "rule", "regions", "countries",
                 "companies", "deadlines", "evidence", "incident")
INCIDENT_FIELDS = ("id", "title", "rule", "status", "kinds", "regions", "countries", "companies", "opened_at",
                   "updated_at", "items")
ITEM_FIELDS = ("source", "key", "url", "title", "language", "kind", "change", "attached_by")
ALERT_FIELDS = ("alert_id", "status", "route", "group", "attempts", "next_attempt_at", "last_error", "change_id",
                "kind", "severity", "title", "cause", "delivered_to", "tag", "incident", "incident_status")
DEADLINE_FIELDS = ("date", "deadline", "days_left", "title", "url", "kind", "severity", "rule", "rule_title",
                   "source", "key", "change_id", "regions", "countries", "companies")


def change_json(seq: int, data: dict[str, Any]) -> dict[str, Any]:
    return {**{k: data.get(k) for k in CHANGE_FIELDS}, "seq": seq}


def incident_json(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in INCIDENT_FIELDS}
    out["items"] = [{k: item[k] for k in ITEM_FIELDS} for item in row["items"]]
    return out


def alert_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ALERT_FIELDS}


def deadline_json(row: dict[str, Any], today: date) -> dict[str, Any]:
    """A deadline of ``upcoming_deadlines`` as `monitor deadlines --json` prints it."""
    out = {k: row.get(k) for k in DEADLINE_FIELDS if k not in ("date", "days_left")}
    return {"date": row["date"].isoformat(), "days_left": (row["date"] - today).days, **out}


def source_json(source, state: dict[str, Any] | None) -> dict[str, Any]:
    """A configured source and its projection row as `monitor sources --json` prints it."""
    state = state or {}
    failures = state.get("consecutive_failures", 0)
    if state.get("retry_at"):
        next_attempt = state["retry_at"]
    elif state.get("last_attempt_at"):
        next_attempt = to_iso(parse_iso(state["last_attempt_at"]) + source.every)
    else:
        next_attempt = "at the next poll"
    return {
        "source": source.id, "kind": source.kind, "enabled": source.enabled,
        "health": "never polled" if not state else ("failing" if failures else "ok"),
        "last_success_at": state.get("last_success_at"), "consecutive_failures": failures,
        "next_attempt_at": next_attempt, "last_error": state.get("last_error") if failures else None,
        "last_error_reason": state.get("last_error_reason") if failures else None,
        "polls": state.get("polls", 0), "failures": state.get("failures", 0),
        "last_entries": state.get("last_entries"),
    }


def when(value: str | None) -> str:
    """An ISO time as people read it in a table: ``2025-01-15 10:30Z`` (or the text unchanged)."""
    if not value:
        return "-"
    try:
        moment = parse_iso(value)
    except (ValueError, TypeError):
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%MZ") if isinstance(moment, datetime) else str(value)
