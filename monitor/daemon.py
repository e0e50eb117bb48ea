"""The composition root: the one module that knows every other and wires them together."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable, Sequence

from monitor.alerts.relay import DigestReport, Relay, Target
from monitor.alerts.routes import AlertQueue
from monitor.alerts.targets import apprise_targets, printed_targets
from monitor.clock import Clock, system_clock
from monitor.collectors.http import Fetcher, HostLimit
from monitor.config import Config
from monitor.detect.catalog import Catalog
from monitor.detect.changes import Detector
from monitor.detect.classify import compile_topics, shipped_topics
from monitor.detect.gazetteer import Gazetteer
from monitor.reminders import remind
from monitor.polling import Poller, SourceReport
from monitor.projections import Projector, default_projections
from monitor.store import EVENTS_DB, EventStore, StoreError
from monitor.store.access import stale_projections
from monitor.store.schema import CACHE_KIB, SMALL_CACHE_KIB



def open_store(state_dir: str | Path, *, clock: Clock = system_clock, database: str | None = None,
               cache_kib: int = CACHE_KIB) -> EventStore:
    """The event log of a state directory, with every live projection attached; with ``database``
    (a postgresql:// URL) the shared log there, mirrored with its projections in the state directory.
    ``cache_kib``: SQLite's page cache of the (local) connection."""
    projections = Projector(default_projections())
    if database:
        from monitor.store.postgres import PostgresEventStore

        return PostgresEventStore(database, Path(state_dir) / EVENTS_DB, clock=clock, projections=projections)
    return EventStore(Path(state_dir) / EVENTS_DB, clock=clock, projections=projections, cache_kib=cache_kib)


def open_reader(state_dir: str | Path, database: str | None = None) -> tuple[EventStore, list[str]]:
    """The event log of a state directory opened read-only (it works on a read-only copy), and the
    names of the projections that are still behind the log there.

    Projections are brought up to date when the store opens for writing; a log written by another
    version of the monitor may have some behind. They are then rebuilt once, through a writing
    open, when the state allows it; on a read-only copy they stay as they are, and are named.
    A shared log in PostgreSQL is opened as a writer would (its mirror is brought up to date)."""
    if database:
        return open_store(state_dir, database=database), []
    path = Path(state_dir) / EVENTS_DB
    store = EventStore(path, readonly=True)
    behind = stale_projections(store.conn, default_projections(), store.head().seq)
    if behind:
        try:
            open_store(state_dir).close()
        except StoreError:
            return store, behind  # read-only: report them rather than fail
        store.close()
        store = EventStore(path, readonly=True)
        behind = stale_projections(store.conn, default_projections(), store.head().seq)
    return store, behind


def make_fetcher(config: Config) -> Fetcher:
    settings = config.monitor
    return Fetcher(
        user_agent=settings.user_agent,
        connect_timeout=settings.connect_timeout.total_seconds(),
        read_timeout=settings.read_timeout.total_seconds(),
        total_timeout=settings.total_timeout.total_seconds(),
        max_redirects=settings.max_redirects,
        hosts={host: HostLimit(rate=h.rate, concurrency=h.concurrency) for host, h in settings.hosts.items()},
    )


def make_detector(config: Config) -> Detector:
    """The catalog and gazetteer shipped with the package, extended by the configuration."""
    topics = compile_topics((*shipped_topics(), *config.monitor.topics))
    # the catalog takes plain data: the configuration's rule entries are converted here, at the edge
    rules = [rule.model_dump() for rule in config.rules]
    return Detector(Catalog.load(rules), Gazetteer.load(config.regions, config.companies), topics)


def make_alerts(config: Config, detector: Detector) -> AlertQueue:
    """The configured routes, naming places and companies as the detector's gazetteer does: one
    queue for the poll cycle and the reminders alike."""
    return AlertQueue(config.alerts, detector.gazetteer.name, detector.gazetteer.breadth)


async def poll_once(config: Config, state_dir: Path, *, only: Sequence[str] | None = None, force: bool = False,
                    clock: Clock = system_clock, log_format: str = "text",
                    digests: list[DigestReport] | None = None) -> list[SourceReport]:
    """One cycle of every (or the named) source, recorded in the state directory's log, then the
    deadline reminders that are due and a relay pass (whose outcomes go into ``digests``, when
    given, so that `monitor poll` can show a delivery that failed). ``log_format`` "json" prints
    digests (without an apprise configuration) as JSON lines."""
    detector = make_detector(config)
    with open_store(state_dir, clock=clock, database=config.database_url) as store:
        async with make_fetcher(config) as fetcher:
            alerts = make_alerts(config, detector)
            poller = Poller(config, store, fetcher, clock, detector=detector, alerts=alerts)
            reports = await poller.cycle(only, force=force)
        remind(store, clock().date(), config.monitor.reminder_days, alerts, clock())
        sent = make_relay(config, store, clock, log_format=log_format).run_once()
        if digests is not None:
            digests.extend(sent)
        return reports


def relay_targets(config: Config, log_format: str = "text") -> Callable[[str], Sequence[Target]]:
    """The apprise targets of the configuration by tag, or standard output without any (as text, or
    as JSON lines under JSON logging)."""
    path = config.apprise_config_path
    return apprise_targets(path) if path is not None else printed_targets(log_format)


def make_relay(config: Config, store: EventStore, clock: Clock = system_clock, *, log_format: str = "text") -> Relay:
    return Relay(store, config.alerts, relay_targets(config, log_format), clock)


def poll(config: Config, state_dir: Path, **options) -> list[SourceReport]:
    return asyncio.run(poll_once(config, state_dir, **options))


# `monitor run` and `monitor demo` load their modules (the scheduler, the HTTP server and console,
# the recorded sources) only when they are the command: the other commands never need them.


def make_service(config: Config, state_dir: Path, **options):
    """`monitor run`: the service on the state directory, with the parts it runs with made here
    (the service knows what it needs, not how each part is built)."""
    from monitor.service.runner import Service, Wiring

    wiring = Wiring(open_store=_open_daemon_store, make_detector=make_detector, make_fetcher=make_fetcher,
                    make_alerts=make_alerts, relay_targets=relay_targets, start_http=_start_http)
    return Service(config, state_dir, wiring=wiring, **options)


def _open_daemon_store(state_dir: str | Path, **options) -> EventStore:
    """The daemon's connections (its own and the relay's) keep a small page cache: a poll touches a
    few pages, and a large cache filled once by the first cycle's writes would stay resident."""
    return open_store(state_dir, cache_kib=SMALL_CACHE_KIB, **options)


def _start_http(listen: str, service):
    from monitor.service.http import StatusServer

    return StatusServer.start(listen, service)


def run_demo(state_dir: Path | None = None, **options) -> int:
    """`monitor demo`: the real pipeline (this module's store and poll cycle) on recorded sources."""
    from monitor.demo import Pipeline, run_demo

    return run_demo(state_dir, Pipeline(open_store=open_store, poll=poll), **options)
