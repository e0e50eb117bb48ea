"""What a projection is: a pure fold from events to rows of its own tables.

A projection never performs I/O. ``apply`` looks at one event and returns the SQL statements that
fold it into the projection's tables (upserts whose arithmetic lives in SQL, so a fold needs no
reads). The runner executes them, live inside the append transaction or, on replay, against fresh
tables. Bump ``version`` whenever ``schema`` or ``apply`` changes: the live tables are rebuilt.
"""

from __future__ import annotations

import json
import sqlite3
from hashlib import sha256
from typing import ClassVar, Iterable, Protocol

from monitor.events import Event

Statement = tuple[str, tuple]


class Projection(Protocol):
    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[str, ...]]
    schema: ClassVar[str]  # CREATE TABLE statements for `tables`
    types: ClassVar[frozenset[str] | None]  # event types it folds; None: all

    def apply(self, event: Event) -> Iterable[Statement]: ...


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
