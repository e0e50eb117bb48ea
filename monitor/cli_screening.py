"""`monitor entities` and `monitor screen`: the screening lists as they stood, and one name checked
on demand. Added to the command group by monitor.cli (same contract: exit 0 ok, 1 a check
failed — here, a name matched —, 2 bad usage or configuration)."""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
from datetime import date
from pathlib import Path

import click

from monitor.cli_common import DEFAULT_CONFIG, Refused, Settings, as_of_time, pass_settings
from monitor.config import Config
from monitor.detect.screening import LIST_NAMES, party
from monitor.detect.watchlist import Entry, Screener, match_form
from monitor.filters import suggestion
from monitor.projections import replay as replay_log
from monitor.projections.screening import Screening, entity_rows, known_lists, snapshots
from monitor.watchlist import load_watchlist

ENTITY_FIELDS = ("source", "key", "list", "name", "names_zh", "alt_names", "countries", "addresses",
                 "license_requirement", "license_policy", "federal_register_notice", "citations", "start_date",
                 "end_date", "added_at", "changed_at", "removed_at")


def _config(settings: Settings) -> Config:
    return settings.config() if settings.config_path or Path(DEFAULT_CONFIG).exists() else Config()


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise Refused(f"--country: use an ISO 3166 alpha-2 code such as CN, AE, RU, not {value!r}")
    return code


def _list(conn: sqlite3.Connection, value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    known = sorted(set(known_lists(conn)) | set(LIST_NAMES))
    if code not in known:
        raise Refused(f"--list: unknown list {value!r}{suggestion(code, known, 'list')}")
    return code


def _rows(conn: sqlite3.Connection, *, list_code, country, name, added_since):
    needle = " ".join(name.casefold().split()) if name else None
    for row in entity_rows(conn, lists=[list_code] if list_code else (), added_since=added_since):
        shown = {**party(row["record"], row["key"]), **{k: row[k] for k in ("source", "added_at", "changed_at",
                                                                            "removed_at")}}
        if country and country not in shown["countries"]:
            continue
        if needle and not any(needle in " ".join(n.casefold().split()) or match_form(needle) == match_form(n)
                              for n in [shown["name"], *shown["alt_names"]]):
            continue
        yield shown


@click.command()
@click.option("--list", "list_code", metavar="L", help="Only this list (its code: EL, MEU, UVL, DPL, SDN, ...).")
@click.option("--country", metavar="CC", help="Only parties with an address in this country (ISO alpha-2).")
@click.option("--name", metavar="TEXT", help="Only parties whose name or an alternate name contains TEXT.")
@click.option("--added-since", metavar="DATE", help="Only parties first seen on or after this date (ISO).")
@click.option("--as-of", "as_of", metavar="TIME", help="The lists as the monitor knew them then (ISO date or datetime, UTC).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_settings
def entities(settings: Settings, list_code, country, name, added_since, as_of, as_json) -> None:
    """The screening lists as they stood: one line per listed party."""
    country = _country(country)
    if added_since is not None:
        try:
            added_since = date.fromisoformat(added_since.strip()).isoformat()
        except ValueError:
            raise Refused(f"--added-since: not an ISO date: {added_since!r}") from None
    with settings.open_store() as store:
        if as_of is None:
            rows = list(_rows(store.conn, list_code=_list(store.conn, list_code), country=country, name=name,
                              added_since=added_since))
        else:
            until = store.seq_at(as_of_time(as_of))
            with tempfile.TemporaryDirectory(prefix="monitor-entities-") as tmp:
                path = Path(tmp) / "screening.db"
                replay_log(store, [Screening()], until=until, out=path)
                scratch = sqlite3.connect(str(path))
                try:
                    rows = list(_rows(scratch, list_code=_list(scratch, list_code), country=country, name=name,
                                      added_since=added_since))
                finally:
                    scratch.close()
    for row in rows:
        if as_json:
            click.echo(json.dumps({k: row.get(k) for k in ENTITY_FIELDS}, ensure_ascii=False))
        else:
            countries = ",".join(row["countries"]) or "-"
            citation = row["citations"][-1] if row["citations"] else "-"
            click.echo(f"{row['list']:<7} {countries:<9} {(row['added_at'] or '')[:10]:<10}  {citation:<14} "
                       f"{row['name'][:90]}")


@click.command()
@click.argument("name")
@click.option("--country", metavar="CC", help="The party's country (ISO alpha-2): a listed party elsewhere must match exactly.")
@click.option("--name-zh", metavar="TEXT", help="The party's Chinese name too (Traditional or Simplified).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a match.")
@pass_settings
def screen(settings: Settings, name: str, country, name_zh, as_json) -> None:
    """Check one name against the latest screening-list snapshot; exit 1 when it matches."""
    country = _country(country)
    if not name.strip():
        raise Refused("NAME: give the name to check")
    config = _config(settings)
    watchlist = load_watchlist(config) if config.watchlist.entries or config.watchlist.file else None
    threshold = config.watchlist.threshold
    with settings.open_store() as store:
        if not snapshots(store.conn):
            raise Refused("no screening-list snapshot in the log yet: poll a `screening_list` source first "
                          "(`monitor poll --source csl`)")
        parties = [{**party(row["record"], row["key"]), "source": row["source"]} for row in entity_rows(store.conn)]
    screener = Screener(parties, threshold=threshold, ignore=watchlist.ignore if watchlist else config.watchlist.ignore,
                        lists=config.watchlist.lists)
    matches = screener.screen(Entry(name.strip(), (name_zh or "").strip() or None, country, None))
    for match in matches:
        data = match.to_json()
        data.pop("ref")
        if as_json:
            click.echo(json.dumps(data, ensure_ascii=False))
        else:
            where = ",".join(data["countries"]) or "-"
            click.echo(f"{data['score']:>5g}  {data['list']:<7} {where:<9} {data['listed_name'][:70]}"
                       f"  (on {data['matched_on']}: {data['matched_name'][:60]}; {data['entity']})")
    if not matches:
        if not as_json:
            click.echo(f"no match for {name.strip()!r} at threshold {threshold:g} against "
                       f"{len(parties)} listed parties")
        return
    raise click.exceptions.Exit(1)
