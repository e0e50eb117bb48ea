"""Routing, as pure functions: which routes (apprise tags) hear of an incident, and under which group.

Every route whose filters match hears of it once, under its most specific group (the others are
named); the alert id derives from (route, incident, status), so no tag ever hears of the same
incident twice for the same status, however many items report it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from monitor.clock import parse_iso, to_iso
from monitor.vocabulary import SEVERITY_RANK, SOURCE_FAILING
from monitor.detect.incidents import IncidentFold
from monitor.events import (
    ALERT_QUEUED, INCIDENT_ITEM_ATTACHED, INCIDENT_OPENED, INCIDENT_STATUS_CHANGED, AlertQueued, ChangeDetected,
    DeadlineReached, NewEvent, derive_event_id,
)

OTHER = "other"


@dataclass(frozen=True)
class Destination:
    route: str  # the apprise tag
    group_by: str  # region, company or none
    group: str  # a region or company slug, "other", or "all"
    group_label: str
    also: tuple[str, ...] = ()  # labels of the other groups it belongs to


Specificity = Callable[[str, str], Any]  # (group kind, slug) -> a sort key: narrower groups first


def _matches(view: Mapping[str, Any], route: Any) -> bool:
    if route.kinds and view["kind"] not in route.kinds:
        return False
    if SEVERITY_RANK[view["severity"]] < SEVERITY_RANK[route.min_severity]:
        return False
    if route.sources and view["source"] not in route.sources:
        return False
    return not any(wanted and not set(wanted) & set(view.get(field) or ()) for wanted, field in (
        (route.regions, "regions"), (route.countries, "countries"), (route.companies, "companies")))


def destinations(view: Mapping[str, Any], routes: Sequence[Any], name: Callable[[str, str], str],
                 breadth: Specificity = lambda kind, slug: 0) -> list[Destination]:
    """One (route, group) per matching route: a route hears of a thing once, under its most
    specific group (a Gulf incident under "Gulf states", not again under "Middle East"); the
    other groups it belongs to are named in ``also``."""
    found = []
    for route in routes:
        if not _matches(view, route):
            continue
        if route.group_by == "none":
            found.append(Destination(route.tag, "none", "all", "All changes"))
            continue
        field, wanted = ("regions", route.regions) if route.group_by == "region" else ("companies", route.companies)
        kind = "region" if route.group_by == "region" else "company"
        groups = sorted((g for g in view.get(field) or () if not wanted or g in wanted),
                        key=lambda g: (breadth(kind, g), name(kind, g), g))
        if not groups:
            if route.wants_other:
                found.append(Destination(route.tag, route.group_by, OTHER, "Other"))
            continue
        found.append(Destination(route.tag, route.group_by, groups[0], name(kind, groups[0]),
                                 tuple(name(kind, g) for g in groups[1:])))
    return found


def alert_id(route: str, cause: str) -> str:
    return "alr-" + hashlib.sha256(f"{route}\x1f{cause}".encode()).hexdigest()[:12]


ALERT_FIELDS = ("kind", "severity", "title", "url", "source", "published", "language", "rule", "rule_title",
                "regions", "countries", "companies", "deadlines", "incident")
# Carried only when the change has them: a watchlist match, and a screening-list change's parties.
OPTIONAL_FIELDS = ("match", "parties_by_country", "party_count")
MAX_ALERT_PARTIES = 60  # party names an alert carries (the change has them all)


def queue(
    change: Mapping[str, Any],
    routes: Sequence[Any],
    name: Callable[[str, str], str],
    *,
    now: datetime,
    window: timedelta,
    high_now: bool,
    reminder: DeadlineReached | Mapping[str, Any] | None = None,
    incident: Mapping[str, Any] | None = None,
    breadth: Specificity = lambda kind, slug: 0,
    cause: str | None = None,
) -> list[NewEvent]:
    """``AlertQueued`` events, one per matching route: for an incident that opened or moved
    (``incident``: its id, status and the status it moved from, routed by its tags so far), or for a
    deadline reminder of a change. ``change`` is what is routed and shown.

    The alert id derives from (route, incident, status) or (route, change, deadline, threshold):
    a tag hears of an incident once per status and of a reminder once, whatever else happens.
    ``due_at`` is when the alert may be sent: after the digest window, so things arriving together
    go out as one digest; at once for high severity when the window is bypassed.
    """
    due = now if (window <= timedelta(0) or (high_now and change["severity"] == "high")) else now + window
    if isinstance(reminder, Mapping):
        reminder = DeadlineReached.decode(reminder)
    if cause is not None:
        pass  # the caller names what the alert is about (an incident's new parties)
    elif reminder is not None:
        cause = f"{change['id']}:{reminder.deadline}:{reminder.date}:{reminder.days_before}"
    elif incident is not None:
        cause = f"incident:{incident['incident']}:{incident['incident_status']}"
    else:
        cause = change["id"]
    extra = {k: change[k] for k in OPTIONAL_FIELDS if change.get(k)}
    if change.get("parties"):
        extra["parties_by_country"] = _parties_by_country(change["parties"])
        extra["party_count"] = change.get("party_count") or len(change["parties"])
    events = []
    due_at, occurred_at = to_iso(due), to_iso(now)  # once, not per route: formatting a time is not free
    for destination in destinations(change, routes, name, breadth):
        identifier = alert_id(destination.route, cause)
        stream = f"route:{destination.route}"
        data = {
            **{k: change.get(k) for k in ALERT_FIELDS},
            **extra,
            "change_id": change["id"],
            "evidence": list(change.get("evidence") or ())[:8],
            "alert_id": identifier, "route": destination.route, "group_by": destination.group_by,
            "group": destination.group, "group_label": destination.group_label, "also": list(destination.also),
            "cause": "deadline" if reminder is not None else "incident" if incident is not None else "change",
            "due_at": due_at,
        }
        if reminder is not None:
            data.update(deadline=reminder.deadline, date=reminder.date, days_left=reminder.days_left,
                        days_before=reminder.days_before)
        if incident is not None:
            data.update(incident)
        # The typed payload refuses a key its schema does not name; it encodes to these same keys.
        events.append(NewEvent.of(AlertQueued(**data), stream, derive_event_id(stream, ALERT_QUEUED, identifier),
                                  occurred_at=occurred_at))
    return events


def _parties_by_country(parties: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Party names (Chinese name too, where given) by first address country, most parties first."""
    groups: dict[str, list[str]] = {}
    for one in parties[:MAX_ALERT_PARTIES]:
        name = one.get("name") or "?"
        if one.get("names_zh"):
            name = f"{name} ({one['names_zh'][0]})"
        if one.get("renamed_from"):
            name = f"{name} (was {one['renamed_from']})"
        groups.setdefault((one.get("countries") or ["??"])[0], []).append(name)
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


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
    return NewEvent.of(AlertQueued(**data), stream, derive_event_id(stream, ALERT_QUEUED, identifier),
                       occurred_at=to_iso(now))


