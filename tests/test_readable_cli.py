"""The command line for people: tables with a header row and display-width columns (CJK counts
two), newest first, --limit, --since SEQ or DATE, "nothing yet"; evidence cut into marked
segments; progress lines on stderr only for long work. Real CLI subprocesses on a real demo log."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from monitor.progress import Progress
from monitor.views.evidence import segments
from monitor.views.table import format_table, width


def monitor(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    state = tmp_path_factory.mktemp("cli") / "state"
    assert monitor("demo", "--state", str(state)).returncode == 0
    return state


def test_columns_line_up_by_display_width_with_chinese_titles():
    lines = format_table(["seq", "title", "tag"], [[1, "美國放慢對中東AI晶片出口許可", "gulf"], [22, "US slows", "nvidia"]])
    assert lines[0].split() == ["seq", "title", "tag"]
    tag_columns = {width(line[:line.rindex(tag)]) for line, tag in zip(lines, ("tag", "gulf", "nvidia"))}
    assert len(tag_columns) == 1, lines  # every row's last column starts at the same screen column
    cut = format_table(["a", "b"], [["中" * 50, "x"]])[1]
    assert width(cut.split("  ")[0]) <= 40 and "…" in cut


def test_changes_table_has_a_header_newest_first_and_a_limit(demo):
    out = monitor("--state", str(demo), "changes", "--limit", "3").stdout.splitlines()
    assert out[0].split()[:4] == ["seq", "severity", "kind", "rule"] and len(out) == 4
    seqs = [int(line.split()[0]) for line in out[1:]]
    assert seqs == sorted(seqs, reverse=True)
    every = [json.loads(line)["seq"] for line in monitor("--state", str(demo), "changes", "--json").stdout.splitlines()]
    assert seqs == sorted(every, reverse=True)[:3]
    assert every == sorted(every)  # JSON lines stay in log order, as scripts read them


def test_since_takes_a_seq_or_a_date_and_an_empty_answer_is_one_line(demo, tmp_path):
    all_seqs = [json.loads(line)["seq"] for line in monitor("--state", str(demo), "changes", "--json").stdout.splitlines()]
    after = monitor("--state", str(demo), "changes", "--since", str(all_seqs[2]), "--json").stdout.splitlines()
    assert [json.loads(line)["seq"] for line in after] == all_seqs[3:]
    assert len(monitor("--state", str(demo), "changes", "--since", "2000-01-01", "--json").stdout.splitlines()) == len(all_seqs)
    assert monitor("--state", str(demo), "changes", "--since", "2999-01-01").stdout == "no change matches\n"
    bad = monitor("--state", str(demo), "changes", "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    from monitor.daemon import open_store
    open_store(empty).close()
    for command in ("changes", "incidents", "alerts", "events", "deadlines"):
        done = monitor("--state", str(empty), command)
        assert done.returncode == 0 and done.stdout.strip() in ("nothing yet", "no upcoming deadline"), (command, done)


def test_deadlines_and_incidents_tables(demo):
    done = monitor("--state", str(demo), "deadlines", "--json")
    assert done.returncode == 0
    for line in done.stdout.splitlines():
        row = json.loads(line)
        assert set(row) >= {"date", "deadline", "days_left", "title", "source", "change_id"}
    out = monitor("--state", str(demo), "incidents", "--limit", "2").stdout.splitlines()
    assert out[0].split()[:3] == ["id", "updated", "status"] and len(out) == 3


def test_evidence_segments_mark_overlapping_matches_and_ignore_offsets_that_do_not_fit():
    text = "US slows licenses for Nvidia"
    evidence = [{"kind": "phrase", "name": "slow", "field": "title", "start": 3, "end": 17},
                {"kind": "company", "name": "nvidia", "field": "title", "start": 22, "end": 28},
                {"kind": "phrase", "name": "topic", "field": "title", "start": 9, "end": 28},
                {"kind": "country", "name": "US", "field": "summary", "start": 0, "end": 2},
                {"kind": "x", "name": "bad", "field": "title", "start": 20, "end": 99}]
    segs = segments(text, evidence, "title")
    assert "".join(s.text for s in segs) == text
    marked = {s.text: s.marks for s in segs if s.marked}
    assert marked["slows "] == ("phrase slow",)
    assert marked["licenses"] == ("phrase slow", "phrase topic")
    assert marked["Nvidia"] == ("company nvidia", "phrase topic")
    assert not any("bad" in m for s in segs for m in s.marks)


def test_progress_is_silent_for_quick_work_and_speaks_on_stderr_for_long_work():
    ticks = iter([0.0, 0.5, 1.0, 3.0, 5.5, 6.0])
    stream = io.StringIO()
    progress = Progress("replay", 100, every=2, stream=stream, clock=lambda: next(ticks))
    for done in (10, 20, 30, 40):
        progress(done)
    progress.finish(100)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("replay: 30 of 100 (30%) events") and lines[-1].startswith("replay: done, 100")
    quiet = io.StringIO()
    Progress("verify", 10, every=2, stream=quiet, clock=lambda: 0.0).finish(10)
    assert quiet.getvalue() == ""


def test_replay_reports_progress_on_stderr_and_nothing_else_changes(demo):
    done = monitor("--state", str(demo), "replay", "--json", env={"MONITOR_PROGRESS_EVERY": "0"})
    assert done.returncode == 0
    assert json.loads(done.stdout)["events"] > 0
    assert "replay: done" in done.stderr
    quiet = monitor("--state", str(demo), "verify")
    assert quiet.returncode == 0 and quiet.stderr == ""
