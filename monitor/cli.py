"""The command line: a stable contract (DESIGN.md). Exit codes: 0 ok, 1 a check failed, 2 bad usage
or configuration."""

from __future__ import annotations

import difflib
import json
import logging
import os
import sqlite3
import sys
from collections import Counter, deque
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

import click

from monitor.clock import to_iso
from monitor.alerts.retry import NotRetryable, requeue
from monitor.alerts.targets import AppriseConfigError, apprise_targets, service_secrets
from monitor.collectors.collect import source_info
from monitor.detect.changes import SourceInfo
from monitor.detect.incidents import IncidentFold
from monitor import events as events_module
from monitor.events import (
    ALERT_REQUEUED, CHANGE_DETECTED, ITEM_DISCOVERED, ITEM_REVISED, ChangeDetected, NewEvent, derive_event_id,
)
from monitor.projections import Projector, default_projections, replay as replay_log
from monitor.projections.changes import rule_summaries, tag_values
from monitor.projections.incidents import incident_rows, incident_timeline
from monitor.projections.log_summary import event_counts
from monitor.store import (
    AnchorError, AnchorKeyMissing, EventStore, StoreError, anchor_head, parse_witness, read_anchor,
    verify as verify_log,
)
from monitor.store.errors import describe as describe_store_error
from monitor import cli_screening, daemon, version
from monitor.cli_common import DEFAULT_CONFIG, Refused, Settings, as_of_time as _as_of_time, pass_settings
from monitor.config import Config, ConfigError, check_listen, check_names
from monitor.filters import UnknownValue, resolve, suggestion
from monitor.projections.sources import source_states
from monitor.progress import Progress
from monitor.views.table import format_table
from monitor.views.shapes import CHANGE_FIELDS, alert_json, change_json, incident_json, source_json, when
from monitor.projections.browse import alert_rows, as_of_reader
from monitor.views import changes as query_changes
from monitor.vocabulary import INCIDENT_STATUSES, KINDS
from monitor.service.access import MIN_TOKEN, TOKEN_ENV
from monitor.watchlist import load_watchlist
from monitor.service import ServiceError, StateLock, StateLocked, configure_logging, refusals_logged, run_service


