"""The PostgreSQL backend end to end: the real `monitor` command against a real server, with the
log in PostgreSQL (MONITOR_DATABASE, the password in a passfile), and what the database itself
guarantees (triggers, grants)."""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import yaml

from monitor.store import EventStore
from monitor.store.urls import shown_url
from test_daemon import ITEMS, LATER, rss, wait_for, write_config


def monitor(config, *args, database=None, env=None):
    environment = {**os.environ, **(env or {})}
    environment.pop("MONITOR_DATABASE", None)
    if database:
        environment["MONITOR_DATABASE"] = database
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), *args], capture_output=True,
                          text=True, cwd=config.parent, env=environment, timeout=120)


@pytest.fixture
def feed(http_server, json_sink, tmp_path):
    http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
    return write_config(tmp_path, http_server, json_sink.url)


def test_poll_replay_verify_anchor_and_events_on_the_shared_log(feed, pg_url, postgres_server, tmp_path, http_server):
    done = monitor(feed, "poll", database=pg_url)
    assert done.returncode == 0, done.stderr
    http_server.route("/news.rss", body=rss([*ITEMS, LATER]), content_type="application/rss+xml")
    assert monitor(feed, "poll", database=pg_url).returncode == 0
    with psycopg.connect(pg_url) as conn:  # the log is in PostgreSQL ...
        (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
        (discovered,) = conn.execute("SELECT count(*) FROM events WHERE type = 'ItemDiscovered'").fetchone()
    assert discovered == 5 and count > 10  # four news items and one Federal Register document
    mirror = EventStore(tmp_path / "state" / "events.db", readonly=True)  # ... mirrored row for row
    assert mirror.head().seq == count
    mirror.close()

    replayed = json.loads(monitor(feed, "replay", "--json", database=pg_url).stdout)
    assert replayed["seq"] == count and all(p["matches_live"] for p in replayed["projections"])
    as_of = monitor(feed, "replay", "--as-of-seq", "3", "--json", database=pg_url)
    assert json.loads(as_of.stdout)["seq"] <= 3
    changes = [json.loads(line) for line in monitor(feed, "changes", "--json", database=pg_url).stdout.splitlines()]
    assert changes and all(c["source"] in ("news", "fr-doc") for c in changes)

    anchor = tmp_path / "anchor.json"
    assert monitor(feed, "anchor", "--out", str(anchor), database=pg_url).returncode == 0
    checked = monitor(feed, "verify", "--anchor", str(anchor), "--json", database=pg_url)
    assert checked.returncode == 0 and json.loads(checked.stdout)["head_seq"] == count + 1

    # A superuser edits a row behind the triggers' back: verify names it, and a poll refuses to append.
    with postgres_server.admin(pg_url.rsplit("/", 1)[1]) as conn:
        conn.execute("SET session_replication_role = replica")
        # (not a replace() of a word: which source's event lands at seq 2 depends on which poll
        # finished first, and a replace that matches nothing would edit nothing)
        conn.execute("UPDATE events SET data = data || ' ' WHERE seq = 2")
    failed = monitor(feed, "verify", database=pg_url)
    assert failed.returncode == 1 and "FAILED at seq 2" in failed.stderr
    refused = monitor(feed, "poll", database=pg_url)
    assert refused.returncode == 1 and "refusing" in refused.stderr
    assert "Traceback" not in refused.stderr + failed.stderr


def test_migrate_sqlite_to_postgresql_and_back_keeps_every_position_and_hash(feed, postgres_server, tmp_path):
    assert monitor(feed, "poll").returncode == 0  # the embedded default: state/events.db
    with EventStore(tmp_path / "state" / "events.db", readonly=True) as local:
        original = [(e.seq, e.hash) for e in local.read(upcast=False)]
    target = postgres_server.url(postgres_server.new_database(schema=False), "postgres")
    done = monitor(feed, "migrate", "--to", target)
    assert done.returncode == 0, done.stderr
    assert f"copied {len(original)} events" in done.stdout and "the copy verifies" in done.stdout
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT seq, hash FROM events ORDER BY seq").fetchall() == original
    again = monitor(feed, "migrate", "--to", target)
    assert again.returncode == 2 and "already holds a log" in again.stderr

    # The shared log serves the same state; a local audit copy of it verifies on its own.
    replayed = json.loads(monitor(feed, "--state", str(tmp_path / "replica"), "replay", "--json",
                                  database=target).stdout)
    assert replayed["seq"] == len(original) and all(p["matches_live"] for p in replayed["projections"])
    copy = tmp_path / "audit.db"
    back = monitor(feed, "--state", str(tmp_path / "replica"), "migrate", "--to", f"sqlite:///{copy}", database=target)
    assert back.returncode == 0, back.stderr
    with EventStore(copy, readonly=True) as audit:
        assert [(e.seq, e.hash) for e in audit.read(upcast=False)] == original
    assert monitor(feed, "--state", str(tmp_path / "elsewhere"), "verify").returncode == 2  # no log there
    alone = subprocess.run([sys.executable, "-m", "monitor", "--state", str(tmp_path / "audit"), "verify"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert alone.returncode == 2
    (tmp_path / "audit").mkdir()
    copy.rename(tmp_path / "audit" / "events.db")
    alone = subprocess.run([sys.executable, "-m", "monitor", "--state", str(tmp_path / "audit"), "verify"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert alone.returncode == 0 and f"head seq {len(original)}" in alone.stdout


def test_the_password_never_appears_in_an_error_and_a_down_database_exits_2(feed, postgres_server):
    secret = "Sup3r-secret-pw"
    url = f"postgresql://monitor_app:{secret}@127.0.0.1:{postgres_server.port}/nodb"
    done = monitor(feed, "events", database=url)
    assert done.returncode == 2, done.stderr
    assert secret not in done.stderr + done.stdout and "monitor_app:***@" in done.stderr
    assert "Traceback" not in done.stderr
    refused = monitor(feed, "poll", database="postgresql://monitor_app@127.0.0.1:1/x")
    assert refused.returncode == 2 and "cannot be used now" in refused.stderr
    assert shown_url(f"postgresql://u:{secret}@h/db?password={secret}&sslmode=require") == \
        "postgresql://u:***@h/db?password=%2A%2A%2A&sslmode=require"


def test_a_password_in_the_tracked_config_is_refused(tmp_path):
    config = tmp_path / "sources.toml"
    config.write_text('[monitor]\ndatabase = "postgresql://monitor:hunter2-pw@db/monitor"\n')
    done = monitor(config, "check-config")
    assert done.returncode == 2 and "hunter2" not in done.stderr + done.stdout
    config.write_text('[monitor]\ndatabase = "postgresql://monitor@db/monitor"\n')
    assert monitor(config, "check-config").returncode == 0


def test_the_log_is_append_only_in_the_database_itself(pg_url, postgres_server, tmp_path):
    from monitor.events import NewEvent
    from monitor.store.postgres import PostgresEventStore

    with PostgresEventStore(pg_url, tmp_path / "events.db") as store:
        store.append([NewEvent("Noted", "s:1", {"n": 1}, "e1")])
    owner = postgres_server.admin(pg_url.rsplit("/", 1)[1])  # even the owner: the triggers refuse
    for statement in ("UPDATE events SET data = '{}'", "DELETE FROM events", "TRUNCATE events"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            owner.execute(statement)
    owner.close()
    with psycopg.connect(pg_url) as app:  # the monitor's role has no UPDATE, DELETE or TRUNCATE at all
        for statement in ("UPDATE events SET data = '{}'", "DELETE FROM events", "TRUNCATE events",
                          "ALTER TABLE events DISABLE TRIGGER ALL"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
            app.rollback()
    with sqlite3.connect(tmp_path / "events.db") as mirror:  # and the mirror has SQLite's triggers
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            mirror.execute("DELETE FROM events")


COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def _compose_env(service: dict, dotenv: dict[str, str]) -> dict[str, str]:
    """A service's `environment`, with ${VAR:-} taken from ``dotenv`` as compose reads .env."""
    def value(text) -> str:
        match = re.fullmatch(r"\$\{(\w+):-\}", str(text))
        return dotenv.get(match.group(1), "") if match else str(text)
    return {name: value(text) for name, text in service["environment"].items()}


def _here(url: str, server, database: str, user: str) -> str:
    """The compose URL pointed at the test's server and database, as ``user`` (still no password)."""
    parts = urlsplit(url)
    assert parts.password is None
    return urlunsplit((parts.scheme, f"{user}@127.0.0.1:{server.port}", f"/{database}", "", ""))


def test_the_compose_setup_makes_a_role_that_polls_and_appends_but_cannot_edit_the_log(
        postgres_server, http_server, json_sink, tmp_path):
    """What the compose `shared` profile does, run against a real server: db-setup's command, as the
    owner, makes the replicas' role; a replica connecting as that role (its URL and PGPASSWORD as
    in replica-a) polls, appends, takes leases and delivers, and the database refuses it any UPDATE,
    DELETE or TRUNCATE of the log."""
    from test_replicas import Replica

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    setup, replica = services["db-setup"], services["replica-a"]
    compose_role = setup["command"][-1]
    assert urlsplit(replica["environment"]["MONITOR_DATABASE"]).username == compose_role  # the role it made
    assert urlsplit(setup["environment"]["MONITOR_DATABASE"]).username == services["postgres"]["environment"][
        "POSTGRES_USER"]  # made by the owner
    # Roles belong to the whole server: a name of this test's own, so the session's app role is untouched.
    role = f"{compose_role}_{tmp_path.name[-12:].replace('-', '_')}"
    database = postgres_server.new_database(schema=False)
    dotenv = {"MONITOR_PG_PASSWORD": postgres_server.passwords["postgres"],
              "MONITOR_PG_APP_PASSWORD": "app-" + secrets.token_urlsafe(12)}
    no_passfile = tmp_path / "empty-pgpass"  # the passwords come from the environment, as in the containers
    no_passfile.write_text("")
    no_passfile.chmod(0o600)

    def run_setup(password: str | None = dotenv["MONITOR_PG_APP_PASSWORD"], as_role: str = role):
        env = _compose_env(setup, {**dotenv, "MONITOR_PG_APP_PASSWORD": password or ""})
        env["MONITOR_DATABASE"] = _here(env["MONITOR_DATABASE"], postgres_server, database, "postgres")
        command = [sys.executable if part == "python" else part for part in setup["entrypoint"]]
        return subprocess.run([*command, *setup["command"][:-1], as_role], capture_output=True, text=True,
                              env={**os.environ, **env, "PGPASSFILE": str(no_passfile)}, timeout=120)

    done = run_setup()
    assert done.returncode == 0, done.stderr
    assert f"role {role} made" in done.stdout and "tables made" in done.stdout
    assert dotenv["MONITOR_PG_APP_PASSWORD"] not in done.stdout + done.stderr
    again = run_setup()  # at every `up`: nothing made twice
    assert again.returncode == 0 and "already there" in again.stdout and f"role {role} updated" in again.stdout

    # A replica as that role, with replica-a's environment: it polls, appends, holds leases, delivers.
    http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
    config = write_config(tmp_path, http_server, json_sink.url)
    env = _compose_env(replica, dotenv)
    url = _here(env["MONITOR_DATABASE"], postgres_server, database, role)
    assert env["MONITOR_PG_PASSWORD"] == ""  # the owner's password does not reach a replica
    daemon = Replica("ra", config, url, extra_env={"PGPASSWORD": env["PGPASSWORD"], "PGPASSFILE": str(no_passfile),
                                                    "MONITOR_PG_PASSWORD": env["MONITOR_PG_PASSWORD"]})
    try:
        app = psycopg.connect(url, password=dotenv["MONITOR_PG_APP_PASSWORD"], autocommit=True)

        def delivered():
            return app.execute("SELECT count(*) FROM events WHERE type = 'AlertDelivered'").fetchone()[0]
        wait_for(delivered, 120, f"a digest delivered by the replica\n{daemon.log()[-3000:]}")
        assert json_sink.received
        assert app.execute("SELECT count(*) FROM leases WHERE holder = 'ra'").fetchone()[0] >= 1  # the relay's
    finally:
        assert daemon.stop() == 0, daemon.log()[-3000:]
    assert "Traceback" not in daemon.log()
    (polled,) = app.execute("SELECT count(*) FROM events WHERE type = 'SourcePolled'").fetchone()
    assert polled >= 2

    # The database itself refuses that role every edit of the log (not only the triggers).
    for statement in ("UPDATE events SET data = '{}' WHERE seq = 1", "DELETE FROM events WHERE seq = 1",
                      "TRUNCATE events", "ALTER TABLE events DISABLE TRIGGER ALL", "DELETE FROM leases"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(statement)
    app.close()

    # A grant given by hand does not survive the next setup; a new password replaces the old one.
    with postgres_server.admin(database) as owner:
        owner.execute(f'GRANT UPDATE, DELETE ON events TO "{role}"')
    rotated = "new-" + secrets.token_urlsafe(12)
    assert run_setup(rotated).returncode == 0
    with psycopg.connect(url, password=rotated) as app:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DELETE FROM events WHERE seq = 1")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url, password=dotenv["MONITOR_PG_APP_PASSWORD"]).close()

    # Refusals: one line, exit 2, no traceback, no password.
    missing = run_setup(None, as_role=f"{role}_new")
    assert missing.returncode == 2 and "MONITOR_PG_APP_PASSWORD" in missing.stderr
    owner_as_app = run_setup(as_role="postgres")
    assert owner_as_app.returncode == 2 and "must not be the owner" in owner_as_app.stderr
    for refused in (missing, owner_as_app):
        assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
        assert postgres_server.passwords["postgres"] not in refused.stderr + refused.stdout
