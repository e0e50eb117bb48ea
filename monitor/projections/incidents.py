"""Incidents: each regulatory event, the items attached to it, its keys and its status history.

Folded from the incident events (opened, item attached, status changed, merged). Sets of regions,
countries, companies and kinds are JSON arrays kept sorted and unique by SQLite itself, so the
fold needs no reads in Python and replay reproduces the tables byte for byte.

The named reads (``incident_states``, ``incident_rows``, ``incident_timeline``) are the only SQL
over these tables; the poller, the CLI and the views call them.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Sequence

from monitor.detect.incidents import Incident
from monitor.events import INCIDENT_ITEM_ATTACHED, INCIDENT_OPENED, INCIDENT_STATUS_CHANGED, INCIDENTS_MERGED, Event
from monitor.projections.base import Statement


def _union(column: str, path: str, source: str = "?1") -> str:
    """SQL for the sorted, unique union of a JSON array column and an array in the event."""
    return (f"(SELECT json_group_array(value) FROM (SELECT value FROM json_each({column}) UNION "
            f"SELECT value FROM json_each({source}, '{path}') ORDER BY value))")


class Incidents:
    name = "incidents"
    version = 1
    tables = ("incidents", "incident_items", "incident_keys", "incident_statuses")
    types = frozenset({INCIDENT_OPENED, INCIDENT_ITEM_ATTACHED, INCIDENT_STATUS_CHANGED, INCIDENTS_MERGED})
    schema = """
    CREATE TABLE IF NOT EXISTS incidents (
        id          TEXT PRIMARY KEY,
        title       TEXT NOT NULL,
        rule        TEXT,
        family      TEXT NOT NULL,
        status      TEXT NOT NULL,
        stage       TEXT NOT NULL,
        severity    TEXT NOT NULL,
        kinds       TEXT NOT NULL,
        regions     TEXT NOT NULL,
        countries   TEXT NOT NULL,
        companies   TEXT NOT NULL,
        opened_at   TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        last_date   TEXT NOT NULL,
        merged_into TEXT,
        official    INTEGER NOT NULL,
        words       TEXT NOT NULL,
        opened_seq  INTEGER NOT NULL,
        updated_seq INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS incidents_updated ON incidents (updated_seq);
    CREATE INDEX IF NOT EXISTS incidents_last_date ON incidents (last_date);
    CREATE TABLE IF NOT EXISTS incident_items (
        incident    TEXT NOT NULL,
        change_id   TEXT NOT NULL,
        source      TEXT NOT NULL,
        key         TEXT NOT NULL,
        url         TEXT,
        title       TEXT,
        language    TEXT,
        kind        TEXT NOT NULL,
        severity    TEXT NOT NULL,
        attached_by TEXT NOT NULL,
        published   TEXT,
        seq         INTEGER NOT NULL,
        PRIMARY KEY (incident, change_id)
    );
    CREATE TABLE IF NOT EXISTS incident_keys (
        key      TEXT NOT NULL,
        incident TEXT NOT NULL,
        PRIMARY KEY (key, incident)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS incident_statuses (
        incident  TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        at        TEXT NOT NULL,
        status    TEXT NOT NULL,
        previous  TEXT,
        change_id TEXT,
        reason    TEXT,
        PRIMARY KEY (incident, seq)
    );
    """
    _opened = (
        "INSERT OR IGNORE INTO incidents (id, title, rule, family, status, stage, severity, kinds, regions, countries, "
        "companies, opened_at, updated_at, last_date, merged_into, official, words, opened_seq, updated_seq) VALUES ("
        "json_extract(?1, '$.incident'), json_extract(?1, '$.title'), json_extract(?1, '$.rule'), "
        "json_extract(?1, '$.family'), json_extract(?1, '$.status'), json_extract(?1, '$.stage'), "
        "json_extract(?1, '$.severity'), json_array(json_extract(?1, '$.kind')), '[]', '[]', '[]', ?3, ?3, "
        "'', NULL, 0, '[]', ?2, ?2)"
    )
    _opened_status = (
        "INSERT OR IGNORE INTO incident_statuses (incident, seq, at, status, previous, change_id, reason) VALUES ("
        "json_extract(?1, '$.incident'), ?2, ?3, json_extract(?1, '$.status'), NULL, json_extract(?1, '$.change_id'), "
        "'opened')"
    )
    _attached = (
        "INSERT OR IGNORE INTO incident_items (incident, change_id, source, key, url, title, language, kind, severity, "
        "attached_by, published, seq) VALUES (json_extract(?1, '$.incident'), json_extract(?1, '$.change_id'), "
        "json_extract(?1, '$.source'), json_extract(?1, '$.key'), json_extract(?1, '$.url'), "
        "json_extract(?1, '$.title'), json_extract(?1, '$.language'), json_extract(?1, '$.kind'), "
        "json_extract(?1, '$.severity'), json_extract(?1, '$.attached_by'), json_extract(?1, '$.published'), ?2)"
    )
    _attached_update = (
        "UPDATE incidents SET "
        "kinds = (SELECT json_group_array(value) FROM (SELECT value FROM json_each(kinds) UNION "
        "SELECT json_extract(?1, '$.kind') ORDER BY value)), "
        f"regions = {_union('regions', '$.regions')}, "
        f"countries = {_union('countries', '$.countries')}, companies = {_union('companies', '$.companies')}, "
        f"words = {_union('words', '$.words')}, official = max(official, coalesce(json_extract(?1, '$.official'), 0)), "
        "severity = CASE WHEN instr('lowmediumhigh', json_extract(?1, '$.severity')) > instr('lowmediumhigh', severity) "
        "THEN json_extract(?1, '$.severity') ELSE severity END, "
        "rule = coalesce(rule, json_extract(?1, '$.rule')), "
        "title = CASE WHEN rule IS NULL AND json_extract(?1, '$.rule_title') IS NOT NULL "
        "THEN json_extract(?1, '$.rule_title') ELSE title END, "
        "last_date = max(last_date, coalesce(json_extract(?1, '$.date'), '')), "
        "updated_at = ?3, updated_seq = ?2 WHERE id = json_extract(?1, '$.incident')"
    )
    _keys = ("INSERT OR IGNORE INTO incident_keys (key, incident) SELECT value, json_extract(?1, '$.incident') "
             "FROM json_each(?1, '$.keys')")
    _status = (
        "UPDATE incidents SET status = json_extract(?1, '$.to'), stage = json_extract(?1, '$.stage'), "
        "updated_at = ?3, updated_seq = ?2 WHERE id = json_extract(?1, '$.incident')"
    )
    _status_row = (
        "INSERT OR IGNORE INTO incident_statuses (incident, seq, at, status, previous, change_id, reason) VALUES ("
        "json_extract(?1, '$.incident'), ?2, ?3, json_extract(?1, '$.to'), json_extract(?1, '$.from'), "
        "json_extract(?1, '$.change_id'), json_extract(?1, '$.reason'))"
    )
    _merged = "UPDATE incidents SET merged_into = json_extract(?1, '$.incident'), updated_seq = ?2 WHERE id = json_extract(?1, '$.merged')"
    _merged_items = "UPDATE OR IGNORE incident_items SET incident = json_extract(?1, '$.incident') WHERE incident = json_extract(?1, '$.merged')"
    _merged_tags = (
        "UPDATE incidents SET "
        + ", ".join(f"{c} = (SELECT json_group_array(value) FROM (SELECT value FROM json_each(incidents.{c}) UNION "
                    f"SELECT value FROM json_each((SELECT {c} FROM incidents AS m WHERE m.id = json_extract(?1, '$.merged'))) "
                    "ORDER BY value))" for c in ("kinds", "regions", "countries", "companies", "words"))
        + ", updated_at = ?3, updated_seq = ?2 WHERE id = json_extract(?1, '$.incident')"
    )

    def apply(self, event: Event) -> Iterable[Statement]:
        params = (event.raw_data, event.seq, event.recorded_at)
        for sql, arity in _STATEMENTS[event.type]:
            yield sql, params[:arity]


def _arity(sql: str) -> int:
    """How many numbered parameters (?1, ?2, ?3) a statement uses: sqlite3 wants exactly that many."""
    return max(n for n in (1, 2, 3) if f"?{n}" in sql)


# Per event type, its statements with their arity (worked out once, not per event on replay).
_STATEMENTS = {event_type: tuple((sql, _arity(sql)) for sql in statements) for event_type, statements in {
    INCIDENT_OPENED: (Incidents._opened, Incidents._opened_status),
    INCIDENT_ITEM_ATTACHED: (Incidents._attached, Incidents._attached_update, Incidents._keys),
    INCIDENT_STATUS_CHANGED: (Incidents._status, Incidents._status_row),
    INCIDENTS_MERGED: (Incidents._keys, Incidents._merged, Incidents._merged_items, Incidents._merged_tags),
}.items()}


# --- named reads --------------------------------------------------------------------------------

def incident_states(conn: sqlite3.Connection, keys: Iterable[str], windows: Sequence[tuple[str, str]]) -> list[Incident]:
    """The incidents a batch of changes could attach to: those holding one of the keys, and those
    whose latest item falls in one of the date windows (candidates by subject)."""
    ids: set[str] = set()
    keys = list(keys)
    # Only the keys the batch asks about: the fold looks changes up by their own keys, and a thread
    # of a long-running rule holds thousands (reading them all for every batch made a poll's cost
    # grow with the size of the incidents it touched).
    known: dict[str, set[str]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for key, incident in conn.execute(
                f"SELECT key, incident FROM incident_keys WHERE key IN ({','.join('?' * len(chunk))})", chunk):
            ids.add(incident)
            known.setdefault(incident, set()).add(key)
    for low, high in windows:
        ids.update(row[0] for row in conn.execute(
            "SELECT id FROM incidents WHERE last_date BETWEEN ? AND ?", (low, high)))
    # follow merges: a key may point at an incident merged into another
    pending = set(ids)
    while pending:
        chunk = list(pending)[:500]
        pending -= set(chunk)
        for (target,) in conn.execute(
                f"SELECT merged_into FROM incidents WHERE id IN ({','.join('?' * len(chunk))}) AND merged_into IS NOT NULL",
                chunk):
            if target not in ids:
                ids.add(target)
                pending.add(target)
    return _states(conn, sorted(ids), known)


def incident_state(conn: sqlite3.Connection, incident: str) -> Incident | None:
    found = _states(conn, [incident])
    return found[0] if found else None


def _states(conn: sqlite3.Connection, ids: Sequence[str], known: dict[str, set[str]] | None = None) -> list[Incident]:
    """The incidents with their keys: all of them, or those of ``known`` (incident -> keys)."""
    out = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        marks = ",".join("?" * len(chunk))
        keys: dict[str, set[str]] = {}
        if known is not None:
            keys = {incident: set(known.get(incident, ())) for incident in chunk}
        else:
            for key, incident in conn.execute(f"SELECT key, incident FROM incident_keys WHERE incident IN ({marks})", chunk):
                keys.setdefault(incident, set()).add(key)
        for row in conn.execute(
                f"SELECT id, title, rule, family, status, stage, opened_at, last_date, regions, countries, companies, "
                f"severity, merged_into, official, words FROM incidents WHERE id IN ({marks})", chunk):
            (id_, title, rule, family, status, stage, opened_at, last_date, regions, countries, companies,
             severity, merged_into, official, words) = row
            out.append(Incident(
                id=id_, title=title, rule=rule, family=family, status=status, stage=stage, opened_at=opened_at,
                last_date=last_date, keys=keys.get(id_, set()), regions=set(json.loads(regions)),
                countries=set(json.loads(countries)), companies=set(json.loads(companies)),
                severity=severity, merged_into=merged_into, official=bool(official), words=set(json.loads(words)),
            ))
    return out


def _filters(table: str, *, status: str | None = None, region: str | None = None, company: str | None = None,
             rule: str | None = None, since: str | None = None, ids: Sequence[str] | None = None,
             kinds: Sequence[str] = (), severities: Sequence[str] | None = None) -> tuple[list[str], list[Any]]:
    """The WHERE terms (and their parameters) of the incident filters; ``table`` prefixes the columns."""
    where, params = [f"{table}merged_into IS NULL"], []

    def term(sql: str, *values: Any) -> None:
        where.append(sql)
        params.extend(values)

    def among(values: Sequence[str]) -> str:
        return ",".join("?" * len(values))

    if status:
        term(f"{table}status = ?", status)
    if region:
        term(f"EXISTS (SELECT 1 FROM json_each({table}regions) WHERE value = ?)", region)
    if company:
        term(f"EXISTS (SELECT 1 FROM json_each({table}companies) WHERE value = ?)", company)
    if rule:
        term(f"{table}rule = ?", rule)
    if since:
        term(f"{table}updated_at >= ?", since)
    if ids is not None:
        term(f"{table}id IN ({among(ids)})", *ids)
    if kinds:
        term(f"EXISTS (SELECT 1 FROM json_each({table}kinds) WHERE value IN ({among(kinds)}))", *kinds)
    if severities is not None:
        term(f"{table}severity IN ({among(severities)})", *severities)
    return where, params


def incident_rows(conn: sqlite3.Connection, *, status: str | None = None, region: str | None = None,
                  company: str | None = None, rule: str | None = None, since: str | None = None,
                  ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Incidents (not merged away) as `monitor incidents --json` prints them, newest first."""
    where, params = _filters("", status=status, region=region, company=company, rule=rule, since=since, ids=ids)
    rows = conn.execute(
        "SELECT id, title, rule, status, stage, severity, kinds, regions, countries, companies, opened_at, updated_at, "
        f"updated_seq FROM incidents WHERE {' AND '.join(where)} ORDER BY updated_seq DESC, id", params).fetchall()
    items = _items(conn, [r[0] for r in rows])
    out = []
    for (id_, title, rule_, status_, stage, severity, kinds, regions, countries, companies, opened_at, updated_at,
         updated_seq) in rows:
        out.append({
            "id": id_, "title": title, "rule": rule_, "status": status_, "stage": stage, "severity": severity,
            "kinds": json.loads(kinds), "regions": json.loads(regions), "countries": json.loads(countries),
            "companies": json.loads(companies), "opened_at": opened_at, "updated_at": updated_at,
            "items": items.get(id_, []), "seq": updated_seq,
        })
    return out


def _items(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for (incident, change, source, key, url, title, language, kind, severity, by, published, seq) in conn.execute(
                "SELECT incident, change_id, source, key, url, title, language, kind, severity, attached_by, published, "
                f"seq FROM incident_items WHERE incident IN ({','.join('?' * len(chunk))}) ORDER BY seq, change_id",
                chunk):
            found.setdefault(incident, []).append({
                "source": source, "key": key, "url": url, "title": title, "language": language, "kind": kind,
                "severity": severity, "change": change, "attached_by": by, "published": published, "seq": seq})
    return found


def incident_timeline(conn: sqlite3.Connection, incident: str) -> list[dict[str, Any]] | None:
    """Every item and status change of an incident, oldest first (None: no such incident)."""
    rows = incident_rows(conn, ids=[incident])
    if not rows:
        target = conn.execute("SELECT merged_into FROM incidents WHERE id = ?", (incident,)).fetchone()
        if target is None or target[0] is None:
            return None
        rows = incident_rows(conn, ids=[target[0]])
    entries = [{"seq": item["seq"], "type": "item", **item} for item in rows[0]["items"]]
    for seq, at, status, previous, change, reason in conn.execute(
            "SELECT seq, at, status, previous, change_id, reason FROM incident_statuses WHERE incident = ? ORDER BY seq",
            (rows[0]["id"],)):
        entries.append({"seq": seq, "type": "status", "at": at, "status": status, "from": previous,
                        "change": change, "reason": reason})
    entries.sort(key=lambda e: (e["seq"], e["type"] != "status"))
    return entries


def incident_updates(conn: sqlite3.Connection, *, region: str | None = None, company: str | None = None,
                     kinds: Sequence[str] = (), severities: Sequence[str] | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
    """The newest incident updates (opened, or its status moved), newest first, for feeds."""
    where, params = _filters("i.", region=region, company=company, kinds=kinds, severities=severities)
    rows = conn.execute(
        "SELECT s.incident, s.seq, s.at, s.status, s.previous, s.change_id, i.title, i.rule, i.severity, i.kinds, "
        "i.regions, i.countries, i.companies, it.url, it.language FROM incident_statuses AS s "
        "JOIN incidents AS i ON i.id = s.incident "
        "LEFT JOIN incident_items AS it ON it.incident = s.incident AND it.change_id = s.change_id "
        f"WHERE {' AND '.join(where)} ORDER BY s.seq DESC LIMIT ?", [*params, limit]).fetchall()
    items = _items(conn, sorted({r[0] for r in rows}))
    return [{"incident": incident, "seq": seq, "at": at, "status": status, "previous": previous, "change": change,
             "title": title, "rule": rule, "severity": severity, "kinds": json.loads(kinds),
             "regions": json.loads(regions), "countries": json.loads(countries), "companies": json.loads(companies),
             "url": url, "language": language,
             "reports": [{k: i[k] for k in ("source", "language", "attached_by")} for i in items.get(incident, [])
                         if i["seq"] <= seq]}
            for (incident, seq, at, status, previous, change, title, rule, severity, kinds, regions, countries,
                 companies, url, language) in rows]


def resolve_incident(conn: sqlite3.Connection, incident: str) -> str | None:
    """The id an incident is shown under: its own, or the one it was merged into (None: unknown)."""
    row = conn.execute("SELECT id, merged_into FROM incidents WHERE id = ?", (incident,)).fetchone()
    if row is None:
        return None
    return row[1] or row[0]