class MonitorGroup(click.Group):
    """The command group; turns every failure of the state into one line and the contract's exit
    code (no traceback reaches a user). The mapping lives here once, for every command."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader left (`monitor events | head`): nothing more to say, and nowhere to say it.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(1) from None
        except StoreError as exc:
            raise _fail(str(exc), exc.exit_code) from None
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            error = describe_store_error(exc, _db_path_of(ctx))
            raise _fail(str(error), error.exit_code) from None
        except OSError as exc:  # a file the command reads or writes (--out, an anchor, the state directory)
            where = f": {exc.filename}" if exc.filename else ""
            raise _fail(f"{exc.strerror or exc.__class__.__name__}{where}", 2) from None
        except Exception as exc:  # a bug: still one line, never a traceback (and never a secret)
            from monitor.service.logs import redact
            raise _fail(f"internal error ({exc.__class__.__name__}: {redact(str(exc))[:200]}); "
                        "please report it", 1) from None


def _fail(message: str, code: int) -> click.ClickException:
    error = click.ClickException(message)
    error.exit_code = code
    return error


def _db_path_of(ctx: click.Context) -> Path | str:
    settings = ctx.find_object(Settings)
    try:
        return settings.db_path if settings else daemon.EVENTS_DB
    except click.ClickException:
        return daemon.EVENTS_DB


@click.group(cls=MonitorGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", envvar="MONITOR_CONFIG", metavar="FILE",
              help="sources.toml to use [env MONITOR_CONFIG; default ./sources.toml].")
@click.option("--state", "state_dir", envvar="MONITOR_STATE", metavar="DIR",
              help="State directory holding events.db [env MONITOR_STATE; default from the config, else ./state].")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=version.show,
              help="Show the version, the dependency lock's sha256 and the commit, and exit.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, state_dir: str | None) -> None:
    """Regulatory change monitor for export controls on AI chips and cloud computing."""
    ctx.obj = Settings(config_path, state_dir, open_writer=daemon.open_store, open_reader=daemon.open_reader)


def main() -> None:
    cli(prog_name="monitor")


# -- sources ---------------------------------------------------------------------------------------


@cli.command("check-config")
@pass_settings
def check_config(settings: Settings) -> None:
    """Validate sources.toml (and that the apprise config it names exists); exit 2 with the reason."""
    config = settings.config()
    detector = _detector(config)
    _check_apprise(config)
    kinds = Counter(s.kind for s in config.sources)
    click.echo(f"ok: {config.path}: {len(config.sources)} sources ("
               + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + f"), {len(config.rules)} rules, "
               f"{len(config.alerts.routes)} routes; catalog of {len(detector.catalog.rules)} rules; "
               f"state in {settings.state_dir}")


@cli.command()
@click.option("--source", "only", multiple=True, metavar="ID", help="Poll only this source (repeatable).")
@click.option("--force", is_flag=True, help="Poll sources even inside their backoff or Retry-After window.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a source.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="MONITOR_LOG_FORMAT", help="json: every line is one JSON object (implies --json; digests "
                                                "and log lines too) [env MONITOR_LOG_FORMAT].")
@pass_settings
@refusals_logged
def poll(settings: Settings, only: tuple[str, ...], force: bool, as_json: bool, log_format: str) -> None:
    """One cycle of every (or the named) source, then exit. Failing sources are recorded, not fatal."""
    config = settings.config()
    unknown = [s for s in only if s not in {src.id for src in config.sources}]
    if unknown:
        raise Refused(f"--source: unknown source {unknown[0]!r}"
                      f"{suggestion(unknown[0], [s.id for s in config.sources], 'configured source')}")
    _detector(config)  # refuse a bad catalog, gazetteer or apprise configuration before polling anything
    _check_apprise(config)
    if log_format == "json":
        as_json = True
        configure_logging("json", level=logging.WARNING, secrets=_log_secrets(config))
    digests: list = []
    with _state_lock(settings, "poll"):
        settings.refuse_broken_chain("poll into it")
        reports = daemon.poll(config, settings.state_dir, only=only or None, force=force, clock=settings.clock,
                              log_format=log_format, digests=digests)
    for r in reports:
        if as_json:
            click.echo(json.dumps(asdict(r), ensure_ascii=False))
            continue
        detail = {"new": f"{r.new} new, {r.revised} revised, {r.changes} changes", "failed": r.message, "skipped": r.message,
                  "not_modified": "not modified (304)", "unchanged": "unchanged (same bytes)",
                  "no_change": f"{r.entries} entries, nothing new"}[r.status]
        if r.removed or r.matches:  # a screening list: entities added (new), modified (revised), removed
            detail += f", {r.removed} removed, {r.matches} watchlist matches"
        if r.status in ("new", "no_change") and r.message:  # warnings: skipped entries, a broken feed
            detail += f" ({r.message})"
        click.echo(f"{r.source:<24} {r.status:<13} {detail}")
    _print_digests(digests, as_json)


@cli.command()
@click.option("--listen", envvar="MONITOR_LISTEN", metavar="HOST:PORT",
              help="Serve /healthz, /metrics, /changes.atom and /deadlines.ics here "
                   "[env MONITOR_LISTEN; default: [monitor] listen, else no server].")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="MONITOR_LOG_FORMAT", help="Log lines for people, or JSON lines [env MONITOR_LOG_FORMAT].")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True, envvar="MONITOR_LOG_LEVEL", help="debug adds every poll, even a 304 [env MONITOR_LOG_LEVEL].")
@pass_settings
@refusals_logged
def run(settings: Settings, listen: str | None, log_format: str, log_level: str) -> None:
    """The daemon: scheduled polls, alert relay, deadline reminders, daily anchors. Stops on SIGTERM/SIGINT."""
    config = settings.config()
    _detector(config)  # refuse a bad catalog, gazetteer or apprise configuration before starting
    _check_apprise(config)
    listen = listen or config.monitor.listen
    if listen:
        try:
            check_listen(listen)
        except ValueError as exc:
            raise Refused(f"--listen: {exc}") from None
    key = _anchor_key()
    token = os.environ.get(TOKEN_ENV) or None
    if token is not None and (len(token) < MIN_TOKEN or not token.isprintable() or token != token.strip()):
        raise Refused(f"{TOKEN_ENV}: the console token must be at least {MIN_TOKEN} printable characters, without "
                      "spaces at either end (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)")
    configure_logging(log_format, level=getattr(logging, log_level.upper()), secrets=_log_secrets(config))

    with _state_lock(settings, "run"):
        settings.refuse_broken_chain("start the daemon on it")
        try:
            run_service(daemon.make_service(config, settings.state_dir, listen=listen, clock=settings.clock,
                                            anchor_key=key, log_format=log_format, console_token=token))
        except ServiceError as exc:
            raise Refused(str(exc)) from None


def _log_secrets(config: Config) -> set[str]:
    """What the log redacts wherever it appears: the apprise services' secrets and the anchor key."""
    apprise_path, key = config.apprise_config_path, _anchor_key()
    token = os.environ.get(TOKEN_ENV)
    return ((service_secrets(apprise_path) if apprise_path else set()) | ({key.decode()} if key else set())
            | ({token} if token else set()))


def _print_digests(digests, as_json: bool) -> None:
    """The relay pass of a poll: each digest sent, and above all each that failed (the failure is
    recorded and retried, but whoever ran `poll` should not have to look for it)."""
    for d in digests:
        if as_json:
            click.echo(json.dumps({"digest": f"{d.route}/{d.group}", "alerts": d.alerts, "delivered": d.delivered,
                                   "targets": list(d.targets), "error": d.error}, ensure_ascii=False))
        elif d.delivered:
            click.echo(f"{'digest ' + d.route + '/' + d.group:<38} delivered     {d.alerts} alerts to "
                       f"{len(d.targets)} targets")
        else:
            click.echo(f"{'digest ' + d.route + '/' + d.group:<38} failed        {d.alerts} alerts: {d.error} "
                       "(retried later; `monitor alerts --status failed`)")


def _state_lock(settings: Settings, purpose: str) -> StateLock:
    try:
        return StateLock(settings.state_dir, purpose).acquire()
    except StateLocked as exc:
        raise Refused(str(exc)) from None


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object a source.")
@pass_settings
def sources(settings: Settings, as_json: bool) -> None:
    """Each source's health: last success, consecutive failures, next attempt, last error."""
    config = settings.config()
    states = {}
    if settings.has_log():
        with settings.open_store() as store:
            states = source_states(store.conn)
    rows = [source_json(source, states.get(source.id)) for source in config.sources]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    _table(["source", "kind", "health", "last success", "failures", "next attempt", "last error"],
           [[r["source"], r["kind"], r["health"], when(r["last_success_at"]), r["consecutive_failures"],
             when(r["next_attempt_at"]) if r["next_attempt_at"] != "at the next poll" else r["next_attempt_at"],
             f"{r['last_error_reason']}: {r['last_error']}" if r["last_error"] else ""] for r in rows],
           empty="no source configured")


