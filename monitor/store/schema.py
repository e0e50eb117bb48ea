"""The event log's schema and connection settings."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from monitor.store.errors import BUSY_TIMEOUT_S, StoreUnavailable

EVENTS_DB = "events.db"  # the log's file name in a state directory
# Page cache of a connection, KiB. 32 MiB keeps the hot parts of the two indexes in memory as the
# log grows (replay, bulk reads and writes); the daemon, whose polls touch a few pages each, and
# each scrape of /metrics (a thread of its own, whose arena glibc keeps) take SMALL_CACHE_KIB.
CACHE_KIB = 32 * 1024
SMALL_CACHE_KIB = 2 * 1024

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


def connect(path: str | Path, *, readonly: bool = False, cache_kib: int = CACHE_KIB) -> sqlite3.Connection:
    """Open the database in WAL mode with explicit transactions (we issue BEGIN ourselves).

    ``readonly`` never writes, so it works on a read-only copy of the state (an auditor's, a
    backup on a read-only mount): see ``_open_readonly``.
    """
    if readonly:
        conn = _open_readonly(Path(path))
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode survives a crash of the process (SIGKILL) without losing committed
        # batches; only an OS crash or power loss can drop the last few commits.
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection. Reading a WAL database needs its ``-shm`` file, which SQLite creates
    beside it; in a read-only directory without one (a copy of a cleanly closed state) that fails,
    and nobody can be writing there, so the file is then opened as immutable: read as it is."""
    if not path.is_file():
        # SQLite would create an empty database for a missing path in some modes; say what is wrong.
        raise sqlite3.OperationalError("unable to open database file")
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the first read opens the WAL index
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        writable_dir = os.access(path.parent, os.W_OK)
        if writable_dir or "readonly" not in str(exc).lower() and "unable to open" not in str(exc).lower():
            raise
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        # Immutable ignores the WAL: its commits would be silently missing. Refuse instead.
        raise StoreUnavailable(f"{path}: {wal.name} holds commits not yet in {path.name}, and this read-only "
                               f"directory has no {path.name}-shm to read them with; copy the state with "
                               "SQLite's online backup (`sqlite3 events.db \".backup copy.db\"`) instead")
    conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)
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
