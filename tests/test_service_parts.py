"""The daemon's pure parts and its lock: narration, redaction, health, one process per state."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from monitor.alerts.targets import service_secrets
from monitor.events import Event
from monitor.service.health import assess
from monitor.service.lock import StateLock, StateLocked
from monitor.service.logs import configure_logging, redact
from monitor.service.narrate import narrate

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def event(type_: str, data: dict, seq: int = 7) -> Event:
    return Event(seq, f"x/{seq}", "s", 1, type_, 1, None, "2026-11-21T12:00:00.000000Z", json.dumps(data), "0", "1")


def test_narration_keeps_lines_for_what_a_person_would_read():
    polled = {"source": "fr-bis", "status": 200, "not_modified": False, "unchanged": False, "entries": 12, "new": 2,
              "revised": 1, "changes": 2, "warnings": []}
    line = narrate(event("SourcePolled", polled))
    assert line.level == logging.INFO and line.message == "fr-bis: 12 entries, 2 new, 1 revised, 2 changes"
    assert line.fields["source"] == "fr-bis" and line.fields["seq"] == 7
    quiet = narrate(event("SourcePolled", {**polled, "not_modified": True, "new": 0, "revised": 0}))
    assert quiet.level == logging.DEBUG  # a 304 every half hour is not news
    assert narrate(event("ItemDiscovered", {"source": "x"})) is None
    failed = narrate(event("AlertFailed", {"route": "compliance", "group": "gulf", "alert_ids": ["a", "b"],
                                          "attempt": 8, "error": "JSON: delivery failed (HTTP 500)", "dead": True,
                                          "next_attempt_at": "later", "digest_id": "dig-1"}))
    assert failed.level == logging.ERROR and "monitor alerts retry" in failed.message


def test_redaction_masks_credentials_query_secrets_and_known_secrets():
    text = ("sending to mailtos://alice:hunter22@mail.example.com/?to=x then https://api.example/x?token=abc123&q=1 "
            "and slack://TokenAAAA/TokenBBBB/TokenCCCC")
    out = redact(text, ["TokenBBBB", "TokenCCCC"])
    assert "hunter22" not in out and "abc123" not in out and "TokenBBBB" not in out and "TokenCCCC" not in out
    assert "mail.example.com" in out and "q=1" in out


@pytest.fixture
def restore_logging():
    names = ["", "apscheduler", "apscheduler.executors", "apprise", "httpx", "httpcore"]
    saved = {name: logging.getLogger(name).level for name in names}
    handlers = logging.getLogger().handlers[:]
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().handlers[:] = handlers


def test_log_lines_are_redacted_in_both_formats(tmp_path, restore_logging):
    apprise = tmp_path / "apprise.yml"
    apprise.write_text("urls:\n  - tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654321:\n"
                       "      tag: ops\n", encoding="utf-8")
    secrets = service_secrets(apprise)
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" in secrets
    for fmt in ("text", "json"):
        stream = io.StringIO()
        configure_logging(fmt, secrets=secrets, stream=stream)
        logging.getLogger("monitor").warning("apprise said: bot AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw refused",
                                             extra={"fields": {"url": "json://u:pw-secret@host/hook"}})
        written = stream.getvalue()
        assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in written and "pw-secret" not in written
        assert "refused" in written
        if fmt == "json":
            assert json.loads(written)["level"] == "warning"


def healthy(**overrides):
    facts = dict(scheduler_running=True, stopping=False, store_writable=True, store_error=None, started_at=NOW,
                 last_cycle_at=NOW, head_seq=10, failing=[], sources=3)
    return assess(**{**facts, **overrides})


def test_health_is_about_the_daemon_not_the_sources():
    failing = [{"source": "mofcom", "failing_since": "t", "consecutive_failures": 4, "last_error_reason": "timeout",
                "last_error": "read timed out", "retry_at": "t2", "last_success_at": None}]
    code, body = healthy(failing=failing)
    assert code == 200 and body["failing_sources"][0]["source"] == "mofcom"
    assert healthy(scheduler_running=False)[0] == 503
    assert healthy(store_writable=False)[0] == 503
    code, body = healthy(store_error="internal: could not record the poll (OperationalError)")
    assert code == 503 and "last append failed" in body["problems"][0]
    assert healthy(stopping=True)[1]["scheduler"] == "stopping"


def test_one_process_per_state_directory_and_the_lock_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from monitor.service.lock import StateLock; "
        f"StateLock({str(tmp_path)!r}, 'run').acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StateLocked, match=rf"in use by pid {holder.pid} \(monitor run\)"):
            StateLock(tmp_path, "poll").acquire()
    finally:
        holder.kill()  # SIGKILL: no cleanup runs, and yet the kernel frees the lock
        holder.wait()
    with StateLock(tmp_path, "poll") as lock:
        assert (tmp_path / "monitor.lock").read_text().startswith("pid ")
    lock.release()