# -- the log ----------------------------------------------------------------------------------------


@cli.command()
@click.option("--type", "types", multiple=True, metavar="T", help="Only events of this type (repeatable).")
@click.option("--since", metavar="SEQ|DATE", help="Only events after this seq, or recorded on or after this date.")
@click.option("--stream", metavar="S", help="Only events of this stream.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the newest N.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line (in log order).")
@pass_settings
def events(settings: Settings, types: tuple[str, ...], since: str | None, stream: str | None, limit: int | None,
           as_json: bool) -> None:
    """Print the event log: newest first (JSON lines in log order)."""
    with settings.open_store() as store:
        types = tuple(_resolve(t, {name: () for name in _event_types(store)}, "--type", "event type") for t in types)
        if stream is not None and store.stream_version(stream) == 0:
            raise Refused(f"--stream: no events on stream {stream!r} (streams look like source:ID, item:ID:KEY, "
                          "change:ID:KEY, route:TAG; `monitor events` shows them)")
        after = _since(store, since)
        found = deque(store.read(since=after, types=types or None, stream=stream), maxlen=limit)
    if as_json:
        for event in found:
            click.echo(json.dumps(event.to_json(), ensure_ascii=False))
        return
    _table(["seq", "recorded", "type", "stream", "data"],
           [[e.seq, when(e.recorded_at), e.type, e.stream, e.raw_data] for e in reversed(found)],
           empty="nothing yet" if not (types or stream or since) else "no event matches")


@cli.command()
@click.option("--as-of", "as_of", metavar="TIME",
              help="Rebuild the state as it was at this time (ISO date or datetime, UTC; a bare date means the end of that day).")
@click.option("--as-of-seq", "as_of_seq", type=click.IntRange(min=0), metavar="N", help="Rebuild the state as it was at this position.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Keep the rebuilt tables in this new SQLite file (for an auditor's queries).")
@click.option("--reclassify", is_flag=True,
              help="Run today's catalog and detector over every recorded item; print what would differ. Appends nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_settings
def replay(settings: Settings, as_of: str | None, as_of_seq: int | None, out: Path | None, reclassify: bool,
           as_json: bool) -> None:
    """Rebuild every projection from the log and print a digest of each. Never sends alerts."""
    if as_of and as_of_seq is not None:
        raise Refused("give --as-of or --as-of-seq, not both")
    ignored = [name for name, given in (("--out", out is not None), ("--as-of", as_of is not None),
                                        ("--as-of-seq", as_of_seq is not None)) if given]
    if reclassify and ignored:  # an option that would be ignored is refused, not dropped
        raise Refused(f"--reclassify compares today's detector with the whole log and writes nothing: "
                      f"{ignored[0]} cannot be used with it")
    if reclassify:
        return _reclassify(settings, as_json)
    with settings.open_store() as store:
        until = as_of_seq
        if as_of:
            until = store.seq_at(_as_of_time(as_of))
        elif as_of_seq is not None:
            until = store.last_whole_batch(as_of_seq)
            if until != as_of_seq:
                # A position inside one append is a state the monitor never had: the whole batch or none.
                click.echo(f"note: seq {as_of_seq} is inside an append that ended later; replaying to seq {until}, "
                           "the last whole append at or before it", err=True)
        head = store.head()
        progress = Progress("replay", until if until is not None else head.seq)
        try:
            result = replay_log(store, default_projections(), until=until, out=out, progress=progress)
        except FileExistsError as exc:
            raise Refused(str(exc)) from None
        progress.finish(result.events)
        live = {d["projection"]: d["digest"] for d in Projector(default_projections()).digests(store.conn)}
    at_head = result.seq == head.seq
    report = {
        "as_of": _as_of_time(as_of) if as_of else None,
        "seq": result.seq,
        "hash": result.hash,
        "recorded_at": result.recorded_at,
        "events": result.events,
        "head_seq": head.seq,
        "projections": [
            {**{k: v for k, v in p.items() if k != "tables"},
             "matches_live": (p["digest"] == live.get(p["projection"])) if at_head else None,
             "tables": p["tables"]}
            for p in result.projections
        ],
    }
    if out is not None:
        report["database"] = str(out)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    when = f" as of {report['as_of']}" if as_of else (f" as of seq {result.seq}" if as_of_seq is not None else "")
    click.echo(f"replayed {result.events} events{when}: seq {result.seq}, hash {result.hash[:16]}…, "
               f"recorded {result.recorded_at or '-'} (log head: seq {head.seq})")
    for p in report["projections"]:
        match = {True: "matches live", False: "DIFFERS FROM LIVE", None: ""}[p["matches_live"]]
        click.echo(f"  {p['projection']:<16} v{p['version']}  rows {p['rows']:>8}  digest {p['digest']}  {match}")
    if out is not None:
        click.echo(f"tables kept in {out}")


@cli.command()
@click.option("--anchor", "anchor_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also check against an anchor written by `monitor anchor` (catches truncation and rewrites).")
@click.option("--witness", "witnesses", multiple=True, metavar="SEQ:HASH",
              help="Also check against a log head held elsewhere, e.g. the footer of a digest a recipient "
                   "received (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_settings
def verify(settings: Settings, anchor_path: Path | None, witnesses: tuple[str, ...], as_json: bool) -> None:
    """Check the hash chain; exit 1 naming the first bad seq."""
    try:
        points = [parse_witness(text) for text in witnesses]
    except ValueError as exc:
        raise Refused(f"--witness: {exc}") from None
    anchor = None
    if anchor_path is not None:
        try:
            anchor = read_anchor(anchor_path, _anchor_key())
        except AnchorKeyMissing as exc:
            raise Refused(str(exc)) from None
        except AnchorError as exc:
            if as_json:
                click.echo(json.dumps({"ok": False, "problem": str(exc)}))
            raise click.ClickException(str(exc)) from None  # a failed check: exit 1
    try:
        with settings.open_store(check=False) as store:
            progress = Progress("verify", store.head().seq)
            report = store.verify(anchor, points, progress=progress)
            progress.finish(report.checked)
    except StoreError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "problem": str(exc)}))
        raise
    if as_json:
        click.echo(json.dumps(report.to_json()))
    elif report.ok:
        against = f", matches anchor at seq {anchor.seq}" if anchor else ""
        against += "".join(f", matches witness seq {p.seq}" for p in points)
        click.echo(f"ok: {report.checked} events, head seq {report.head_seq}, hash {report.head_hash}{against}")
    else:
        click.echo(f"FAILED at seq {report.bad_seq}: {report.problem}", err=True)
    if not report.ok:
        raise SystemExit(1)


