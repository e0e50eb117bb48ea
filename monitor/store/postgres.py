"""The event log in PostgreSQL: one shared log for several replicas.

The log (and the leases the replicas share the work by, see ``leases.py``) lives in PostgreSQL.
Each replica keeps a *mirror* of it in its own state directory: ``state/events.db``, an SQLite log
holding the very same rows (positions, times, hashes), into which it pulls what the others
appended, checking every link, and folds its projections in the same SQLite transaction as the
rows it copies. So everything that reads projections (the poller, the relay, the CLI, the HTTP
endpoints) reads SQLite exactly as before; only the writes and the log itself go to PostgreSQL.

Writers are serialised by a transaction-level advisory lock taken before the head is read: a
writer's rows get the next positions only after the previous writer committed, so positions are
gap-free in commit order, and a reader tailing ``seq > N`` never misses a row that commits later
with a lower position. (The eventsourcing library takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` for
the same reason; that needs UPDATE or DELETE privilege on the table, which the monitor's role must
not have, while an advisory lock needs no privilege at all.)

Append-only is enforced by the database twice: triggers refuse UPDATE, DELETE and TRUNCATE of
``events`` for everyone but a superuser who disables them, and the role the monitor runs as is
granted only SELECT and INSERT on it (``APP_GRANTS``).

The password never comes from a tracked file: libpq reads ``PGPASSWORD`` or the passfile
(``~/.pgpass``, ``PGPASSFILE``); a URL given in ``MONITOR_DATABASE`` may carry one. Every message
names the database by its URL with the password masked (``shown_url``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import psycopg
import psycopg.sql

from monitor.clock import Clock, system_clock, to_iso
from monitor.events import UPCASTERS, Event, NewEvent, Upcasters
from monitor.store import chain, schema
from monitor.store.errors import ChainBroken, StoreCorrupt, StoreError, StoreUnavailable
from monitor.store.integrity import VerifyReport, verify_rows
from monitor.store.urls import is_postgres_url, shown_url, url_password
from monitor.store.log import (
    AppendResult, ConcurrencyError, EventStore, Head, LiveProjections, _check_header, _unique, build_rows,
    check_copied_rows,
)

# pg_advisory_xact_lock key of the log's writer (an arbitrary constant: "monitor" in ASCII).
WRITER_LOCK = 0x6D6F6E69746F72
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 30_000  # a statement (or the wait for the writer's lock) longer than this fails

DDL = """
CREATE TABLE events (
    seq            bigint  PRIMARY KEY,
    event_id       text    COLLATE "C" NOT NULL UNIQUE,
    stream         text    COLLATE "C" NOT NULL,
    stream_version bigint  NOT NULL,
    type           text    COLLATE "C" NOT NULL,
    schema_version integer NOT NULL,
    occurred_at    text    COLLATE "C",
    recorded_at    text    COLLATE "C" NOT NULL,
    data           text    NOT NULL,
    prev_hash      text    COLLATE "C" NOT NULL,
    hash           text    COLLATE "C" NOT NULL,
    UNIQUE (stream, stream_version)
);
CREATE INDEX events_recorded_at ON events (recorded_at);
CREATE FUNCTION monitor_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP; END $$;
CREATE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION monitor_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION monitor_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;
CREATE TABLE leases (
    name       text COLLATE "C" PRIMARY KEY,
    holder     text,
    expires_at timestamptz,
    due_at     timestamptz,
    taken_at   timestamptz
);
"""

# What the role the monitor runs as needs (the schema is created by its owner, see the README).
APP_GRANTS = """
GRANT SELECT, INSERT ON events TO {role};
GRANT SELECT, INSERT, UPDATE ON leases TO {role};
"""

# The one-shot setup (``python -m monitor.store.postgres setup ROLE``) reads the replicas' role's
# password here, and the owner's URL in MONITOR_DATABASE, as the replicas do theirs.
APP_PASSWORD_ENV = "MONITOR_PG_APP_PASSWORD"

_COLUMNS = schema.EVENT_COLUMNS
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"


def _message(exc: BaseException, url: str) -> str:
    """A database error in one line, without the password even if the server quoted it."""
    text = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
    secret = url_password(url)
    if secret:
        text = text.replace(secret, "***")
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)[:200]


def translate(exc: psycopg.Error, url: str) -> StoreError:
    where = shown_url(url)
    text = _message(exc, url)
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return StoreUnavailable(f"{where}: the database refused: {text} (see the README's PostgreSQL grants)")
    if isinstance(exc, psycopg.errors.RaiseException) and "append-only" in text:
        return StoreError(f"{where}: {text}")
    if isinstance(exc, (psycopg.OperationalError, psycopg.errors.QueryCanceled)):
        return StoreUnavailable(f"{where}: the database cannot be used now: {text}")
    return StoreError(f"{where}: the database failed: {text}")


def connect(url: str) -> psycopg.Connection:
    """A connection in autocommit mode (transactions are explicit), or ``StoreUnavailable``."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name="monitor")
        conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        return conn
    except psycopg.Error as exc:
        raise translate(exc, url) from None
    except ValueError as exc:  # a URL libpq cannot parse (its text may quote the URL: not repeated)
        raise StoreUnavailable(f"{shown_url(url)}: not a usable PostgreSQL URL ({exc.__class__.__name__})") from None


