"""`monitor run`: the long-running service.

An APScheduler ``AsyncIOScheduler`` in the running event loop holds the jobs, rebuilt from the
configuration at every start (nothing about jobs is persisted; the log is the only state):

- ``poll:<source>``: one interval job per enabled source, ``every`` plus up to 10% jitter, the
  first run at start; a failed poll brings its next run forward to the backoff's retry time. The
  runs fall on a grid (``poll_grid``: a quarter of a second, at most a tenth of the source's
  interval, inside the jitter's bound), so the polls due together wake the process once, and
  they are made by one ``Poller.cycle``, which shares the event loop's turns, timers, system
  calls and reads among them as `monitor poll` does; each job still waits for its own source's
  report only, and counts its own outcome;
- ``relay``: sends due digests, in a thread of its own so a slow SMTP server never stalls polling;
  woken early when a poll or a reminder queued alerts;
- ``reminders``: deadline reminders, hourly and at start;
- ``anchor``: the log head, signed with ``MONITOR_ANCHOR_KEY``, written daily (and at start when
  today's anchor is missing).

With the log in PostgreSQL several replicas share the work (``monitor/store/leases.py``): the
per-source jobs are replaced by one ``claim`` job that takes the sources that are due and held by
no one (at most ``MAX_IN_FLIGHT`` at a time), polls each and hands it back with its next due time;
the relay and the reminders run only on the replica holding their lease.

Every job runs one instance at a time, coalesces missed runs, and may run late by up to its own
interval; a run that comes due while the previous one is still going is skipped at its time and
made when that one ends. Errors, missed and skipped runs are logged and counted
(``monitor_job_runs_total``).

Shutdown (SIGTERM, SIGINT): the scheduler is paused, running polls get a moment to record what
they fetched and are then cancelled (appends are synchronous, so a cancelled poll never leaves a
half-written transaction: each append committed or never began), the relay finishes the digest
in flight, and the process exits 0 well within 10 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

from apscheduler.events import (
    EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics

from monitor.alerts.relay import Gate, Relay
from monitor.clock import Clock, parse_iso, system_clock, to_iso
from monitor.config import Config
from monitor.polling import Poller
from monitor.reminders import remind
from monitor.service.narrate import narrate
from monitor.store import anchor_head

if TYPE_CHECKING:  # the parts' types only: the parts themselves are given (Wiring)
    from monitor.alerts.relay import Target
    from monitor.alerts.routes import AlertQueue
    from monitor.collectors.http import Fetcher
    from monitor.detect.changes import Detector
    from monitor.store import EventStore

log = logging.getLogger("monitor")

POLL_GRACE = 3.0  # seconds a running poll may take to finish after a stop signal
STOP_BUDGET = 8.0  # seconds until everything still running is abandoned (Docker waits 10)
REMINDER_EVERY = timedelta(hours=1)
CLAIM_EVERY = 1.0  # seconds between two looks for due sources (also woken when a poll ends)
MAX_IN_FLIGHT = 20  # polls one replica runs at once with a shared log
FIRST_ANCHOR_AFTER = timedelta(minutes=1)
# Poll runs fall on a grid of POLL_GRID seconds, at most POLL_GRID_SHARE of the source's interval
# (the jitter's bound, which the grid stays inside). Each wake-up from sleep costs the process
# more than the scheduling itself (~0.2 ms a run when every run had a time of its own, ~0.07 ms on
# a grid, in a bare APScheduler loop of 300 jobs): at 30 polls a second a quarter-second grid
# gathers ~8 polls a wake-up, and their one cycle shares the loop's turns among them.
POLL_GRID = 0.25
POLL_GRID_SHARE = 0.1

disable_created_metrics()  # `*_created` series double the output and tell a scraper nothing it needs


class ServiceError(RuntimeError):
    """The service cannot start (e.g. its listen address is taken)."""


@dataclass
class Status:
    """What the status endpoints show; written by the event loop, read by the HTTP threads."""

    started_at: datetime
    scheduler_running: bool = False
    stopping: bool = False
    last_cycle_at: datetime | None = None  # the last poll job that ran to its end
    store_error: str | None = None  # the last failure to append, until an append succeeds again


@dataclass(frozen=True)
class Wiring:
    """The parts the service is made of, given by the composition root (``monitor/daemon.py``), the
    one module that knows how each is built."""

    open_store: Callable[..., EventStore]  # (state_dir, clock=, database=): the log with its projections
    make_detector: Callable[[Config], Detector]
    make_fetcher: Callable[[Config], Fetcher]
    make_alerts: Callable[[Config, Detector], AlertQueue]  # the routes: polls and reminders queue through it
    relay_targets: Callable[[Config, str], Callable[[str], Sequence[Target]]]  # (config, log format)
    start_http: Callable[[str, "Service"], Any]  # (listen, service): the status and console server, started


class Service:
    def __init__(self, config: Config, state_dir: Path, *, wiring: Wiring, listen: str | None = None,
                 clock: Clock = system_clock, anchor_key: bytes | None = None,
                 first_anchor_after: timedelta = FIRST_ANCHOR_AFTER, log_format: str = "text",
                 console_token: str | None = None):
        self.config, self.state_dir, self.listen, self.clock = config, Path(state_dir), listen, clock
        self.wiring = wiring
        self.console_token = console_token  # MONITOR_CONSOLE_TOKEN: the console off loopback, and retries
        self.database = config.database_url  # None: the log is <state_dir>/events.db
        self.replica = os.environ.get("MONITOR_REPLICA", "").strip() or f"{socket.gethostname()}:{os.getpid()}"
        self.leases = None  # with a shared log: the leases this replica takes its work by
        self._in_flight: set[str] = set()
        self._renewed = 0.0  # time.monotonic() of the last renewal of the in-flight leases
        self.log_format = log_format  # digests printed without an apprise configuration follow the log's format
        self.anchor_key, self.first_anchor_after = anchor_key, first_anchor_after
        self.status = Status(started_at=clock())
        self.registry = CollectorRegistry()
        self.job_runs = Counter("monitor_job_runs", "Scheduled job runs by outcome (ok, error, missed, skipped, "
                                "cancelled)", ["job", "outcome"], registry=self.registry)
        Gauge("monitor_scheduler_running", "1 while the scheduler runs", registry=self.registry) \
            .set_function(lambda: 1 if self.status.scheduler_running else 0)
        Gauge("monitor_last_cycle_timestamp_seconds", "When a poll job last ran to its end (Unix time)",
              registry=self.registry).set_function(
            lambda: self.status.last_cycle_at.timestamp() if self.status.last_cycle_at else 0)
        Gauge("monitor_started_timestamp_seconds", "When the daemon started (Unix time)", registry=self.registry) \
            .set(self.status.started_at.timestamp())
        self.registry.register(_LeaseCollector(self))
        self._stop = asyncio.Event()
        self._running: set[asyncio.Task] = set()
        self._relay_task: asyncio.Task | None = None
        self._relay_busy = False  # from the relay job's submission to its end
        self._relay_again = False
        self._narrated = 0
        self._narration: asyncio.Handle | None = None  # the narration due at the loop's next turn
        self._due_again: set[str] = set()  # jobs whose run came due while the previous one was running
        self._batch: dict[str, asyncio.Future] = {}  # polls due, waiting for the next batched cycle
        self._batch_start: asyncio.Handle | None = None  # that cycle's start, at the loop's next turn
        self._closed = False  # the store is closed: nothing reads or writes it any more
        self.gate = Gate()  # closed at the stop: no relay outcome is recorded after it
        self.abandoned = False  # a send was still in flight at the stop deadline

    # -- life cycle ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the service to stop (a second request abandons what is still running at once)."""
        if self.status.stopping:
            log.warning("second stop signal: abandoning running jobs")
            for task in list(self._running):
                task.cancel()
            return
        self.status.stopping = True
        self._stop.set()

    async def run(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        self.store = self.wiring.open_store(self.state_dir, clock=self.clock, database=self.database)
        server = None
        try:
            if self.database:
                from monitor.store.leases import Leases

                self.leases = Leases(self.database, self.replica, self.config.monitor.lease)
                self.leases.register([s.id for s in self.enabled_sources()])
            self._narrated = self.store.head().seq  # narrate what happens from now on
            self.targets = self.wiring.relay_targets(self.config, self.log_format)
            self.detector = self.wiring.make_detector(self.config)  # also the vocabulary the endpoints check filters against
            self.alerts = self.wiring.make_alerts(self.config, self.detector)
            server = self._start_http()
            async with self.wiring.make_fetcher(self.config) as fetcher:
                self.poller = Poller(self.config, self.store, fetcher, self.clock, detector=self.detector,
                                     alerts=self.alerts)
                self.scheduler = self._schedule()
                self.scheduler.start()
                self.status.scheduler_running = True
                jobs = len(self.scheduler.get_jobs())
                log.info("started: %d sources, %d jobs, state %s%s", len(self.enabled_sources()), jobs,
                         self.state_dir, f", listening on http://{server.address}" if server else "",
                         extra={"fields": {"event": "started", "sources": len(self.enabled_sources()), "jobs": jobs,
                                           "listen": server.address if server else None}})
                await self._stop.wait()
                await self._drain()
        finally:
            self.status.scheduler_running = False
            if server:
                server.close()
            if not self.gate.close(timeout=1.0):
                self.abandoned = True  # the relay is writing a record this very moment and did not let go
            self._narrate()
            self._closed = True
            if self.leases is not None:
                try:
                    self.leases.release()  # the other replicas take over at once
                except Exception:  # noqa: BLE001 (the database may be what is failing)
                    log.warning("could not release this replica's leases; they expire within %s",
                                self.config.monitor.lease)
                self.leases.close()
            self.store.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("stopped", extra={"fields": {"event": "stopped"}})

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_BUDGET
        self.scheduler.pause()  # no new runs from here on
        self._start_batch()  # now, not a turn later: its cycle is then among the jobs the stop waits for
        running = set(self._running)
        log.info("stopping: %d job(s) running", len(running), extra={"fields": {"event": "stopping",
                                                                                "running": len(running)}})
        if running:
            _, running = await asyncio.wait(running, timeout=POLL_GRACE)
        for task in running:
            if task is not self._relay_task:  # the relay finishes its digest in flight, then stops
                task.cancel()
        if running:
            _, running = await asyncio.wait(running, timeout=max(0.1, deadline - loop.time()))
        if running:
            self.abandoned = True
            log.warning("abandoning %d job(s) still running at the stop deadline; a digest being sent now may be "
                        "sent again after the restart", len(running))
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # let the scheduler's shutdown (scheduled on the loop) run

    # -- jobs -------------------------------------------------------------------------------------------

    def enabled_sources(self):
        return [source for source in self.config.sources if source.enabled]

    def _schedule(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=timezone.utc, job_defaults={"coalesce": True, "max_instances": 1})
        scheduler.add_listener(self._on_job_event,
                               EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        scheduler.add_listener(self._on_job_submitted, EVENT_JOB_SUBMITTED)
        now = _scheduler_now()
        if self.leases is not None:
            scheduler.add_job(self._tracked, IntervalTrigger(seconds=CLAIM_EVERY), args=[self._claim], id="claim",
                              name="claim due sources", next_run_time=now, misfire_grace_time=60)
        for source in self.enabled_sources() if self.leases is None else ():
            seconds = source.every.total_seconds()
            scheduler.add_job(self._tracked, GridTrigger(seconds, jitter=seconds * 0.1, grid=poll_grid(seconds)),
                              args=[self._poll, source.id], id=f"poll:{source.id}", name=f"poll {source.id}",
                              next_run_time=now, misfire_grace_time=_grace(seconds))
        relay_every = self.config.alerts.relay_every.total_seconds()
        scheduler.add_job(self._tracked, IntervalTrigger(seconds=relay_every), args=[self._relay], id="relay",
                          name="alert relay", next_run_time=now, misfire_grace_time=_grace(relay_every))
        scheduler.add_job(self._tracked, IntervalTrigger(seconds=REMINDER_EVERY.total_seconds()), args=[self._remind],
                          id="reminders", name="deadline reminders", next_run_time=now,
                          misfire_grace_time=_grace(REMINDER_EVERY.total_seconds()))
        # Today's anchor, if missing, soon after start: after the first polls, not of an empty log.
        # (next_run_time=None would pause the job, so it is only passed to bring the run forward.)
        first = {} if self._anchor_file().exists() else {"next_run_time": now + self.first_anchor_after}
        scheduler.add_job(self._tracked, CronTrigger(hour=0, minute=0, timezone=timezone.utc), args=[self._anchor],
                          id="anchor", name="daily anchor", misfire_grace_time=_grace(86400), **first)
        return scheduler

    async def _tracked(self, work: Callable[..., Awaitable[None]], *args) -> None:
        """Run a job so that shutdown can wait for it, then log what it appended."""
        task = asyncio.current_task()
        self._running.add(task)
        try:
            await work(*args)
        finally:
            self._running.discard(task)
            self._narrate_soon()

    async def _claim(self) -> None:
        """Start a poll of each due source no replica holds, up to this replica's share."""
        if self.status.stopping:
            return
        if self._in_flight and time.monotonic() - self._renewed > self.leases.seconds / 3:
            self.leases.renew(sorted(self._in_flight))
            self._renewed = time.monotonic()
        enabled = [s.id for s in self.enabled_sources()]
        for source_id in self.leases.claim_due(enabled, MAX_IN_FLIGHT - len(self._in_flight)):
            self._in_flight.add(source_id)
            asyncio.get_running_loop().create_task(self._tracked(self._poll_leased, source_id))

    async def _poll_leased(self, source_id: str) -> None:
        job, source, retry_at = f"poll:{source_id}", self.config.source(source_id), None
        cancelled = False
        try:
            report = await self._poll(source_id)
            retry_at = parse_iso(report.retry_at) if report.retry_at else None
            self.job_runs.labels(job, "ok").inc()
        except asyncio.CancelledError:
            # Cancelled at a stop: its outcome was not recorded, so the source stays due and the
            # lease is let go with the others (another replica polls it at once).
            cancelled = True
            self.job_runs.labels(job, "cancelled").inc()
            raise
        except Exception as exc:  # noqa: BLE001 (logged and counted as a job error, as the scheduler does)
            self.job_runs.labels(job, "error").inc()
            log.error("job %s failed: %s: %s", job, exc.__class__.__name__, exc,
                      extra={"fields": {"event": "job_error", "job": job, "error": exc.__class__.__name__}})
        finally:
            self._in_flight.discard(source_id)
            if not cancelled:
                try:
                    self.leases.done(source_id, source.every, retry_at)
                except Exception as exc:  # noqa: BLE001 (the lease then expires: another replica polls it)
                    log.error("could not hand back %s: %s", source_id, exc)
            if not self.status.stopping and self.scheduler.running:
                    self.scheduler.modify_job("claim", next_run_time=_scheduler_now())

    def holdings(self) -> dict | None:
        """Which replica this is and who holds what now (None without a shared log)."""
        if self.leases is None:
            return None
        return {"replica": self.replica, "polling": sorted(self._in_flight), "leases": self.leases.held()}

    async def _poll(self, source_id: str):
        report = await self._batched(source_id)
        if not report.recorded:
            self.status.store_error = report.message
            raise RuntimeError(f"{source_id}: {report.message}")
        self.status.store_error = None
        self.status.last_cycle_at = self.clock()
        if report.alerts:  # a pass for them now, rather than at the relay's next run
            self._wake_relay()
        if report.retry_at:
            self._bring_forward(f"poll:{source_id}", parse_iso(report.retry_at))
        return report

    def _batched(self, source_id: str) -> asyncio.Future:
        """This source's report from the next batched cycle, which starts at the loop's next turn:
        the runs due at one point of the grid were all submitted by one pass of the scheduler, and
        each reaches here in its first step, so the cycle holds them all. (A job cancelled before
        the cycle starts cancels its future, and its source is left out of the cycle.)"""
        future = self._batch.get(source_id)
        if future is None or future.done():
            future = self._batch[source_id] = self._loop.create_future()
        if self._batch_start is None:
            self._batch_start = self._loop.call_soon(self._start_batch)
        return future

    def _start_batch(self) -> None:
        if self._batch_start is not None:
            self._batch_start.cancel()  # when started early, at a stop
        self._batch_start = None
        batch = {source_id: future for source_id, future in self._batch.items() if not future.done()}
        self._batch = {}
        if batch:
            task = self._loop.create_task(self._batch_cycle(batch))
            self._running.add(task)  # a stop waits for it, then cancels it, as it does a job
            task.add_done_callback(self._running.discard)

    async def _batch_cycle(self, batch: dict[str, asyncio.Future]) -> None:
        def settle(report) -> None:
            future = batch.get(report.source)
            if future is not None and not future.done():
                future.set_result(report)

        try:
            await self.poller.cycle(list(batch), on_report=settle)
        except asyncio.CancelledError:
            for future in batch.values():
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 (the store failed before any poll: each job fails with it)
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        for source_id, future in batch.items():
            if not future.done():  # no such source any more
                future.set_exception(RuntimeError(f"{source_id}: not a configured source"))

    async def _relay(self) -> None:
        self._relay_task = asyncio.current_task()
        try:
            while True:
                self._relay_again = False
                await _in_thread(self._relay_pass, name="relay")
                if not self._relay_again or self.status.stopping:
                    return
        finally:
            self._relay_task = None
            self._relay_busy = False

    def _relay_pass(self) -> None:
        # Its own connection: SQLite connections stay in the thread that opened them.
        if self.leases is not None and not self.leases.hold("relay"):
            return  # another replica runs the relay
        still_ours = (lambda: True) if self.leases is None else (lambda: self.leases.hold("relay"))
        kept = contextlib.nullcontext() if self.leases is None else self.leases.kept("relay")  # a pass may outlast it
        with kept, self.wiring.open_store(self.state_dir, clock=self.clock, database=self.database) as store:
            Relay(store, self.config.alerts, self.targets, self.clock, gate=self.gate) \
                .run_once(lambda: self.status.stopping, still_ours)

    async def _remind(self) -> None:
        if self.leases is not None and not self.leases.hold("reminders"):
            return  # another replica sends the reminders
        now = self.clock()
        if remind(self.store, now.date(), self.config.monitor.reminder_days, self.alerts, now):
            self._wake_relay()

    async def _anchor(self) -> None:
        if self.store.head().seq == 0:
            return  # nothing to anchor yet
        path = self._anchor_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        anchor_head(self.store, path, self.anchor_key, to_iso(self.clock()))

    def _anchor_file(self) -> Path:
        return self.config.anchor_path(self.state_dir) / f"anchor-{self.clock().date().isoformat()}.json"

    def wake_relay_threadsafe(self) -> None:
        """From another thread (the console's retry): wake the relay in the event loop's thread."""
        loop = getattr(self, "_loop", None)
        if loop is not None and not self._closed:
            try:
                loop.call_soon_threadsafe(self._wake_relay)
            except RuntimeError:  # the loop closed meanwhile: the next start sends them
                pass

    def _wake_relay(self) -> None:
        if self._relay_busy:
            self._relay_again = True  # the pass under way (or about to start) goes round once more
        elif not self.status.stopping:
            self.scheduler.modify_job("relay", next_run_time=_scheduler_now())

    def _bring_forward(self, job_id: str, when: datetime) -> None:
        job = self.scheduler.get_job(job_id)
        if job is not None and job.next_run_time is not None and when < job.next_run_time:
            job.modify(next_run_time=when)

    def _on_job_submitted(self, event: JobEvent) -> None:
        if event.job_id == "relay":
            self._relay_busy = True

    def _on_job_event(self, event: JobEvent) -> None:
        outcome = {EVENT_JOB_EXECUTED: "ok", EVENT_JOB_ERROR: "error", EVENT_JOB_MISSED: "missed",
                   EVENT_JOB_MAX_INSTANCES: "skipped"}[event.code]
        if event.job_id == "relay" and event.code != EVENT_JOB_MAX_INSTANCES:
            self._relay_busy = False  # also when a missed run never reached the job itself
        if event.code == EVENT_JOB_MAX_INSTANCES:
            self._due_again.add(event.job_id)
        elif event.code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR) and event.job_id in self._due_again:
            # A run that came due while this one was going is made now, once, rather than dropped
            # until the next interval: a slow poll must not cost its source a whole round.
            self._due_again.discard(event.job_id)
            if not self.status.stopping and self.scheduler.running:
                self._bring_forward(event.job_id, _scheduler_now())
        exception = getattr(event, "exception", None)
        if isinstance(exception, asyncio.CancelledError):
            outcome = "cancelled"
        self.job_runs.labels(event.job_id, outcome).inc()
        fields = {"event": f"job_{outcome}", "job": event.job_id}
        if outcome == "error":
            log.error("job %s failed: %s: %s", event.job_id, exception.__class__.__name__, exception,
                      extra={"fields": {**fields, "error": exception.__class__.__name__}})
            log.debug("job %s traceback:\n%s", event.job_id, getattr(event, "traceback", ""))
        elif outcome == "missed":
            log.warning("job %s missed its run at %s (the process was busy or suspended)", event.job_id,
                        to_iso(event.scheduled_run_time), extra={"fields": fields})
        elif outcome == "skipped":
            log.warning("job %s skipped a run: the previous one is still running (it runs again when that one "
                        "ends)", event.job_id, extra={"fields": fields})

    # -- log lines ----------------------------------------------------------------------------------

    def _narrate_soon(self) -> None:
        """Narrate at the loop's next turn: the polls of a batch end together, and one read of the
        log tells what they all appended."""
        if self._narration is None:
            self._narration = self._loop.call_soon(self._narrate)

    def _narrate(self) -> None:
        """One log line per new event worth reading, whoever appended it."""
        self._narration = None
        if self._closed:
            return  # after the stop: a job that ends now has nothing to tell, and no store to read
        try:
            for event in self.store.read(since=self._narrated):
                self._narrated = event.seq
                line = narrate(event)
                if line is not None:
                    log.log(line.level, line.message, extra={"fields": line.fields})
        except Exception:  # narration is a courtesy: it must never fail a job
            log.exception("could not read the log for narration")

    # -- HTTP -------------------------------------------------------------------------------------------

    def _start_http(self):
        if not self.listen:
            return None
        try:
            return self.wiring.start_http(self.listen, self)
        except OSError as exc:
            raise ServiceError(f"cannot listen on {self.listen}: {exc.strerror or exc}") from None


class _LeaseCollector:
    """/metrics with a shared log: this replica's name, and each lease held now, by whom."""

    def __init__(self, service: "Service"):
        self.service = service

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        holdings = None
        try:
            holdings = self.service.holdings()
        except Exception:  # noqa: BLE001 (a scrape must not fail because the database does)
            log.debug("could not read the leases for /metrics", exc_info=True)
        if holdings is None:
            return
        info = GaugeMetricFamily("monitor_replica", "This replica (1), by name", labels=["replica"])
        info.add_metric([holdings["replica"]], 1)
        yield info
        held = GaugeMetricFamily("monitor_lease_held", "Leases held now (1 each), by lease and holding replica",
                                 labels=["lease", "replica"])
        for lease in holdings["leases"]:
            held.add_metric([lease["lease"], lease["replica"]], 1)
        yield held
        polling = GaugeMetricFamily("monitor_polls_in_flight", "Sources this replica is polling now")
        polling.add_metric([], len(holdings["polling"]))
        yield polling

    def describe(self):
        return []


def _scheduler_now() -> datetime:
    """Now, for a run time handed to APScheduler: on the system clock, which the scheduler fires by,
    not on the service's clock (``Service.clock``, injected: what events and status are stamped
    with), which may be a test's clock or fixed; a run time on it could be missed or never come."""
    return system_clock()


def poll_grid(interval_seconds: float) -> float:
    """The step of the grid a source's poll runs fall on."""
    return min(POLL_GRID, POLL_GRID_SHARE * interval_seconds)


class GridTrigger(IntervalTrigger):
    """Every ``seconds`` plus a random ``0..jitter``, rounded up to a multiple of ``grid`` seconds
    (Unix time): the jitter drawn is ``grid`` less, so a run is never later than the interval
    and the jitter would make it, and the runs of sources due close together coincide."""

    def __init__(self, seconds: float, *, jitter: float, grid: float):
        super().__init__(seconds=seconds, jitter=max(0.0, jitter - grid))
        self.grid = grid

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        fire = super().get_next_fire_time(previous_fire_time, now)
        if fire is None:
            return None
        at = fire.timestamp()
        steps = math.ceil(at / self.grid - 1e-6)  # a time already on the grid (to float error) stays
        return fire + timedelta(seconds=steps * self.grid - at)


def _grace(interval_seconds: float) -> int:
    """A late run still runs if it is less than one interval late (at least a minute)."""
    return int(max(60, interval_seconds))


def _in_thread(fn: Callable[[], Any], *, name: str) -> asyncio.Future:
    """Run ``fn`` in a daemon thread: unlike the loop's executor, a thread stuck in a send can never
    hold the process past its stop deadline."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result=None, error: BaseException | None = None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(result)

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:
            outcome = (None, exc)
        else:
            outcome = (result, None)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting any more

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def run_service(service: Service) -> None:
    asyncio.run(service.run())
    if service.abandoned:
        # A send abandoned at the stop deadline is still blocked in apprise's worker threads, which
        # the interpreter would wait for at exit. Its outcome can no longer be recorded (the gate is
        # closed), so nothing is lost by not waiting: exit now, inside the stop budget.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
