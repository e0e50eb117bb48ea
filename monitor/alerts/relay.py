"""The relay: the outbox's due alerts, grouped into digests, sent to each target of their route,
and every outcome recorded as an event.

Sending happens before recording, so a crash in between can repeat one digest, never lose one.
A target that already has an alert (recorded in ``deliveries``) is never sent it again, so a
partial success is not repeated to the targets that succeeded. Failures back off exponentially;
after ``max_attempts`` the alerts are dead until `monitor alerts retry`. Retries live only here.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Sequence

from monitor.vocabulary import ALERT_DEAD
from monitor.alerts.alert import Alert, Report
from monitor.alerts.render import Message, render_digest
from monitor.alerts.routes import ops_alert
from monitor.clock import Clock, to_iso
from monitor.retry import next_attempt_after
from monitor.events import ALERT_DELIVERED, ALERT_FAILED, AlertDelivered, AlertFailed, NewEvent, derive_event_id
from monitor.projections.incidents import incident_rows
from monitor.projections.outbox import delivered_targets, due_alerts
from monitor.store import EventStore


@dataclass(frozen=True)
class Target:
    """One notification service behind a route's tag."""

    id: str  # stable and free of secrets
    service: str  # for people: "JSON", "E-Mail", "standard output"
    format: str  # markdown, html or text: what the service shows best
    send: Callable[[Message], str | None]  # None when delivered, else a reason free of secrets
    ready_in: Callable[[], float] = lambda: 0.0  # seconds until the service may be sent to again
    max_chars: int | None = None  # the longest body the service shows well (None: the format's limit)


