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
from monitor.projections.base import Projection, projection_digest
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
        """Fold freshly appended events (called inside the append transaction)."""
        first, last = events[0].seq, events[-1].seq
        for projection in self.projections:
            (done,) = conn.execute(
                "SELECT seq FROM projection_checkpoints WHERE name = ?", (projection.name,)
            ).fetchone()
            if done == first - 1:
                fold(conn, projection, events)
            elif done < first - 1:  # behind (another process appended with other code): catch up
                fold(conn, projection, store.read(since=done, until=last))
            else:
                fold(conn, projection, (e for e in events if e.seq > done))
            self._checkpoint(conn, projection, last)

    def digests(self, conn: sqlite3.Connection) -> list[dict]:
        return [projection_digest(conn, p) for p in self.projections]

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, projection: Projection, seq: int) -> None:
        conn.execute(
            "INSERT INTO projection_checkpoints (name, version, seq) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version, seq = excluded.seq",
            (projection.name, projection.version, seq),
        )


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


def replay(
    store: "EventStore",
    projections: Sequence[Projection],
    *,
    until: int | None = None,
    out: Path | None = None,
    commit_every: int = 50_000,
    progress=None,
) -> ReplayResult:
    """Fold the log (up to ``until``) into fresh tables and digest them. Never sends anything."""
    with tempfile.TemporaryDirectory(prefix="monitor-replay-") as tmp:
        path = Path(out) if out is not None else Path(tmp) / "replay.db"
        if path.exists():
            raise FileExistsError(f"{path} exists; replay writes a new database")
        scratch = sqlite3.connect(str(path), isolation_level=None)
        try:
            # A scratch database is rebuilt from the log if lost: no journal, no fsync.
            scratch.execute("PRAGMA journal_mode = OFF")
            scratch.execute("PRAGMA synchronous = OFF")
            for projection in projections:
                execute_script(scratch, projection.schema)
            last, count = None, 0
            scratch.execute("BEGIN")
            for chunk in _chunks(store.read(until=until), 5000):
                for projection in projections:  # projections are independent: fold each in turn
                    fold(scratch, projection, chunk)
                last, count = chunk[-1], count + len(chunk)
                if progress is not None:
                    progress(count)
                if count % commit_every < len(chunk):
                    scratch.execute("COMMIT")
                    scratch.execute("BEGIN")
            scratch.execute("COMMIT")
            digests = [projection_digest(scratch, p) for p in projections]
        finally:
            scratch.close()
        if last is None:
            return ReplayResult(0, GENESIS, None, 0, digests, path if out else None)
        return ReplayResult(last.seq, last.hash, last.recorded_at, count, digests, path if out else None)