class AlertQueue:
    """The configured routes, applied to incidents and reminders as they are recorded."""

    def __init__(self, alerts_config, name: Callable[[str, str], str], breadth: Specificity = lambda kind, slug: 0):
        self.config, self.name, self.breadth = alerts_config, name, breadth

    def for_incidents(self, incident_events: Sequence[NewEvent], fold: IncidentFold,
                      changes: Mapping[str, ChangeDetected], now: datetime) -> list[NewEvent]:
        """Alerts for incidents that opened or whose status moved in this batch (routed by the
        incident's tags as the batch leaves it; shown with the change that moved it)."""
        alerts = []
        typed = [(event.type, event.typed) for event in incident_events]
        moved = {p.change_id for kind, p in typed if kind in (INCIDENT_OPENED, INCIDENT_STATUS_CHANGED)}
        for kind, p in typed:
            change = changes.get(p.change_id or "")  # an IncidentsMerged names no change
            if change is None:
                continue
            if kind == INCIDENT_ITEM_ATTACHED:
                # A screening-list change names parties: news even for an incident heard of before.
                if change.parties and change.id not in moved:
                    incident = self._live(fold, p.incident)
                    alerts += self._incident_alert(incident, change, incident.status, None, now,
                                                   cause=f"incident:{incident.id}:parties:{change.id}")
            elif kind == INCIDENT_OPENED:
                alerts += self._incident_alert(self._live(fold, p.incident), change, p.status, None, now)
            elif kind == INCIDENT_STATUS_CHANGED:
                alerts += self._incident_alert(self._live(fold, p.incident), change, p.to, p.from_, now)
        return alerts

    @staticmethod
    def _live(fold: IncidentFold, incident_id: str):
        incident = fold.incidents[incident_id]
        while incident.merged_into:
            incident = fold.incidents[incident.merged_into]
        return incident

    def _incident_alert(self, incident, change: ChangeDetected, status: str, status_from: str | None,
                        now: datetime, cause: str | None = None) -> list[NewEvent]:
        # What is routed and shown: the change, with the incident's tags so far and its highest severity.
        view = {**change.encode(), "title": change.get("title"), "incident": incident.id,
                "severity": max(change.severity, incident.severity, key=SEVERITY_RANK.__getitem__),
                "regions": sorted(incident.regions), "countries": sorted(incident.countries),
                "companies": sorted(incident.companies), "rule": incident.rule or change.get("rule")}
        return queue(view, self.config.routes, self.name, now=now, window=self.config.digest_window,
                     high_now=self.config.high_bypasses_window, breadth=self.breadth, cause=cause, incident={
                         "incident": incident.id, "incident_status": status, "incident_title": incident.title,
                         "status_from": status_from})

    def for_change(self, change: Mapping[str, Any], now: datetime) -> list[NewEvent]:
        """Alerts for something that is news in itself, outside any incident (a watchlist match)."""
        return queue(change, self.config.routes, self.name, now=now, window=self.config.digest_window,
                     high_now=self.config.high_bypasses_window, breadth=self.breadth)

    def for_reminder(self, change: Mapping[str, Any], reminder: DeadlineReached, now: datetime) -> list[NewEvent]:
        return queue(change, self.config.routes, self.name, now=now, window=self.config.digest_window,
                     high_now=self.config.high_bypasses_window, reminder=reminder, breadth=self.breadth)

    def source_failing(self, source, state: Mapping[str, Any] | None, outcome_message: str, now: datetime) -> list[NewEvent]:
        """An ops alert when a source has failed for longer than its `silence_alert_after`."""
        limit = getattr(source, "silence_alert_after", None)
        if not self.config.ops_tag or limit is None:
            return []
        since = (state or {}).get("failing_since") or (state or {}).get("last_success_at")
        if since is None or now - parse_iso(since) < limit:
            return []
        return [ops_alert(self.config.ops_tag, kind=SOURCE_FAILING, key=f"source:{source.id}:{since}",
                          title=f"Source {source.id} has not been polled successfully since {since[:16]}Z",
                          detail=outcome_message, source=source.id, now=now)]
