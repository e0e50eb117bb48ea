"""The log's own read model: how many events of each type, and the last of each."""

from __future__ import annotations

from typing import Iterable

from monitor.events import Event
from monitor.projections.base import Statement


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
