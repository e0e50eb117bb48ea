"""Several daemons on one database: who polls which source now, and who runs the relay.

One table, ``leases``, in the shared database. A row per source (``source:ID``) says when it is
next due and, while a replica polls it, which replica holds it and until when; a replica claims
due rows with ``FOR UPDATE SKIP LOCKED`` (two replicas never claim the same row, and neither waits
for the other), polls them, and hands each back with its next due time, taken from the
database's clock after the poll was recorded. So a source is polled by exactly one replica per
interval: the next claim can only come ``every`` after the previous poll ended.

A replica that dies (SIGKILL) simply stops claiming: the sources it was not polling at that
moment are not held by anyone, and the others carry on with them at once; those it was polling
are claimed again when its lease on them expires, within one lease period (a poll whose outcome
was never recorded is then done again: the only repeat).

The relay and the reminders are singletons: ``hold`` takes or renews a named lease, and the
relay asks before each digest, so at most the one digest being sent when its holder died is sent
again by the next holder (its outcome was never recorded). While a relay pass runs, ``kept``
renews its lease from a thread of its own: a pass, even one digest, may take longer than a lease
period (slow targets, several of them), and a lease that ran out under a live holder would let
the next one send the same digests again.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Iterator, Sequence

import psycopg

from monitor.store.errors import StoreError
from monitor.store.postgres import connect, translate

SOURCE = "source:"


class Leases:
    def __init__(self, url: str, replica: str, period: timedelta):
        self.url, self.replica = url, replica
        self.seconds = period.total_seconds()
        self.period = f"{max(1, int(period.total_seconds()))} seconds"
        # The loop, the relay thread, the renewals and the HTTP threads share the connection (an RLock:
        # a renewal and ``release`` check their stop signal and run their statement under it as one).
        self._lock = threading.RLock()
        self._keeping: set[threading.Event] = set()  # the stop signals of the renewals ``kept`` runs
        self.conn = connect(url)

    def _run(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock:
            try:
                cursor = self.conn.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
            except psycopg.Error as exc:
                raise translate(exc, self.url) from None

    def register(self, sources: Sequence[str]) -> None:
        """Make a row for each configured source (due now if it is new)."""
        self._run("INSERT INTO leases (name, due_at) SELECT %s || s, now() FROM unnest(%s::text[]) AS s "
                  "ON CONFLICT (name) DO NOTHING", (SOURCE, list(sources)))

    def claim_due(self, sources: Sequence[str], limit: int) -> list[str]:
        """Claim up to ``limit`` of these sources that are due and not held; their ids, oldest due first."""
        if limit <= 0 or not sources:
            return []
        rows = self._run(
            "UPDATE leases SET holder = %s, expires_at = now() + %s::interval, taken_at = now() "
            "WHERE name IN (SELECT name FROM leases WHERE name = ANY(%s) AND due_at <= now() "
            "AND (expires_at IS NULL OR expires_at < now()) ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING name, due_at",
            (self.replica, self.period, [SOURCE + s for s in sources], limit))
        return [name[len(SOURCE):] for name, _ in sorted(rows, key=lambda r: r[1])]

    def done(self, source: str, every: timedelta, retry_at: datetime | None = None) -> None:
        """Hand a polled source back: due ``every`` from now (the database's now: after the poll
        was recorded), or at ``retry_at`` if the poll failed and that is sooner."""
        self._run("UPDATE leases SET holder = NULL, expires_at = NULL, due_at = least(now() + %s::interval, "
                  "coalesce(%s, 'infinity'::timestamptz)) WHERE name = %s AND holder = %s",
                  (f"{every.total_seconds()} seconds", retry_at, SOURCE + source, self.replica))

    def renew(self, sources: Sequence[str]) -> None:
        """Extend this replica's leases on the sources it is still polling (a slow poll keeps its
        source; only a replica that stops renewing, by dying, loses it)."""
        if sources:
            self._run("UPDATE leases SET expires_at = now() + %s::interval WHERE holder = %s AND name = ANY(%s)",
                      (self.period, self.replica, [SOURCE + s for s in sources]))

    def hold(self, name: str) -> bool:
        """Take the named lease, or renew it if it is ours; False while another live replica has it."""
        return bool(self._run(
            "INSERT INTO leases (name, holder, expires_at, taken_at) VALUES (%s, %s, now() + %s::interval, now()) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, "
            "taken_at = CASE WHEN leases.holder = excluded.holder THEN leases.taken_at ELSE excluded.taken_at END "
            "WHERE leases.holder = excluded.holder OR leases.expires_at IS NULL OR leases.expires_at < now() "
            "RETURNING 1", (name, self.replica, self.period)))

    @contextmanager
    def kept(self, name: str) -> Iterator[None]:
        """Renew the named lease every third of a period while the body runs (the caller holds it).
        Only a replica that dies, or cannot reach the database, lets it run out; if another
        replica has it meanwhile, the renewals stop, and the caller's next ``hold`` says so."""
        stop = threading.Event()
        self._keeping.add(stop)

        def renew() -> None:
            while not stop.wait(self.seconds / 3):
                try:
                    with self._lock:
                        if stop.is_set() or not self.hold(name):
                            return
                except StoreError:  # the database is failing: the lease runs out, another replica takes over
                    pass

        thread = threading.Thread(target=renew, name=f"lease {name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            self._keeping.discard(stop)
            thread.join(timeout=self.seconds)

    def release(self) -> None:
        """Let go of everything (a clean stop): the others take it over at once, not after expiry.
        A renewal still running (a relay pass abandoned at the stop deadline) stops first, or it
        would take the relay back."""
        with self._lock:
            for stop in list(self._keeping):
                stop.set()
            self._run("UPDATE leases SET holder = NULL, expires_at = NULL WHERE holder = %s", (self.replica,))

    def held(self) -> list[dict]:
        """Every lease held now, by whom and until when (for /healthz and /metrics)."""
        rows = self._run("SELECT name, holder, expires_at FROM leases WHERE holder IS NOT NULL AND expires_at > now() "
                         "ORDER BY name")
        return [{"lease": name, "replica": holder, "until": until.isoformat()} for name, holder, until in rows]

    def close(self) -> None:
        self.conn.close()
