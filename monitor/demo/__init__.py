"""`monitor demo`: the whole pipeline, offline, in a few seconds.

Recorded sources (Federal Register API responses and a bilingual news feed, in ``data/``) are served
on 127.0.0.1 by ``DemoServer``; the demo writes a ``sources.toml`` pointing at them into the state
directory, loads it like any configuration, and runs the real poll cycle (``daemon.poll``, given)
twice: the first poll records everything, the second finds the sources unchanged (304) except one
Federal Register document that has been revised since. Then it prints the changes detected, the
digests the two alert routes sent (grouped by region and by company; without an apprise
configuration they go to standard output), the result of ``verify``, and what to do next.

Nothing is hard-coded: every line comes from the log the demo just wrote. Nothing leaves
127.0.0.1: the configuration names only the loopback server, proxies are bypassed for it, and an
apprise configuration from the environment is ignored, so no notification is sent anywhere.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from monitor.config import APPRISE_CONFIG_ENV, Config, ConfigError, load_config
from monitor.store import EVENTS_DB, EventStore
from monitor.demo.server import (
    FR_DOCUMENT,
    FR_PUBLIC_INSPECTION,
    FR_SEARCH,
    FR_SEARCH_QUERY,
    NEWS,
    REVISED_DOCUMENT,
    DemoServer,
)
from monitor.events import ALERT_DELIVERED, ALERT_FAILED, ITEM_REVISED, AlertDelivered, AlertFailed
from monitor.store import verify
from monitor.views import changes as query_changes

__all__ = ["run_demo", "DemoServer", "Pipeline", "SOURCES_FILE"]

SOURCES_FILE = "sources.toml"
REGION_TAG, COMPANY_TAG = "compliance", "company-watch"
WATCHED_REGIONS = ("middle-east", "china")
WATCHED_COMPANIES = ("nvidia", "amd", "intel", "huawei", "smic", "biren", "moore-threads")
RULE = "─" * 100

Echo = Callable[..., Any]


@dataclass(frozen=True)
class Pipeline:
    """What the demo runs, given by the composition root (``monitor/daemon.py``): the real parts."""

    open_store: Callable[[Path], EventStore]  # a state directory's log, with its projections
    poll: Callable[[Config, Path], list]  # one whole poll cycle (collect, detect, record, remind, relay)


def run_demo(state_dir: Path | None, pipeline: Pipeline, *, echo: Echo = click.echo) -> int:
    """Run the demo; the exit code: 0 when every source was read and the chain verifies, 1 when
    not, 2 when ``state_dir`` already holds an event log (the demo never mixes into a real one)."""
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        if state_dir is None:
            state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="monitor-demo-")))
        else:
            state = Path(state_dir).expanduser().absolute()
            if (state / EVENTS_DB).exists():
                echo(f"Error: {state / EVENTS_DB} already exists: the demo records into a new log only "
                     f"(give another --state DIR, or remove that one)", err=True)
                return 2
            state.mkdir(parents=True, exist_ok=True)
        stack.enter_context(_offline_environment())
        server = stack.enter_context(DemoServer())
        config_path = _write_sources(state, server)
        try:
            config = load_config(config_path)
        except ConfigError as exc:  # the demo's own file: a bug, said plainly
            echo(f"Error: the demo's configuration was refused: {exc}", err=True)
            return 1
        kept = state_dir is not None

        echo("monitor demo: the real pipeline, offline. Recorded sources are served on 127.0.0.1 and polled twice.")
        echo(f"state: {state}" + ("" if kept else "  (temporary: removed when the demo ends; keep it with --state DIR)"))
        echo(f"configuration: {config_path.name} in the state directory; its sources:")
        for source in config.sources:
            echo(f"  {source.id:<22} {source.kind:<17} {source.url}")

        failed = False
        polls = []
        for number, story in ((1, "every source for the first time"),
                              (2, "the same sources again: unchanged ones answer 304 Not Modified, and the "
                                  f"Federal Register has revised {REVISED_DOCUMENT}")):
            if number == 2:
                server.revise()
            poll = _poll(pipeline, config, state)
            polls.append(poll)
            _heading(echo, f"Poll {number}: {story}")
            for report in poll["reports"]:
                failed |= report.status == "failed"
                echo(f"  {report.source:<22} {report.status:<13} {_detail(report)}")
            for revision in poll["revisions"]:
                echo(f"  revised: {revision.stream} (ItemRevised, seq {revision.seq})")
                for field, change in revision.typed.changed.items():
                    echo(f"    {field}: {change['before']!r} -> {change['after']!r}")

        with pipeline.open_store(state) as store:
            _print_changes(echo, store, polls)
            _print_digests(echo, config, polls)
            report = verify(store.conn)
            _heading(echo, "Verify: the hash chain of the event log (monitor verify)")
            if report.ok:
                echo(f"  ok: {report.checked} events, head seq {report.head_seq}, hash {report.head_hash}")
            else:
                echo(f"  FAILED at seq {report.bad_seq}: {report.problem}")
            revisions = sum(1 for _ in store.read(types=[ITEM_REVISED]))
        _print_next(echo, state if kept else None, polls, revisions)
        echo(f"\ndemo finished in {time.monotonic() - began:.1f} s"
             + ("" if kept else "; its temporary state directory is removed now") + ".")
    return 0 if report.ok and not failed else 1


# --- setting up -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _offline_environment() -> Iterator[None]:
    """No proxy for 127.0.0.1, and no apprise configuration from the environment: the demo's
    requests stay on the loopback interface and its digests go to standard output only."""
    saved = {name: os.environ.get(name) for name in ("NO_PROXY", "no_proxy", APPRISE_CONFIG_ENV)}
    try:
        for name in ("NO_PROXY", "no_proxy"):
            current = [h for h in (saved[name] or "").split(",") if h.strip()]
            os.environ[name] = ",".join([*current, "127.0.0.1"])
        os.environ.pop(APPRISE_CONFIG_ENV, None)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _write_sources(state: Path, server: DemoServer) -> Path:
    watched = ", ".join(json.dumps(c) for c in WATCHED_COMPANIES)
    regions = ", ".join(json.dumps(r) for r in WATCHED_REGIONS)
    text = f"""\