@cli.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Where to write the anchor (keep it outside the state directory).")
@pass_settings
def anchor(settings: Settings, out: Path) -> None:
    """Write the log head (seq, hash, time) to FILE; HMAC-signed when MONITOR_ANCHOR_KEY is set. The
    head includes the anchoring's own record, so the anchor covers it too. Refused on a broken chain."""
    if not out.parent.is_dir():
        raise Refused(f"--out: the directory {out.parent} does not exist")
    key = _anchor_key()
    with settings.open_store(write=True, purpose="anchor it") as store:
        head = anchor_head(store, out, key, to_iso(settings.clock()))
    click.echo(f"anchored seq {head.seq} hash {head.hash} in {out}{' (signed)' if key else ''}")


@cli.command()
@click.option("--to", "target", required=True, metavar="URL",
              help="postgresql://... (an empty database) to copy this state's events.db there; or, when the log "
                   "is in PostgreSQL, a new SQLite file (a path or sqlite:///PATH) for a local audit copy.")
@pass_settings
def migrate(settings: Settings, target: str) -> None:
    """Copy the log, keeping every position and hash, into an empty log of the other backend, and
    verify the copy (exit 1 if it does not verify; 2 if the target is not empty or not usable)."""
    from monitor.store.migrate import migrate as copy_log, sqlite_target
    from monitor.store.postgres import PostgresEventStore
    from monitor.store.urls import is_postgres_url, shown_url

    database = settings.database
    if is_postgres_url(target):
        if database:
            raise Refused("--to: the log is already in PostgreSQL; migrate copies between the backends (give a "
                          "file for a local SQLite copy)")
        if not settings.db_path.exists():
            raise Refused(f"no event log at {settings.db_path} to copy (pass --state)")
        with _state_lock(settings, "migrate"), EventStore(settings.db_path, readonly=True) as source, \
                PostgresEventStore(target, None) as sink:
            report = copy_log(source, sink)
        where = shown_url(target)
    else:
        if not database:
            raise Refused(f"--to: {target!r} is not a postgresql:// URL; copying into SQLite needs the log in "
                          "PostgreSQL ([monitor] database or MONITOR_DATABASE)")
        path = sqlite_target(target)
        if path.exists():
            raise Refused(f"--to: {path} exists; migrate writes a new file")
        if not path.parent.is_dir():
            raise Refused(f"--to: the directory {path.parent} does not exist")
        with PostgresEventStore(database, None, create=False) as source, EventStore(path) as sink:
            report = copy_log(source, sink)
        where = str(path)
    click.echo(f"copied {report.events} events to {where}: head seq {report.head_seq}, hash {report.head_hash}; "
               "the copy verifies")


@cli.command()
@click.option("--state", "demo_state", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the demo's log in DIR (which must not hold an events.db yet) to explore it afterwards; "
                   "`monitor --state DIR demo` does the same. Default: a temporary directory, removed at the end.")
@click.pass_context
def demo(ctx: click.Context, demo_state: Path | None) -> None:
    """Offline end to end: serve bundled recorded sources on 127.0.0.1, poll them twice (the second
    poll sees one document revised), print the changes, the digests by region and by company, and
    verify. Writes its own sources.toml; ignores --config, MONITOR_STATE and MONITOR_APPRISE_CONFIG."""
    settings = ctx.find_object(Settings)
    from_command_line = ctx.parent is not None and \
        ctx.parent.get_parameter_source("state_dir") is click.core.ParameterSource.COMMANDLINE
    if demo_state is None and settings is not None and settings.state_override and from_command_line:
        demo_state = Path(settings.state_override)
    ctx.exit(daemon.run_demo(demo_state))


