"""Shared fixtures: the loopback HTTP server and the recorded fixtures directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from servers import LoopbackServer  # pytest puts tests/ (no __init__.py) on sys.path


@pytest.fixture
def http_server():
    server = LoopbackServer()
    yield server
    server.close()


@pytest.fixture
def fixtures_dir() -> Path:
    # CI checks the repository out with shared/ beside it: <repo>/../shared/fixtures.
    return Path(__file__).resolve().parents[2] / "shared" / "fixtures"


@pytest.fixture
def fr_fixtures(fixtures_dir: Path) -> Path:
    return fixtures_dir / "federal-register"


# --- notification sinks (tests/sinks.py) -----------------------------------------------------

SMTP_SINK_PASSWORD = "s3cret-pass"


@pytest.fixture
def smtp_sink():
    """A started plain-SMTP SmtpSink on 127.0.0.1 (user "monitor", password "s3cret-pass")."""
    from sinks import SmtpSink

    with SmtpSink(password=SMTP_SINK_PASSWORD) as sink:
        yield sink


@pytest.fixture
def json_sink():
    """A JsonSink answering 200 at json://127.0.0.1:<port>/hook (down()/up() to flip it)."""
    from sinks import JsonSink

    with JsonSink() as sink:
        yield sink


# --- PostgreSQL (tests/pg.py) ------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the session; failing to start it fails the tests (no skip)."""
    from pg import PostgresServer

    try:
        server = PostgresServer()
    except Exception as exc:  # noqa: BLE001 (any failure to start is the same verdict)
        pytest.fail(f"PostgreSQL could not be started: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server) -> str:
    """The URL of a fresh database with the log's schema, as the app role (password in the passfile)."""
    return postgres_server.url(postgres_server.new_database())