# Written by `monitor demo`: the recorded sources it served on 127.0.0.1 (gone once the demo ended).
# The shipped sources.toml lists the real ones; this file has the same shape.

[monitor]
state_dir = "."
connect_timeout = "2s"
read_timeout = "5s"
total_timeout = "10s"

# Federal Register API: BIS documents matching "advanced computing", newest first (two pages).
[[sources]]
id = "fr-bis"
kind = "federal_register"
name = "Federal Register: BIS documents (recorded)"
url = "{server.url_for(FR_SEARCH)}?{FR_SEARCH_QUERY}"

# Federal Register public inspection desk: rules are filed here days before publication.
[[sources]]
id = "fr-public-inspection"
kind = "federal_register"
name = "Federal Register: public inspection (recorded)"
url = "{server.url_for(FR_PUBLIC_INSPECTION)}"

# One document followed on its own: the IaaS know-your-customer proposed rule.
[[sources]]
id = "fr-iaas-kyc"
kind = "federal_register"
name = "Federal Register: 2024-01580 (recorded)"
url = "{server.url_for(FR_DOCUMENT)}"

# A news search in English and Chinese (Simplified and Traditional), noise included.
[[sources]]
id = "news"
kind = "feed"
name = "News search, English and Chinese (recorded)"
url = "{server.url_for(NEWS)}"

# No apprise_config: every digest is printed to standard output.
[alerts]
digest_window = "0s"

# Compliance team: medium or high incidents for the regions it covers, one digest a window with a
# section per region; an incident is listed once, under its narrowest region (the others named).
[[alerts.routes]]
tag = "{REGION_TAG}"
group_by = "region"
min_severity = "medium"
regions = [{regions}]

