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
