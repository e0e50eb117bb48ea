"""The event log's schema and connection settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY,
    event_id       TEXT    NOT NULL,
    stream         TEXT    NOT NULL,
    stream_version INTEGER NOT NULL,
    type           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at    TEXT,
    recorded_at    TEXT    NOT NULL,
    data           TEXT    NOT NULL,
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events (event_id);
CREATE UNIQUE INDEX IF NOT EXISTS events_stream_version ON events (stream, stream_version);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused'); END;

-- Where each projection has caught up to, and with which version of its code.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name    TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    seq     INTEGER NOT NULL
);
"""

EVENT_COLUMNS = (
    "seq, event_id, stream, stream_version, type, schema_version, "
    "occurred_at, recorded_at, data, prev_hash, hash"
)


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the database in WAL mode with explicit transactions (we issue BEGIN ourselves)."""
    if readonly:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    # 32 MiB of page cache keeps the hot parts of the two indexes in memory as the log grows.
    conn.execute("PRAGMA cache_size = -32768")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode survives a crash of the process (SIGKILL) without losing committed
        # batches; only an OS crash or power loss can drop the last few commits.
        conn.execute("PRAGMA synchronous = NORMAL")
        
    return conn


def execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run a DDL script inside the current transaction (``executescript`` would commit it)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip() and sqlite3.complete_statement(statement + ";"):
        conn.execute(statement)  # the last statement may omit its semicolon
    elif statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement.strip()[:80]}")


def create(conn: sqlite3.Connection) -> None:
    execute_script(conn, EVENTS_DDL)
