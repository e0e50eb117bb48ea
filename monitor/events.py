"""The event vocabulary: what can be appended to the log and how it is read back.

``NewEvent`` is what the application asks the store to append; ``Event`` is what the store hands
back, with its position, times and hashes. Old schema versions of an event are *upcast on read*:
stored rows are never rewritten, and readers always see the current shape.

Each event type has a typed payload: a frozen dataclass (``Payload`` subclasses below) naming its
fields and its schema version, encoded (``encode``, ``NewEvent.of``) and decoded (``Event.typed``,
``decode``) here and nowhere else. The JSON of the log is unchanged by them, byte for byte: a
field the payload did not carry stays ``ABSENT`` (not null) and keys a schema does not name are
kept in ``extra``, so ``dumps(decode(t, data).encode()) == dumps(data)`` for every stored event
(tests/test_typed_events.py holds this over a recorded log). Decoding is lazy: replay folds most
projections in SQL from the stored JSON and never builds one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, Callable, ClassVar, Mapping, TypeVar

# Event types (see DESIGN.md, "The event log").
SOURCE_POLLED = "SourcePolled"
SOURCE_FAILED = "SourceFailed"
SOURCE_RECOVERED = "SourceRecovered"
ITEM_DISCOVERED = "ItemDiscovered"
ITEM_REVISED = "ItemRevised"
CHANGE_DETECTED = "ChangeDetected"
DEADLINE_REACHED = "DeadlineReached"
ALERT_QUEUED = "AlertQueued"
ALERT_DELIVERED = "AlertDelivered"
ALERT_FAILED = "AlertFailed"
ALERT_REQUEUED = "AlertRequeued"
CHECKPOINT_ANCHORED = "CheckpointAnchored"
INCIDENT_OPENED = "IncidentOpened"
INCIDENT_ITEM_ATTACHED = "IncidentItemAttached"
INCIDENT_STATUS_CHANGED = "IncidentStatusChanged"
INCIDENTS_MERGED = "IncidentsMerged"
SCREENING_SNAPSHOT = "ScreeningSnapshotTaken"
SCREENING_ENTITY_ADDED = "ScreeningEntityAdded"
SCREENING_ENTITY_MODIFIED = "ScreeningEntityModified"
SCREENING_ENTITY_REMOVED = "ScreeningEntityRemoved"
WATCHLIST_CHANGED = "WatchlistChanged"
WATCHLIST_MATCHED = "WatchlistMatched"


def dumps(data: Any) -> str:
    """The one JSON encoding of the log: compact, sorted keys, UTF-8 text."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def derive_event_id(stream: str, *parts: str) -> str:
    """A deterministic id, so that recording the same fact twice is a no-op.

    The id starts with its stream: ids of one stream (and of new, increasing item keys) sit
    together in the unique index, where random ids would dirty a random index page per event.
    """
    return f"{stream}/{hashlib.sha256(chr(31).join(parts).encode()).hexdigest()[:24]}"


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    stream: str
    data: dict[str, Any]
    event_id: str
    occurred_at: str | None = None  # the source's own time, ISO-8601
    schema_version: int = 1

    @classmethod
    def of(cls, payload: "Payload", stream: str, event_id: str, occurred_at: str | None = None) -> "NewEvent":
        """The event that records a typed payload (its type and schema version come with it)."""
        return cls(payload.TYPE, stream, payload.encode(), event_id, occurred_at, payload.VERSION)

    @property
    def typed(self) -> "Payload":
        """The payload as its typed dataclass (decoded afresh: a new event is read once or twice)."""
        return decode(self.type, self.data)


