"""A real PostgreSQL server for the tests: Debian's initdb and pg_ctl in a temporary directory, on a
free 127.0.0.1 port, run as an unprivileged user (PostgreSQL refuses to run as root: under root
the commands go through `runuser -u nobody`).

Passwords live in a passfile (PGPASSFILE, mode 0600), never in a URL: the superuser `postgres`
(which makes databases and the schema, and tampers with rows when a test must) and the role
`monitor_app`, which has only SELECT and INSERT on the log, as the README tells an operator to set
it up. Each test gets a fresh database.

When the server cannot be started the tests that need it fail (never skip): `.ci/run` installs the
`postgresql` package first.
"""

from __future__ import annotations

import glob
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from monitor.store.postgres import prepare

APP_ROLE = "monitor_app"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self):
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL's initdb and pg_ctl were not found (install the Debian package "
                               "`postgresql`: `.ci/run` does)")
        self.pg_ctl = pg_ctl
        self.dir = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody")
            self.prefix = ["runuser", "-u", "nobody", "--"]
        self.port = _free_port()
        self.passwords = {"postgres": secrets.token_urlsafe(16), APP_ROLE: secrets.token_urlsafe(16)}
        pwfile = self.dir / "pw"
        pwfile.write_text(self.passwords["postgres"] + "\n")
        if self.prefix:
            shutil.chown(pwfile, "nobody")
        self.data = self.dir / "data"
        self._run([initdb, "-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile),
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
        pwfile.unlink()
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                   "-c max_connections=200 -c shared_buffers=64MB")
        self._run([pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "-t", "60",
                   "start"])
        self.passfile = Path(tempfile.mkdtemp(prefix="monitor-pgpass-")) / "pgpass"
        self.passfile.write_text("".join(f"127.0.0.1:{self.port}:*:{user}:{pw}\n"
                                         for user, pw in self.passwords.items()))
        self.passfile.chmod(0o600)
        os.environ["PGPASSFILE"] = str(self.passfile)
        with self.admin("postgres") as conn:  # (made here for the databases without a schema too)
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(self.passwords[APP_ROLE])))
        self._names = itertools.count(1)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run([*self.prefix, *command], capture_output=True, text=True, cwd=self.dir, timeout=120)
        if done.returncode != 0:
            log = self.dir / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command[:2])} failed ({done.returncode}): {done.stderr[-2000:]}{tail}")

    def url(self, database: str, user: str = APP_ROLE) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str) -> psycopg.Connection:
        return psycopg.connect(self.url(database, "postgres"), autocommit=True)

    def new_database(self, *, schema: bool = True) -> str:
        """A fresh database; with ``schema``, prepared by its owner as an operator does (``prepare``,
        what `python -m monitor.store.postgres setup` runs): the log's tables, and the app role's grants."""
        name = f"t{next(self._names)}"
        with self.admin("postgres") as conn:
            conn.execute(f"CREATE DATABASE {name}")
        with self.admin(name) as conn:
            if schema:
                prepare(conn, APP_ROLE, self.passwords[APP_ROLE])
            else:
                conn.execute(f"GRANT CONNECT ON DATABASE {name} TO {APP_ROLE}")
        return name

    def stop(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree(self.passfile.parent, ignore_errors=True)
