"""An alert as it is read back: one typed, frozen ``Alert``, decoded from its stored JSON here and
nowhere else. The relay and the digests read its attributes, never its keys.

``AlertQueued`` (monitor/events.py) is how an alert is written: it tells a key the payload did not
carry from null, so the stored bytes never change. ``Alert`` is how one is read: a key not given
reads as None, the nested lists (evidence, deadlines, the reports of its incident, a watchlist
match) are typed too, and it carries what the relay adds for the digest (``reports``). Every value
came from a source and is untrusted: decoding keeps odd values as they are (render cleans them) and
drops only nested items that are not objects, as render always skipped them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
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


@dataclass(frozen=True, slots=True)
class Alert:
    """An ``AlertQueued`` payload, read. The fields are those of ``AlertQueued`` (a test holds them
    equal), and ``reports``; render adds ``alert_ids`` and ``moved`` when it collapses an incident's
    alerts into one entry."""

    alert_id: Any = None
    route: Any = None
    group_by: Any = None
    group: Any = None
    group_label: Any = None
    also: Any = None  # labels of the route's other groups it belongs to
    cause: Any = None  # change, deadline, incident or ops
    due_at: Any = None
    change_id: Any = None  # a change's own JSON calls it ``id``; either is read
    kind: Any = None
    severity: Any = None
    title: Any = None
    url: Any = None
    source: Any = None
    published: Any = None
    language: Any = None
    rule: Any = None
    rule_title: Any = None
    regions: Any = None
    countries: Any = None
    companies: Any = None
    deadlines: tuple[Deadline, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    incident: Any = None
    incident_status: Any = None
    incident_title: Any = None
    status_from: Any = None
    deadline: Any = None
    date: Any = None
    days_left: Any = None
    days_before: Any = None
    match: Match | None = None
    parties_by_country: Any = None
    party_count: Any = None
    # added by the relay: every source that has reported the incident by now
    reports: tuple[Report, ...] = ()
    # added by render's collapse: the alerts one entry stands for, and the statuses it moved through
    alert_ids: tuple[Any, ...] = ()
    moved: str | None = None

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> "Alert":
        """The alert of a stored ``AlertQueued`` payload (or of a change's JSON, which has the same keys)."""
        values = {name: data.get(name) for name in _PLAIN}
        values["change_id"] = data.get("id") or data.get("change_id")
        values["evidence"] = _objects(data.get("evidence"), Evidence)
        values["deadlines"] = _objects(data.get("deadlines"), Deadline)
        values["reports"] = _objects(data.get("reports"), Report)
        match = data.get("match")
        values["match"] = _object(match, Match) if isinstance(match, Mapping) else None
        return cls(**values)


def as_alert(value: Alert | Mapping[str, Any]) -> Alert:
    """An alert as it is, or decoded from its JSON."""
    return value if isinstance(value, Alert) else Alert.decode(value)


_NESTED = frozenset({"change_id", "evidence", "deadlines", "reports", "match", "alert_ids", "moved"})
_PLAIN = tuple(f.name for f in fields(Alert) if f.name not in _NESTED)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _object(data: Mapping[str, Any], cls: type) -> Any:
    names = _FIELDS.get(cls) or _FIELDS.setdefault(cls, tuple(f.name for f in fields(cls)))
    return cls(*(data.get(name) for name in names))


def _objects(items: Any, cls: type) -> tuple[Any, ...]:
    """The objects of a JSON list as ``cls``; anything else in it (or a list that is not one) is skipped."""
    if not isinstance(items, (list, tuple)):
        return ()
    return tuple(_object(item, cls) for item in items if isinstance(item, Mapping))