@dataclass(frozen=True)
class Event:
    seq: int
    event_id: str
    stream: str
    stream_version: int
    type: str
    schema_version: int
    occurred_at: str | None
    recorded_at: str
    raw_data: str  # the exact stored JSON text
    prev_hash: str
    hash: str

    @cached_property
    def data(self) -> dict[str, Any]:
        # Decoded lazily: replay and verify touch many rows whose payload nobody reads.
        return json.loads(self.raw_data)

    @cached_property
    def typed(self) -> "Payload":
        """The payload as its typed dataclass (of the current schema version: upcast first)."""
        return decode(self.type, self.data)

    def to_json(self) -> dict[str, Any]:
        """The public JSON-lines shape of `monitor events --json`."""
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "type": self.type,
            "stream": self.stream,
            "stream_version": self.stream_version,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at,
            "recorded_at": self.recorded_at,
            "data": self.data,
            "hash": self.hash,
        }


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Upcasters:
    """Chains of per-version transforms: (type, from_version) -> data of from_version + 1."""

    _steps: dict[tuple[str, int], Upcaster] = field(default_factory=dict)
    _current: dict[str, int] = field(default_factory=dict)

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def decorator(step: Upcaster) -> Upcaster:
            self._steps[(event_type, from_version)] = step
            self._current[event_type] = max(self._current.get(event_type, 1), from_version + 1)
            return step

        return decorator

    def __bool__(self) -> bool:
        return bool(self._steps)

    def current_version(self, event_type: str) -> int:
        return self._current.get(event_type, 1)

    def upcast(self, event: Event) -> Event:
        target = self._current.get(event.type)
        if target is None or event.schema_version >= target:
            return event
        data, version = event.data, event.schema_version
        while version < target:
            data = self._steps[(event.type, version)](dict(data))
            version += 1
        upcast = Event(
            event.seq, event.event_id, event.stream, event.stream_version, event.type, version,
            event.occurred_at, event.recorded_at, event.raw_data, event.prev_hash, event.hash,
        )
        upcast.__dict__["data"] = data  # the upcast payload; raw_data stays the stored bytes
        return upcast


# The application's registry. Modules that evolve an event's schema register their steps here.
UPCASTERS = Upcasters()


# --- the application's upcasters ------------------------------------------------------------------

