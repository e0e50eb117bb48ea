"""Tampering with a real database file: verify (and anchors) catch each kind and name the place."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from monitor.daemon import open_store
from monitor.events import NewEvent
from monitor.store import Anchor, AnchorError, read_anchor, verify, write_anchor


def fill(state, n=20):
    with open_store(state) as store:
        store.append([NewEvent("Noted", f"item:t:{i % 4}", {"i": i}, f"e{i}") for i in range(1, n + 1)])


def tamper(state, *statements):
    conn = sqlite3.connect(state / "events.db", isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    for sql in statements:
        conn.execute(sql)
    conn.close()


def monitor(state, *args, env=None):
    return subprocess.run([sys.executable, "-m", "monitor", "--state", str(state), *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60)


def report(state, anchor=None):
    with open_store(state) as store:
        return verify(store.conn, anchor)


def test_an_untouched_log_verifies(tmp_path):
    fill(tmp_path)
    result = monitor(tmp_path, "verify")
    assert result.returncode == 0 and "ok: 20 events" in result.stdout


def test_an_edited_row_is_named(tmp_path):
    fill(tmp_path)
    tamper(tmp_path, """UPDATE events SET data = '{"i":999}' WHERE seq = 7""")
    result = monitor(tmp_path, "verify")
    assert result.returncode == 1
    assert "FAILED at seq 7: edited row" in result.stderr


def test_an_edit_to_any_column_is_caught(tmp_path):
    fill(tmp_path)
    for column, value in [("stream", "'item:t:x'"), ("type", "'ItemRevised'"), ("recorded_at", "'2000-01-01'"),
                          ("occurred_at", "'2000-01-01'"), ("event_id", "'forged'"), ("schema_version", "7")]:
        tamper(tmp_path, f"UPDATE events SET {column} = {value} WHERE seq = 5")
        assert report(tmp_path).bad_seq == 5, column
        tamper(tmp_path, "DELETE FROM events", )  # start again from a clean log
        fill(tmp_path)


def test_a_deleted_row_is_named(tmp_path):
    fill(tmp_path)
    tamper(tmp_path, "DELETE FROM events WHERE seq = 12")
    result = monitor(tmp_path, "verify", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["bad_seq"] == 12 and "missing row" in data["problem"]


def test_reordered_rows_are_named(tmp_path):
    fill(tmp_path)
    tamper(tmp_path, "UPDATE events SET seq = -1 WHERE seq = 5", "UPDATE events SET seq = 5 WHERE seq = 6",
           "UPDATE events SET seq = 6 WHERE seq = -1")
    result = report(tmp_path)
    assert result.bad_seq == 5 and result.problem.startswith("reordered rows")


def test_a_rehashed_chain_after_an_edit_passes_alone_but_not_against_an_anchor(tmp_path):
    fill(tmp_path)
    with open_store(tmp_path) as store:
        head = store.head()
    anchor = Anchor(head.seq, head.hash, head.recorded_at, "2026-01-01T00:00:00.000000Z")
    # Rewrite history: edit row 3 and recompute every later hash, as a careful forger would.
    from monitor.store.chain import link, row_bytes
    conn = sqlite3.connect(tmp_path / "events.db", isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("""UPDATE events SET data = '{"i":333}' WHERE seq = 3""")
    prev = conn.execute("SELECT hash FROM events WHERE seq = 2").fetchone()[0]
    for row in conn.execute("SELECT * FROM events WHERE seq >= 3 ORDER BY seq").fetchall():
        new = link(prev, row_bytes(*row[:9]))
        conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, new, row[0]))
        prev = new
    conn.close()
    assert report(tmp_path).ok
    caught = report(tmp_path, anchor)
    assert not caught.ok and caught.bad_seq == head.seq and caught.problem.startswith("rewritten")


def test_truncation_passes_the_chain_but_not_the_anchor(tmp_path):
    fill(tmp_path)
    anchor_file = tmp_path / "anchor.json"
    assert monitor(tmp_path, "anchor", "--out", str(anchor_file)).returncode == 0
    tamper(tmp_path, "DELETE FROM events WHERE seq > 15")
    assert monitor(tmp_path, "verify").returncode == 0  # a chain alone cannot see a cut tail
    result = monitor(tmp_path, "verify", "--anchor", str(anchor_file))
    assert result.returncode == 1
    # The anchor covers its own CheckpointAnchored (seq 21), not only the 20 events before it.
    assert "truncated: the log ends at seq 15 but the anchor records seq 21" in result.stderr


def test_the_anchor_covers_its_own_record_so_deleting_only_that_record_is_caught(tmp_path):
    fill(tmp_path)
    anchor_file = tmp_path / "anchor.json"
    assert monitor(tmp_path, "anchor", "--out", str(anchor_file)).returncode == 0
    assert json.loads(anchor_file.read_text())["seq"] == 21
    assert monitor(tmp_path, "verify", "--anchor", str(anchor_file)).returncode == 0
    tamper(tmp_path, "DELETE FROM events WHERE seq = 21")  # the anchoring's own record, and nothing else
    result = monitor(tmp_path, "verify", "--anchor", str(anchor_file))
    assert result.returncode == 1
    assert "truncated: the log ends at seq 20 but the anchor records seq 21" in result.stderr


def test_anchoring_is_recorded_in_the_log_and_later_appends_still_verify(tmp_path):
    fill(tmp_path)
    anchor_file = tmp_path / "anchor.json"
    monitor(tmp_path, "anchor", "--out", str(anchor_file))
    fill(tmp_path, 30)  # ids e1..e20 are duplicates: only e21..e30 are new
    result = monitor(tmp_path, "verify", "--anchor", str(anchor_file))
    assert result.returncode == 0, result.stderr
    anchored = monitor(tmp_path, "events", "--type", "CheckpointAnchored", "--json").stdout.splitlines()
    assert json.loads(anchored[0])["data"]["seq"] == 20


def test_signed_anchors(tmp_path):
    fill(tmp_path)
    anchor_file = tmp_path / "anchor.json"
    key = {"MONITOR_ANCHOR_KEY": "s3cret-key"}
    assert monitor(tmp_path, "anchor", "--out", str(anchor_file), env=key).returncode == 0
    assert "s3cret-key" not in anchor_file.read_text()
    assert monitor(tmp_path, "verify", "--anchor", str(anchor_file), env=key).returncode == 0
    assert monitor(tmp_path, "verify", "--anchor", str(anchor_file)).returncode == 2  # signed, no key to check
    wrong = monitor(tmp_path, "verify", "--anchor", str(anchor_file), env={"MONITOR_ANCHOR_KEY": "other"})
    assert wrong.returncode == 1 and "signature does not match" in wrong.stderr

    forged = json.loads(anchor_file.read_text())
    forged["seq"] = 3
    anchor_file.write_text(json.dumps(forged))
    with pytest.raises(AnchorError, match="signature"):
        read_anchor(anchor_file, b"s3cret-key")


def test_an_unsigned_anchor_is_refused_when_a_key_is_expected(tmp_path):
    path = tmp_path / "a.json"
    write_anchor(path, Anchor(1, "ab" * 32, None, "2026-01-01T00:00:00.000000Z"))
    with pytest.raises(AnchorError, match="not signed"):
        read_anchor(path, b"key")


def test_reading_commands_refuse_a_missing_log(tmp_path):
    result = monitor(tmp_path / "nowhere", "verify")
    assert result.returncode == 2 and "no event log" in result.stderr