class Gate:
    """Lets a stopping daemon close the relay's door: once ``close`` returns, no outcome is recorded
    any more (a send still in flight then was abandoned, and may be repeated after the restart)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.closed = False

    def close(self, timeout: float) -> bool:
        """Close the gate, waiting up to ``timeout`` for a record being written; False if it could not."""
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            return False
        self.closed = True
        self._lock.release()
        return True

    @contextmanager
    def open(self) -> Iterator[bool]:
        with self._lock:
            yield not self.closed


@dataclass(frozen=True)
class Failure:
    """A target a digest could not be delivered to, and why (free of secrets)."""

    target: str | None  # None: no target has the route's tag
    service: str | None
    error: str

    def to_json(self) -> dict[str, str | None]:
        return {"target": self.target, "service": self.service, "error": self.error}


@dataclass(frozen=True)
class DigestReport:
    route: str
    group: str
    alerts: int
    delivered: bool
    targets: tuple[str, ...]
    error: str | None = None


class Relay:
    def __init__(self, store: EventStore, alerts_config, targets: Callable[[str], Sequence[Target]], clock: Clock,
                 rng: random.Random | None = None, gate: Gate | None = None):
        self.store, self.config, self.targets, self.clock = store, alerts_config, targets, clock
        self.rng = rng or random.Random()
        self.gate = gate or Gate()
        self.should_stop: Callable[[], bool] = lambda: False

    def due(self) -> dict[tuple[str, str], list[tuple[str, int, Alert]]]:
        """Due alerts by route, oldest first: one digest per route and window, a section per group.

        The key is (route, group): the group when every alert is in one, else "all"."""
        by_route: dict[str, list[tuple[str, int, Alert]]] = {}
        for alert_id, route, _group, attempts, data in due_alerts(self.store.conn, to_iso(self.clock())):
            by_route.setdefault(route, []).append((alert_id, attempts, Alert.decode(data)))
        digests = {}
        for route, alerts in by_route.items():
            groups = {alert.group for _id, _attempts, alert in alerts}
            digests[(route, groups.pop() if len(groups) == 1 else "all")] = alerts
        return digests

    def run_once(self, should_stop: Callable[[], bool] = lambda: False,
                 still_ours: Callable[[], bool] = lambda: True) -> list[DigestReport]:
        """Send every due digest; ``should_stop`` is asked between digests (a daemon shutting down
        finishes the digest in flight, records it, and leaves the rest queued). ``still_ours`` too,
        before each digest: a replica that no longer holds the relay's lease sends nothing more."""
        self.should_stop = should_stop
        self.store.refresh()  # a shared log: what the relay's previous holder delivered
        reports = []
        for (route, group), alerts in self.due().items():
            if should_stop() or not still_ours():
                break
            report = self._send(route, group, alerts)
            if report is None:
                break  # the gate closed: the daemon has stopped
            reports.append(report)
        return reports

    def _with_reports(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts, each incident alert with every source that has reported the incident by now, and why."""
        ids = sorted({a.incident for a in alerts if a.cause == "incident" and a.incident})
        reports = {row["id"]: tuple(Report(item["source"], item["language"], item["attached_by"], item["kind"])
                                    for item in row["items"])
                   for row in incident_rows(self.store.conn, ids=ids)} if ids else {}
        return [replace(a, reports=reports.get(a.incident, ())) if a.cause == "incident" else a for a in alerts]

    def _wait_until_ready(self, target: Target) -> bool:
        """Keep the service's spacing between two sends; False once a stop is asked: a send under way
        is finished, none is begun (each takes up to a send timeout, which the stop budget counts)."""
        while (wait := target.ready_in()) > 0 and not self.should_stop():
            time.sleep(min(wait, 0.1))
        return not self.should_stop()

    def _send(self, route: str, group: str, alerts: list[tuple[str, int, Alert]]) -> DigestReport | None:
        ids = [alert_id for alert_id, _attempts, _data in alerts]
        delivered = delivered_targets(self.store.conn, ids)
        targets = list(self.targets(route))
        head = self.store.head()  # each recipient's copy of the digest witnesses the log as it stood
        succeeded: list[str] = []
        failures: list[Failure] = []
        for target in targets:
            pending = [alert for alert_id, _attempts, alert in alerts if (alert_id, target.id) not in delivered]
            if pending:
                if not self._wait_until_ready(target):
                    failures.append(Failure(target.id, target.service, "not sent: the monitor was stopping"))
                    continue
                first = pending[0]
                message = render_digest(self._with_reports(pending), group_label=first.group_label,
                                        group_by=first.group_by, group=group, fmt=target.format,
                                        max_chars=target.max_chars, witness=(head.seq, head.hash))
                try:
                    error = target.send(message)
                except Exception as exc:  # a broken plugin costs this target this attempt, nothing more
                    error = f"{exc.__class__.__name__}"
                if error is not None:
                    failures.append(Failure(target.id, target.service, error))
                    continue
            succeeded.append(target.id)
        if not targets:
            failures.append(Failure(None, None, f"no notification target has the tag {route!r}"))
        attempt = max(attempts for _id, attempts, _data in alerts) + 1
        now = self.clock()
        digest_id = "dig-" + hashlib.sha256("\x1f".join([route, group, str(attempt), *sorted(ids)]).encode()).hexdigest()[:12]
        stream = f"route:{route}"
        base = {"digest_id": digest_id, "route": route, "group": group, "alert_ids": ids, "attempt": attempt,
                "at": to_iso(now)}
        with self.gate.open() as may_record:
            if not may_record:
                return None
            return self._record(route, group, ids, attempt, now, digest_id, stream, base, succeeded, failures)

    def _record(self, route, group, ids, attempt, now, digest_id, stream, base, succeeded,
                failures: list[Failure]) -> DigestReport:
        if not failures:
            self.store.append([NewEvent.of(AlertDelivered(**base, targets=succeeded), stream,
                                           derive_event_id(stream, ALERT_DELIVERED, digest_id), occurred_at=to_iso(now))])
            return DigestReport(route, group, len(ids), True, tuple(succeeded))
        dead = attempt >= self.config.max_attempts
        delay = next_attempt_after(failures=attempt, base=self.config.retry_base, cap=self.config.retry_cap,
                                   retry_after=None, rng=self.rng)
        error = "; ".join(f"{f.service or route}: {f.error}" for f in failures)[:500]
        ops = []
        if dead and self.config.ops_tag and route != self.config.ops_tag:  # never report the ops route to itself
            ops = [ops_alert(self.config.ops_tag, kind=ALERT_DEAD, key=f"dead:{digest_id}", source=None, now=now,
                             title=f"{len(ids)} alerts for {route}/{group} could not be delivered after {attempt} attempts",
                             detail=error)]
        self.store.append([NewEvent.of(AlertFailed(
            **base, delivered_targets=succeeded, failed=[f.to_json() for f in failures], error=error, dead=dead,
            next_attempt_at=to_iso(now + delay),
        ), stream, derive_event_id(stream, ALERT_FAILED, digest_id), occurred_at=to_iso(now)), *ops])
        return DigestReport(route, group, len(ids), False, tuple(succeeded), error)
