"""A poll cycle: collect every due source concurrently and record each outcome as it arrives.

Each source's outcome is appended in its own transaction as soon as it is known, so a source that
hangs until its deadline never delays what the others found. Failures become ``SourceFailed``
events with the next attempt time (exponential backoff with jitter, or the server's Retry-After);
a source inside that window is skipped unless forced. No source is ever given up on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from monitor.clock import Clock, parse_iso, to_iso
from monitor.retry import next_attempt_after
from monitor.collectors.collect import KINDS, PollOutcome, SourceMemory, collect, source_info
from monitor.collectors.http import Fetcher, Validators
from monitor.config import Config
from monitor.alerts.routes import AlertQueue
from monitor.detect.changes import Detector
from monitor.detect.incidents import IncidentFold, assign_all, wanted_keys
from monitor.detect.identity import KnownItem, item_events, rekey_unstable
from monitor.observation import Observation
from monitor.events import (
    SOURCE_FAILED, SOURCE_POLLED, SOURCE_RECOVERED, NewEvent, SourceFailed, SourcePolled, SourceRecovered, derive_event_id,
)
from monitor.projections.incidents import incident_states
from monitor.projections.items import item_keys_by_url, known_items
from monitor.projections.sources import source_state, source_states
from monitor.projections import screening as screening_reads
from monitor.detect import screening as screening_diff
from monitor.detect.watchlist import Screener
from monitor.store import ConcurrencyError, EventStore
from monitor.watchlist import Watchlist, load_watchlist, match_events, match_view, new_matches, watchlist_change


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceReport:
    source: str
    status: str  # new, not_modified, unchanged, no_change, failed, skipped
    new: int = 0
    revised: int = 0
    changes: int = 0
    entries: int | None = None
    message: str | None = None
    retry_at: str | None = None
    recorded: bool = True  # False when the outcome could not be appended (the store is failing)
    removed: int = 0  # screening lists: entities removed
    matches: int = 0  # screening lists: new watchlist matches
    alerts: int = 0  # alerts queued for the relay (changes, matches, a failing source's ops alert)


class Poller:
    def __init__(self, config: Config, store: EventStore, fetcher: Fetcher, clock: Clock,
                 rng: random.Random | None = None, detector: Detector | None = None,
                 alerts: AlertQueue | None = None, watchlist: Watchlist | None = None):
        self.config, self.store, self.fetcher, self.clock = config, store, fetcher, clock
        self.watchlist = watchlist if watchlist is not None else load_watchlist(config)
        self.rng = rng or random.Random()
        self.detector = detector
        self.alerts = alerts  # given by the composition root (daemon.make_alerts); None: no alerts queued
        # The configuration's order, once: the daemon runs cycles of the few sources due together,
        # which must not cost a walk over every source (that made a round of polls O(n²)).
        self._order = {source.id: i for i, source in enumerate(config.sources)}
        # Per source, what the parse of its last recorded body left for the next (incremental feed
        # parsing); set only once that poll is in the log, so a failed append repeats the full work.
        self._parsed: dict[str, object] = {}

    async def cycle(self, only: Sequence[str] | None = None, *, force: bool = False,
                    on_report: Callable[[SourceReport], None] | None = None) -> list[SourceReport]:
        """Poll every enabled (or the named) source; ``on_report`` is told each source's report as
        soon as it is known (the daemon's batched polls: a slow source holds up no other's job)."""
        tell = on_report or (lambda report: None)
        self.store.refresh()  # a shared log: what the other replicas appended, into our projections
        self.record_watchlist()
        states = source_states(self.store.conn, only)
        now = self.clock()
        reports: list[SourceReport] = []
        tasks = []
        if only is None:
            chosen = [source for source in self.config.sources if source.enabled]
        else:
            named = {self._order[source_id] for source_id in only if source_id in self._order}
            chosen = [self.config.sources[i] for i in sorted(named)]
        for source in chosen:
            state = states.get(source.id)
            retry_at = state and state["retry_at"]
            if retry_at and parse_iso(retry_at) > now and not force:
                reports.append(SourceReport(source.id, "skipped", message=f"backing off until {retry_at}",
                                            retry_at=retry_at))
                tell(reports[-1])
                continue
            tasks.append(self._poll_told(source, state, now.year, tell))
        reports.extend(await asyncio.gather(*tasks))
        return sorted(reports, key=lambda r: self._order.get(r.source, 0))

    async def _poll_told(self, source, state: dict | None, year: int,
                         tell: Callable[[SourceReport], None]) -> SourceReport:
        report = await self._poll_one(source, state, year)
        tell(report)
        return report

    async def _poll_one(self, source, state: dict | None, year: int) -> SourceReport:
        memory = SourceMemory(
            Validators(state["etag"], state["last_modified"]) if state else Validators(),
            state["body_sha256"] if state else None,
            self._parsed.get(source.id),
        )
        outcome = await collect(source, self.fetcher, memory, year=year)
        try:
            report = self.record(source, outcome)
            if outcome.ok and not (outcome.not_modified or outcome.unchanged):  # a new body, recorded
                self._parsed[source.id] = outcome.parse_memory
            return report
        except Exception as exc:  # recording one source must never cost the others their results
            # One line for the operator; the traceback (which may quote the body) at debug level.
            log.error("recording the poll of %s failed (%s)", source.id, exc.__class__.__name__)
            log.debug("recording the poll of %s failed", source.id, exc_info=True)
            return self._record_unrecordable(source, outcome, exc)

    def _record_unrecordable(self, source, outcome: PollOutcome, exc: Exception) -> SourceReport:
        """A poll whose outcome could not be appended is itself a failure of the source, recorded
        (when the store still takes writes) so that `sources`, /healthz, the metrics and the ops
        route see it. The exception's text is left out: it may quote what the source sent."""
        reason = f"could not record the poll ({exc.__class__.__name__})"
        failed = PollOutcome(source.id, outcome.url, status=outcome.status, duration=outcome.duration)
        failed.fail("internal", reason, outcome.status)
        try:
            report = self.record(source, failed)
        except Exception as again:
            log.error("recording the failure of %s failed too (%s)", source.id, again.__class__.__name__)
            log.debug("recording the failure of %s failed too", source.id, exc_info=True)
            return SourceReport(source.id, "failed", message=f"internal: {reason}", recorded=False)
        # A database error means the store is failing (the daemon's /healthz says so until an
        # append succeeds), even if this failure could be written; any other error was the poll's.
        return replace(report, recorded=not isinstance(exc, (sqlite3.Error, OSError)))

    def record(self, source, outcome: PollOutcome) -> SourceReport:
        """Append what one poll found: one transaction, retried if another writer moved an item."""
        for _ in range(3):
            state = source_state(self.store.conn, source.id)  # read afresh: another writer may have polled it
            try:
                if outcome.ok:
                    return self._record_success(source, outcome, state)
                return self._record_failure(source, outcome, state)
            except ConcurrencyError:
                continue
        raise RuntimeError(f"{source.id}: items kept moving under concurrent writers")

    # -- the watchlist and screening lists -------------------------------------------------------------

    def record_watchlist(self) -> int:
        """Record the configured watchlist when it differs from the log's, and screen its new or
        changed entries against the latest snapshot of every screening list. Returns the matches."""
        if screening_reads.watchlist_sha256(self.store.conn) == self.watchlist.sha256:
            return 0  # the common case, one indexed read
        at = to_iso(self.clock())
        recorded = screening_reads.watchlist_state(self.store.conn)
        event = watchlist_change(self.watchlist, recorded, at)
        if event is None:
            return 0
        change = event.typed
        refs = {e["ref"] for e in (*change.added, *change.changed)}
        settings_moved = recorded is None or recorded["settings"].get("lists") != change.lists \
            or recorded["settings"].get("ignore") != change.ignore or recorded["threshold"] != change.threshold
        entries = [e for e in self.watchlist.entries if settings_moved or e.reference in refs]
        entities = [{**screening_diff.party(row["record"], row["key"]), "source": row["source"]}
                    for row in screening_reads.entity_rows(self.store.conn)]
        matches, alerts = self._matches(entities, entries, at)
        self.store.append([event, *matches, *alerts])
        return len(matches)

    def _matches(self, entities: list[dict], entries, at: str) -> tuple[list[NewEvent], list[NewEvent]]:
        if not entities or not entries:
            return [], []
        screener = Screener(entities, threshold=self.watchlist.threshold, ignore=self.watchlist.ignore,
                            lists=self.watchlist.lists)
        found = new_matches(screener.screen_all(entries), screening_reads.matched_pairs(self.store.conn))
        events = match_events(found, at)
        alerts: list[NewEvent] = []
        if self.alerts and self.detector:
            for match in found:
                regions = self.detector.gazetteer.tag({}, extra_countries=match.candidate.countries).regions
                alerts += self.alerts.for_change(match_view(match, at, regions), self.clock())
        return events, alerts

    def _record_screening(self, source, outcome: PollOutcome, state: dict | None) -> SourceReport:
        """A new screening-list file: its diff against the live entities as entity events, a snapshot,
        ``entity_list`` changes joined to incidents, and watchlist matches, in one append."""
        at = to_iso(self.clock())
        parsed = outcome.screening
        conn = self.store.conn
        previous = screening_reads.current_entities(conn, source.id)
        if source.lists:  # a list taken out of `lists` keeps the state it had: it is no longer watched
            previous = {k: v for k, v in previous.items() if v.list in source.lists}
        lost = sorted({known.list for known in previous.values()} - set(parsed.lists))
        if lost:  # a list the last snapshot had is gone from the file: a broken file, not a mass delisting
            outcome.fail("parse_error", f"the file has no record of the list{'s' if len(lost) > 1 else ''} "
                         f"{', '.join(lost)}, which the last snapshot had: kept the last snapshot", outcome.status)
            return self._record_failure(source, outcome, state)
        baseline = screening_reads.latest_snapshot(conn, source.id) is None
        diff = screening_diff.diff(previous, parsed.records)
        snapshot = screening_diff.snapshot_events(
            source.id, at, outcome.body_sha256 or "", parsed.format, diff, total=parsed.total, lists=parsed.lists,
            baseline=baseline)
        changes: list[NewEvent] = []
        if not baseline and self.detector:
            changes = screening_diff.entity_changes(
                diff, source=source.id, url=outcome.url, at=at, snapshot_event=snapshot[-1].event_id,
                catalog=self.detector.catalog, gazetteer=self.detector.gazetteer)
        changes, incident_events, alerts = self._incidents(changes, at)
        # Screen what is new in this file (everything, the first time) against the whole watchlist.
        fresh = [*diff.added, *((m.key, m.record) for m in diff.modified
                                if {"name", "alt_names"} & set(m.changed) or m.renamed_from)]
        entities = [{**screening_diff.party(record, key), "source": source.id} for key, record in fresh]
        matches, match_alerts = self._matches(entities, self.watchlist.entries, at)
        polled = self._polled(source, outcome, at, new=len(diff.added), revised=len(diff.modified),
                              changes=len(changes), entries=len(parsed.records))
        taken = snapshot[-1].typed
        polled = replace(polled, matches=len(matches), snapshot={
            "records_sha256": taken.records_sha256, "records": taken.records, "added": taken.added,
            "removed": taken.removed, "modified": taken.modified, "renamed": taken.renamed, "baseline": taken.baseline})
        events = [*self._poll_events(source, polled, state, at), *snapshot, *changes, *incident_events, *alerts,
                  *matches, *match_alerts]
        self.store.append(events)
        status = "new" if not diff.empty else "no_change"
        message = "; ".join(outcome.warnings[:3]) or None
        return SourceReport(source.id, status, len(diff.added), len(diff.modified), len(changes), len(parsed.records),
                            message, removed=len(diff.removed), matches=len(matches),
                            alerts=len(alerts) + len(match_alerts))

    def _polled(self, source, outcome: PollOutcome, at: str, *, new: int, revised: int, changes: int,
                entries: int | None) -> SourcePolled:
        return SourcePolled(
            source=source.id, at=at, url=outcome.url, status=outcome.status,
            not_modified=outcome.not_modified, unchanged=outcome.unchanged, bytes=outcome.bytes,
            pages=outcome.pages, entries=entries,
            duration_ms=round(outcome.duration * 1000, 1), etag=outcome.validators.etag,
            last_modified=outcome.validators.last_modified, body_sha256=outcome.body_sha256,
            new=new, revised=revised, changes=changes, warnings=outcome.warnings[:20],
        )

    def _poll_events(self, source, polled: SourcePolled, state: dict | None, at: str) -> list[NewEvent]:
        stream = f"source:{source.id}"
        events = [NewEvent.of(polled, stream, derive_event_id(stream, SOURCE_POLLED, at), occurred_at=at)]
        if state and state["consecutive_failures"]:
            events.append(NewEvent.of(SourceRecovered(
                source=source.id, at=at, after_failures=state["consecutive_failures"],
                failing_since=state["failing_since"], last_error=state["last_error"],
            ), stream, derive_event_id(stream, SOURCE_RECOVERED, at), occurred_at=at))
        return events

    def _record_success(self, source, outcome: PollOutcome, state: dict | None) -> SourceReport:
        if outcome.screening is not None:
            return self._record_screening(source, outcome, state)
        at = to_iso(self.clock())
        stream = f"source:{source.id}"
        observations = outcome.observations
        known, settled = self._known(source.id, observations)
        if KINDS[source.kind].rekeys_by_link and getattr(source, "item_key", "auto") == "auto":
            observations, rekeyed = rekey_unstable(observations, set(known),
                                                   self._keys_by_url(source.id, observations, known))
            if rekeyed:
                outcome.warnings.append(f"guids unstable: {rekeyed} entries matched earlier items by link; "
                                        "keyed as those items")
                known, settled = self._known(source.id, observations)
        # An item every observation of which has the hash the log holds is nothing new: leaving it
        # out spares item_events hashing it again, and changes nothing it returns.
        items, expected = item_events([o for o in observations if o.key not in settled], known)
        changes = self.detector.detect_all(items, source_info(source)) if self.detector else []
        changes, incident_events, alerts = self._incidents(changes, at)
        new = sum(1 for e in items if e.type == "ItemDiscovered")
        polled = self._polled(source, outcome, at, new=new, revised=len(items) - new, changes=len(changes),
                              entries=None if (outcome.not_modified or outcome.unchanged) else len(outcome.observations))
        events = self._poll_events(source, polled, state, at)
        self.store.append(events + items + changes + incident_events + alerts, expected=expected)  # one transaction
        status = "not_modified" if outcome.not_modified else "unchanged" if outcome.unchanged else (
            "new" if items else "no_change")
        message = "; ".join(outcome.warnings[:3]) or None
        return SourceReport(source.id, status, new, len(items) - new, len(changes), polled.entries, message,
                            alerts=len(alerts))

    def _incidents(self, changes: list[NewEvent], at: str) -> tuple[list[NewEvent], list[NewEvent], list[NewEvent]]:
        """The changes with their incidents, the incident events, and the alerts they queue."""
        if not changes:
            return changes, [], []
        keys, windows = wanted_keys((c.data for c in changes), at[:10])
        fold = IncidentFold(incident_states(self.store.conn, keys, windows))
        changes, incident_events = assign_all(fold, changes, today=at[:10], at=at)
        alerts = self.alerts.for_incidents(incident_events, fold, {p.id: p for p in (c.typed for c in changes)},
                                           self.clock()) if self.alerts else []
        return changes, incident_events, alerts

    def _record_failure(self, source, outcome: PollOutcome, state: dict | None) -> SourceReport:
        now = self.clock()
        at = to_iso(now)
        failures = (state["consecutive_failures"] if state else 0) + 1
        delay = next_attempt_after(failures=failures, base=self.config.monitor.backoff_base,
                                   cap=self.config.monitor.backoff_cap, retry_after=outcome.retry_after,
                                   rng=self.rng)
        retry_at = to_iso(now + delay)
        stream = f"source:{source.id}"
        message = f"{outcome.reason}: {outcome.message}"
        ops = self.alerts.source_failing(source, state, message, now) if self.alerts else []
        self.store.append([NewEvent.of(SourceFailed(
            source=source.id, at=at, url=outcome.url, reason=outcome.reason,
            message=outcome.message, status=outcome.status, retry_after=outcome.retry_after,
            consecutive_failures=failures, retry_at=retry_at,
            duration_ms=round(outcome.duration * 1000, 1),
        ), stream, derive_event_id(stream, SOURCE_FAILED, at), occurred_at=at), *ops])
        return SourceReport(source.id, "failed", message=message, retry_at=retry_at, alerts=len(ops))

    def _keys_by_url(self, source: str, observations, known) -> dict[str, str]:
        # Only an entry whose key the log does not know can be re-keyed (rekey_unstable): the
        # others' links are not looked up (49 of a feed's 50 entries, a poll that brings one).
        return item_keys_by_url(self.store.conn, source, [o.url for o in observations if o.url and o.key not in known])

    def _known(self, source: str, observations) -> tuple[dict[str, KnownItem], set[str]]:
        """What the log knows of these items: version, content hash and content (from its last
        event); and the keys whose every observation here has the hash the log holds (settled:
        their content is not read, as nothing will diff it)."""
        rows = known_items(self.store.conn, source, [o.key for o in observations])
        recorded = {row[0] for row in rows}
        hashes: dict[str, set[str]] = {}
        for obs in observations:
            if obs.key in recorded:  # a new item has nothing to compare with
                hashes.setdefault(obs.key, set()).add(obs.content_hash())
        settled = {key for key, _, content_hash, _ in rows if hashes.get(key) == {content_hash}}
        latest = self.store.get([seq for key, _, _, seq in rows if key not in settled])
        known = {key: KnownItem(version, content_hash,
                                {} if key in settled else Observation.content_of(latest[seq].data))
                 for key, version, content_hash, seq in rows}
        return known, settled
