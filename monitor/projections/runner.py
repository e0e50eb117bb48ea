"""Running projections: live (inside each append) and on replay (into fresh tables).

Live, each projection has a checkpoint (the last seq it folded, and the version of its code). A
projection whose version changed, or that is new, is rebuilt from the log when the store opens.
Replay folds the log, or a prefix of it, into a scratch database and digests every table, so two
replays of the same log, or a replay and the live tables, can be compared by digest.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from monitor.events import Event
from monitor.projections.base import LOG_SCHEMA, Projection, projection_digest
from monitor.store.chain import GENESIS
from monitor.store.schema import execute_script

if TYPE_CHECKING:
    from monitor.store.log import EventStore


def fold(conn: sqlite3.Connection, projection: Projection, events: Iterable[Event]) -> None:
    """Apply a projection to events in order; runs of the same statement go through executemany."""
    wanted = projection.types
    run_sql, run_params = None, []
    for event in events:
        if wanted is None or event.type in wanted:
            for sql, params in projection.apply(event):
                if sql is not run_sql and sql != run_sql:
                    if run_params:
                        conn.executemany(run_sql, run_params)
                    run_sql, run_params = sql, []
                run_params.append(params)
    if run_params:
        conn.executemany(run_sql, run_params)


class Projector:
    """Keeps the live projection tables in step with the log."""

    def __init__(self, projections: Sequence[Projection]):
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate projection names: {names}")
        self.projections = tuple(projections)

    def prepare(self, conn: sqlite3.Connection, store: "EventStore") -> None:
        """Create missing projections, rebuild those whose code version changed, catch up the rest."""
        head = store.head().seq
        for projection in self.projections:
            row = conn.execute(
                "SELECT version, seq FROM projection_checkpoints WHERE name = ?", (projection.name,)
            ).fetchone()
            if row is None or row[0] != projection.version:
                for table in projection.tables:
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
                execute_script(conn, projection.schema)
                self._checkpoint(conn, projection, 0)
                row = (projection.version, 0)
            if row[1] < head:
                fold(conn, projection, store.read(since=row[1], until=head))
                self._checkpoint(conn, projection, head)

    def apply(self, conn: sqlite3.Connection, events: Sequence[Event], store: "EventStore") -> None:
        """Fold freshly appended events (called inside the append transaction). The checkpoints
        are read in one statement and written in one: most appends are one poll's few events,
        for which a read and a write per projection were most of the statements."""
        first, last = events[0].seq, events[-1].seq
        done = dict(conn.execute("SELECT name, seq FROM projection_checkpoints"))
        for projection in self.projections:
            seq = done[projection.name]
            if seq == first - 1:
                fold(conn, projection, events)
            elif seq < first - 1:  # behind (another process appended with other code): catch up
                fold(conn, projection, store.read(since=seq, until=last))
            else:
                fold(conn, projection, (e for e in events if e.seq > seq))
        conn.executemany(_CHECKPOINT, [(p.name, p.version, last) for p in self.projections])

    def digests(self, conn: sqlite3.Connection) -> list[dict]:
        return [projection_digest(conn, p) for p in self.projections]

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, projection: Projection, seq: int) -> None:
        conn.execute(_CHECKPOINT, (projection.name, projection.version, seq))


_CHECKPOINT = ("INSERT INTO projection_checkpoints (name, version, seq) VALUES (?, ?, ?) "
               "ON CONFLICT (name) DO UPDATE SET version = excluded.version, seq = excluded.seq")


def _chunks(events: Iterator[Event], size: int) -> Iterator[list[Event]]:
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class ReplayResult:
    seq: int  # the last position folded
    hash: str  # the chain hash at that position
    recorded_at: str | None
    events: int
    projections: list[dict] = field(default_factory=list)
    database: Path | None = None  # the scratch database, when kept


def _attach_log(scratch: sqlite3.Connection, store: "EventStore") -> bool:
    """Attach an SQLite log to the scratch database, read-only, for the set-based folds. False
    when the log is not a local SQLite file (PostgreSQL) or cannot be opened a second time (a
    read-only copy without its -shm file): replay then reads every event through the store."""
    uri = getattr(store, "attach_uri", None)
    if uri is None:
        return False
    try:
        scratch.execute(f"ATTACH DATABASE ? AS {LOG_SCHEMA}", (uri(),))
        scratch.execute(f"SELECT max(seq) FROM {LOG_SCHEMA}.events").fetchone()
        return True
    except sqlite3.Error:
        try:
            scratch.execute(f"DETACH DATABASE {LOG_SCHEMA}")
        except sqlite3.Error:
            pass
        return False


def replay(
    store: "EventStore",
    projections: Sequence[Projection],
    *,
    until: int | None = None,
    out: Path | None = None,
    commit_every: int = 50_000,
    progress=None,
) -> ReplayResult:
    """Fold the log (up to ``until``) into fresh tables and digest them. Never sends anything.

    On an SQLite log, projections with ``replay_sql`` fold the whole prefix set-based, one
    statement a table, inside SQLite (the events never become Python objects); the others fold
    the events of their types as they do live. Both read the same prefix: ``until`` is pinned to
    the head when replay starts, and the log is append-only."""
    head = store.head()
    until = head.seq if until is None else min(until, head.seq)
    with tempfile.TemporaryDirectory(prefix="monitor-replay-") as tmp:
        path = Path(out) if out is not None else Path(tmp) / "replay.db"
        if path.exists():
            raise FileExistsError(f"{path} exists; replay writes a new database")
        scratch = sqlite3.connect(str(path), isolation_level=None, uri=True)  # uri: ATTACH the log read-only
        try:
            # A scratch database is rebuilt from the log if lost: no journal, no fsync.
            scratch.execute("PRAGMA journal_mode = OFF")
            scratch.execute("PRAGMA synchronous = OFF")
            for projection in projections:
                execute_script(scratch, projection.schema)
            if _attach_log(scratch, store):
                present, last = _prefix(scratch, store, until)
                count = sum(present.values())
                in_sql = [p for p in projections if getattr(p, "replay_sql", None)]
                _fold_in_sql(scratch, [p for p in in_sql if p.types is None or p.types & present.keys()], until)
                by_rows = [p for p in projections if p not in in_sql]
                wanted = None if any(p.types is None for p in by_rows) else set().union(*(p.types for p in by_rows))
                types = sorted(present) if wanted is None else sorted(wanted & present.keys())
                if by_rows and types:
                    _fold_rows(scratch, store, by_rows, until, commit_every, progress, types=types)
                scratch.execute(f"DETACH DATABASE {LOG_SCHEMA}")
            else:  # every event through every projection's apply, as live
                count, last = _fold_rows(scratch, store, projections, until, commit_every, progress, types=None)
            digests = [projection_digest(scratch, p) for p in projections]
        finally:
            scratch.close()
        if not count:
            return ReplayResult(0, GENESIS, None, 0, digests, path if out else None)
        return ReplayResult(last[0], last[1], last[2], count, digests, path if out else None)


def _prefix(scratch: sqlite3.Connection, store: "EventStore", until: int, step: int = 5000
            ) -> tuple[dict[str, int], tuple | None]:
    """The attached log up to ``until``, in one scan: how many events of each type, kept for the
    folds as ``temp.census`` (type, events, last_seq), and its last (seq, hash, recorded_at).

    The same scan checks that every stored value the set-based folds read as text (type,
    recorded_at, data) is UTF-8, as reading the rows through the store requires: a flipped byte on
    disk is then named by its seq (by the store's own read of that stretch), never folded into a
    table or silently unmatched. A stretch's text comes back as one string a type, so the check
    costs one decode, not a row's."""
    census: dict[str, list[int]] = {}
    for low in range(0, until, step):
        high = min(low + step, until)
        try:
            rows = scratch.execute(
                f"SELECT type, count(*), max(seq), group_concat(recorded_at || data, char(10)) "
                f"FROM {LOG_SCHEMA}.events WHERE seq > ? AND seq <= ? GROUP BY type", (low, high)).fetchall()
        except sqlite3.OperationalError as exc:
            if not str(exc).lower().startswith("could not decode"):
                raise
            for _event in store.read(since=low, until=high, upcast=False):
                pass  # raises StoreCorrupt naming the row
            raise
        for event_type, events, last_seq, _text in rows:
            counted = census.setdefault(event_type, [0, 0])
            counted[0] += events
            counted[1] = max(counted[1], last_seq)
    scratch.execute("CREATE TEMP TABLE census (type TEXT PRIMARY KEY, events INTEGER, last_seq INTEGER)")
    scratch.executemany("INSERT INTO temp.census VALUES (?, ?, ?)", [(t, n, s) for t, (n, s) in census.items()])
    last = scratch.execute(f"SELECT seq, hash, recorded_at FROM {LOG_SCHEMA}.events WHERE seq <= ? "
                           "ORDER BY seq DESC LIMIT 1", (until,)).fetchone()
    return {t: n for t, (n, _s) in census.items()}, last


def _fold_in_sql(scratch: sqlite3.Connection, projections: Sequence[Projection], until: int) -> None:
    """Run the set-based folds over the attached log's prefix, in one transaction."""
    scratch.execute("BEGIN")
    for projection in projections:
        for sql in projection.replay_sql:
            scratch.execute(sql, {"until": until})
    scratch.execute("COMMIT")


def _fold_rows(scratch: sqlite3.Connection, store: "EventStore", projections: Sequence[Projection], until: int,
               commit_every: int, progress, *, types: list[str] | None) -> tuple[int, tuple | None]:
    """Fold the events (of ``types``; None: all) through each projection's ``apply``, as live."""
    if types == []:
        return 0, None
    last, count = None, 0
    scratch.execute("BEGIN")
    for chunk in _chunks(store.read(until=until, types=types), 5000):
        for projection in projections:  # projections are independent: fold each in turn
            fold(scratch, projection, chunk)
        last, count = chunk[-1], count + len(chunk)
        if progress is not None:
            progress(last.seq)
        if count % commit_every < len(chunk):
            scratch.execute("COMMIT")
            scratch.execute("BEGIN")
    scratch.execute("COMMIT")
    return count, (last.seq, last.hash, last.recorded_at) if last is not None else None
