"""Routing, as pure functions: which routes (apprise tags) and groups a change goes to.

Every route whose filters match gets the change; a change touching two regions appears in both
regions' digests of a region route; the alert id derives from (route, group, change), so no route
ever receives the same change twice in the same group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from monitor.clock import parse_iso, to_iso
from monitor.events import ALERT_QUEUED, NewEvent, derive_event_id

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
OTHER = "other"


@dataclass(frozen=True)
class Destination:
    route: str  # the apprise tag
    group_by: str  # region, company or none
    group: str  # a region or company slug, "other", or "all"
    group_label: str


def destinations(change: Mapping[str, Any], routes: Sequence[Any], name: Callable[[str, str], str]) -> list[Destination]:
    """The (route, group) pairs a change (or a deadline reminder of one) is due at."""
    found = []
    for route in routes:
        if route.kinds and change["kind"] not in route.kinds:
            continue
        if SEVERITY_RANK[change["severity"]] < SEVERITY_RANK[route.min_severity]:
            continue
        if route.sources and change["source"] not in route.sources:
            continue
        if any(wanted and not set(wanted) & set(change.get(field) or ()) for wanted, field in (
                (route.regions, "regions"), (route.countries, "countries"), (route.companies, "companies"))):
            continue
        if route.group_by == "none":
            found.append(Destination(route.tag, "none", "all", "All changes"))
            continue
        field, wanted = ("regions", route.regions) if route.group_by == "region" else ("companies", route.companies)
        groups = [g for g in change.get(field) or () if not wanted or g in wanted] or [OTHER]
        kind = "region" if route.group_by == "region" else "company"
        for group in groups:
            label = "Other" if group == OTHER else name(kind, group)
            found.append(Destination(route.tag, route.group_by, group, label))
    return found


def alert_id(destination: Destination, cause: str) -> str:
    return "alr-" + hashlib.sha256(f"{destination.route}\x1f{destination.group}\x1f{cause}".encode()).hexdigest()[:12]


def queue(
    change: Mapping[str, Any],
    routes: Sequence[Any],
    name: Callable[[str, str], str],
    *,
    now: datetime,
    window: timedelta,
    high_now: bool,
    reminder: Mapping[str, Any] | None = None,
) -> list[NewEvent]:
    """``AlertQueued`` events for a change (or, with ``reminder``, for a deadline reminder of it).

    ``due_at`` is when the alert may be sent: after the digest window, so changes arriving together
    go out as one digest; at once for high severity when the window is bypassed.
    """
    due = now if (window <= timedelta(0) or (high_now and change["severity"] == "high")) else now + window
    cause = change["id"] if reminder is None else f"{change['id']}:{reminder['deadline']}:{reminder['date']}:{reminder['days_before']}"
    events = []
    for destination in destinations(change, routes, name):
        identifier = alert_id(destination, cause)
        stream = f"route:{destination.route}"
        data = {
            **{k: change.get(k) for k in ("kind", "severity", "title", "url", "source", "published", "rule",
                                          "rule_title", "regions", "countries", "companies", "deadlines")},
            "change_id": change["id"],
            "evidence": list(change.get("evidence") or ())[:8],
            "alert_id": identifier, "route": destination.route, "group_by": destination.group_by,
            "group": destination.group, "group_label": destination.group_label,
            "cause": "change" if reminder is None else "deadline", "due_at": to_iso(due),
        }
        if reminder is not None:
            data.update({k: reminder[k] for k in ("deadline", "date", "days_left", "days_before")})
        events.append(NewEvent(ALERT_QUEUED, stream, data, derive_event_id(stream, ALERT_QUEUED, identifier),
                               occurred_at=to_iso(now)))
    return events


def ops_alert(tag: str, *, kind: str, key: str, title: str, detail: str, source: str | None,
              now: datetime) -> NewEvent:
    """An alert about the monitor itself (a source failing or silent, a digest that could not be
    delivered) for the ops route. ``key`` names the incident, so each is reported once."""
    stream = f"route:{tag}"
    identifier = "alr-" + hashlib.sha256(f"{tag}\x1fops\x1f{key}".encode()).hexdigest()[:12]
    data = {
        "alert_id": identifier, "route": tag, "group_by": "ops", "group": "ops", "group_label": "Monitor operations",
        "cause": "ops", "kind": kind, "severity": "high", "title": title, "url": None, "source": source or "monitor",
        "published": to_iso(now)[:10], "rule": None, "rule_title": None, "regions": [], "countries": [],
        "companies": [], "deadlines": [], "change_id": key, "due_at": to_iso(now),
        "evidence": [{"kind": "phrase", "name": kind, "value": detail[:200], "field": "ops"}],
    }
    return NewEvent(ALERT_QUEUED, stream, data, derive_event_id(stream, ALERT_QUEUED, identifier), occurred_at=to_iso(now))


class AlertQueue:
    """The configured routes, applied to changes and reminders as they are recorded."""

    def __init__(self, alerts_config, name: Callable[[str, str], str]):
        self.config, self.name = alerts_config, name

    def for_changes(self, changes: Sequence[NewEvent], now: datetime) -> list[NewEvent]:
        return [alert for change in changes for alert in self._queue(change.data, now)]

    def for_reminder(self, change: Mapping[str, Any], reminder: Mapping[str, Any], now: datetime) -> list[NewEvent]:
        return self._queue(change, now, reminder)

    def source_failing(self, source, state: Mapping[str, Any] | None, outcome_message: str, now: datetime) -> list[NewEvent]:
        """An ops alert when a source has failed for longer than its `silence_alert_after`."""
        limit = getattr(source, "silence_alert_after", None)
        if not self.config.ops_tag or limit is None:
            return []
        since = (state or {}).get("failing_since") or (state or {}).get("last_success_at")
        if since is None or now - parse_iso(since) < limit:
            return []
        return [ops_alert(self.config.ops_tag, kind="source_failing", key=f"source:{source.id}:{since}",
                          title=f"Source {source.id} has not been polled successfully since {since[:16]}Z",
                          detail=outcome_message, source=source.id, now=now)]

    def _queue(self, change: Mapping[str, Any], now: datetime, reminder: Mapping[str, Any] | None = None) -> list[NewEvent]:
        return queue(change, self.config.routes, self.name, now=now, window=self.config.digest_window,
                     high_now=self.config.high_bypasses_window, reminder=reminder)
