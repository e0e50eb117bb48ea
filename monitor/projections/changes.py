"""Changes and their deadlines, as detected: what `monitor changes` and the alerts read."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator

from monitor.events import CHANGE_DETECTED, DEADLINE_REACHED, Event
from monitor.projections.base import Statement


class Changes:
    name = "changes"
    version = 2  # 2: the index on seq (the console lists changes newest first)
    tables = ("changes",)
    types = frozenset({CHANGE_DETECTED})
    schema = """
    CREATE TABLE IF NOT EXISTS changes (
        id        TEXT PRIMARY KEY,
        seq       INTEGER NOT NULL,
        kind      TEXT NOT NULL,
        severity  TEXT NOT NULL,
        rule      TEXT,
        source    TEXT NOT NULL,
        key       TEXT NOT NULL,
        published TEXT,
        recorded_at TEXT NOT NULL,
        data      TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS changes_rule ON changes (rule, seq);
    CREATE INDEX IF NOT EXISTS changes_seq ON changes (seq);
    """
    _insert = (
        "INSERT OR REPLACE INTO changes (id, seq, kind, severity, rule, source, key, published, recorded_at, data) "
        "VALUES (json_extract(?1, '$.id'), ?2, json_extract(?1, '$.kind'), json_extract(?1, '$.severity'), "
        "json_extract(?1, '$.rule'), json_extract(?1, '$.source'), json_extract(?1, '$.key'), "
        "json_extract(?1, '$.published'), ?3, ?1)"
    )

    def apply(self, event: Event) -> Iterable[Statement]:
        yield self._insert, (event.raw_data, event.seq, event.recorded_at)


class Deadlines:
    """Each item's latest comment-close, effective and compliance dates, and the reminders sent."""

    name = "deadlines"
    version = 1
    tables = ("deadlines", "reminders")
    types = frozenset({CHANGE_DETECTED, DEADLINE_REACHED})
    schema = """
    CREATE TABLE IF NOT EXISTS deadlines (
        source    TEXT NOT NULL,
        key       TEXT NOT NULL,
        kind      TEXT NOT NULL,
        date      TEXT NOT NULL,
        change_id TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        PRIMARY KEY (source, key, kind)
    );
    CREATE TABLE IF NOT EXISTS reminders (
        source    TEXT NOT NULL,
        key       TEXT NOT NULL,
        kind      TEXT NOT NULL,
        date      TEXT NOT NULL,
        days      INTEGER NOT NULL,
        seq       INTEGER NOT NULL,
        PRIMARY KEY (source, key, kind, date, days)
    );
    """
    _deadline = (
        "INSERT INTO deadlines (source, key, kind, date, change_id, seq) "
        "SELECT json_extract(?1, '$.source'), json_extract(?1, '$.key'), json_extract(d.value, '$.kind'), "
        "json_extract(d.value, '$.date'), json_extract(?1, '$.id'), ?2 FROM json_each(?1, '$.deadlines') AS d "
        "WHERE true ON CONFLICT (source, key, kind) DO UPDATE SET date = excluded.date, "
        "change_id = excluded.change_id, seq = excluded.seq"
    )
    _reminder = (
        "INSERT OR IGNORE INTO reminders (source, key, kind, date, days, seq) VALUES (json_extract(?1, '$.source'), "
        "json_extract(?1, '$.key'), json_extract(?1, '$.deadline'), json_extract(?1, '$.date'), "
        "json_extract(?1, '$.days_before'), ?2)"
    )

    def apply(self, event: Event) -> Iterable[Statement]:
        if event.type == CHANGE_DETECTED:
            yield self._deadline, (event.raw_data, event.seq)
        else:
            yield self._reminder, (event.raw_data, event.seq)


# --- named reads --------------------------------------------------------------------------------

def open_deadlines(conn: sqlite3.Connection, horizon: str) -> Iterator[tuple[str, str, str, str, dict[str, Any]]]:
    """(source, key, deadline kind, date, the change that stated it) for deadlines on or after horizon."""
    for source, key, kind, on, change in conn.execute(
            "SELECT d.source, d.key, d.kind, d.date, c.data FROM deadlines AS d "
            "JOIN changes AS c ON c.id = d.change_id WHERE d.date >= ?", (horizon,)):
        yield source, key, kind, on, json.loads(change)


def reminders_sent(conn: sqlite3.Connection, horizon: str) -> set[tuple[str, str, str, str, int]]:
    return set(conn.execute("SELECT source, key, kind, date, days FROM reminders WHERE date >= ?", (horizon,)))
