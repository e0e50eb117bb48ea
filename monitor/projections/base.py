"""What a projection is: a pure fold from events to rows of its own tables.

A projection never performs I/O. ``apply`` looks at one event and returns the SQL statements that
fold it into the projection's tables (upserts whose arithmetic lives in SQL, so a fold needs no
reads). The runner executes them, live inside the append transaction or, on replay, against fresh
tables. Bump ``version`` whenever ``schema`` or ``apply`` changes: the live tables are rebuilt.

A projection may also declare ``replay_sql``: statements that fold a whole prefix of an SQLite log
(``log.events``, rows with ``seq <= :until``) in one pass each, set-based, with the same
expressions as ``apply`` (both are written from one template, see ``live_and_replay``); the
runner also provides ``temp.census`` (type, events, last_seq) of that prefix. Replay uses them
when the log is a local SQLite file; the events never travel through Python.
"""

from __future__ import annotations

import json
import sqlite3
from hashlib import sha256
from typing import ClassVar, Iterable, Protocol

from monitor.events import Event

Statement = tuple[str, tuple]

# On replay the log is attached to the scratch database under this schema name.
LOG_SCHEMA = "log"

# What the placeholders of a fold template stand for, on replay: the columns of a stored row.
_REPLAY_COLUMNS = {"data": "e.data", "seq": "e.seq", "recorded_at": "e.recorded_at",
                   "stream_version": "e.stream_version", "type": "e.type"}


class Projection(Protocol):
    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[str, ...]]
    schema: ClassVar[str]  # CREATE TABLE statements for `tables`
    types: ClassVar[frozenset[str] | None]  # event types it folds; None: all
    # optional: replay_sql: ClassVar[tuple[str, ...]] (see the module's docstring)

    def apply(self, event: Event) -> Iterable[Statement]: ...


def log_rows(types: Iterable[str], *, join: str = "", order: str = "") -> str:
    """The FROM ... ORDER BY of a replay statement: the stored rows of ``types`` up to ``:until``,
    in log order (``join``: more FROM items, e.g. a json_each over ``e.data``; ``order``: more
    ORDER BY terms, e.g. that json_each's order)."""
    names = sorted(types)
    if not all(name.isidentifier() for name in names):
        raise ValueError(f"event types must be identifiers: {names}")
    quoted = ", ".join(f"'{name}'" for name in names)
    return (f"FROM {LOG_SCHEMA}.events AS e{join} WHERE e.type IN ({quoted}) AND e.seq <= :until "
            f"ORDER BY e.seq{order}")


def live_and_replay(template: str, live: dict[str, str], types: Iterable[str], *, live_rows: str = "",
                    join: str = "", order: str = "") -> tuple[str, str]:
    """One fold, written once, as the live statement (the event's values bound to parameters,
    ``live`` e.g. ``{"data": "?1", "seq": "?2"}``) and as the replay statement over the stored
    rows of ``types`` in log order.

    ``template`` holds ``{rows}`` where the replay statement's FROM ... ORDER BY goes (``live_rows``
    in the live one, empty by default: it folds the one event its parameters carry), and
    ``{data}``, ``{seq}``, ``{recorded_at}``, ``{stream_version}``, ``{type}`` for the event's
    values. Written once, the two cannot drift apart; the tests hold replay equal to live."""
    return (template.format(rows=live_rows, **live),
            template.format(rows=log_rows(types, join=join, order=order), **_REPLAY_COLUMNS))


def table_digest(conn: sqlite3.Connection, table: str) -> tuple[int, str]:
    """(row count, sha256 over the rows in a total order): equal state gives equal digests.

    Rows are taken in primary-key order (a total order the index already holds, so nothing is
    sorted) and hashed as their ``repr``, which is deterministic for SQLite's value types.
    """
    info = list(conn.execute(f"PRAGMA table_info({table})"))
    if not info:
        raise LookupError(f"no table {table!r} in this database")
    columns = [row[1] for row in info]
    key = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]] or columns
    digest, count = sha256(), 0
    digest.update(json.dumps(columns).encode())
    cursor = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(key)}")
    while rows := cursor.fetchmany(4096):
        digest.update("\n".join(map(repr, rows)).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
        count += len(rows)
    return count, digest.hexdigest()


def projection_digest(conn: sqlite3.Connection, projection: Projection) -> dict:
    tables = {t: table_digest(conn, t) for t in projection.tables}
    combined = sha256("".join(f"{t}:{d}" for t, (_, d) in sorted(tables.items())).encode()).hexdigest()
    return {
        "projection": projection.name,
        "version": projection.version,
        "rows": sum(count for count, _ in tables.values()),
        "digest": combined,
        "tables": {t: {"rows": c, "digest": d} for t, (c, d) in tables.items()},
    }
