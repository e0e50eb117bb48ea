"""`monitor run` as a real subprocess: 1-second schedules against loopback sources, a loopback
apprise json:// sink, its HTTP endpoints, SIGTERM, a restart, and a second daemon refused."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import feedparser
import icalendar
import pytest
from prometheus_client.parser import text_string_to_metric_families

FR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "federal-register"
PASSWORD = "hook-s3cret-pw"

ITEMS = [
    ("n1", "US slows licences for Nvidia, AMD AI chip sales to UAE and Saudi Arabia"),
    ("n2", "美國放慢輝達晶片對阿聯酋出口許可審批"),
    ("n3", "U.S. adds China's SMIC to Entity List"),
]
LATER = ("n4", "Commerce adds Chinese AI chip designers Biren and Moore Threads to the Entity List")


def rss(items) -> str:
    entries = "".join(f"<item><title>{title}</title><link>https://news.example/{guid}</link><guid>{guid}</guid></item>"
                      for guid, title in items)
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>news</title>{entries}</channel></rss>'


def write_config(tmp_path: Path, http_server, sink_url: str, *, extra_sources: str = "") -> Path:
    http_server.serve_file("/doc.json", FR / "fr_document_2026-00789.json")
    (tmp_path / "apprise.yml").write_text(f'version: 1\nurls:\n  - "{sink_url}":\n      - tag: compliance\n'
                                          f'      - tag: companies\n', encoding="utf-8")
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[monitor]
state_dir = "state"
backoff_base = "1s"
backoff_cap = "2s"
[[sources]]
id = "news"
kind = "feed"
url = "{http_server.url_for('/news.rss')}"
every = "1s"
[[sources]]
id = "fr-doc"
kind = "federal_register"
url = "{http_server.url_for('/doc.json')}"
every = "1s"
{extra_sources}
[alerts]
apprise_config = "apprise.yml"
digest_window = "0s"
relay_every = "1s"
retry_base = "1s"
retry_cap = "2s"
[[alerts.routes]]
tag = "compliance"
group_by = "region"
[[alerts.routes]]
tag = "companies"
group_by = "company"
""", encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Endpoints:
    """The daemon's HTTP endpoints on 127.0.0.1:port."""

    def __init__(self, port: int | None):
        self.port = port

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def metrics(self) -> dict[tuple[str, tuple], float]:
        status, body = self.get("/metrics")
        assert status == 200
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(body.decode()) for sample in family.samples}

    def health(self) -> tuple[int | None, dict]:
        try:
            status, body = self.get("/healthz")
        except OSError:  # not listening yet
            return None, {}
        return status, json.loads(body)

    def wait_healthy(self, timeout: float = 20) -> dict:
        return wait_for(lambda: (h := self.health())[0] == 200 and h[1], timeout, f"a healthy daemon\n{self}")


class Daemon(Endpoints):
    """`monitor run` in a subprocess, its stderr (the log) in a file."""

    def __init__(self, config: Path, port: int | None, *args: str):
        super().__init__(port)
        self.log_path = config.parent / f"daemon-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        listen = ["--listen", f"127.0.0.1:{port}"] if port else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run", *listen, "--log-format", "json", *args],
            cwd=config.parent, stdout=subprocess.PIPE, stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __str__(self) -> str:
        return self.log()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def terminate(self, timeout: float = 10) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._log.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def alert_ids(messages) -> list[str]:
    return [word for m in messages for word in m["message"].split() if word.startswith("alr-")]


