"""Changes and their deadlines, as detected: what `monitor changes` and the alerts read."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from monitor.events import CHANGE_DETECTED, DEADLINE_REACHED, Event
from monitor.projections.base import Statement, live_and_replay
from monitor.vocabulary import SEVERITIES


class Changes:
    name = "changes"
    version = 2  # 2: the index on seq (the console lists changes newest first)
    tables = ("changes",)
    types = frozenset({CHANGE_DETECTED})
    schema = """
    CREATE TABLE IF NOT EXISTS changes (
        id        TEXT PRIMARY KEY,
        seq       INTEGER NOT NULL,
        kind      TEXT NOT NULL,
        severity  TEXT NOT NULL,
        rule      TEXT,
        source    TEXT NOT NULL,
        key       TEXT NOT NULL,
        published TEXT,
        recorded_at TEXT NOT NULL,
        data      TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS changes_rule ON changes (rule, seq);
    CREATE INDEX IF NOT EXISTS changes_seq ON changes (seq);
    """
    _insert, _replay = live_and_replay(
        "INSERT OR REPLACE INTO changes (id, seq, kind, severity, rule, source, key, published, recorded_at, data) "
        "SELECT json_extract({data}, '$.id'), {seq}, json_extract({data}, '$.kind'), "
        "json_extract({data}, '$.severity'), json_extract({data}, '$.rule'), json_extract({data}, '$.source'), "
        "json_extract({data}, '$.key'), json_extract({data}, '$.published'), {recorded_at}, {data} {rows}",
        {"data": "?1", "seq": "?2", "recorded_at": "?3"}, types)
    replay_sql = (_replay,)

    def apply(self, event: Event) -> Iterable[Statement]:
        yield self._insert, (event.raw_data, event.seq, event.recorded_at)


class Deadlines:
    """Each item's latest comment-close, effective and compliance dates, and the reminders sent."""

    name = "deadlines"
    version = 1
    tables = ("deadlines", "reminders")
    types = frozenset({CHANGE_DETECTED, DEADLINE_REACHED})
    schema = """
    CREATE TABLE IF NOT EXISTS deadlines (
        source    TEXT NOT NULL,
        key       TEXT NOT NULL,
        kind      TEXT NOT NULL,
        date      TEXT NOT NULL,
        change_id TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        PRIMARY KEY (source, key, kind)
    );
    CREATE TABLE IF NOT EXISTS reminders (
        source    TEXT NOT NULL,
        key       TEXT NOT NULL,
        kind      TEXT NOT NULL,
        date      TEXT NOT NULL,
        days      INTEGER NOT NULL,
        seq       INTEGER NOT NULL,
        PRIMARY KEY (source, key, kind, date, days)
    );
    """
    _deadline, _replay_deadlines = live_and_replay(
        "INSERT INTO deadlines (source, key, kind, date, change_id, seq) "
        "SELECT json_extract({data}, '$.source'), json_extract({data}, '$.key'), json_extract(d.value, '$.kind'), "
        "json_extract(d.value, '$.date'), json_extract({data}, '$.id'), {seq} {rows} "
        "ON CONFLICT (source, key, kind) DO UPDATE SET date = excluded.date, "
        "change_id = excluded.change_id, seq = excluded.seq",
        {"data": "?1", "seq": "?2"}, {CHANGE_DETECTED}, live_rows="FROM json_each(?1, '$.deadlines') AS d WHERE true",
        join=", json_each(e.data, '$.deadlines') AS d", order=", d.id")  # d.id: the array's order, as live
    _reminder, _replay_reminders = live_and_replay(
        "INSERT OR IGNORE INTO reminders (source, key, kind, date, days, seq) SELECT json_extract({data}, '$.source'), "
        "json_extract({data}, '$.key'), json_extract({data}, '$.deadline'), json_extract({data}, '$.date'), "
        "json_extract({data}, '$.days_before'), {seq} {rows}",
        {"data": "?1", "seq": "?2"}, {DEADLINE_REACHED})
    # The two tables are folded from different events, independently: one pass each.
    replay_sql = (_replay_deadlines, _replay_reminders)

    def apply(self, event: Event) -> Iterable[Statement]:
        if event.type == CHANGE_DETECTED:
            yield self._deadline, (event.raw_data, event.seq)
        else:
            yield self._reminder, (event.raw_data, event.seq)


# --- named reads --------------------------------------------------------------------------------

def open_deadlines(conn: sqlite3.Connection, horizon: str) -> Iterator[tuple[str, str, str, str, dict[str, Any]]]:
    """(source, key, deadline kind, date, the change that stated it) for deadlines on or after horizon."""
    for source, key, kind, on, change in conn.execute(
            "SELECT d.source, d.key, d.kind, d.date, c.data FROM deadlines AS d "
            "JOIN changes AS c ON c.id = d.change_id WHERE d.date >= ?", (horizon,)):
        yield source, key, kind, on, json.loads(change)


def reminders_sent(conn: sqlite3.Connection, horizon: str) -> set[tuple[str, str, str, str, int]]:
    return set(conn.execute("SELECT source, key, kind, date, days FROM reminders WHERE date >= ?", (horizon,)))


class ChangeRow(NamedTuple):
    """A change as the projection holds it: its position in the log, when we recorded it, its data."""

    seq: int
    recorded_at: str
    data: dict[str, Any]


def _tagged(data_column: str, path: str, value: str) -> tuple[str, list[Any]]:
    """A condition: the JSON list at ``path`` of a change's data contains ``value``."""
    return f"EXISTS (SELECT 1 FROM json_each({data_column}, '{path}') WHERE value = ?)", [value]


def _tag_conditions(data_column: str, *, region: str | None = None, country: str | None = None,
                    company: str | None = None) -> tuple[list[str], list[Any]]:
    """Conditions on a change's regions, countries (ISO alpha-2, any case) and companies."""
    where: list[str] = []
    params: list[Any] = []
    for path, value in (("$.regions", region), ("$.countries", country and country.upper()),
                        ("$.companies", company)):
        if value:
            condition, values = _tagged(data_column, path, value)
            where.append(condition)
            params.extend(values)
    return where, params


def severities_from(min_severity: str) -> tuple[str, ...]:
    """The severities at or above ``min_severity``."""
    if min_severity not in SEVERITIES:
        raise ValueError(f"unknown severity {min_severity!r} (use one of {', '.join(SEVERITIES)})")
    return SEVERITIES[SEVERITIES.index(min_severity):]


def change_rows(conn: sqlite3.Connection, *, kinds: Sequence[str] = (), region: str | None = None,
                country: str | None = None, company: str | None = None, rule: str | None = None,
                min_severity: str = "low", since: int = 0, limit: int | None = None,
                newest_first: bool = False) -> Iterator[ChangeRow]:
    """Detected changes matching every filter given, in log order (or newest first).

    Views that need the recording time (the Atom feed's ``updated``) read these rows; callers that
    need only the data use ``changes``.
    """
    where, params = ["seq > ?"], [since]
    if kinds:
        where.append(f"kind IN ({','.join('?' * len(kinds))})")
        params.extend(kinds)
    if rule:
        where.append("rule = ?")
        params.append(rule)
    severities = severities_from(min_severity)
    where.append(f"severity IN ({','.join('?' * len(severities))})")
    params.extend(severities)
    tags, tag_params = _tag_conditions("changes.data", region=region, country=country, company=company)
    where += tags
    params += tag_params
    sql = f"SELECT seq, recorded_at, data FROM changes WHERE {' AND '.join(where)} ORDER BY seq"
    if newest_first:
        sql += " DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    for seq, recorded_at, raw in conn.execute(sql, params):
        yield ChangeRow(seq, recorded_at, json.loads(raw))


def changes(conn: sqlite3.Connection, *, kinds: Sequence[str] = (), region: str | None = None,
            country: str | None = None, company: str | None = None, rule: str | None = None,
            min_severity: str = "low", since: int = 0, limit: int | None = None,
            newest_first: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """(seq, change data) of the detected changes matching every filter given: what
    `monitor changes` prints."""
    for row in change_rows(conn, kinds=kinds, region=region, country=country, company=company, rule=rule,
                           min_severity=min_severity, since=since, limit=limit, newest_first=newest_first):
        yield row.seq, row.data


def upcoming_deadlines(conn: sqlite3.Connection, today: date, *, region: str | None = None,
                       company: str | None = None) -> list[dict[str, Any]]:
    """Each known deadline (comments close, effective, compliance) on or after ``today``, soonest
    first, with the change that announced it.

    A row: ``deadline`` (its kind), ``date`` (a ``datetime.date``), ``source`` and ``key`` (the item,
    which with ``deadline`` identifies it across date moves), ``change_id``, ``recorded_at`` (when
    the monitor learnt this date) and the change's ``title``, ``url``, ``kind``, ``severity``,
    ``rule``, ``rule_title``, ``regions``, ``countries`` and ``companies``.
    """
    tags, params = _tag_conditions("c.data", region=region, company=company)
    where = " AND ".join(["d.date >= ?", *tags])
    rows = conn.execute(
        "SELECT d.source, d.key, d.kind, d.date, d.change_id, c.recorded_at, c.data FROM deadlines AS d "
        f"JOIN changes AS c ON c.id = d.change_id WHERE {where} ORDER BY d.date, d.source, d.key, d.kind",
        [today.isoformat(), *params])
    found = []
    for source, key, kind, on, change_id, recorded_at, raw in rows:
        try:
            day = date.fromisoformat(on)
        except ValueError:
            continue  # a source's malformed date: it cannot be put on a calendar, and must not break it
        change = json.loads(raw)
        found.append({
            "deadline": kind, "date": day, "source": source, "key": key, "change_id": change_id,
            "recorded_at": recorded_at, "title": change.get("title"), "url": change.get("url"),
            "kind": change.get("kind"), "severity": change.get("severity"), "rule": change.get("rule"),
            "rule_title": change.get("rule_title"), "regions": change.get("regions") or [],
            "countries": change.get("countries") or [], "companies": change.get("companies") or [],
        })
    return found


def rule_summaries(conn: sqlite3.Connection) -> dict[str, tuple[int, int, dict[str, Any]]]:
    """Per linked rule: (changes, the last change's seq, its data)."""
    return {rule: (count, seq, json.loads(raw)) for rule, count, seq, raw in conn.execute(
        "SELECT rule, count(*), max(seq), (SELECT data FROM changes AS c WHERE c.rule = changes.rule "
        "ORDER BY seq DESC LIMIT 1) FROM changes WHERE rule IS NOT NULL GROUP BY rule")}


def tag_values(conn: sqlite3.Connection, field: str) -> set[str]:
    """Every value recorded changes carry in ``field`` (regions, countries, companies) or as their rule."""
    if field == "rule":
        return {r for (r,) in conn.execute("SELECT DISTINCT rule FROM changes WHERE rule IS NOT NULL")}
    if field not in ("regions", "countries", "companies"):
        raise ValueError(f"not a tag field: {field!r}")
    return {v for (v,) in conn.execute(f"SELECT DISTINCT j.value FROM changes, json_each(changes.data, '$.{field}') AS j")}
