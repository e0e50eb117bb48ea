"""Sources: each source's health and the validators for its next conditional request."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Sequence

from monitor.events import SOURCE_FAILED, SOURCE_POLLED, Event
from monitor.projections.base import Statement


class Sources:
    name = "sources"
    version = 1
    tables = ("sources",)
    types = frozenset({SOURCE_POLLED, SOURCE_FAILED})
    schema = """
    CREATE TABLE IF NOT EXISTS sources (
        source               TEXT PRIMARY KEY,
        polls                INTEGER NOT NULL DEFAULT 0,
        failures             INTEGER NOT NULL DEFAULT 0,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_attempt_at      TEXT,
        last_success_at      TEXT,
        last_status          INTEGER,
        last_entries         INTEGER,
        last_bytes           INTEGER,
        etag                 TEXT,
        last_modified        TEXT,
        body_sha256          TEXT,
        failing_since        TEXT,
        retry_at             TEXT,
        last_error_reason    TEXT,
        last_error           TEXT,
        last_seq             INTEGER NOT NULL
    )
    """
    _polled = (
        "INSERT INTO sources (source, polls, consecutive_failures, last_attempt_at, last_success_at, last_status, "
        "last_entries, last_bytes, etag, last_modified, body_sha256, last_seq) VALUES (?,1,0,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (source) DO UPDATE SET polls = polls + 1, consecutive_failures = 0, "
        "last_attempt_at = excluded.last_attempt_at, last_success_at = excluded.last_success_at, "
        "last_status = excluded.last_status, last_entries = coalesce(excluded.last_entries, last_entries), "
        "last_bytes = excluded.last_bytes, etag = coalesce(excluded.etag, etag), "
        "last_modified = coalesce(excluded.last_modified, last_modified), "
        "body_sha256 = coalesce(excluded.body_sha256, body_sha256), failing_since = NULL, retry_at = NULL, "
        "last_seq = excluded.last_seq"
    )
    _failed = (
        "INSERT INTO sources (source, failures, consecutive_failures, last_attempt_at, last_status, failing_since, "
        "retry_at, last_error_reason, last_error, last_seq) VALUES (?,1,1,?,?,?,?,?,?,?) "
        "ON CONFLICT (source) DO UPDATE SET failures = failures + 1, "
        "consecutive_failures = consecutive_failures + 1, last_attempt_at = excluded.last_attempt_at, "
        "last_status = excluded.last_status, failing_since = coalesce(failing_since, excluded.failing_since), "
        "retry_at = excluded.retry_at, last_error_reason = excluded.last_error_reason, "
        "last_error = excluded.last_error, last_seq = excluded.last_seq"
    )

    def apply(self, event: Event) -> Iterable[Statement]:
        d = event.typed  # SourcePolled or SourceFailed; .get: None when the poll did not record it
        if event.type == SOURCE_POLLED:
            yield self._polled, (d.source, d.at, d.at, d.get("status"), d.get("entries"), d.get("bytes"),
                                 d.get("etag"), d.get("last_modified"), d.get("body_sha256"), event.seq)
        elif event.type == SOURCE_FAILED:
            yield self._failed, (d.source, d.at, d.get("status"), d.at, d.get("retry_at"),
                                 d.reason, d.message, event.seq)


# --- named reads --------------------------------------------------------------------------------

def source_states(conn: sqlite3.Connection, only: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The sources projection, by source id (only the named ones: the daemon polls one a job)."""
    where, params = ("", []) if only is None else (f" WHERE source IN ({','.join('?' * len(only))})", list(only))
    cursor = conn.execute(f"SELECT * FROM sources{where}", params)
    columns = [c[0] for c in cursor.description]
    return {row[0]: dict(zip(columns, row)) for row in cursor}


def source_state(conn: sqlite3.Connection, source: str) -> dict[str, Any] | None:
    return source_states(conn, [source]).get(source)


def failing_sources(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The sources whose last attempt failed, by id: what /healthz lists."""
    return [state for _source, state in sorted(source_states(conn).items()) if state["consecutive_failures"] > 0]
