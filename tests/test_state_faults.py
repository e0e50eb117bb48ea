"""Corrupt, tampered, missing, locked, read-only and misplaced state, against the real command line
(real SQLite files, real `monitor` subprocesses): always one line on stderr, the exit code the
README promises (1: a check failed; 2: the state cannot be used as given), never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sinks import JsonSink
from test_daemon import ITEMS, rss
from test_integrity import fill, tamper

READ_COMMANDS = [["verify"], ["events"], ["replay"], ["changes"], ["alerts"], ["sources"], ["rules"]]


def monitor(state, *args, config: Path | None = None, env=None, wrap: list[str] | None = None, timeout=60):
    command = [*(wrap or []), sys.executable, "-m", "monitor", "--state", str(state),
               *(["--config", str(config)] if config else []), *args]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=timeout, cwd=Path(state).parent)


def one_line(result) -> str:
    """The command's complaint: exactly one line, no traceback."""
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_config(tmp_path: Path, http_server, apprise_url: str | None = None) -> Path:
    http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
    alerts = ""
    if apprise_url:
        (tmp_path / "apprise.yml").write_text(f'version: 1\nurls:\n  - "{apprise_url}":\n      - tag: compliance\n')
        alerts = ('[alerts]\napprise_config = "apprise.yml"\ndigest_window = "0s"\n'
                  '[[alerts.routes]]\ntag = "compliance"\ngroup_by = "none"\n')
    path = tmp_path / "sources.toml"
    path.write_text(f'[monitor]\nstate_dir = "state"\n[[sources]]\nid = "news"\nkind = "feed"\n'
                    f'url = "{http_server.url_for("/news.rss")}"\n{alerts}', encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path, http_server):
    return write_config(tmp_path, http_server)


# -- corrupt ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", READ_COMMANDS + [["poll"], ["anchor", "--out", "a.json"]])
def test_a_garbage_events_db_is_one_line_and_exit_1(tmp_path, config, command):
    state = tmp_path / "state"
    state.mkdir()
    (state / "events.db").write_bytes(os.urandom(8192))
    result = monitor(state, *command, config=config)
    assert result.returncode == 1, result.stderr
    assert "not a readable event log" in one_line(result)


def flip_to_invalid_utf8(state: Path, seq: int) -> None:
    """Overwrite one byte of a row's stored `data` on disk with 0xFF (never valid in UTF-8)."""
    conn = sqlite3.connect(state / "events.db")
    (data,) = conn.execute("SELECT data FROM events WHERE seq = ?", (seq,)).fetchone()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = (state / "events.db").read_bytes()
    needle = data.encode()
    assert raw.count(needle) == 1
    at = raw.index(needle) + 2
    (state / "events.db").write_bytes(raw[:at] + b"\xff" + raw[at + 1:])


def test_a_byte_flip_that_is_not_utf8_is_an_edited_row_named_by_its_seq(tmp_path, config):
    state = tmp_path / "state"
    fill(state)
    flip_to_invalid_utf8(state, 7)
    result = monitor(state, "verify", config=config)
    assert result.returncode == 1
    assert one_line(result) == "FAILED at seq 7: edited row: the contents of seq 7 do not match its hash"
    for command in (["events"], ["events", "--json"], ["replay"]):
        result = monitor(state, *command, config=config)
        assert result.returncode == 1, (command, result.stderr)
        assert "seq 7 holds bytes that are not UTF-8" in result.stderr.splitlines()[-1]
        assert "Traceback" not in result.stderr


# -- a broken chain --------------------------------------------------------------------------------


def test_a_broken_chain_is_refused_by_writers_and_warned_about_by_readers(tmp_path, config):
    state = tmp_path / "state"
    fill(state)
    tamper(state, """UPDATE events SET data = '{"i":333}' WHERE seq = 5""")
    for command in (["anchor", "--out", str(tmp_path / "a.json")], ["poll"], ["run"], ["alerts", "retry"]):
        result = monitor(state, *command, config=config)
        assert result.returncode == 1, (command, result.stderr)
        line = one_line(result)
        assert "fails verification at seq 5" in line and "monitor verify" in line, line
    assert not (tmp_path / "a.json").exists()
    with sqlite3.connect(state / "events.db") as conn:
        assert conn.execute("SELECT max(seq) FROM events").fetchone()[0] == 20  # nothing was appended
    for command in (["changes"], ["rules"], ["alerts"], ["events"], ["sources"]):
        result = monitor(state, *command, config=config)
        assert result.returncode == 0, (command, result.stderr)
        warning = result.stderr.strip().splitlines()[0]
        assert warning.startswith("warning: the event log fails verification at seq 5"), (command, result.stderr)


# -- misplaced, missing, read-only, locked ---------------------------------------------------------


def test_a_log_whose_first_poll_was_killed_before_it_committed_is_begun_by_the_next_poll(tmp_path, config):
    # What a SIGKILL leaves between opening a new events.db and committing its schema: a database
    # file with its header (WAL mode is set on connect) and no table. It is not corrupt, and not a
    # foreign file: readers say there is nothing yet, and the next poll begins the log.
    from monitor.store.schema import connect

    state = tmp_path / "state"
    state.mkdir()
    connect(state / "events.db").close()
    result = monitor(state, "events", config=config)
    assert result.returncode == 2 and "holds nothing yet" in one_line(result)
    result = monitor(state, "poll", config=config)
    assert result.returncode == 0, result.stderr
    assert monitor(state, "verify", config=config).returncode == 0
    with sqlite3.connect(state / "events.db") as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'ItemDiscovered'").fetchone()[0] == len(ITEMS)