@pytest.fixture
def daemons():
    started: list[Daemon] = []

    def start(*args, **kwargs) -> Daemon:
        daemon = Daemon(*args, **kwargs)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def test_the_daemon_polls_on_schedule_alerts_serves_its_status_and_stops_cleanly(tmp_path, http_server, json_sink,
                                                                                  daemons):
    # The third poll of the feed finds one more story: a change that only a scheduled poll can see.
    http_server.route_sequence("/news.rss", [{"body": rss(ITEMS), "content_type": "application/rss+xml"}] * 2
                               + [{"body": rss(ITEMS + [LATER]), "content_type": "application/rss+xml"}])
    sink = json_sink.url.replace("json://", f"json://monitor:{PASSWORD}@")
    config = write_config(tmp_path, http_server, sink)
    port = free_port()
    daemon = daemons(config, port)

    health = daemon.wait_healthy()
    assert health["scheduler"] == "running" and health["store"]["writable"] and health["failing_sources"] == []
    wait_for(lambda: any("Moore Threads" in m["message"] for m in json_sink.received), 20,
             f"the later story's alert\n{daemon.log()}")
    assert len(http_server.requests_for("/news.rss")) >= 3

    metrics = daemon.metrics()
    assert metrics[("monitor_polls_total", (("source", "news"),))] >= 3
    assert metrics[("monitor_job_runs_total", (("job", "poll:news"), ("outcome", "ok")))] >= 3
    assert metrics[("monitor_alerts", (("status", "delivered"),))] >= 4
    assert metrics[("monitor_scheduler_running", ())] == 1

    status, atom = daemon.get("/changes.atom?company=nvidia")
    feed = feedparser.parse(atom)
    assert status == 200 and not feed.bozo and feed.entries
    assert all("nvidia" in {t.term for t in entry.tags} for entry in feed.entries)
    assert any("輝達" in entry.title for entry in feed.entries)
    status, ics = daemon.get("/deadlines.ics")
    assert status == 200 and icalendar.Calendar.from_ical(ics).name == "VCALENDAR"
    assert daemon.get("/nowhere")[0] == 404 and daemon.get("/changes.atom?min_severity=urgent")[0] == 400

    second = daemons(config, free_port())
    assert second.proc.wait(timeout=20) == 2
    assert "in use by pid" in second.log() and "one monitor process per state directory" in second.log()

    code, took = daemon.terminate()
    assert code == 0, daemon.log()
    lines = daemon.lines()
    assert lines[-1]["message"] == "stopped"
    assert any(line.get("event") == "ChangeDetected" and "Moore Threads" in line["message"] for line in lines)
    assert any(line.get("event") == "AlertDelivered" for line in lines)
    everything = daemon.log() + "".join(p.read_text(errors="replace") for p in (tmp_path / "state").glob("*.db*"))
    assert PASSWORD not in everything

    # A restart rebuilds its jobs, polls again, and sends nothing it already sent.
    sent = len(json_sink.received)
    polls = len(http_server.requests_for("/news.rss"))
    restarted = daemons(config, port)
    restarted.wait_healthy()
    wait_for(lambda: len(http_server.requests_for("/news.rss")) >= polls + 2, 20, "polls after the restart")
    time.sleep(1.5)  # a relay pass or two
    assert len(json_sink.received) == sent
    assert restarted.terminate()[0] == 0


def test_sigterm_during_a_slow_delivery_finishes_it_and_the_restart_sends_the_rest_once(tmp_path, http_server,
                                                                                          json_sink, daemons):
    http_server.route("/news.rss", body=rss(ITEMS + [LATER]), content_type="application/rss+xml")
    json_sink._server.route(json_sink.path, status=200, body=b"{}", delay=1.5)  # a slow chat service
    config = write_config(tmp_path, http_server, json_sink.url)
    daemon = daemons(config, None)
    # a bound, not a timing: on a starved machine the start, the first poll and the relay take long
    wait_for(lambda: json_sink.attempts, 60, f"a delivery in flight\n{daemon.log() if daemon.log_path.exists() else ''}")

    code, took = daemon.terminate()
    assert code == 0 and took < 10, daemon.log()
    delivered_before = alert_ids(json_sink.received)
    assert delivered_before  # the digest in flight was finished, not abandoned

    json_sink._server.route(json_sink.path, status=200, body=b"{}")
    restarted = daemons(config, None)
    state = tmp_path / "state" / "events.db"

    def all_delivered():
        with sqlite3.connect(state) as conn:
            statuses = {s for (s,) in conn.execute("SELECT status FROM outbox")}
        return statuses == {"delivered"}

    wait_for(all_delivered, 30, f"every alert delivered after the restart\n{restarted.log()}")
    assert restarted.terminate()[0] == 0
    ids = alert_ids(json_sink.received)
    assert len(ids) == len(set(ids)), "an alert was sent twice"


def test_a_failing_source_is_reported_while_the_daemon_stays_healthy(tmp_path, http_server, json_sink, daemons):
    http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
    http_server.route("/broken.rss", status=500, body="upstream exploded")
    config = write_config(tmp_path, http_server, json_sink.url, extra_sources=f"""
[[sources]]
id = "broken"
kind = "feed"
url = "{http_server.url_for('/broken.rss')}"
every = "1s"
""")
    daemon = daemons(config, free_port())
    health = wait_for(lambda: (h := daemon.wait_healthy()) and h["failing_sources"] and h, 20, "a failing source")
    [failing] = health["failing_sources"]
    assert failing["source"] == "broken" and failing["reason"] == "http_status" and failing["next_attempt_at"]
    failures = ("monitor_poll_failures_total", (("source", "broken"),))
    metrics = wait_for(lambda: (m := daemon.metrics())[failures] >= 2 and m, 20, "a retry after the backoff")
    assert metrics[("monitor_source_consecutive_failures", (("source", "broken"),))] >= 2
    warnings = [line for line in daemon.lines() if line.get("event") == "SourceFailed"]
    assert warnings and warnings[0]["level"] == "warning" and warnings[0]["source"] == "broken"
    assert daemon.terminate()[0] == 0


