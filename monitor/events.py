"""The event vocabulary: what can be appended to the log and how it is read back.

``NewEvent`` is what the application asks the store to append; ``Event`` is what the store hands
back, with its position, times and hashes. Old schema versions of an event are *upcast on read*:
stored rows are never rewritten, and readers always see the current shape.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

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
