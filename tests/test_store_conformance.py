"""The store's conformance suite (tests/store_conformance.py) on each backend, unchanged."""

from __future__ import annotations

import itertools
import sqlite3

import psycopg
import pytest

from monitor.projections import Projector, default_projections
from monitor.store import EventStore
from monitor.store.postgres import PostgresEventStore
from store_conformance import SteppingClock, StoreConformance


class TestSQLite(StoreConformance):
    @pytest.fixture(autouse=True)
    def _log(self, tmp_path):
        self.path = tmp_path / "events.db"

    def open_store(self, clock=None, projections=True):
        return EventStore(self.path, clock=clock or SteppingClock(),
                          projections=Projector(default_projections()) if projections else None)

    def _owner(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("DROP TRIGGER events_no_delete")
        return conn

    def tamper_data(self, seq, data):
        with self._owner() as conn:
            conn.execute("UPDATE events SET data = ? WHERE seq = ?", (data, seq))

    def delete_row(self, seq):
        with self._owner() as conn:
            conn.execute("DELETE FROM events WHERE seq = ?", (seq,))

    def update_as_the_monitor(self, store):
        store.conn.execute("UPDATE events SET data = '{}' WHERE seq = 1")


class TestPostgreSQL(StoreConformance):
    """Each open is another replica: its own mirror, the one shared log, as the app role."""

    @pytest.fixture(autouse=True)
    def _log(self, tmp_path, postgres_server, pg_url):
        self.server, self.url, self.tmp = postgres_server, pg_url, tmp_path
        self.mirrors = itertools.count(1)

    def open_store(self, clock=None, projections=True):
        return PostgresEventStore(self.url, self.tmp / f"replica-{next(self.mirrors)}" / "events.db",
                                  clock=clock or SteppingClock(),
                                  projections=Projector(default_projections()) if projections else None)

    def _superuser(self) -> psycopg.Connection:
        conn = self.server.admin(self.url.rsplit("/", 1)[1])
        conn.execute("SET session_replication_role = replica")  # a superuser can switch triggers off
        return conn

    def tamper_data(self, seq, data):
        with self._superuser() as conn:
            conn.execute("UPDATE events SET data = %s WHERE seq = %s", (data, seq))

    def delete_row(self, seq):
        with self._superuser() as conn:
            conn.execute("DELETE FROM events WHERE seq = %s", (seq,))

    def update_as_the_monitor(self, store):
        store.pg.execute("UPDATE events SET data = '{}' WHERE seq = 1")
