"""Property tests: whatever bytes the state's events.db holds (arbitrary garbage, or a sound log
with bytes flipped anywhere), every command ends with an exit code of the contract and a message,
never an exception escaping to the user. In process through click's runner (the same group, the
same error mapping as the installed command) so that hundreds of real SQLite files can be tried."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from monitor.cli import cli
from test_integrity import fill

COMMANDS = [["verify"], ["events", "--json"], ["changes"], ["alerts"], ["replay"], ["replay", "--as-of-seq", "7"],
            ["anchor", "--out", "{dir}/a.json"]]


@pytest.fixture(scope="module")
def sound_log(tmp_path_factory) -> bytes:
    state = tmp_path_factory.mktemp("sound")
    fill(state, 40)
    import sqlite3
    with sqlite3.connect(state / "events.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return (state / "events.db").read_bytes()


def run_all(database: bytes) -> None:
    directory = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        (directory / "events.db").write_bytes(database)
        for command in COMMANDS:
            args = [a.replace("{dir}", str(directory)) for a in command]
            result = CliRunner().invoke(cli, ["--state", str(directory), *args])
            assert result.exit_code in (0, 1, 2), (command, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit), \
                (command, repr(result.exception))
            assert "Traceback" not in result.output
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=6000))
def test_arbitrary_bytes_as_the_log(database):
    run_all(database)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6))
def test_bytes_flipped_anywhere_in_a_sound_log(sound_log, flips):
    data = bytearray(sound_log)
    for where, value in flips:
        data[int(where * len(data))] = value
    run_all(bytes(data))
