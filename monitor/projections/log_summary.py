"""The log's own read model: every stream's version and last event, and counts per event type."""

from __future__ import annotations

from typing import Iterable

from monitor.events import Event
from monitor.projections.base import Statement


class Streams:
    name = "streams"
    version = 1
    tables = ("streams",)
    types = None
    schema = """
    CREATE TABLE IF NOT EXISTS streams (
        stream      TEXT PRIMARY KEY,
        version     INTEGER NOT NULL,
        events      INTEGER NOT NULL,
        first_seq   INTEGER NOT NULL,
        last_seq    INTEGER NOT NULL,
        last_type   TEXT NOT NULL,
        last_recorded_at TEXT NOT NULL
    )
    """
    _upsert = (
        "INSERT INTO streams (stream, version, events, first_seq, last_seq, last_type, last_recorded_at) "
        "VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET "
        "version = excluded.version, events = events + 1, last_seq = excluded.last_seq, "
        "last_type = excluded.last_type, last_recorded_at = excluded.last_recorded_at"
    )

    def apply(self, event: Event) -> Iterable[Statement]:
        yield self._upsert, (event.stream, event.stream_version, event.seq, event.seq, event.type, event.recorded_at)


class EventTypes:
    name = "event_types"
    version = 1
    tables = ("event_types",)
    types = None
    schema = """
    CREATE TABLE IF NOT EXISTS event_types (
        type     TEXT PRIMARY KEY,
        events   INTEGER NOT NULL,
        last_seq INTEGER NOT NULL
    )
    """
    _upsert = (
        "INSERT INTO event_types (type, events, last_seq) VALUES (?, 1, ?) ON CONFLICT (type) DO UPDATE SET "
        "events = events + 1, last_seq = excluded.last_seq"
    )

    def apply(self, event: Event) -> Iterable[Statement]:
        yield self._upsert, (event.type, event.seq)
