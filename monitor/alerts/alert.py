"""An alert as it is read back: one typed, frozen ``Alert`` over its stored JSON, whose keys are
read here and nowhere else. The relay and the digests read its attributes.

``AlertQueued`` (monitor/events.py) is how an alert is written: it tells a key the payload did not
carry from null, so the stored bytes never change. ``Alert`` is how one is read: a key not given
reads as None, the nested lists (evidence, deadlines, the reports of its incident, a watchlist
match) read as typed records, and it carries what the relay adds for the digest (``reports``).

Attributes are read from the JSON when asked for, not copied out of it first: a digest is given
every due alert of its route, thousands, sorts them by a few attributes and shows the few hundred
that fit, and copying every field of every alert tripled the time a digest takes.

Every value came from a source and is untrusted: attributes give odd values as they are (render
cleans them); of the nested lists, only items that are objects are read, as render always did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Evidence:
    """One identifier or phrase that made the decision."""

    kind: Any = None
    name: Any = None
    value: Any = None


@dataclass(frozen=True, slots=True)
class Deadline:
    kind: Any = None  # comments_close, effective, compliance
    date: Any = None


@dataclass(frozen=True, slots=True)
class Report:
    """A source that reported the alert's incident, and why its item was attached."""

    source: Any = None
    language: Any = None
    attached_by: Any = None
    kind: Any = None


@dataclass(frozen=True, slots=True)
class Match:
    """A watchlist entry that matched a screening-list party."""

    entry_name: Any = None
    entry_country: Any = None
    ref: Any = None
    matched_name: Any = None
    matched_on: Any = None
    list: Any = None
    score: Any = None
    entity: Any = None
    countries: Any = None


def _stored(key: str, doc: str | None = None) -> Any:
    """An attribute read from the stored JSON: the key's value, None when it is not there."""
    return property(lambda alert: alert.data.get(key), doc=doc)


@dataclass(frozen=True, slots=True)
class Alert:
    """An ``AlertQueued`` payload, read. Its attributes are the payload's fields (a test holds them
    equal), and ``reports``; render adds ``alert_ids`` and ``moved`` when it collapses an incident's
    alerts into one entry."""

    data: Mapping[str, Any]  # the stored JSON (or a change's, which has the same keys); read the attributes
    reports: tuple[Report, ...] = ()  # added by the relay: every source that has reported the incident by now
    alert_ids: tuple[Any, ...] = ()  # added by render's collapse: the alerts one entry stands for
    moved: str | None = None  # and the statuses its incident moved through

    alert_id = _stored("alert_id")
    route = _stored("route", "the apprise tag")
    group_by = _stored("group_by", "region, company, none or ops")
    group = _stored("group")
    group_label = _stored("group_label")
    also = _stored("also", "labels of the route's other groups it belongs to")
    cause = _stored("cause", "change, deadline, incident or ops")
    due_at = _stored("due_at")
    kind = _stored("kind")
    severity = _stored("severity")
    title = _stored("title")
    url = _stored("url")
    source = _stored("source")
    published = _stored("published")
    language = _stored("language")
    rule = _stored("rule")
    rule_title = _stored("rule_title")
    regions = _stored("regions")
    countries = _stored("countries")
    companies = _stored("companies")
    incident = _stored("incident")
    incident_status = _stored("incident_status")
    incident_title = _stored("incident_title")
    status_from = _stored("status_from")
    deadline = _stored("deadline", "a reminder's deadline; with its date, the days left and the threshold")
    date = _stored("date")
    days_left = _stored("days_left")
    days_before = _stored("days_before")
    parties_by_country = _stored("parties_by_country")
    party_count = _stored("party_count")

    @property
    def change_id(self) -> Any:
        return self.data.get("id") or self.data.get("change_id")  # a change's own JSON calls it ``id``

    @property
    def deadlines(self) -> tuple[Deadline, ...]:
        return _objects(self.data.get("deadlines"), Deadline)

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        return _objects(self.data.get("evidence"), Evidence)

    @property
    def match(self) -> Match | None:
        match = self.data.get("match")
        return _object(match, Match) if isinstance(match, Mapping) else None

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> "Alert":
        """The alert of a stored ``AlertQueued`` payload (or of a change's JSON, which has the same keys)."""
        reports = data.get("reports")  # a digest's alerts given as JSON may carry their reports
        return cls(data, _objects(reports, Report)) if reports else cls(data)

    def with_severity(self, severity: Any) -> "Alert":
        return replace(self, data={**self.data, "severity": severity})


def as_alert(value: Alert | Mapping[str, Any]) -> Alert:
    """An alert as it is, or decoded from its JSON."""
    return value if isinstance(value, Alert) else Alert.decode(value)


_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in (Evidence, Deadline, Report, Match)}


def _object(data: Mapping[str, Any], cls: type) -> Any:
    return cls(*map(data.get, _NAMES[cls]))


def _objects(items: Any, cls: type) -> tuple[Any, ...]:
    """The objects of a JSON list as ``cls``; anything else in it (or a list that is not one) is skipped."""
    if not items or not isinstance(items, (list, tuple)):
        return ()
    names = _NAMES[cls]
    return tuple(cls(*map(item.get, names)) for item in items if type(item) is dict or isinstance(item, Mapping))
