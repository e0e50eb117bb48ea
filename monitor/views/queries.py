"""Read queries over the projections, shared by the command line and the HTTP views.

The SQL that filters changes lives here once, so `monitor changes --region middle-east` and
`/changes.atom?region=middle-east` cannot disagree about which changes that means. Queries take an
open connection and return plain data; they never write and never read the clock.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from typing import Any, Iterator, NamedTuple, Sequence

from monitor.alerts.render import kind_words
from monitor.vocabulary import SEVERITIES



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


def describe_filters(*, region: str | None = None, company: str | None = None, kinds: Sequence[str] = (),
                     min_severity: str = "low") -> str:
    """The filters in words, for a feed's or calendar's title ("" when nothing is filtered), so a
    subscriber can tell two subscriptions apart."""
    parts = []
    if region:
        parts.append(f"region {region}")
    if company:
        parts.append(f"company {company}")
    if kinds:
        parts.append("kind " + " or ".join(kind_words(kind) for kind in kinds))
    if min_severity != "low":
        parts.append(f"severity {min_severity}" + (" or higher" if min_severity != "high" else ""))
    return ", ".join(parts)