@UPCASTERS.register(CHANGE_DETECTED, 1)
def _change_detected_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 (incidents) records what a change is evidence of and how it was found. A v1 change, from
    before incidents, belongs to none, and its identifiers and named tags were not kept."""
    for key, default in (("incident", None), ("identifiers", []), ("named", []), ("official", None),
                         ("public_inspection", False), ("action", None), ("modality", None), ("rule_kind", None)):
        data.setdefault(key, default)
    return data


CHANGE_DETECTED_VERSION = UPCASTERS.current_version(CHANGE_DETECTED)


# --- typed payloads -----------------------------------------------------------------------------

class _Absent:
    """A key the payload does not carry (null is a value: ``None``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()

P = TypeVar("P", bound="Payload")


@dataclass(frozen=True, slots=True)
class Payload:
    """A typed event payload. Subclasses name ``TYPE``, ``VERSION`` and the fields; a field whose
    JSON key is not a Python name says so in its metadata (``field(metadata={"key": "from"})``)."""

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    _KEYS: ClassVar[tuple[tuple[str, str], ...]] = ()  # (attribute, JSON key), worked out once a class

    extra: Mapping[str, Any] = field(default_factory=dict, kw_only=True)  # keys this schema does not name

    def encode(self) -> dict[str, Any]:
        """The JSON object this payload is stored as (ABSENT fields omitted)."""
        data = {key: value for attribute, key in self._KEYS if (value := getattr(self, attribute)) is not ABSENT}
        data.update(self.extra)
        return data

    @classmethod
    def decode(cls: type[P], data: Mapping[str, Any]) -> P:
        named = {key: attribute for attribute, key in cls._KEYS}
        values, extra = {}, {}
        for key, value in data.items():
            if key in named:
                values[named[key]] = value
            else:
                extra[key] = value
        return cls(**values, extra=extra)

    def get(self, attribute: str, default: Any = None) -> Any:
        """An attribute, or ``default`` when the payload did not carry it (or carried null)."""
        value = getattr(self, attribute)
        return default if value is ABSENT or value is None else value


PAYLOADS: dict[str, type[Payload]] = {}


def payload(cls: type[P]) -> type[P]:
    """Register a payload class (decorator): its keys are worked out once, here."""
    cls._KEYS = tuple((f.name, f.metadata.get("key", f.name)) for f in fields(cls) if f.name != "extra")
    PAYLOADS[cls.TYPE] = cls
    return cls


def decode(event_type: str, data: Mapping[str, Any]) -> Payload:
    """The typed payload of an event's (upcast) data."""
    try:
        cls = PAYLOADS[event_type]
    except KeyError:
        raise LookupError(f"no typed payload for event type {event_type!r}") from None
    return cls.decode(data)


def _(**kwargs: Any) -> Any:
    """A payload field: ABSENT unless given (so a payload encodes exactly the keys it carries)."""
    return field(default=ABSENT, **kwargs)


@payload
@dataclass(frozen=True, slots=True)
class SourcePolled(Payload):
    TYPE: ClassVar[str] = SOURCE_POLLED
    source: str = _()
    at: str = _()
    url: str | None = _()
    status: int | None = _()
    not_modified: bool = _()
    entries: int | None = _()
    new: int = _()
    revised: int = _()
    unchanged: int = _()
    changes: int = _()
    pages: int = _()
    bytes: int | None = _()
    etag: str | None = _()
    last_modified: str | None = _()
    body_sha256: str | None = _()
    duration_ms: float = _()
    warnings: list[Any] = _()
    # a screening-list poll: the snapshot it took and the watchlist matches it found
    snapshot: dict[str, Any] = _()
    matches: int = _()


@payload
@dataclass(frozen=True, slots=True)
class SourceFailed(Payload):
    TYPE: ClassVar[str] = SOURCE_FAILED
    source: str = _()
    at: str = _()
    url: str | None = _()
    reason: str = _()
    message: str = _()
    status: int | None = _()
    retry_after: float | None = _()
    consecutive_failures: int = _()
    retry_at: str | None = _()
    duration_ms: float = _()


@payload
@dataclass(frozen=True, slots=True)
class SourceRecovered(Payload):
    TYPE: ClassVar[str] = SOURCE_RECOVERED
    source: str = _()
    at: str = _()
    after_failures: int = _()
    failing_since: str | None = _()
    last_error: str | None = _()


@dataclass(frozen=True, slots=True)
class _Item(Payload):
    source: str = _()
    key: str = _()
    content_hash: str = _()
    title: str | None = _()
    url: str | None = _()
    published: str | None = _()
    updated: str | None = _()
    summary: str | None = _()
    language: str | None = _()
    fields: dict[str, Any] = _()


@payload
@dataclass(frozen=True, slots=True)
class ItemDiscovered(_Item):
    TYPE: ClassVar[str] = ITEM_DISCOVERED


@payload
@dataclass(frozen=True, slots=True)
class ItemRevised(_Item):
    TYPE: ClassVar[str] = ITEM_REVISED
    previous_hash: str = _()
    changed: dict[str, Any] = _()  # field -> {"before": ..., "after": ...}


@payload
@dataclass(frozen=True, slots=True)
class ChangeDetected(Payload):
    TYPE: ClassVar[str] = CHANGE_DETECTED
    VERSION: ClassVar[int] = 2  # v2 (incidents): incident, identifiers, named, official, public_inspection,
    #                             action, modality, rule_kind; v1 rows are upcast (see below)
    id: str = _()
    kind: str = _()
    severity: str = _()
    title: str | None = _()
    url: str | None = _()
    source: str = _()
    key: str = _()
    published: str | None = _()
    language: str | None = _()
    rule: str | None = _()
    rule_title: str | None = _()
    rule_kind: str | None = _()
    linked_by: str | None = _()
    regions: list[str] = _()
    countries: list[str] = _()
    companies: list[str] = _()
    deadlines: list[dict[str, Any]] = _()
    evidence: list[Any] = _()
    revision: bool = _()
    cause: str = _()
    incident: str | None = _()
    identifiers: list[Any] = _()
    named: list[Any] = _()
    official: bool | None = _()
    public_inspection: bool = _()
    action: str | None = _()
    modality: str | None = _()
    # the common words of title and lead, as concepts (added within v2: a row without them was
    # written before; the fold then reads its title's alone)
    concepts: list[str] = _()
    # a screening-list change: the list, what happened on it, its FR citation and the parties named
    list: str = _()
    list_action: str = _()
    citation: str | None = _()
    parties: list[dict[str, Any]] = _()
    party_count: int = _()
    match: dict[str, Any] = _()  # a watchlist match


@payload
@dataclass(frozen=True, slots=True)
class DeadlineReached(Payload):
    TYPE: ClassVar[str] = DEADLINE_REACHED
    source: str = _()
    key: str = _()
    deadline: str = _()
    date: str = _()
    days_before: int = _()
    days_left: int = _()
    change_id: str | None = _()
    title: str | None = _()
    url: str | None = _()
    rule: str | None = _()
    kind: str | None = _()
    severity: str | None = _()
    regions: list[str] = _()
    countries: list[str] = _()
    companies: list[str] = _()


@payload
@dataclass(frozen=True, slots=True)
class AlertQueued(Payload):
    """An alert for one route: what the relay sends and the digest renders (built in
    ``monitor.alerts.routes.queue``)."""

    TYPE: ClassVar[str] = ALERT_QUEUED
    alert_id: str = _()
    route: str = _()
    group_by: str = _()
    group: str = _()
    group_label: str = _()
    also: list[str] = _()
    cause: str = _()  # change, deadline, incident (or an ops kind)
    due_at: str = _()
    change_id: str = _()
    kind: str = _()
    severity: str = _()
    title: str | None = _()
    url: str | None = _()
    source: str | None = _()
    published: str | None = _()
    language: str | None = _()
    rule: str | None = _()
    rule_title: str | None = _()
    regions: list[str] = _()
    countries: list[str] = _()
    companies: list[str] = _()
    deadlines: list[dict[str, Any]] = _()
    evidence: list[Any] = _()
    incident: str | None = _()
    # an incident that opened or moved
    incident_status: str = _()
    incident_title: str = _()
    status_from: str | None = _()
    # a deadline reminder
    deadline: str = _()
    date: str = _()
    days_left: int = _()
    days_before: int = _()
    # only when the change has them: a watchlist match, a screening-list change's parties
    match: dict[str, Any] = _()
    parties_by_country: dict[str, Any] = _()
    party_count: int = _()


@dataclass(frozen=True, slots=True)
class _Digest(Payload):
    digest_id: str = _()
    route: str = _()
    group: str = _()
    alert_ids: list[str] = _()
    attempt: int = _()
    at: str = _()


@payload
@dataclass(frozen=True, slots=True)
class AlertDelivered(_Digest):
    TYPE: ClassVar[str] = ALERT_DELIVERED
    targets: list[str] = _()


@payload
@dataclass(frozen=True, slots=True)
class AlertFailed(_Digest):
    TYPE: ClassVar[str] = ALERT_FAILED
    delivered_targets: list[str] = _()
    failed: list[dict[str, Any]] = _()
    error: str = _()
    dead: bool = _()
    next_attempt_at: str = _()


@payload
@dataclass(frozen=True, slots=True)
class AlertRequeued(Payload):
    TYPE: ClassVar[str] = ALERT_REQUEUED
    alert_ids: list[str] = _()
    at: str = _()


@payload
@dataclass(frozen=True, slots=True)
class IncidentOpened(Payload):
    TYPE: ClassVar[str] = INCIDENT_OPENED
    incident: str = _()
    change_id: str = _()
    title: str = _()
    rule: str | None = _()
    family: str = _()
    status: str = _()
    stage: str = _()
    severity: str = _()
    kind: str = _()
    opened_at: str = _()


@payload
@dataclass(frozen=True, slots=True)
class IncidentItemAttached(Payload):
    TYPE: ClassVar[str] = INCIDENT_ITEM_ATTACHED
    incident: str = _()
    change_id: str = _()
    source: str = _()
    key: str = _()
    url: str | None = _()
    title: str | None = _()
    language: str | None = _()
    kind: str = _()
    severity: str = _()
    attached_by: str = _()
    published: str | None = _()
    date: str | None = _()
    rule: str | None = _()
    rule_title: str | None = _()
    official: bool | None = _()
    keys: list[str] = _()
    regions: list[str] = _()
    countries: list[str] = _()
    companies: list[str] = _()
    words: list[str] = _()


@payload
@dataclass(frozen=True, slots=True)
class IncidentStatusChanged(Payload):
    TYPE: ClassVar[str] = INCIDENT_STATUS_CHANGED
    incident: str = _()
    from_: str | None = _(metadata={"key": "from"})
    to: str = _()
    stage: str = _()
    change_id: str | None = _()
    reason: str | None = _()
    rule: str | None = _()
    title: str | None = _()


@payload
@dataclass(frozen=True, slots=True)
class IncidentsMerged(Payload):
    TYPE: ClassVar[str] = INCIDENTS_MERGED
    incident: str = _()
    merged: str = _()
    keys: list[str] = _()


@payload
@dataclass(frozen=True, slots=True)
class CheckpointAnchored(Payload):
    TYPE: ClassVar[str] = CHECKPOINT_ANCHORED
    # what the anchor follows on from (the anchor file itself names this event's seq and hash)
    seq: int = _()
    hash: str = _()
    file: str = _()
    signed: bool = _()


@payload
@dataclass(frozen=True, slots=True)
class WatchlistChanged(Payload):
    TYPE: ClassVar[str] = WATCHLIST_CHANGED
    sha256: str = _()
    threshold: float = _()
    entries: int = _()
    at: str = _()
    lists: Any = _()
    ignore: Any = _()
    file: str | None = _()
    added: list[dict[str, Any]] = _()
    changed: list[dict[str, Any]] = _()
    removed: list[str] = _()


@payload
@dataclass(frozen=True, slots=True)
class WatchlistMatched(Payload):
    TYPE: ClassVar[str] = WATCHLIST_MATCHED
    id: str = _()
    at: str = _()
    ref: str = _()
    entry_name: str = _()
    entry_country: str | None = _()
    score: float = _()
    entity: str = _()
    source: str = _()
    listed_name: str = _()
    matched_name: str = _()
    matched_on: str = _()
    list: str = _()
    countries: list[str] = _()


@payload
@dataclass(frozen=True, slots=True)
class ScreeningSnapshotTaken(Payload):
    TYPE: ClassVar[str] = SCREENING_SNAPSHOT
    source: str = _()
    at: str = _()
    content_sha256: str = _()
    format: str = _()
    records_sha256: str = _()
    records: int = _()
    total: int = _()
    lists: dict[str, int] = _()
    baseline: bool = _()
    added: int = _()
    removed: int = _()
    modified: int = _()
    renamed: int = _()
    unchanged: int = _()


@dataclass(frozen=True, slots=True)
class _Entity(Payload):
    source: str = _()
    key: str = _()
    at: str = _()
    snapshot: str = _()
    list: str = _()
    fingerprint: str = _()


@payload
@dataclass(frozen=True, slots=True)
class ScreeningEntityAdded(_Entity):
    TYPE: ClassVar[str] = SCREENING_ENTITY_ADDED
    record: dict[str, Any] = _()


@payload
@dataclass(frozen=True, slots=True)
class ScreeningEntityModified(_Entity):
    TYPE: ClassVar[str] = SCREENING_ENTITY_MODIFIED
    changed: list[str] = _()
    renamed_from: str | None = _()
    name: str = _()
    countries: list[str] = _()
    patch: dict[str, Any] = _()  # RFC 7396 merge patch of the record


@payload
@dataclass(frozen=True, slots=True)
class ScreeningEntityRemoved(_Entity):
    TYPE: ClassVar[str] = SCREENING_ENTITY_REMOVED
    name: str = _()
    countries: list[str] = _()