@pytest.mark.parametrize("command", [["verify"], ["events"], ["poll"], ["run"], ["sources"]])
def test_state_pointing_at_a_file_is_exit_2_in_one_line(tmp_path, config, command):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    result = monitor(a_file, *command, config=config)
    assert result.returncode == 2
    assert "is not a directory" in one_line(result)


def test_a_missing_log_and_an_anchor_into_a_missing_directory_are_exit_2(tmp_path):
    assert monitor(tmp_path / "nowhere", "events").returncode == 2
    fill(tmp_path / "state")
    result = monitor(tmp_path / "state", "anchor", "--out", str(tmp_path / "no" / "such" / "a.json"))
    assert result.returncode == 2 and "does not exist" in one_line(result)
    with sqlite3.connect(tmp_path / "state" / "events.db") as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'CheckpointAnchored'").fetchone()[0] == 0


def without_root_powers() -> list[str]:
    """A prefix that runs a command without the power to ignore file permissions (root has it)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only directory cannot be made")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def test_read_commands_work_on_a_read_only_copy_and_writers_say_it_is_read_only(tmp_path, config):
    fill(tmp_path / "state")
    copy = Path(tempfile.mkdtemp(dir=tmp_path)) / "copy"
    shutil.copytree(tmp_path / "state", copy)
    assert not (copy / "events.db-wal").exists()  # a cleanly closed log: no WAL index to read with
    for path in copy.iterdir():
        path.chmod(0o444)
    copy.chmod(0o555)
    wrap = without_root_powers()
    try:
        for command in (["verify"], ["events", "--json"], ["changes"], ["alerts"], ["replay"]):
            result = monitor(copy, *command, wrap=wrap)
            assert result.returncode == 0, (command, result.stderr)
            assert result.stderr == "", (command, result.stderr)
        assert "ok: 20 events" in monitor(copy, "verify", wrap=wrap).stdout
        result = monitor(copy, "anchor", "--out", str(tmp_path / "a.json"), wrap=wrap)
        assert result.returncode == 2 and "read-only" in one_line(result)
        assert sorted(p.name for p in copy.iterdir()) == ["events.db"]  # nothing was created beside it
    finally:
        copy.chmod(0o755)


def test_a_lock_held_past_the_busy_timeout_is_exit_2_in_one_line_and_readers_still_read(tmp_path):
    state = tmp_path / "state"
    fill(state)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(state / 'events.db')!r}, isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert monitor(state, "verify").returncode == 0  # WAL readers are not blocked by a writer
        result = monitor(state, "anchor", "--out", str(tmp_path / "a.json"))
        assert result.returncode == 2
        assert "locked by another process" in one_line(result)
    finally:
        holder.kill()
        holder.wait()


# -- replay at a transaction boundary ----------------------------------------------------------------


def test_replay_as_of_seq_inside_an_append_rounds_down_to_the_last_whole_one_and_says_so(tmp_path):
    state = tmp_path / "state"
    fill(state, 10)  # one append: seqs 1..10
    from monitor.daemon import open_store
    from monitor.events import NewEvent
    with open_store(state) as store:
        store.append([NewEvent("Noted", "item:t:x", {"i": i}, f"f{i}") for i in range(5)])  # seqs 11..15
    inside = monitor(state, "replay", "--as-of-seq", "13", "--json")
    assert inside.returncode == 0
    assert json.loads(inside.stdout)["seq"] == 10
    assert "seq 13 is inside an append" in inside.stderr and "seq 10" in inside.stderr
    at_boundary = monitor(state, "replay", "--as-of-seq", "10", "--json")
    assert json.loads(at_boundary.stdout)["seq"] == 10 and at_boundary.stderr == ""
    assert json.loads(monitor(state, "replay", "--as-of-seq", "3", "--json").stdout)["seq"] == 0
    assert json.loads(monitor(state, "replay", "--as-of-seq", "99", "--json").stdout)["seq"] == 15


# -- witnesses ---------------------------------------------------------------------------------------


def test_every_digest_carries_the_log_head_and_a_recipient_can_check_the_log_against_it(tmp_path, http_server):
    with JsonSink() as sink:
        config = write_config(tmp_path, http_server, sink.url)
        state = tmp_path / "state"
        assert monitor(state, "poll", config=config).returncode == 0
        [digest] = sink.received
    footer = digest["message"].splitlines()[-1]
    assert footer.startswith("Log head when sent: seq ")
    witness = footer.rsplit("monitor verify --witness ", 1)[1]
    seq, digest_hash = witness.split(":")
    with sqlite3.connect(state / "events.db") as conn:
        assert conn.execute("SELECT hash FROM events WHERE seq = ?", (int(seq),)).fetchone()[0] == digest_hash

    ok = monitor(state, "verify", "--witness", witness, config=config)
    assert ok.returncode == 0 and f"matches witness seq {seq}" in ok.stdout
    bad = monitor(state, "verify", "--witness", f"{seq}:{'0' * 64}", config=config)
    assert bad.returncode == 1 and f"rewritten: seq {seq} has hash" in one_line(bad)
    tamper(state, f"DELETE FROM events WHERE seq >= {seq}")  # cut the tail the digest witnessed
    assert monitor(state, "verify", config=config).returncode == 0  # the chain alone cannot tell
    cut = monitor(state, "verify", "--witness", witness, config=config)
    assert cut.returncode == 1
    assert f"truncated: the log ends at seq {int(seq) - 1} but the witness records seq {seq}" in one_line(cut)
    malformed = monitor(state, "verify", "--witness", "12:abc", config=config)
    assert malformed.returncode == 2 and "--witness" in one_line(malformed)