def test_a_taken_listen_address_or_a_bad_one_is_refused_before_anything_starts(tmp_path, http_server, json_sink):
    http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
    config = write_config(tmp_path, http_server, json_sink.url)
    command = [sys.executable, "-m", "monitor", "--config", str(config), "run", "--listen"]
    bad = subprocess.run([*command, "localhost"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run([*command, f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=30)
    assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert not http_server.requests_for("/news.rss")  # nothing was polled


def run_in_process(service, observe) -> None:
    """Run the service in this process's event loop while ``observe`` (blocking) runs in a thread;
    stop the service when it returns."""
    import asyncio

    async def main():
        loop = asyncio.get_running_loop()
        watcher = loop.run_in_executor(None, observe)
        running = asyncio.create_task(service.run())
        try:
            await watcher
        finally:
            service.stop()
            await running

    asyncio.run(main())


def test_a_failing_store_makes_jobs_fail_loudly_health_503_and_recovers_in_process(tmp_path, http_server, json_sink,
                                                                                    monkeypatch, caplog):
    """A disk that refuses writes cannot be produced by a loopback server: the store's append is
    made to fail for a while, in process, and the daemon must say so and carry on."""
    from monitor.config import load_config
    from monitor.daemon import make_service
    from monitor.store import EventStore

    http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
    config = load_config(write_config(tmp_path, http_server, json_sink.url))
    port = free_port()
    service = make_service(config, tmp_path / "state", listen=f"127.0.0.1:{port}")
    real_append = EventStore.append
    broken = {"on": True}

    def append(self, batch, **kwargs):
        if broken["on"] and any(e.type == "SourcePolled" for e in batch):
            raise sqlite3.OperationalError("database or disk is full")
        return real_append(self, batch, **kwargs)

    monkeypatch.setattr(EventStore, "append", append)
    daemon = Endpoints(port)
    seen = {}

    def observe():
        seen["unhealthy"] = wait_for(lambda: (h := daemon.health())[0] == 503 and h[1]["store"]["writable"] is False
                                     and h[1], 20, "a 503 for the store")
        broken["on"] = False
        wait_for(lambda: daemon.health()[0] == 200, 20, "health back")
        # The job's outcome is counted when the job returns, which can be after health is back
        # (another append may succeed first): wait for the count, do not assume an order. Which
        # source's job met the broken store first (news or fr-doc) depends on timing: any will do.
        seen["metrics"] = wait_for(lambda: failed_polls(m := daemon.metrics()) and m, 20, "the failed job counted")

    def failed_polls(metrics) -> dict[str, float]:
        return {dict(labels)["job"]: value for (name, labels), value in metrics.items()
                if name == "monitor_job_runs_total" and dict(labels).get("outcome") == "error"
                and dict(labels).get("job", "").startswith("poll:") and value >= 1}

    with caplog.at_level(logging.ERROR, logger="monitor"):
        run_in_process(service, observe)
    assert "last append failed" in " ".join(seen["unhealthy"]["problems"])
    failed = failed_polls(seen["metrics"])
    assert failed and set(failed) <= {"poll:news", "poll:fr-doc"}
    assert all(any(f"job {job} failed" in r.getMessage() for r in caplog.records) for job in failed)


def test_sigint_stops_the_daemon_as_cleanly_as_sigterm(tmp_path, http_server, json_sink, daemons):
    http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
    daemon = daemons(write_config(tmp_path, http_server, json_sink.url), None)
    wait_for(lambda: json_sink.received, 20, f"a first digest\n{daemon}")
    daemon.proc.send_signal(signal.SIGINT)
    assert daemon.proc.wait(timeout=10) == 0
    assert daemon.lines()[-1]["message"] == "stopped" and "Traceback" not in daemon.log()


def test_the_daily_anchor_is_signed_verifiable_and_scheduled_after_a_restart(tmp_path, http_server, json_sink,
                                                                             monkeypatch):
    from datetime import timedelta

    from monitor.config import load_config
    from monitor.daemon import make_service

    http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
    config = load_config(write_config(tmp_path, http_server, json_sink.url))
    anchors = tmp_path / "elsewhere"
    monkeypatch.setenv("MONITOR_ANCHOR_DIR", str(anchors))
    service = make_service(config, tmp_path / "state", anchor_key=b"k3y", first_anchor_after=timedelta(seconds=1))
    run_in_process(service, lambda: wait_for(lambda: list(anchors.glob("anchor-*.json")), 20, "an anchor"))
    [anchor] = anchors.glob("anchor-*.json")
    assert json.loads(anchor.read_text())["signature"]
    checked = subprocess.run([sys.executable, "-m", "monitor", "--state", str(tmp_path / "state"), "verify",
                              "--anchor", str(anchor)], capture_output=True, text=True,
                             env={**os.environ, "MONITOR_ANCHOR_KEY": "k3y"}, timeout=60)
    assert checked.returncode == 0 and "matches anchor" in checked.stdout

    # Today's anchor exists: a restarted daemon does not write another now, but keeps the daily job.
    restarted = make_service(config, tmp_path / "state", anchor_key=b"k3y", first_anchor_after=timedelta(0))
    jobs = {}
    run_in_process(restarted, lambda: wait_for(lambda: restarted.status.last_cycle_at, 20, "a poll") and jobs.update(
        anchor=restarted.scheduler.get_job("anchor").next_run_time))
    assert jobs["anchor"] is not None and jobs["anchor"].hour == 0  # tonight, not paused
    assert len(list(anchors.glob("anchor-*.json"))) == 1
