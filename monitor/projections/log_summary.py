"""The log's own read model: how many events of each type, and the last of each."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

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
    # On replay: the same counts and last positions, from the census the runner takes of the
    # log's prefix (temp.census: type, events, last_seq) in its one pass.
    replay_sql = ("INSERT INTO event_types (type, events, last_seq) SELECT type, events, last_seq FROM temp.census",)

    def apply(self, event: Event) -> Iterable[Statement]:
        yield self._upsert, (event.type, event.seq)


# --- named reads --------------------------------------------------------------------------------

def event_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Events recorded, by type."""
    return dict(conn.execute("SELECT type, events FROM event_types"))


def log_head_seq(conn: sqlite3.Connection) -> int:
    """The newest position in the log (0 when it is empty)."""
    return conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]


def projection_counts(conn: sqlite3.Connection) -> dict[str, Any]:
    """What /metrics reports of the read tables: source health, items tracked, changes by kind and
    severity, alerts by outbox status."""
    return {
        "sources": {row[0]: row[1:] for row in conn.execute(
            "SELECT source, polls, failures, consecutive_failures, last_success_at FROM sources")},
        "items": conn.execute("SELECT count(*) FROM items").fetchone()[0],
        "changes": conn.execute(
            "SELECT kind, severity, count(*) FROM changes GROUP BY kind, severity ORDER BY kind, severity").fetchall(),
        "alerts": dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status")),
    }