def _reclassify(settings: Settings, as_json: bool) -> None:
    """Detect every recorded item again with today's catalog, gazetteer and rules, assign the
    changes to incidents afresh (in log order, as polls did), and say what would differ."""
    config = settings.config()
    detector = _detector(config)
    infos = {s.id: source_info(s) for s in config.sources}
    fold = IncidentFold()
    with settings.open_store() as store:
        recorded: dict[str, dict[str, dict]] = {}
        for e in store.read(types=[CHANGE_DETECTED]):
            change = e.typed
            recorded.setdefault(change.cause.partition("#")[0], {})[change.id] = change
        counts = Counter()
        progress = Progress("reclassify", store.head().seq, unit="events read")
        for event in store.read(types=[ITEM_DISCOVERED, ITEM_REVISED]):
            progress(event.seq)
            source = event.typed.source
            info = infos.get(source) or SourceInfo(source, "feed", False)
            now = {}
            for change in detector.detect(event, info):
                incident, _events = fold.assign(change.data, today=event.recorded_at[:10], at=event.recorded_at)
                detected = change.typed
                now[detected.id] = replace(detected, incident=incident)
            before = recorded.get(event.event_id, {})
            counts["items"] += 1
            for change_id in dict.fromkeys([*before, *now]):
                difference = compare_changes(before.get(change_id), now.get(change_id))
                if difference is None:
                    continue
                counts[difference["change"]] += 1
                if "incident" in difference["fields"] and difference["change"] == "changed":
                    counts["incident_moved"] += 1
                if as_json:
                    click.echo(json.dumps({"seq": event.seq, "item": event.stream, **difference}, ensure_ascii=False))
                else:
                    detail = ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in difference["fields"].items())
                    click.echo(f"{event.seq:>8}  {difference['change']:<8} {event.stream}  {detail}")
        progress.finish(counts["items"])
    summary = f"{counts['items']} items: {counts['added']} would be added, {counts['removed']} removed, " \
              f"{counts['changed']} changed ({counts['incident_moved']} in another incident); nothing was appended"
    click.echo(json.dumps({"summary": dict(counts)}) if as_json else summary)


def compare_changes(before: ChangeDetected | None, after: ChangeDetected | None) -> dict | None:
    """How a re-detected change differs from the recorded one (None when it does not)."""
    if before is None and after is None:
        return None
    keys = ("kind", "severity", "rule", "regions", "countries", "companies", "incident")
    if before is None or after is None:
        present = after or before
        return {"change": "added" if before is None else "removed", "id": present.id,
                "fields": {k: (before and before.get(k), after and after.get(k)) for k in keys}}
    fields = {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}
    return {"change": "changed", "id": before.id, "fields": fields} if fields else None


# -- changes ---------------------------------------------------------------------------------------




@cli.command()
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS, case_sensitive=False),
              help="Only this kind (repeatable).")
@click.option("--region", metavar="R", help="Only changes tagged with this region (slug, name or alias: middle-east, Gulf).")
@click.option("--country", metavar="CC", help="Only changes naming this country (ISO alpha-2, or its name).")
@click.option("--company", metavar="C", help="Only changes naming this company (slug, name or alias: nvidia).")
@click.option("--rule", metavar="ID", help="Only changes linked to this catalog rule.")
@click.option("--min-severity", type=click.Choice(["low", "medium", "high"], case_sensitive=False), default="low",
              show_default=True)
@click.option("--since", metavar="SEQ|DATE", help="Only changes recorded after this seq, or on or after this date.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the newest N.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line (in log order).")
@pass_settings
def changes(settings: Settings, kinds, region, country, company, rule, min_severity, since, limit, as_json) -> None:
    """Detected changes: newest first (JSON lines in log order)."""
    with settings.open_store() as store:
        region, country, company, rule = _change_filters(settings, store, region, country, company, rule)
        rows = list(query_changes(store.conn, kinds=kinds, region=region, country=country, company=company,
                                  rule=rule, min_severity=min_severity, since=_since(store, since), limit=limit,
                                  newest_first=True))
    if as_json:
        for seq, data in reversed(rows):
            click.echo(json.dumps(change_json(seq, data), ensure_ascii=False))
        return
    filtered = kinds or region or country or company or rule or since or min_severity.lower() != "low"
    _table(["seq", "severity", "kind", "rule", "regions", "countries", "companies", "title"],
           [[seq, d["severity"], d["kind"], d.get("rule"), d.get("regions"), d.get("countries"), d.get("companies"),
             d.get("title")] for seq, d in rows], empty="no change matches" if filtered else "nothing yet")


# -- incidents -------------------------------------------------------------------------------------



