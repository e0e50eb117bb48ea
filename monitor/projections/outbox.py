"""The outbox: every queued alert and where it stands (queued, delivered, failed, dead), and which
targets already have it, so a retry never re-sends to a target that succeeded."""

from __future__ import annotations

import json
import sqlite3
from typing import Iterable, Iterator, Sequence

from monitor.events import ALERT_DELIVERED, ALERT_FAILED, ALERT_QUEUED, ALERT_REQUEUED, Event
from monitor.projections.base import Statement

_IDS = "SELECT value FROM json_each(?1, '$.alert_ids')"


class Outbox:
    name = "outbox"
    version = 1
    tables = ("outbox", "deliveries")
    types = frozenset({ALERT_QUEUED, ALERT_DELIVERED, ALERT_FAILED, ALERT_REQUEUED})
    schema = """
    CREATE TABLE IF NOT EXISTS outbox (
        alert_id        TEXT PRIMARY KEY,
        route           TEXT NOT NULL,
        group_key       TEXT NOT NULL,
        change_id       TEXT NOT NULL,
        severity        TEXT NOT NULL,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL,
        due_at          TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        last_error      TEXT,
        queued_seq      INTEGER NOT NULL,
        updated_seq     INTEGER NOT NULL,
        data            TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
    CREATE TABLE IF NOT EXISTS deliveries (
        alert_id TEXT NOT NULL,
        target   TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        PRIMARY KEY (alert_id, target)
    );
    """
    _queued = (
        "INSERT OR IGNORE INTO outbox (alert_id, route, group_key, change_id, severity, status, attempts, due_at, "
        "next_attempt_at, last_error, queued_seq, updated_seq, data) VALUES (json_extract(?1, '$.alert_id'), "
        "json_extract(?1, '$.route'), json_extract(?1, '$.group'), json_extract(?1, '$.change_id'), "
        "json_extract(?1, '$.severity'), 'queued', 0, json_extract(?1, '$.due_at'), json_extract(?1, '$.due_at'), "
        "NULL, ?2, ?2, ?1)"
    )
    _delivered = f"UPDATE outbox SET status = 'delivered', last_error = NULL, updated_seq = ?2 WHERE alert_id IN ({_IDS})"
    _failed = (
        "UPDATE outbox SET status = CASE WHEN json_extract(?1, '$.dead') THEN 'dead' ELSE 'failed' END, "
        "attempts = attempts + 1, next_attempt_at = json_extract(?1, '$.next_attempt_at'), "
        f"last_error = json_extract(?1, '$.error'), updated_seq = ?2 WHERE alert_id IN ({_IDS})"
    )
    _requeued = (
        "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = json_extract(?1, '$.at'), "
        f"last_error = NULL, updated_seq = ?2 WHERE alert_id IN ({_IDS})"
    )
    _targets = (
        "INSERT OR IGNORE INTO deliveries (alert_id, target, seq) SELECT a.value, t.value, ?2 "
        "FROM json_each(?1, '$.alert_ids') AS a, json_each(?1, '$.{field}') AS t"
    )

    def apply(self, event: Event) -> Iterable[Statement]:
        params = (event.raw_data, event.seq)
        if event.type == ALERT_QUEUED:
            yield self._queued, params
        elif event.type == ALERT_DELIVERED:
            yield self._delivered, params
            yield self._targets.format(field="targets"), params
        elif event.type == ALERT_FAILED:
            yield self._failed, params
            yield self._targets.format(field="delivered_targets"), params
        else:
            yield self._requeued, params


# --- named reads --------------------------------------------------------------------------------

def due_alerts(conn: sqlite3.Connection, now: str) -> Iterator[tuple[str, str, str, int, dict]]:
    """(alert_id, route, group, attempts, data) of every alert due at ``now``, oldest first."""
    for alert_id, route, group, attempts, data in conn.execute(
            "SELECT alert_id, route, group_key, attempts, data FROM outbox WHERE status IN ('queued', 'failed') "
            "AND next_attempt_at <= ? ORDER BY queued_seq", (now,)):
        yield alert_id, route, group, attempts, json.loads(data)


def delivered_targets(conn: sqlite3.Connection, alert_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(alert_id, target) pairs already delivered, so a retry never re-sends to a target that had it."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(alert_ids), 500):
        chunk = list(alert_ids[start:start + 500])
        found.update(conn.execute(
            f"SELECT alert_id, target FROM deliveries WHERE alert_id IN ({','.join('?' * len(chunk))})", chunk))
    return found


def alert_statuses(conn: sqlite3.Connection, alert_ids: Sequence[str]) -> dict[str, str]:
    """alert_id -> status for the ids in the outbox (ids not there are absent)."""
    found: dict[str, str] = {}
    ids = list(alert_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update(conn.execute(
            f"SELECT alert_id, status FROM outbox WHERE alert_id IN ({','.join('?' * len(chunk))})", chunk))
    return found


def dead_alerts(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT alert_id FROM outbox WHERE status = 'dead' ORDER BY queued_seq")]


def recent_alert_ids(conn: sqlite3.Connection, limit: int = 5000) -> list[str]:
    return [r[0] for r in conn.execute("SELECT alert_id FROM outbox ORDER BY queued_seq DESC LIMIT ?", (limit,))]
