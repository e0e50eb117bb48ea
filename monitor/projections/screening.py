"""Screening lists and the watchlist: the entities as they stand, the last snapshot of each source,
the watchlist being screened and the matches found. Named reads at the end (no SQL elsewhere)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator

from monitor.detect.screening import (
    ENTITY_ADDED, ENTITY_MODIFIED, ENTITY_REMOVED, SCREENING_SNAPSHOT, Known, countries_of,
)
from monitor.events import WATCHLIST_CHANGED, WATCHLIST_MATCHED, Event
from monitor.projections.base import Statement


class Screening:
    name = "screening"
    version = 1
    tables = ("screening_entities", "screening_snapshots", "watchlist", "watchlist_state", "watch_matches")
    types = frozenset({ENTITY_ADDED, ENTITY_MODIFIED, ENTITY_REMOVED, SCREENING_SNAPSHOT, WATCHLIST_CHANGED,
                       WATCHLIST_MATCHED})
    schema = """
    CREATE TABLE IF NOT EXISTS screening_entities (
        source      TEXT NOT NULL,
        key         TEXT NOT NULL,
        list        TEXT NOT NULL,
        name        TEXT NOT NULL,
        countries   TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        record      TEXT NOT NULL,
        added_at    TEXT NOT NULL,
        changed_at  TEXT,
        removed_at  TEXT,
        last_seq    INTEGER NOT NULL,
        PRIMARY KEY (source, key)
    );
    CREATE INDEX IF NOT EXISTS screening_entities_list ON screening_entities (list, removed_at);
    CREATE TABLE IF NOT EXISTS screening_snapshots (
        source         TEXT PRIMARY KEY,
        content_sha256 TEXT NOT NULL,
        records_sha256 TEXT NOT NULL,
        records        INTEGER NOT NULL,
        lists          TEXT NOT NULL,
        at             TEXT NOT NULL,
        snapshots      INTEGER NOT NULL DEFAULT 1,
        seq            INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS watchlist (
        ref     TEXT PRIMARY KEY,
        name    TEXT NOT NULL,
        name_zh TEXT,
        country TEXT,
        seq     INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS watchlist_state (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        sha256    TEXT NOT NULL,
        threshold REAL NOT NULL,
        settings  TEXT NOT NULL,
        entries   INTEGER NOT NULL,
        at        TEXT NOT NULL,
        seq       INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS watch_matches (
        ref          TEXT NOT NULL,
        source       TEXT NOT NULL,
        entity       TEXT NOT NULL,
        matched_name TEXT NOT NULL,
        score        REAL NOT NULL,
        at           TEXT NOT NULL,
        data         TEXT NOT NULL,
        seq          INTEGER NOT NULL,
        PRIMARY KEY (ref, source, entity, matched_name)
    );
    """
    _added = (
        "INSERT INTO screening_entities (source, key, list, name, countries, fingerprint, record, added_at, "
        "changed_at, removed_at, last_seq) VALUES (json_extract(?1, '$.source'), json_extract(?1, '$.key'), "
        "json_extract(?1, '$.list'), json_extract(?1, '$.record.name'), ?2, json_extract(?1, '$.fingerprint'), "
        "json_extract(?1, '$.record'), json_extract(?1, '$.at'), NULL, NULL, ?3) "
        "ON CONFLICT (source, key) DO UPDATE SET list = excluded.list, name = excluded.name, "
        "countries = excluded.countries, fingerprint = excluded.fingerprint, record = excluded.record, "
        "added_at = excluded.added_at, changed_at = NULL, removed_at = NULL, last_seq = excluded.last_seq"
    )
    _modified = (
        "UPDATE screening_entities SET record = json_patch(record, json_extract(?1, '$.patch')), "
        "name = json_extract(json_patch(record, json_extract(?1, '$.patch')), '$.name'), countries = ?2, "
        "fingerprint = json_extract(?1, '$.fingerprint'), changed_at = json_extract(?1, '$.at'), last_seq = ?3 "
        "WHERE source = json_extract(?1, '$.source') AND key = json_extract(?1, '$.key')"
    )
    _removed = (
        "UPDATE screening_entities SET removed_at = json_extract(?1, '$.at'), last_seq = ?2 "
        "WHERE source = json_extract(?1, '$.source') AND key = json_extract(?1, '$.key')"
    )
    _snapshot = (
        "INSERT INTO screening_snapshots (source, content_sha256, records_sha256, records, lists, at, seq) "
        "VALUES (json_extract(?1, '$.source'), json_extract(?1, '$.content_sha256'), "
        "json_extract(?1, '$.records_sha256'), json_extract(?1, '$.records'), json_extract(?1, '$.lists'), "
        "json_extract(?1, '$.at'), ?2) ON CONFLICT (source) DO UPDATE SET content_sha256 = excluded.content_sha256, "
        "records_sha256 = excluded.records_sha256, records = excluded.records, lists = excluded.lists, "
        "at = excluded.at, snapshots = snapshots + 1, seq = excluded.seq"
    )
    _entry = ("INSERT INTO watchlist (ref, name, name_zh, country, seq) VALUES (?, ?, ?, ?, ?) "
              "ON CONFLICT (ref) DO UPDATE SET name = excluded.name, name_zh = excluded.name_zh, "
              "country = excluded.country, seq = excluded.seq")
    _drop_entry = "DELETE FROM watchlist WHERE ref = ?"
    _state = ("INSERT INTO watchlist_state (id, sha256, threshold, settings, entries, at, seq) VALUES "
              "(1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256, "
              "threshold = excluded.threshold, settings = excluded.settings, entries = excluded.entries, "
              "at = excluded.at, seq = excluded.seq")
    _match = ("INSERT OR IGNORE INTO watch_matches (ref, source, entity, matched_name, score, at, data, seq) VALUES "
              "(json_extract(?1, '$.ref'), json_extract(?1, '$.source'), json_extract(?1, '$.entity'), "
              "json_extract(?1, '$.matched_name'), json_extract(?1, '$.score'), json_extract(?1, '$.at'), ?1, ?2)")

    def apply(self, event: Event) -> Iterable[Statement]:
        # Columns taken straight from the JSON are read by SQLite (json_extract); what needs Python
        # reads the typed payload.
        if event.type == ENTITY_ADDED:
            yield self._added, (event.raw_data, json.dumps(countries_of(event.typed.record)), event.seq)
        elif event.type == ENTITY_MODIFIED:
            yield self._modified, (event.raw_data, json.dumps(event.typed.get("countries", [])), event.seq)
        elif event.type == ENTITY_REMOVED:
            yield self._removed, (event.raw_data, event.seq)
        elif event.type == SCREENING_SNAPSHOT:
            yield self._snapshot, (event.raw_data, event.seq)
        elif event.type == WATCHLIST_CHANGED:
            d = event.typed
            for ref in d.get("removed", ()):
                yield self._drop_entry, (ref,)
            for entry in [*d.get("added", ()), *d.get("changed", ())]:
                yield self._entry, (entry["ref"], entry["name"], entry.get("name_zh"), entry.get("country"), event.seq)
            settings = {"lists": d.get("lists"), "ignore": d.get("ignore"), "file": d.get("file")}
            yield self._state, (d.sha256, d.threshold, json.dumps(settings, ensure_ascii=False),
                                d.entries, d.at, event.seq)
        elif event.type == WATCHLIST_MATCHED:
            yield self._match, (event.raw_data, event.seq)


# --- named reads --------------------------------------------------------------------------------

def current_entities(conn: sqlite3.Connection, source: str) -> dict[str, Known]:
    """The live entities of a source (not removed), by key."""
    return {key: Known(key, fingerprint, json.loads(record)) for key, fingerprint, record in conn.execute(
        "SELECT key, fingerprint, record FROM screening_entities WHERE source = ? AND removed_at IS NULL", (source,))}


def latest_snapshot(conn: sqlite3.Connection, source: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT content_sha256, records_sha256, records, lists, at, snapshots, seq "
                       "FROM screening_snapshots WHERE source = ?", (source,)).fetchone()
    if row is None:
        return None
    return {"content_sha256": row[0], "records_sha256": row[1], "records": row[2], "lists": json.loads(row[3]),
            "at": row[4], "snapshots": row[5], "seq": row[6]}


def snapshots(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [{"source": s, **(latest_snapshot(conn, s) or {})}
            for (s,) in conn.execute("SELECT source FROM screening_snapshots ORDER BY source")]


def entity_rows(conn: sqlite3.Connection, *, lists: Iterable[str] = (), removed: bool = False,
                added_since: str | None = None) -> Iterator[dict[str, Any]]:
    """Entities (live, or also removed ones), with their record, in list and name order."""
    where, params = [], []
    lists = [code.upper() for code in lists]
    if lists:
        where.append(f"list IN ({','.join('?' * len(lists))})")
        params += lists
    if not removed:
        where.append("removed_at IS NULL")
    if added_since:
        where.append("added_at >= ?")
        params.append(added_since)
    sql = ("SELECT source, key, list, name, countries, fingerprint, record, added_at, changed_at, removed_at "
           "FROM screening_entities" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY list, name, key")
    for row in conn.execute(sql, params):
        yield {"source": row[0], "key": row[1], "list": row[2], "name": row[3], "countries": json.loads(row[4]),
               "fingerprint": row[5], "record": json.loads(row[6]), "added_at": row[7], "changed_at": row[8],
               "removed_at": row[9]}


def known_lists(conn: sqlite3.Connection) -> list[str]:
    return [code for (code,) in conn.execute("SELECT DISTINCT list FROM screening_entities ORDER BY list")]


def watchlist_sha256(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT sha256 FROM watchlist_state").fetchone()
    return row[0] if row else None


def watchlist_state(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The recorded watchlist: its digest, settings and every entry."""
    row = conn.execute("SELECT sha256, threshold, settings, entries, at, seq FROM watchlist_state").fetchone()
    if row is None:
        return None
    entries = {ref: {"ref": ref, "name": name, "name_zh": zh, "country": country}
               for ref, name, zh, country in conn.execute("SELECT ref, name, name_zh, country FROM watchlist")}
    return {"sha256": row[0], "threshold": row[1], "settings": json.loads(row[2]), "count": row[3], "at": row[4],
            "seq": row[5], "entries": entries}


def matched_pairs(conn: sqlite3.Connection) -> set[tuple[str, str, str, str]]:
    """(ref, source, entity, matched name) of every match already recorded."""
    return set(conn.execute("SELECT ref, source, entity, matched_name FROM watch_matches"))


def match_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [json.loads(data) for (data,) in conn.execute("SELECT data FROM watch_matches ORDER BY seq")]
