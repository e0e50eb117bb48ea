"""The event log: the only writer of ``events``.

``append`` is one transaction (all of a batch or none of it), idempotent by ``event_id``, checks
expected stream versions, keeps ``recorded_at`` non-decreasing, extends the hash chain and brings
the live projections up to date before it commits, so readers never see events without their
projections (or the outbox rows they imply).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator, Mapping, Protocol, Sequence


from monitor.clock import Clock, system_clock, to_iso
from monitor.events import UPCASTERS, Event, NewEvent, Upcasters, dumps
from monitor.store import chain, schema
from monitor.store.errors import ChainBroken, StoreCorrupt, StoreNotBegun, describe


# The latest version of each stream of a JSON array, by the stream's index in it.
_STREAM_VERSIONS = (
    "SELECT s.key, coalesce((SELECT stream_version FROM events WHERE stream = s.value "
    "ORDER BY stream_version DESC LIMIT 1), 0) FROM json_each(?) AS s"
)


class ConcurrencyError(Exception):
    """A stream was not at the version the caller expected; nothing was written."""

    def __init__(self, stream: str, expected: int, actual: int):
        super().__init__(f"stream {stream!r} is at version {actual}, expected {expected}")
        self.stream, self.expected, self.actual = stream, expected, actual


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    recorded_at: str | None


class AppendResult:
    """What an append wrote: the stored events (built on first access) and the duplicates skipped."""

    def __init__(self, rows: Sequence[tuple], duplicates: int):
        self._rows = rows
        self.duplicates = duplicates  # events of the batch already in the log (by event_id), skipped

    @cached_property
    def appended(self) -> tuple[Event, ...]:
        return tuple(Event(*row) for row in self._rows)

    @property
    def noop(self) -> bool:
        return not self._rows


class LiveProjections(Protocol):
    """What the store needs from the projection runner (kept abstract: the store knows no folds)."""

    def prepare(self, conn: sqlite3.Connection, store: "EventStore") -> None: ...

    def apply(self, conn: sqlite3.Connection, events: Sequence[Event], store: "EventStore") -> None: ...


class EventStore:
    """An append-only, hash-chained event log in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock = system_clock,
        projections: LiveProjections | None = None,
        upcasters: Upcasters = UPCASTERS,
        readonly: bool = False,
        cache_kib: int = schema.CACHE_KIB,
    ):
        self.path = Path(path)
        self.clock = clock
        self.upcasters = upcasters
        try:
            self.conn = schema.connect(self.path, readonly=readonly, cache_kib=cache_kib)
        except sqlite3.Error as exc:
            raise describe(exc, self.path) from None
        self._projections = projections
        try:
            if readonly:
                tables = {name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not tables:
                    raise StoreNotBegun(f"{self.path}: the event log holds nothing yet (the first poll was stopped "
                                        "before it recorded anything): run `monitor poll`")
                if "events" not in tables:
                    raise StoreCorrupt(f"{self.path}: not an event log of this monitor (it has no events table)")
            else:
                with self.transaction():
                    schema.create(self.conn)
                    if projections is not None:
                        projections.prepare(self.conn, self)
        except sqlite3.Error as exc:
            self.conn.close()
            raise describe(exc, self.path) from None
        except BaseException:
            self.conn.close()
            raise

    @cached_property
    def db(self):
        """The connection as a ``sqlite_utils.Database``, imported at first use: it loads megabytes
        (dateutil, pluggy, csv) that appending and reading never need."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: one writer at a time, across processes)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- writing ------------------------------------------------------------------------------

    def append(self, batch: Sequence[NewEvent], *, expected: Mapping[str, int] | None = None) -> AppendResult:
        """Append a batch atomically. Events already in the log (same event_id) are skipped.

        ``expected`` maps a stream to the version it must be at before this batch (0: new stream);
        on a mismatch ``ConcurrencyError`` is raised and nothing is written.
        """
        batch = _unique(batch)
        _check_headers(batch)
        if not batch:
            return AppendResult((), 0)
        with self.transaction() as conn:
            known = self._existing_ids([e.event_id for e in batch])
            fresh = [e for e in batch if e.event_id not in known]
            if not fresh:
                return AppendResult((), len(batch))
            versions = self._stream_versions({e.stream for e in fresh} | set(expected or ()))
            for stream, want in (expected or {}).items():
                if versions[stream] != want:
                    raise ConcurrencyError(stream, want, versions[stream])
            rows = build_rows(self.head(), versions, fresh, to_iso(self.clock()))
            conn.executemany(f"INSERT INTO events ({schema.EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            result = AppendResult(rows, len(batch) - len(fresh))
            if self._projections is not None:
                self._projections.apply(conn, [self.upcasters.upcast(e) for e in result.appended], self)
        return result

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.conn.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk))
        return found

    def _stream_versions(self, streams: set[str]) -> dict[str, int]:
        # One statement for the batch, one indexed seek per stream inside it: at a million events
        # a `WHERE stream IN (...) GROUP BY stream` was ~20x slower (7 ms against 0.3 ms a batch),
        # and a query per stream costs a Python round trip each (twice this, measured at 1M).
        ordered = sorted(streams)
        found = dict(self.conn.execute(_STREAM_VERSIONS, (json.dumps(ordered),)))
        return {stream: found[index] for index, stream in enumerate(ordered)}

    # -- reading ------------------------------------------------------------------------------

    def head(self) -> Head:
        row = self.conn.execute("SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return Head(*row) if row else Head(0, chain.GENESIS, None)

    def stream_version(self, stream: str) -> int:
        row = self.conn.execute(
            "SELECT stream_version FROM events WHERE stream = ? ORDER BY stream_version DESC LIMIT 1", (stream,)
        ).fetchone()
        return row[0] if row else 0

    def seq_at(self, recorded_at: str) -> int:
        """The last position recorded at or before a time (0 if none): what we knew then."""
        row = self.conn.execute("SELECT max(seq) FROM events WHERE recorded_at <= ?", (recorded_at,)).fetchone()
        return row[0] or 0

    def last_whole_batch(self, seq: int) -> int:
        """The last position at or before ``seq`` that ends an append: the log as it stood after a
        commit, never in the middle of one. Every event of a batch carries its transaction's
        ``recorded_at`` and ``recorded_at`` never decreases, so a batch ends wherever the next row's
        time differs. (Two batches sharing a time, after the clock stepped back, count as one: the
        position is then rounded further down, still to a state that existed.)"""
        head = self.head().seq
        if seq >= head:
            return head
        (after,) = self.conn.execute("SELECT recorded_at FROM events WHERE seq = ?", (seq + 1,)).fetchone()
        row = self.conn.execute("SELECT recorded_at FROM events WHERE seq = ?", (seq,)).fetchone()
        if row is None or row[0] != after:
            return seq
        (end,) = self.conn.execute("SELECT max(seq) FROM events WHERE seq <= ? AND recorded_at < ?",
                                   (seq, after)).fetchone()
        return end or 0

    def read(
        self,
        *,
        since: int = 0,
        until: int | None = None,
        types: Sequence[str] | None = None,
        stream: str | None = None,
        upcast: bool = True,
        chunk: int = 2000,
    ) -> Iterator[Event]:
        """Events with ``since < seq <= until`` in order, streamed (never the whole log in memory)."""
        where, params = ["seq > ?"], [since]
        if until is not None:
            where.append("seq <= ?")
            params.append(until)
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        if stream is not None:
            where.append("stream = ?")
            params.append(stream)
        cursor = self.conn.execute(
            f"SELECT {schema.EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY seq", params
        )
        upcaster = self.upcasters.upcast if upcast and self.upcasters else None
        last = since
        while rows := self._fetch(cursor, chunk, last, until):
            for row in rows:
                event = Event(*row)
                last = event.seq
                yield upcaster(event) if upcaster else event

    def _fetch(self, cursor: sqlite3.Cursor, size: int, after: int, until: int | None) -> list[tuple]:
        """The next rows; a row whose text is not UTF-8 (a flipped byte on disk) is named by its seq."""
        try:
            return cursor.fetchmany(size)
        except sqlite3.OperationalError as exc:
            if not str(exc).lower().startswith("could not decode"):
                raise
            seq = self.first_undecodable(after, until)
            raise StoreCorrupt(f"{self.path}: seq {seq or '?'} holds bytes that are not UTF-8 (the row was "
                               "altered on disk); `monitor verify` says more") from None

    def first_undecodable(self, after: int = 0, until: int | None = None) -> int | None:
        """The first seq after ``after`` whose text columns are not valid UTF-8, if any."""
        cursor = self.conn.execute(
            "SELECT seq, CAST(event_id AS BLOB), CAST(stream AS BLOB), CAST(type AS BLOB), CAST(occurred_at AS BLOB), "
            "CAST(recorded_at AS BLOB), CAST(data AS BLOB) FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
            (after, until if until is not None else 2**62))
        for seq, *values in cursor:
            try:
                for value in values:
                    if value is not None:
                        bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return seq
        return None

    def get(self, seqs: Sequence[int]) -> dict[int, Event]:
        """Events at the given positions (upcast), by seq."""
        found: dict[int, Event] = {}
        for start in range(0, len(seqs), 500):
            chunk = list(seqs[start:start + 500])
            rows = self.conn.execute(
                f"SELECT {schema.EVENT_COLUMNS} FROM events WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
            found.update((row[0], self.upcasters.upcast(Event(*row))) for row in rows)
        return found

    def ingest(self, rows: Sequence[tuple], *, where: str = "the copied log") -> int:
        """Append rows already positioned and hashed elsewhere (a mirror of a shared log, a
        migration): each must continue this log's chain exactly, and the projections fold them in
        the same transaction. Returns how many were written."""
        if not rows:
            return 0
        with self.transaction() as conn:
            head = self.head()
            rows = [row for row in rows if row[0] > head.seq]  # another process of this state pulled them
            if not rows:
                return 0
            check_copied_rows(head, rows, where)
            conn.executemany(f"INSERT INTO events ({schema.EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            if self._projections is not None:
                self._projections.apply(conn, [self.upcasters.upcast(Event(*row)) for row in rows], self)
        return len(rows)

    def rows(self, *, since: int = 0, chunk: int = 2000) -> Iterator[list[tuple]]:
        """The stored rows after ``since``, in order, in chunks (for copying the log elsewhere)."""
        while batch := self.conn.execute(f"SELECT {schema.EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq "
                                         "LIMIT ?", (since, chunk)).fetchall():
            yield batch
            since = batch[-1][0]

    def refresh(self) -> None:
        """Bring the projections up to the log's head. Here they are folded inside every append,
        whoever appends, so there is nothing to do; a mirror of a shared log pulls here."""

    def attach_uri(self) -> str:
        """How another SQLite connection opens this log read-only (``ATTACH``): replay folds
        set-based from it. (Only an SQLite log has one.)"""
        return self.path.resolve().as_uri() + "?mode=ro"

    def verify(self, anchor=None, witnesses=(), progress=None):
        from monitor.store.integrity import verify

        return verify(self.conn, anchor, witnesses, progress=progress)

    @property
    def where(self) -> str:
        """The log's name in messages."""
        return str(self.path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "EventStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def build_rows(head: Head, versions: dict[str, int], fresh: Sequence[NewEvent], recorded_at: str) -> list[tuple]:
    """The stored rows of fresh events after ``head``: positions, stream versions (``versions`` is
    updated), one ``recorded_at`` for the batch (never before the head's) and the chain. Shared by
    every backend, so a row hashes the same wherever it is written."""
    if head.recorded_at and recorded_at < head.recorded_at:
        recorded_at = head.recorded_at  # our clock stepped back: never let time decrease
    rows, prev, seq = [], head.hash, head.seq
    for e in fresh:
        seq += 1
        version = versions[e.stream] = versions[e.stream] + 1
        data = dumps(e.data)
        digest = chain.link(prev, chain.row_bytes(
            seq, e.event_id, e.stream, version, e.type, e.schema_version, e.occurred_at, recorded_at, data,
        ))
        rows.append((seq, e.event_id, e.stream, version, e.type, e.schema_version,
                     e.occurred_at, recorded_at, data, prev, digest))
        prev = digest
    return rows


def check_copied_rows(head: Head, rows: Sequence[tuple], where: str) -> None:
    """Rows copied from another log (a mirror's pull, a migration) must continue ``head``: the next
    positions, chained to it, each hashing to its stored hash. Anything else is refused whole."""
    seq, prev = head.seq, head.hash
    for row in rows:
        if row[0] != seq + 1 or row[9] != prev or chain.link(row[9], chain.row_bytes(*row[:9])) != row[10]:
            raise ChainBroken(f"{where}: the row at seq {row[0]} does not continue the chain at seq {seq} "
                              "(`monitor verify` on the source log names the first bad row)")
        seq, prev = row[0], row[10]


def _unique(batch: Sequence[NewEvent]) -> list[NewEvent]:
    """The same event twice in one batch is recorded once."""
    if len({event.event_id for event in batch}) == len(batch):
        return list(batch)  # the common case: no repeats, nothing to filter
    seen: set[str] = set()
    out = []
    for event in batch:
        if event.event_id not in seen:
            seen.add(event.event_id)
            out.append(event)
    return out


def _check_headers(batch: Sequence[NewEvent]) -> None:
    """Every header field non-empty text without the separators of the row bytes: for the whole
    batch in one test (one string, one search), event by event only to name the culprit."""
    try:
        joined = "\x1f".join([f"{e.event_id}\x1f{e.stream}\x1f{e.type}\x1f{e.occurred_at or ''}" for e in batch])
        if all(e.event_id and e.stream and e.type for e in batch) and chain.is_clean_header(joined):
            return
    except TypeError:
        pass
    for event in batch:
        _check_header(event)


def _check_header(event: NewEvent) -> None:
    header = f"{event.event_id}\x1f{event.stream}\x1f{event.type}\x1f{event.occurred_at or ''}"
    if event.event_id and event.stream and event.type and chain.is_clean_header(header):
        return  # the common case, in one test; the loop below only names the culprit
    for name in ("event_id", "stream", "type"):
        value = getattr(event, name)
        if not value or not chain.is_clean_header(value):
            raise ValueError(f"event {name} must be non-empty text without newlines: {value!r}")
    if event.occurred_at is not None and not chain.is_clean_header(event.occurred_at):
        raise ValueError(f"occurred_at must not contain newlines: {event.occurred_at!r}")