# Company watch: every incident naming a watched company, a section per company.
[[alerts.routes]]
tag = "{COMPANY_TAG}"
group_by = "company"
companies = [{watched}]
"""
    path = state / SOURCES_FILE
    path.write_text(text, encoding="utf-8")
    return path


# --- polling --------------------------------------------------------------------------------------


def _poll(pipeline: Pipeline, config, state: Path) -> dict[str, Any]:
    """One real poll cycle; the digests the relay printed, each with the route and group it was for."""
    with pipeline.open_store(state) as store:
        before = store.head().seq
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # stdout_targets print the digests: collect them in order
        reports = pipeline.poll(config, state)
    with pipeline.open_store(state) as store:
        after = store.head().seq
        sent = [e.typed for e in store.read(since=before, types=[ALERT_DELIVERED, ALERT_FAILED])]
        revisions = list(store.read(since=before, types=[ITEM_REVISED]))
    return {"reports": reports, "before": before, "after": after, "revisions": revisions,
            "digests": _digests(printed.getvalue(), sent)}


def _digests(printed: str, sent: list[AlertDelivered | AlertFailed]) -> list[dict[str, Any]]:
    """Split what the stdout targets printed ("\\n=== title ===\\nbody\\n" each) into digests, paired
    with the delivery events the relay recorded for them, in the same order."""
    blocks = []
    for chunk in printed.split("\n=== ")[1:]:
        title, _, body = chunk.partition(" ===\n")
        blocks.append({"title": title, "body": body.rstrip("\n")})
    if len(blocks) != len(sent):  # not one printed digest per delivery: show them as printed
        return [{**b, "route": None, "group": None} for b in blocks]
    return [{**b, "route": s.route, "group": s.group, "alerts": len(s.alert_ids)} for b, s in zip(blocks, sent)]


def _detail(report) -> str:
    if report.status == "new":
        text = f"{report.new} new, {report.revised} revised, {_plural(report.changes, 'change')}"
        return text + (f" ({report.message})" if report.message else "")
    return {"not_modified": "not modified (304): nothing parsed", "unchanged": "same bytes: nothing parsed",
            "no_change": f"{report.entries} entries, nothing new"}.get(report.status, report.message or "")


# --- printing -------------------------------------------------------------------------------------


def _heading(echo: Echo, text: str) -> None:
    echo(f"\n{RULE}\n{text}\n{RULE}")


def _print_changes(echo: Echo, store, polls: list[dict]) -> None:
    rows = list(query_changes(store.conn))  # the query `monitor changes` uses
    _heading(echo, f"Changes detected: {len(rows)} (monitor changes)")
    for seq, change in rows:
        poll = next((n for n, p in enumerate(polls, 1) if p["before"] < seq <= p["after"]), None)
        revision = "  (revision, poll 2)" if change.get("revision") else ("" if poll == 1 else f"  (poll {poll})")
        echo(f"  seq {seq:<4} {change['severity']:<6} {change['kind']:<16} rule: {change.get('rule') or '-'}{revision}")
        echo(f"           {change.get('title') or '(untitled)'}")
        tags = [f"regions: {', '.join(change['regions'])}" if change.get("regions") else "",
                f"countries: {', '.join(change['countries'])}" if change.get("countries") else "",
                f"companies: {', '.join(change['companies'])}" if change.get("companies") else "",
                f"source: {change['source']}", f"published {str(change.get('published') or '-')[:10]}"]
        echo("           " + " · ".join(t for t in tags if t))


def _print_digests(echo: Echo, config, polls: list[dict]) -> None:
    _heading(echo, "Digests: what each alert route sent (no apprise configuration, so they were printed)")
    routes = [(r.tag, r.group_by) for r in config.alerts.routes]
    unknown = [d for p in polls for d in p["digests"] if d["route"] is None]
    if unknown:  # could not pair them with their deliveries: print them as they came
        for digest in unknown:
            echo(f"\n=== {digest['title']} ===\n{digest['body']}")
        return
    for tag, group_by in routes:
        filters = [r for r in config.alerts.routes if r.tag == tag][0]
        limits = []
        if filters.min_severity != "low":
            limits.append(f"{filters.min_severity} severity or higher")
        if filters.regions:
            limits.append("regions " + ", ".join(filters.regions))
        if filters.companies:
            limits.append("companies " + ", ".join(filters.companies))
        echo(f"\n>>> Route {tag!r}: one digest a window, a section per {group_by}, each incident once"
             + (f" ({'; '.join(limits)})" if limits else ""))
        for number, poll in enumerate(polls, 1):
            digests = [d for d in poll["digests"] if d["route"] == tag]
            if not digests:
                echo(f"\n  after poll {number}: nothing to send")
                continue
            echo(f"\n  after poll {number}: {_plural(len(digests), 'digest')}")
            for digest in digests:
                echo(f"\n=== {digest['title']} ===\n{digest['body']}")


def _print_next(echo: Echo, kept: Path | None, polls: list[dict], revisions: int) -> None:
    _heading(echo, "What next")
    after_first = polls[0]["after"]
    if kept is not None:
        state = _quote(str(kept))
        echo(f"This demo's log is kept in {kept}. Look around it (the recorded sources are gone, so do not poll it):")
        for command, why in (
            (f"monitor --state {state} changes --region middle-east", "the changes of one region (or --company nvidia)"),
            (f"monitor --state {state} alerts", "every alert: queued, delivered (and where), failed"),
            (f"monitor --state {state} events --type ItemRevised --json", f"the revision of the second poll ({revisions})"),
            (f"monitor --state {state} replay --as-of-seq {after_first}", "the state as it was after the first poll"),
            (f"monitor --state {state} verify", "the chain again; `monitor anchor --out FILE` pins its head"),
        ):
            echo(f"  {command:<76} # {why}")
    else:
        echo("This demo's log was temporary. Keep one to explore: monitor demo --state demo-state")
    echo("\nWatch the real sources (sources.toml lists the Federal Register, news searches, MOFCOM, ...):")
    for command, why in (
        ("make run             (or: monitor run)", "the daemon: scheduled polls, reminders, alerts, into ./state"),
        ("monitor poll", "one cycle of every source, then exit"),
        ("curl localhost:8080/healthz", "while it runs: also /metrics, /changes.atom, /deadlines.ics"),
        ("monitor changes      / monitor alerts", "what was detected, what was sent"),
        ("monitor replay --as-of 2026-01-20", "what the monitor knew on a date, rebuilt from the log"),
        ("monitor check-config", "after editing sources.toml"),
    ):
        echo(f"  {command:<40} # {why}")
    echo("\nSend digests to chat or e-mail: write an apprise configuration (apprise's YAML or TEXT format) whose")
    echo(f"services carry the tags of the routes ({REGION_TAG!r}, {COMPANY_TAG!r} in the shipped sources.toml), and name it")
    echo("in sources.toml ([alerts] apprise_config = \"apprise.yml\") or in MONITOR_APPRISE_CONFIG. Secrets stay in that file;")
    echo("config/apprise.example.yml shows e-mail and chat services. In Docker: docker compose up -d (see the README).")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w./~:+-]+", text) else "'" + text.replace("'", "'\"'\"'") + "'"