@cli.command()
@click.option("--status", type=click.Choice(INCIDENT_STATUSES), help="Only incidents in this status.")
@click.option("--region", metavar="R", help="Only incidents tagged with this region slug.")
@click.option("--company", metavar="C", help="Only incidents naming this company slug.")
@click.option("--rule", metavar="ID", help="Only incidents of this catalog rule.")
@click.option("--since", metavar="DATE|SEQ", help="Only incidents updated on or after this date (ISO), or after this seq.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the N most recently updated.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_settings
def incidents(settings: Settings, status, region, company, rule, since, limit, as_json) -> None:
    """Incidents (one regulatory event each, with every item attached), most recently updated first."""
    after_seq = None
    if since is not None and since.strip().isdigit():
        after_seq, since = int(since.strip()), None
    elif since is not None:
        since = _as_of_time(since) if len(since.strip()) > 10 else _day_option("--since", since)
    with settings.open_store() as store:
        region, _country, company, rule = _change_filters(settings, store, region, None, company, rule)
        rows = incident_rows(store.conn, status=status, region=region, company=company, rule=rule, since=since)
    if after_seq is not None:
        rows = [r for r in rows if r["seq"] > after_seq]
    rows = rows[:limit] if limit else rows
    if as_json:
        for row in rows:
            click.echo(json.dumps(incident_json(row), ensure_ascii=False))
        return
    filtered = status or region or company or rule or since or after_seq is not None
    _table(["id", "updated", "status", "severity", "rule", "items", "sources", "regions", "companies", "title"],
           [[r["id"], when(r["updated_at"]), r["status"], r["severity"], r["rule"], len(r["items"]),
             len({i["source"] for i in r["items"]}), r["regions"], r["companies"], r["title"]] for r in rows],
           empty="no incident matches" if filtered else "nothing yet")


@cli.command()
@click.argument("incident_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_settings
def incident(settings: Settings, incident_id: str, as_json: bool) -> None:
    """One incident's timeline: every item attached and every status change, oldest first."""
    with settings.open_store() as store:
        timeline = incident_timeline(store.conn, incident_id)
    if timeline is None:
        raise Refused(f"no incident {incident_id!r}; `monitor incidents` lists them")
    if as_json:
        for entry in timeline:
            click.echo(json.dumps(entry, ensure_ascii=False))
        return
    rows = []
    for e in timeline:
        if e["type"] == "status":
            moved = f"{e['from']} -> {e['status']}" if e["from"] else f"opened as {e['status']}"
            rows.append([e["seq"], "status", "", "", "", e.get("reason"), moved])
        else:
            rows.append([e["seq"], "item", e["kind"], e["source"], e["language"], e["attached_by"], e["title"]])
    _table(["seq", "entry", "kind", "source", "lang", "attached by / reason", "title / status"], rows)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_settings
def rules(settings: Settings, as_json: bool) -> None:
    """The catalog of known rules, with the last change seen for each."""
    catalog = _detector(settings.config()).catalog
    seen: dict[str, tuple[int, int, dict]] = {}
    if settings.has_log():
        with settings.open_store() as store:
            seen = rule_summaries(store.conn)
    for rule in catalog.rules.values():
        count, seq, last = seen.get(rule.id, (0, None, None))
        row = {"id": rule.id, "title": rule.title, "issuer": rule.issuer, "jurisdiction": rule.jurisdiction,
               "kind": rule.kind, "changes": count,
               "last_change": {"seq": seq, "id": last["id"], "kind": last["kind"], "title": last["title"],
                               "published": last["published"]} if last else None}
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            latest = f"{last['kind']} {last['published'] or ''} {last['title'][:50]}" if last else "no change seen"
            click.echo(f"{rule.id:<38} {rule.jurisdiction or '-':<3} {count:>4}  {latest}")


# -- alerts ----------------------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(["queued", "delivered", "failed", "dead"], case_sensitive=False),
              help="Only alerts in this state (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the newest N (in the table).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line (in the order they were queued).")
@click.pass_context
def alerts(ctx: click.Context, statuses: tuple[str, ...], limit: int | None, as_json: bool) -> None:
    """The outbox: every alert queued, delivered (where, when), failed (why) or dead; newest first."""
    if ctx.invoked_subcommand is not None:
        return
    settings = ctx.find_object(Settings)
    with settings.open_store() as store:
        rows = alert_rows(store.conn, [st.lower() for st in statuses])
    if as_json:
        for row in rows:
            click.echo(json.dumps(alert_json(row), ensure_ascii=False))
        return
    rows = list(reversed(rows))[:limit] if limit else list(reversed(rows))
    _table(["alert", "status", "route", "group", "attempts", "incident", "where / when / why", "title"],
           [[r["alert_id"], r["status"], r["route"], r["group"], r["attempts"], r["incident"],
             (r["last_error"] if r["status"] in ("failed", "dead") else
              when(r["next_attempt_at"]) if r["status"] == "queued" else
              ", ".join(f"{d['target']} {when(d['at'])}" for d in r["delivered"])), r["title"]] for r in rows],
           empty="no alert in this state" if statuses else "nothing yet")


@alerts.command("retry")
@click.option("--id", "ids", multiple=True, metavar="ALERT", help="Retry these alerts (default: every dead one).")
@pass_settings
def alerts_retry(settings: Settings, ids: tuple[str, ...]) -> None:
    """Queue dead (or the named) alerts again; the next relay pass sends them."""
    with settings.open_store(write=True, purpose="queue alerts again") as store:
        try:
            found = requeue(store, ids, to_iso(settings.clock()))
        except NotRetryable as exc:
            raise Refused(f"--id: {exc}") from None
    click.echo(f"queued again: {len(found)} alerts")


def _check_apprise(config: Config) -> None:
    """The apprise configuration loads, and every route's tag (and the ops tag) has a service."""
    apprise = config.apprise_config_path
    if apprise is None:
        return
    try:
        targets = apprise_targets(apprise)
    except AppriseConfigError as exc:  # each line names the apprise file and the entry
        raise Refused("\n".join(exc.problems)) from None
    tags = [route.tag for route in config.alerts.routes] + [t for t in [config.alerts.ops_tag] if t]
    missing = [tag for tag in dict.fromkeys(tags) if not targets(tag)]
    if missing:
        raise Refused(f"{apprise}: no notification service has the tag {missing[0]!r} "
                      f"(used by [alerts] in {config.path.name})")


def _detector(config: Config):
    """The detector for a configuration; a bad [[rules]], [regions.*] or [companies.*], or a name
    the gazetteer does not know (in a route, a rule or a region), exits 2."""
    try:
        detector = daemon.make_detector(config)
    except ValueError as exc:  # CatalogError, GazetteerError
        raise Refused(f"{config.path}: {exc}") from None
    gazetteer = detector.gazetteer
    try:
        load_watchlist(config)  # a bad watchlist CSV is a bad configuration
        check_names(config, {"regions": gazetteer.regions, "countries": gazetteer.countries,
                             "companies": gazetteer.companies})
    except ConfigError as exc:
        raise Refused(str(exc)) from None
    return detector


# -- filter values ----------------------------------------------------------------------------------


def _resolve(value: str, names, option: str, what: str) -> str:
    try:
        return resolve(value, names, option=option, what=what)
    except UnknownValue as exc:
        raise Refused(str(exc)) from None


def _change_filters(settings: Settings, store: EventStore, region, country, company, rule):
    """Each filter value of `changes` as the name the changes are tagged with, or exit 2. The
    gazetteer and catalog (the configuration's, else the shipped ones) give names and aliases;
    the names in recorded changes count too, so a region since removed from the file still
    filters its old changes."""
    if not (region or country or company or rule):
        return region, country, company, rule
    config = settings.config() if settings.config_path or Path(DEFAULT_CONFIG).exists() else Config()
    detector = _detector(config)
    gazetteer = detector.gazetteer

    def names(entries, field: str) -> dict[str, list[str]]:
        found = {slug: [entry.name, *entry.aliases, *entry.case_sensitive] for slug, entry in entries.items()}
        for value in tag_values(store.conn, field):
            found.setdefault(value, [])
        return found

    if region:
        region = _resolve(region, names(gazetteer.regions, "regions"), "--region", "region")
    if country:
        country = _resolve(country, names(gazetteer.countries, "countries"), "--country", "country")
    if company:
        company = _resolve(company, names(gazetteer.companies, "companies"), "--company", "company")
    if rule:
        rules = {rule_id: () for rule_id in detector.catalog.rules}
        rules.update((r, ()) for r in tag_values(store.conn, "rule"))
        rule = _resolve(rule, rules, "--rule", "rule")
    return region, country, company, rule


def _event_types(store: EventStore) -> list[str]:
    """Every event type the monitor writes (the constants of monitor.events) and any in the log."""
    declared = {value for name, value in vars(events_module).items()
                if name.isupper() and isinstance(value, str) and value[:1].isupper() and value.isalpha()}
    return sorted(declared | set(event_counts(store.conn)))


def _table(headers: list[str], rows: list[list], *, empty: str = "nothing yet") -> None:
    """A table for people: a header row, one column per field, widths by display width."""
    if not rows:
        click.echo(empty)
        return
    for line in format_table(headers, rows):
        click.echo(line)


def _since(store: EventStore, since: str | None) -> int:
    """--since SEQ (events after it) or --since DATE (recorded on or after that day, UTC): a seq."""
    if since is None or not since.strip():
        return 0
    text = since.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = _as_of_time(text) if len(text) > 10 else _day_option("--since", text)
    except click.ClickException:
        raise Refused(f"--since: not a seq or an ISO date: {since!r}") from None
    return store.seq_at(moment) if len(text) > 10 else store.seq_at(moment)


def _anchor_key() -> bytes | None:
    key = os.environ.get("MONITOR_ANCHOR_KEY")
    return key.encode() if key else None


# -- the audit report ------------------------------------------------------------------------------


def _day_option(name: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        if len(text.strip()) != 10:
            raise ValueError
        return datetime.fromisoformat(text.strip()).date().isoformat()
    except ValueError:
        raise Refused(f"{name}: not a date as YYYY-MM-DD: {text!r}") from None


@cli.command()
@click.option("--from", "date_from", metavar="DATE", help="First day of the period (UTC, by recording time).")
@click.option("--to", "date_to", metavar="DATE", help="Last day of the period (inclusive).")
@click.option("--as-of", "as_of", metavar="TIME",
              help="Build it from what the monitor had recorded by then (ISO date or datetime; a date means its end).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Where to write the HTML report (one self-contained file).")
@click.option("--anchor", "anchor_paths", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Also check this anchor file (repeatable; the daemon's anchor directory is read too).")
@click.option("--witness", "witnesses", multiple=True, metavar="SEQ:HASH",
              help="Also check a log head held elsewhere, e.g. a digest's footer (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Also print the report's data as one JSON object.")
@pass_settings
def audit(settings: Settings, date_from, date_to, as_of, out: Path, anchor_paths, witnesses, as_json) -> None:
    """A self-contained, reproducible HTML report of a period: configuration, sources polled and
    failures, changes and incidents with their evidence, alerts and where they went, reminders,
    the chain's verification, anchors and witnesses, and the log head it was built from."""
    import tempfile

    from monitor.store.schema import connect
    from monitor.views import audit as report

    first, last = _day_option("--from", date_from), _day_option("--to", date_to)
    if first and last and first > last:
        raise Refused(f"--from {first} is after --to {last}")
    try:
        points = [parse_witness(text) for text in witnesses]
    except ValueError as exc:
        raise Refused(f"--witness: {exc}") from None
    if not out.parent.is_dir():
        raise Refused(f"--out: the directory {out.parent} does not exist")
    config = settings.config()
    detector = _detector(config)
    apprise_tags = None
    if config.apprise_config_path is not None:  # tags only: the file's addresses and secrets stay out
        _check_apprise(config)
        apprise_tags = sorted({r.tag for r in config.alerts.routes} | {t for t in [config.alerts.ops_tag] if t})
    cut = _as_of_time(as_of) if as_of else None
    command = " ".join(["monitor", "audit", *([f"--from {first}"] if first else []), *([f"--to {last}"] if last else []),
                        *([f"--as-of {as_of}"] if as_of else []), *(f"--witness {w}" for w in witnesses),
                        f"--out {out.name}"])
    with settings.open_store() as store, tempfile.TemporaryDirectory(prefix="monitor-audit-") as tmp:
        store.conn.execute("BEGIN")  # one snapshot: a daemon appending meanwhile changes nothing here
        head = store.head()
        until = store.seq_at(cut) if cut else head.seq
        verification = verify_log(store.conn, until=until, progress=Progress("audit: verify", until))
        if cut is None:
            conn = store.conn
        else:  # the projections as they stood: rebuilt from the log up to that seq, beside it
            db = Path(tmp) / "asof.db"
            replay_log(store, default_projections(), until=until, out=db, progress=Progress("audit: replay", until))
            conn = as_of_reader(db, settings.db_path.absolute(), until)
        low = store.seq_at(first) + 1 if first else 1
        high = min(until, store.seq_at(f"{last}T23:59:59.999999Z")) if last else until
        checked = _audit_points(store, config, settings, anchor_paths, points, until, verification.ok)
        data = report.collect(
            store=store, conn=conn, until=until, window=(low, high), as_of=cut, command=command,
            period={"from": first, "to": last}, config=report.configuration(config, detector, apprise_tags),
            build=asdict(version.build_info()), verification={**verification.to_json(), "checked": verification.checked},
            anchor_files=checked["files"], witnesses=checked["witnesses"],
            progress=Progress("audit: events", until))
        body = report.render_report(data)
        store.conn.execute("COMMIT")
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_bytes(body)
    os.replace(tmp_out, out)
    if as_json:
        click.echo(report.as_json(data))
    else:
        click.echo(f"wrote {out}: {len(data['changes'])} changes, {len(data['incidents'])} incidents, "
                   f"{len(data['alerts'])} alerts, {len(data['digests'])} digests; log head seq {data['head']['seq']}; "
                   f"chain {'ok' if verification.ok else 'FAILED at seq ' + str(verification.bad_seq)}")
    if not verification.ok:
        raise SystemExit(1)


def _audit_points(store, config, settings, anchor_paths, points, until: int, chain_ok: bool) -> dict:
    """Each anchor file (given, and those in the anchor directory) and witness, checked against
    the log up to ``until``: the hash it records is the hash at its seq."""
    from monitor.projections.browse import event_head

    def check(seq: int, digest: str) -> tuple[bool, str]:
        if seq > until:
            return True, f"after this report's head (seq {until}): not checked here"
        row = event_head(store.conn, seq)
        if row is None:
            return False, f"truncated: the log has no seq {seq}"
        if row[1] != digest:
            return False, f"rewritten: seq {seq} has hash {row[1][:16]}…, the record says {digest[:16]}…"
        return (True, "ok: the log holds this seq with this hash") if chain_ok else \
            (False, "the hash matches, but the chain does not verify")

    directory = config.anchor_path(settings.state_dir)
    paths = sorted({*anchor_paths, *(directory.glob("anchor-*.json") if directory.is_dir() else [])},
                   key=lambda p: (p.name, str(p)))
    files = []
    for path in paths:
        try:
            anchor = read_anchor(path, _anchor_key())
        except AnchorKeyMissing as exc:
            files.append({"file": path.name, "seq": None, "hash": None, "ok": False,
                          "result": str(exc).replace(str(path), path.name)})
            continue
        except AnchorError as exc:
            files.append({"file": path.name, "seq": None, "hash": None, "ok": False,
                          "result": str(exc).replace(str(path), path.name)})
            continue
        ok, result = check(anchor.seq, anchor.hash)
        files.append({"file": path.name, "seq": anchor.seq, "hash": anchor.hash, "ok": ok,
                      "result": result + (" (signature checked)" if anchor.signature else "")})
    witnesses = [{"seq": p.seq, "hash": p.hash, **dict(zip(("ok", "result"), check(p.seq, p.hash)))} for p in points]
    return {"files": files, "witnesses": witnesses}


# -- deadlines --------------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_settings
def deadlines(settings: Settings, as_json: bool) -> None:
    """Upcoming comment-close, effective and compliance dates, soonest first."""
    from monitor.views.console import deadline_rows

    with settings.open_store() as store:
        rows = deadline_rows(store.conn, settings.clock().date())
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    _table(["date", "in", "deadline", "rule", "source", "title"],
           [[r["date"], f"{r['days_left']} d", r["deadline"], r["rule"] or "-", r["source"], r["title"] or ""]
            for r in rows], empty="no upcoming deadline")


cli.add_command(cli_screening.entities)
cli.add_command(cli_screening.screen)
