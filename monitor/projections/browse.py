"""Named reads for the console, the audit report and the CLI tables: changes and incidents by every
filter an analyst uses, the item text that evidence offsets point into, the outbox as `alerts
--json` prints it, source poll history, anchors and weekly counts.

The only SQL over these tables outside their projections' own modules; callers get plain data.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from monitor.events import CHECKPOINT_ANCHORED, DEADLINE_REACHED, SOURCE_FAILED, SOURCE_POLLED


@dataclass(frozen=True)
class Browse:
    """What an analyst filters by; every field is optional and all given fields must hold.

    Dates are ``YYYY-MM-DD`` and compare with the item's published date, else the day it was
    recorded; ``text`` is a case-insensitive substring of the title (or rule title, or id)."""

    regions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _any_of(column_json: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    return (f"EXISTS (SELECT 1 FROM json_each({column_json}) WHERE value IN ({','.join('?' * len(values))}))",
            list(values))


def _in(column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def _change_where(f: Browse) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []

    def add(condition: tuple[str, list[Any]]) -> None:
        where.append(condition[0])
        params.extend(condition[1])

    if f.regions:
        add(_any_of("changes.data, '$.regions'", f.regions))
    if f.countries:
        add(_any_of("changes.data, '$.countries'", [c.upper() for c in f.countries]))
    if f.companies:
        add(_any_of("changes.data, '$.companies'", f.companies))
    if f.kinds:
        add(_in("changes.kind", f.kinds))
    if f.severities:
        add(_in("changes.severity", f.severities))
    if f.sources:
        add(_in("changes.source", f.sources))
    if f.languages:
        add(_in("json_extract(changes.data, '$.language')", f.languages))
    if f.statuses:
        where.append("EXISTS (SELECT 1 FROM incidents AS i WHERE i.id = json_extract(changes.data, '$.incident') "
                     f"AND i.status IN ({','.join('?' * len(f.statuses))}))")
        params.extend(f.statuses)
    day = "substr(coalesce(changes.published, changes.recorded_at), 1, 10)"
    if f.date_from:
        where.append(f"{day} >= ?")
        params.append(f.date_from)
    if f.date_to:
        where.append(f"{day} <= ?")
        params.append(f.date_to)
    if f.text:
        where.append("(lower(json_extract(changes.data, '$.title')) LIKE ? ESCAPE '\\' OR "
                     "lower(coalesce(json_extract(changes.data, '$.rule_title'), '')) LIKE ? ESCAPE '\\' OR "
                     "changes.id = ?)")
        params.extend([_like(f.text), _like(f.text), f.text.strip()])
    return where, params


def browse_changes(conn: sqlite3.Connection, f: Browse, *, limit: int = 100, before: int | None = None,
                   seq_range: tuple[int, int] | None = None) -> list[tuple[int, str, dict[str, Any]]]:
    """(seq, recorded_at, data) of the changes matching ``f``, newest first; ``before`` pages on."""
    where, params = _change_where(f)
    if before is not None:
        where.append("changes.seq < ?")
        params.append(before)
    if seq_range is not None:
        where.append("changes.seq BETWEEN ? AND ?")
        params.extend(seq_range)
    sql = (f"SELECT seq, recorded_at, data FROM changes {'WHERE ' + ' AND '.join(where) if where else ''} "
           "ORDER BY seq DESC LIMIT ?")
    return [(seq, at, json.loads(raw)) for seq, at, raw in conn.execute(sql, [*params, limit])]


def browse_incident_ids(conn: sqlite3.Connection, f: Browse, *, limit: int = 100,
                        updated_between: tuple[str, str] | None = None) -> list[str]:
    """Ids of the incidents (not merged away) matching ``f``, most recently updated first."""
    where, params = ["merged_into IS NULL"], []

    def add(condition: tuple[str, list[Any]]) -> None:
        where.append(condition[0])
        params.extend(condition[1])

    if f.regions:
        add(_any_of("regions", f.regions))
    if f.countries:
        add(_any_of("countries", [c.upper() for c in f.countries]))
    if f.companies:
        add(_any_of("companies", f.companies))
    if f.kinds:
        add(_any_of("kinds", f.kinds))
    if f.severities:
        add(_in("severity", f.severities))
    if f.statuses:
        add(_in("status", f.statuses))
    if f.sources:
        where.append(f"EXISTS (SELECT 1 FROM incident_items AS it WHERE it.incident = incidents.id AND it.source IN "
                     f"({','.join('?' * len(f.sources))}))")
        params.extend(f.sources)
    if f.languages:
        where.append(f"EXISTS (SELECT 1 FROM incident_items AS it WHERE it.incident = incidents.id AND it.language IN "
                     f"({','.join('?' * len(f.languages))}))")
        params.extend(f.languages)
    if f.date_from:
        where.append("substr(updated_at, 1, 10) >= ?")
        params.append(f.date_from)
    if f.date_to:
        where.append("substr(opened_at, 1, 10) <= ?")
        params.append(f.date_to)
    if f.text:
        where.append("(lower(title) LIKE ? ESCAPE '\\' OR id = ?)")
        params.extend([_like(f.text), f.text.strip()])
    if updated_between is not None:
        where.append("substr(updated_at, 1, 10) >= ? AND substr(opened_at, 1, 10) <= ?")
        params.extend(updated_between)
    rows = conn.execute(f"SELECT id FROM incidents WHERE {' AND '.join(where)} ORDER BY updated_seq DESC, id LIMIT ?",
                        [*params, limit])
    return [r[0] for r in rows]


def changes_by_id(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Change data (with ``seq`` and ``recorded_at``) by change id."""
    ids = list(dict.fromkeys(ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for change_id, seq, at, raw in conn.execute(
                f"SELECT id, seq, recorded_at, data FROM changes WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            found[change_id] = {**json.loads(raw), "seq": seq, "recorded_at": at}
    return found


def item_texts(conn: sqlite3.Connection, causes: Iterable[str]) -> dict[str, dict[str, str]]:
    """The title and summary the detector read, by the change's ``cause`` (the item event's id, with
    the ``#kind`` of a further event of the same item): what evidence offsets point into."""
    wanted = {cause: cause.partition("#")[0] for cause in causes if cause}
    event_ids = sorted(set(wanted.values()))
    by_event: dict[str, dict[str, str]] = {}
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start:start + 500]
        for event_id, raw in conn.execute(
                f"SELECT event_id, data FROM events WHERE event_id IN ({','.join('?' * len(chunk))})", chunk):
            data = json.loads(raw)
            by_event[event_id] = {"title": data.get("title") or "", "summary": data.get("summary") or ""}
    return {cause: by_event[event_id] for cause, event_id in wanted.items() if event_id in by_event}


def facet_values(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """The sources and languages the recorded changes carry (for the filter form's choices)."""
    sources = [r[0] for r in conn.execute("SELECT DISTINCT source FROM changes ORDER BY source")]
    languages = [r[0] for r in conn.execute(
        "SELECT DISTINCT json_extract(data, '$.language') AS l FROM changes WHERE l IS NOT NULL ORDER BY l")]
    return {"sources": sources, "languages": languages}


def alert_rows(conn: sqlite3.Connection, statuses: Sequence[str] = (), *, newest_first: bool = False,
               limit: int | None = None, queued_between: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """The outbox as `monitor alerts --json` prints it (with ``queued_seq``, ``updated_seq`` and
    ``delivered`` (each target with the seq and time it was delivered) besides)."""
    where, params = [], []
    if statuses:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        params.extend(statuses)
    if queued_between is not None:
        where.append("queued_seq BETWEEN ? AND ?")
        params.extend(queued_between)
    sql = ("SELECT alert_id, status, route, group_key, attempts, next_attempt_at, last_error, change_id, data, "
           f"queued_seq, updated_seq FROM outbox {'WHERE ' + ' AND '.join(where) if where else ''} "
           f"ORDER BY queued_seq {'DESC' if newest_first else ''}, alert_id")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = conn.execute(sql, params).fetchall()
    targets: dict[str, list[dict[str, Any]]] = {}
    ids = [r[0] for r in rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for alert_id, target, seq, at in conn.execute(
                "SELECT d.alert_id, d.target, d.seq, e.recorded_at FROM deliveries AS d LEFT JOIN events AS e "
                f"ON e.seq = d.seq WHERE d.alert_id IN ({','.join('?' * len(chunk))}) ORDER BY d.seq, d.target", chunk):
            targets.setdefault(alert_id, []).append({"target": target, "seq": seq, "at": at})
    out = []
    for alert_id, status, route, group, attempts, next_at, error, change_id, raw, queued_seq, updated_seq in rows:
        data = json.loads(raw)
        delivered = targets.get(alert_id, [])
        out.append({
            "alert_id": alert_id, "status": status, "route": route, "group": group, "attempts": attempts,
            "next_attempt_at": next_at if status in ("queued", "failed") else None, "last_error": error,
            "change_id": change_id, "kind": data["kind"], "severity": data["severity"], "title": data["title"],
            "cause": data["cause"], "delivered_to": [d["target"] for d in delivered], "tag": route,
            "incident": data.get("incident"), "incident_status": data.get("incident_status"),
            "queued_seq": queued_seq, "updated_seq": updated_seq, "delivered": delivered,
        })
    return out


def source_table(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """The sources projection by source id."""
    conn_factory = conn.row_factory
    try:
        conn.row_factory = sqlite3.Row
        return {row["source"]: dict(row) for row in conn.execute("SELECT * FROM sources ORDER BY source")}
    finally:
        conn.row_factory = conn_factory


def source_history(conn: sqlite3.Connection, source: str, last: int = 48) -> list[tuple[str, str]]:
    """(type, recorded_at) of a source's last ``last`` polls, oldest first (the stream's tail, read
    through its (stream, version) index, so the cost does not grow with the log)."""
    stream = f"source:{source}"
    (top,) = conn.execute("SELECT coalesce(max(stream_version), 0) FROM events WHERE stream = ?", (stream,)).fetchone()
    rows = conn.execute("SELECT type, recorded_at FROM events WHERE stream = ? AND stream_version > ? "
                        "AND type IN (?, ?) ORDER BY stream_version", (stream, top - last, SOURCE_POLLED, SOURCE_FAILED))
    return [(t, at) for t, at in rows]


def changes_per_week(conn: sqlite3.Connection, first_day: str, last_day: str) -> list[tuple[str, str, int]]:
    """(Monday of the week, kind, count) of changes by their day (published, else recorded)."""
    day = "substr(coalesce(published, recorded_at), 1, 10)"
    rows = conn.execute(
        f"SELECT date({day}, '-6 days', 'weekday 1') AS week, kind, count(*) FROM changes "
        f"WHERE {day} BETWEEN ? AND ? AND week IS NOT NULL GROUP BY week, kind ORDER BY week, kind",
        (first_day, last_day))
    return [(w, k, n) for w, k, n in rows]


def anchor_events(conn: sqlite3.Connection, until: int | None = None) -> list[dict[str, Any]]:
    """Every anchoring recorded (``CheckpointAnchored`` on ``log:anchors``): seq, hash, time, data."""
    rows = conn.execute("SELECT seq, hash, recorded_at, data FROM events WHERE stream = 'log:anchors' AND type = ? "
                        "AND seq <= ? ORDER BY stream_version", (CHECKPOINT_ANCHORED, until if until else 1 << 62))
    out = []
    for seq, h, at, raw in rows:
        data = json.loads(raw)
        out.append({**data, "follows_seq": data.get("seq"), "follows_hash": data.get("hash"), "seq": seq, "hash": h,
                    "at": at})
    return out


def log_head(conn: sqlite3.Connection) -> tuple[int, str, str | None]:
    """(seq, hash, recorded_at) of the last event; (0, zeros, None) on an empty log."""
    row = conn.execute("SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1], row[2]) if row else (0, "0" * 64, None)


def event_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many events of each type the log holds (the event_types projection)."""
    return dict(conn.execute("SELECT type, events FROM event_types ORDER BY type"))


def reminder_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every deadline reminder recorded: source, key, deadline kind, date, days before, seq."""
    return [{"source": s, "key": k, "deadline": kind, "date": d, "days_before": days, "seq": seq}
            for s, k, kind, d, days, seq in conn.execute(
                "SELECT source, key, kind, date, days, seq FROM reminders ORDER BY seq, source, key, kind")]


__all__ = ["Browse", "DEADLINE_REACHED", "alert_rows", "anchor_events", "browse_changes", "browse_incident_ids",
           "changes_by_id", "changes_per_week", "event_counts", "facet_values", "item_texts", "log_head",
           "reminder_rows", "source_history", "source_table"]


def latest_change_day(conn: sqlite3.Connection, not_after: str) -> str | None:
    """The newest day (published, else recorded) of any change on or before ``not_after``."""
    (day,) = conn.execute("SELECT max(substr(coalesce(published, recorded_at), 1, 10)) FROM changes "
                          "WHERE substr(coalesce(published, recorded_at), 1, 10) <= ?", (not_after,)).fetchone()
    return day


def event_head(conn: sqlite3.Connection, seq: int) -> tuple[int, str, str] | None:
    """(seq, hash, recorded_at) of the event at ``seq``."""
    return conn.execute("SELECT seq, hash, recorded_at FROM events WHERE seq = ?", (seq,)).fetchone()


def as_of_reader(replayed: "str | object", log_path: "str | object", until: int) -> sqlite3.Connection:
    """A connection to projections rebuilt up to ``until`` (``replay --out``) that also sees the
    log's events up to that seq as ``events`` (read-only), so every named read works as of then."""
    conn = sqlite3.connect(str(replayed))
    conn.execute("ATTACH DATABASE ? AS log", (f"file:{log_path}?mode=ro",))
    conn.execute(f"CREATE TEMP VIEW events AS SELECT * FROM log.events WHERE seq <= {int(until)}")
    return conn