def create_schema(conn: psycopg.Connection) -> bool:
    """Create the tables unless they exist (the check first: a role that may not create tables can
    still use a schema its owner made). True when they were created."""
    with conn.transaction():
        if conn.execute("SELECT to_regclass('events')").fetchone()[0] is not None:
            return False
        conn.execute(DDL)
    return True


def grant(conn: psycopg.Connection, role: str) -> None:
    """Give ``role`` what the monitor needs and nothing more (run by the schema's owner): whatever
    it held on the tables before is revoked first, so an UPDATE granted by hand does not survive."""
    ident = psycopg.sql.Identifier(role).as_string(conn)
    with conn.transaction():
        conn.execute(f"REVOKE ALL ON events, leases FROM {ident}")
        conn.execute(APP_GRANTS.format(role=ident))


def prepare(conn: psycopg.Connection, role: str, password: str | None) -> tuple[bool, bool]:
    """The one-time setup of a shared log, run as the database's owner: the log's tables (unless
    they exist), the login role the replicas connect as (made, or its password set anew, when
    ``password`` is given; else it must exist), CONNECT on this database and ``grant``.
    Idempotent: run it again to change the role's password. (tables created, role created)

    The password is sent as a SCRAM verifier computed here (libpq's PQencryptPasswordConn), so
    the server, its statement log included, never sees it in the clear.
    """
    owner, database = conn.execute("SELECT current_user, current_database()").fetchone()
    if role == owner:
        raise StoreUnavailable(f"the replicas' role must not be the owner {owner!r}: the owner may edit what it owns")
    ident = psycopg.sql.Identifier(role).as_string(conn)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None
    if not exists and not password:
        raise StoreUnavailable(f"there is no role {role!r}, and no password to make it with (set {APP_PASSWORD_ENV})")
    created = create_schema(conn)
    with conn.transaction():
        if password:
            verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
            statement = "ALTER ROLE" if exists else "CREATE ROLE"
            # NOSUPERUSER ... NOBYPASSRLS: nothing beyond the grants below, whoever made the role before.
            conn.execute(f"{statement} {ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                         f"NOBYPASSRLS PASSWORD {psycopg.sql.Literal(verifier).as_string(conn)}")
        conn.execute(f"GRANT CONNECT ON DATABASE {psycopg.sql.Identifier(database).as_string(conn)} TO {ident}")
        grant(conn, role)
    return created, not exists


def _db(method):
    """Database errors of a public method become the store's own, with the URL masked."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            raise translate(exc, self.url) from None
    return wrapper


class PostgresEventStore:
    """The shared log in PostgreSQL, with this replica's projections in its mirror ``mirror_path``."""

    backend = "postgresql"

    def __init__(self, url: str, mirror_path: str | Path | None, *, clock: Clock = system_clock,
                 projections: LiveProjections | None = None, upcasters: Upcasters = UPCASTERS,
                 readonly: bool = False, create: bool = True):
        self.url, self.clock, self.upcasters = url, clock, upcasters
        self.path = Path(mirror_path) if mirror_path is not None else None
        self.mirror = None
        self.pg = connect(url)
        try:
            if create and not readonly:
                self._ensure_schema()
            elif self.pg.execute("SELECT to_regclass('events')").fetchone()[0] is None:
                raise StoreUnavailable(f"{self.where}: no event log in this database (run `monitor poll` or "
                                       "`monitor migrate --to` first)")
            if self.path is not None:
                self.mirror = EventStore(self.path, clock=clock, projections=projections, upcasters=upcasters)
        except psycopg.Error as exc:
            self.pg.close()
            raise translate(exc, url) from None
        except BaseException:
            self.pg.close()
            raise
        self.mirror_problem: str | None = None  # why the copy stopped short of the log, if it did
        if self.mirror is None:  # the log alone (`monitor migrate`): no projections to read
            self.conn = None
            return
        self.conn = self.mirror.conn  # the projections, as every reader expects them
        try:
            self._check_mirror()
            try:
                self.refresh()
            except ChainBroken as exc:
                # A broken shared log is not copied past the break; `verify` (of the shared log
                # itself) still names the row, and an append will refuse.
                self.mirror_problem = str(exc)
        except BaseException:
            self.close()
            raise

    @property
    def where(self) -> str:
        return shown_url(self.url)

    def _ensure_schema(self) -> None:
        try:
            create_schema(self.pg)
        except psycopg.errors.InsufficientPrivilege:
            raise StoreUnavailable(f"{self.where}: no event log in this database, and this role may not create "
                                   "one: create it as the owner (see the README's PostgreSQL setup)") from None

    # -- the mirror -----------------------------------------------------------------------------

    @_db
    def _check_mirror(self) -> None:
        """The mirror must be a prefix of this log: a mirror of another database, or of a log
        that was cut or rewritten since, is refused (it is evidence of what the log was)."""
        mine = self.mirror.head()
        if mine.seq == 0:
            return
        row = self.pg.execute("SELECT hash FROM events WHERE seq = %s", (mine.seq,)).fetchone()
        if row is None or row[0] != mine.hash:
            state = "ends before it" if row is None else "has another hash there"
            raise StoreCorrupt(f"{self.path}: this replica's copy of the log holds seq {mine.seq}, and the log in "
                               f"{self.where} {state} (another database, or the shared log was cut or rewritten); "
                               "run `monitor verify`, and move the copy aside to start a fresh one")

    @_db
    def refresh(self) -> None:
        """Pull what was appended since the mirror's head, and fold it into the projections."""
        if self.mirror is None:
            return
        since = self.mirror.head().seq
        while rows := self._rows_after(since, 5000):
            self.mirror.ingest(rows, where=self.where)
            since = rows[-1][0]

    def _rows_after(self, since: int, limit: int) -> list[tuple]:
        return self.pg.execute(f"SELECT {_COLUMNS} FROM events WHERE seq > %s ORDER BY seq LIMIT %s",
                               (since, limit)).fetchall()

    # -- writing ----------------------------------------------------------------------------------

    @_db
    def append(self, batch: Sequence[NewEvent], *, expected: Mapping[str, int] | None = None) -> AppendResult:
        batch = _unique(batch)
        for event in batch:
            _check_header(event)
        if not batch:
            return AppendResult((), 0)
        try:
            with self.pg.transaction():
                self.pg.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                known = {r[0] for r in self.pg.execute("SELECT event_id FROM events WHERE event_id = ANY(%s)",
                                                       ([e.event_id for e in batch],))}
                fresh = [e for e in batch if e.event_id not in known]
                if not fresh:
                    return AppendResult((), len(batch))
                streams = sorted({e.stream for e in fresh} | set(expected or ()))
                versions = dict.fromkeys(streams, 0)
                versions.update(self.pg.execute(
                    "SELECT stream, max(stream_version) FROM events WHERE stream = ANY(%s) GROUP BY stream",
                    (streams,)).fetchall())
                for stream, want in (expected or {}).items():
                    if versions[stream] != want:
                        raise ConcurrencyError(stream, want, versions[stream])
                rows = build_rows(self._head(), versions, fresh, to_iso(self.clock()))
                with self.pg.cursor() as cursor:
                    cursor.executemany(_INSERT, rows)
        except ConcurrencyError:
            self.refresh()  # the caller reads the projections again before retrying
            raise
        self.refresh()
        return AppendResult(rows, len(batch) - len(fresh))

    @_db
    def ingest(self, rows: Sequence[tuple], *, where: str = "the copied log") -> int:
        """Append rows positioned and hashed elsewhere (``monitor migrate``): see ``EventStore.ingest``."""
        if not rows:
            return 0
        with self.pg.transaction():
            self.pg.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            check_copied_rows(self._head(), rows, where)
            with self.pg.cursor() as cursor, cursor.copy(f"COPY events ({_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return len(rows)

    # -- reading ------------------------------------------------------------------------------------

    def _head(self) -> Head:
        row = self.pg.execute("SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return Head(*row) if row else Head(0, chain.GENESIS, None)

    head = _db(_head)

    @_db
    def stream_version(self, stream: str) -> int:
        row = self.pg.execute("SELECT max(stream_version) FROM events WHERE stream = %s", (stream,)).fetchone()
        return row[0] or 0

    @_db
    def seq_at(self, recorded_at: str) -> int:
        row = self.pg.execute("SELECT max(seq) FROM events WHERE recorded_at <= %s", (recorded_at,)).fetchone()
        return row[0] or 0

    @_db
    def last_whole_batch(self, seq: int) -> int:
        """See ``EventStore.last_whole_batch``."""
        head = self._head().seq
        if seq >= head:
            return head
        times = dict(self.pg.execute("SELECT seq, recorded_at FROM events WHERE seq IN (%s, %s)",
                                     (seq, seq + 1)).fetchall())
        if seq not in times or times[seq] != times[seq + 1]:
            return seq
        row = self.pg.execute("SELECT max(seq) FROM events WHERE seq <= %s AND recorded_at < %s",
                              (seq, times[seq + 1])).fetchone()
        return row[0] or 0

    def read(self, *, since: int = 0, until: int | None = None, types: Sequence[str] | None = None,
             stream: str | None = None, upcast: bool = True, chunk: int = 2000) -> Iterator[Event]:
        """Events with ``since < seq <= until`` in order, streamed in pages of ``chunk``."""
        where, params = ["seq > %s"], []
        if until is not None:
            where.append("seq <= %s")
            params.append(until)
        if types:
            where.append("type = ANY(%s)")
            params.append(list(types))
        if stream is not None:
            where.append("stream = %s")
            params.append(stream)
        sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY seq LIMIT {int(chunk)}"
        upcaster = self.upcasters.upcast if upcast and self.upcasters else None
        last = since
        while True:
            try:
                rows = self.pg.execute(sql, (last, *params)).fetchall()
            except psycopg.Error as exc:
                raise translate(exc, self.url) from None
            if not rows:
                return
            for row in rows:
                event = Event(*row)
                yield upcaster(event) if upcaster else event
            last = rows[-1][0]

    def rows(self, *, since: int = 0, chunk: int = 2000) -> Iterator[list[tuple]]:
        """The stored rows after ``since``, in order, in chunks (for ``monitor migrate``)."""
        while batch := _db(PostgresEventStore._rows_after)(self, since, chunk):
            yield batch
            since = batch[-1][0]

    @_db
    def get(self, seqs: Sequence[int]) -> dict[int, Event]:
        rows = self.pg.execute(f"SELECT {_COLUMNS} FROM events WHERE seq = ANY(%s)", (list(seqs),)).fetchall()
        return {row[0]: self.upcasters.upcast(Event(*row)) for row in rows}

    def first_undecodable(self, after: int = 0, until: int | None = None) -> int | None:
        return None  # PostgreSQL refuses text that is not valid UTF-8 on the way in

    @_db
    def verify(self, anchor=None, witnesses=(), progress=None) -> VerifyReport:
        """The chain of the shared log (not the mirror), from genesis."""
        def chunks():
            since = 0
            while rows := self._rows_after(since, 4096):
                yield [(r[0], r[1].encode(), r[2].encode(), r[3], r[4].encode(), r[5],
                        None if r[6] is None else r[6].encode(), r[7].encode(), r[8].encode(), r[9].encode(),
                        r[10].encode()) for r in rows]
                since = rows[-1][0]

        def seq_of_hash(digest: str) -> int | None:
            row = self.pg.execute("SELECT seq FROM events WHERE hash = %s", (digest,)).fetchone()
            return row[0] if row else None

        return verify_rows(chunks(), seq_of_hash, anchor, witnesses, progress=progress)

    def close(self) -> None:
        try:
            if getattr(self, "mirror", None) is not None:
                self.mirror.close()
        finally:
            self.pg.close()

    def __enter__(self) -> "PostgresEventStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m monitor.store.postgres setup ROLE``: ``prepare`` the database MONITOR_DATABASE
    names (as its owner) for replicas connecting as ROLE. One line out; exit 0, 2 (usage,
    configuration, or the database cannot be used or refused), 1 (the database failed otherwise).
    Not a `monitor` command (the command line is a fixed contract, and this is no replica's work):
    the database owner's step, once per database; the compose `shared` profile runs it."""
    import argparse
    import os
    import sys

    from monitor.store.urls import DATABASE_ENV

    parser = argparse.ArgumentParser(prog="python -m monitor.store.postgres",
                                     description="Prepare a PostgreSQL database for monitor replicas, as its owner.")
    commands = parser.add_subparsers(dest="command", required=True)
    about = (f"As the owner (its URL in {DATABASE_ENV}): the log's tables, the login role ROLE (made, or its "
             f"password set, from {APP_PASSWORD_ENV}) and ROLE's grants: SELECT, INSERT on events; SELECT, "
             "INSERT, UPDATE on leases.")
    setup = commands.add_parser("setup", help=about, description=about)
    setup.add_argument("role", metavar="ROLE", help="the role the replicas connect as")
    args = parser.parse_args(argv)
    url = os.environ.get(DATABASE_ENV, "")
    if not is_postgres_url(url):
        print(f"error: {DATABASE_ENV} must name the database (postgresql://owner@host/db)", file=sys.stderr)
        return 2
    try:
        conn = connect(url)
        try:
            created, made_role = prepare(conn, args.role, os.environ.get(APP_PASSWORD_ENV) or None)
        except psycopg.Error as exc:
            raise translate(exc, url) from None
        finally:
            conn.close()
    except StoreError as exc:
        where = shown_url(url)
        text = str(exc)
        print(f"error: {text if text.startswith(where) else f'{where}: {text}'}", file=sys.stderr)
        return exc.exit_code
    tables = "made" if created else "already there"
    print(f"{shown_url(url)}: the log's tables {tables}; role {args.role} {'made' if made_role else 'updated'}: "
          "SELECT, INSERT on events; SELECT, INSERT, UPDATE on leases")
    return 0


__all__ = ["APP_GRANTS", "APP_PASSWORD_ENV", "ChainBroken", "PostgresEventStore", "connect", "create_schema", "grant",
           "is_postgres_url", "main", "prepare", "shown_url", "translate", "url_password"]


if __name__ == "__main__":
    raise SystemExit(main())
