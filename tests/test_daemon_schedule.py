"""The daemon's schedule and what it loads: a slow poll does not cost its source a round, poll
runs fall on a grid inside their interval and jitter, polls due together share one cycle and a
slow one holds up no other, a 304 leaves its connection for
the next request, the daemon's page cache is small, and apprise, soupsieve, jinja2, wcwidth and
sqlite-utils are imported only by what uses them."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from monitor.clock import system_clock
from monitor.config import load_config
from servers import CountingHandler
from test_daemon import wait_for

ROOT = Path(__file__).resolve().parents[1]
RSS = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>news</title>'
       '<item><title>US adds SMIC to the Entity List</title><link>https://news.example/n1</link><guid>n1</guid>'
       '</item></channel></rss>')


def write_config(tmp_path: Path, sources: dict[str, str], every: str, apprise: str | None = None) -> Path:
    path = tmp_path / "sources.toml"
    lines = ['[monitor]\nstate_dir = "state"\n']
    for source_id, url in sources.items():
        lines.append(f'[[sources]]\nid = "{source_id}"\nkind = "feed"\nurl = "{url}"\nevery = "{every}"\n')
    if apprise:
        (tmp_path / "apprise.yml").write_text(f'version: 1\nurls:\n  - "{apprise}":\n      - tag: compliance\n',
                                              encoding="utf-8")
        lines.append('[alerts]\napprise_config = "apprise.yml"\n[[alerts.routes]]\ntag = "compliance"\n')
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_a_run_that_comes_due_during_a_slow_poll_is_made_when_it_ends(tmp_path, http_server):
    """Its source's next run is an hour away; a run that comes due while the first poll is still
    going (the server takes 4 s to answer) is skipped at its time and made as soon as the poll
    ends, instead of being lost until the next interval."""
    from monitor.daemon import make_service

    http_server.route_sequence("/news.rss", [{"body": RSS, "content_type": "application/rss+xml", "delay": 4},
                                             {"body": RSS, "content_type": "application/rss+xml"}])
    config = load_config(write_config(tmp_path, {"news": http_server.url_for("/news.rss")}, "1h"))
    service = make_service(config, tmp_path / "state")
    seen = {}

    def skipped() -> float:
        return service.registry.get_sample_value("monitor_job_runs_total",
                                                 {"job": "poll:news", "outcome": "skipped"}) or 0

    def observe():
        wait_for(lambda: http_server.requests_for("/news.rss"), 20, "the first poll")
        # A run comes due now, while the first poll waits for its answer.
        service._loop.call_soon_threadsafe(lambda: service.scheduler.modify_job(
            "poll:news", next_run_time=datetime.now(timezone.utc)))
        wait_for(lambda: skipped() >= 1, 20, "the run that came due to be skipped")
        seen["second"] = wait_for(lambda: len(http_server.requests_for("/news.rss")) >= 2, 30,
                                  "the skipped run to be made when the slow poll ended")
        seen["next"] = service.scheduler.get_job("poll:news").next_run_time

    run_in_process(service, observe)
    assert seen["second"] and skipped() == 1
    assert seen["next"] > datetime.now(timezone.utc)  # and then back on its hourly schedule
    polls = service.registry.get_sample_value("monitor_job_runs_total", {"job": "poll:news", "outcome": "ok"})
    assert polls == 2


def test_a_poll_wakes_the_relay_when_it_queued_alerts_and_not_otherwise(tmp_path, http_server, capsys):
    """A change with no route to send it queues nothing: the relay is left to its own schedule (its
    run at start only, here). With a route the same poll wakes it at once, and the alert goes out."""
    from monitor.daemon import make_service

    http_server.route("/news.rss", body=RSS, content_type="application/rss+xml")
    runs = {}
    for routed in (False, True):
        (tmp_path / str(routed)).mkdir()
        config_path = write_config(tmp_path / str(routed), {"news": http_server.url_for("/news.rss")}, "1h")
        if routed:
            with config_path.open("a", encoding="utf-8") as config_file:
                config_file.write('[alerts]\nrelay_every = "1h"\ndigest_window = "0s"\n[[alerts.routes]]\ntag = "compliance"\n')
        service = make_service(load_config(config_path), tmp_path / str(routed) / "state")

        def relay_runs() -> float:
            return service.registry.get_sample_value("monitor_job_runs_total", {"job": "relay", "outcome": "ok"}) or 0

        def observe():
            wait_for(lambda: service.registry.get_sample_value(
                "monitor_job_runs_total", {"job": "poll:news", "outcome": "ok"}), 20, "the poll")
            if routed:
                wait_for(lambda: relay_runs() >= 2, 20, "the relay woken by the poll's alert")
            else:
                time.sleep(1.0)  # a wake would run the relay within milliseconds of the poll's end

        run_in_process(service, observe)
        runs[routed] = relay_runs()
    assert runs == {False: 1, True: 2}
    assert "SMIC" in capsys.readouterr().out  # the routed alert was sent (printed: no apprise file)


def run_in_process(service, observe) -> None:
    async def main():
        loop = asyncio.get_running_loop()
        running = asyncio.create_task(service.run())
        while not getattr(service, "scheduler", None) or not service.status.scheduler_running:
            await asyncio.sleep(0.01)
        try:
            await loop.run_in_executor(None, observe)
        finally:
            service.stop()
            await running

    asyncio.run(main())


def test_poll_runs_fall_on_a_grid_never_before_the_interval_nor_after_its_jitter():
    """Sources due close together wake the daemon once: their runs are rounded up to a grid, and
    still come every ``every`` plus 0..10% (the jitter drawn is the grid's step less)."""
    from monitor.service.runner import GridTrigger, poll_grid

    random.seed(16)
    for seconds in (1, 10, 90, 3600):
        grid = poll_grid(seconds)
        trigger = GridTrigger(seconds, jitter=seconds * 0.1, grid=grid)
        previous = datetime(2026, 12, 2, 5, 0, 0, 123_456, tzinfo=timezone.utc)  # the start: off the grid
        gaps = set()
        for _ in range(400):
            fire = trigger.get_next_fire_time(previous, previous)
            gap = (fire - previous).total_seconds()
            assert seconds <= gap <= seconds * 1.1 + 1e-6, (seconds, gap)
            steps = fire.timestamp() / grid
            assert abs(steps - round(steps)) < 1e-6, (seconds, fire)
            gaps.add(round(gap, 6))
            previous = fire
        assert len(gaps) > 1 or seconds * 0.1 <= grid, seconds  # the jitter still spreads the runs
    # two sources whose runs fall within one step of each other run together
    a, b = (GridTrigger(10, jitter=0.0, grid=0.25) for _ in range(2))
    at = datetime(2026, 12, 2, 5, 0, 0, tzinfo=timezone.utc)
    assert a.get_next_fire_time(at + timedelta(seconds=0.05), at) == b.get_next_fire_time(at + timedelta(seconds=0.2), at)


def test_a_cycle_of_named_sources_polls_those_in_the_configurations_order(tmp_path, http_server):
    from monitor.daemon import make_fetcher, open_store
    from monitor.polling import Poller

    names = ["c", "a", "b", "off"]
    for name in names:
        http_server.route(f"/{name}.rss", body=RSS, content_type="application/rss+xml")
    path = write_config(tmp_path, {name: http_server.url_for(f"/{name}.rss") for name in names}, "1h")
    path.write_text(path.read_text().replace('id = "off"', 'id = "off"\nenabled = false'))
    config = load_config(path)

    async def cycles():
        with open_store(tmp_path / "state") as store:
            async with make_fetcher(config) as fetcher:
                poller = Poller(config, store, fetcher, system_clock)
                return ([r.source for r in await poller.cycle(["b", "nowhere", "c"])],
                        [r.source for r in await poller.cycle(["off"])],
                        [r.source for r in await poller.cycle()])

    named, disabled, every = asyncio.run(cycles())
    assert named == ["c", "b"]  # the configuration's order; an unknown id is no source
    assert disabled == ["off"]  # named, a disabled source is polled (as `monitor poll --source` does)
    assert every == ["c", "a", "b"]
    assert {name: len(http_server.requests_for(f"/{name}.rss")) for name in names} == {"c": 2, "a": 1, "b": 2,
                                                                                      "off": 1}


class _Conditional(CountingHandler):
    """200 with an ETag, 304 when it is sent back; keep-alive, and every connection counted."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        body = RSS.encode()
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_304_leaves_its_connection_for_the_next_request():
    """An unread 304 used to close its connection, so every steady poll paid a new one."""
    from monitor.collectors.http import Fetcher

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Conditional)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/feed.rss"

    async def fetch():
        async with Fetcher(user_agent="test") as fetcher:
            first = await fetcher.get(url)
            return first, [await fetcher.get(url, validators=first.validators) for _ in range(3)]

    try:
        first, answers = asyncio.run(fetch())
    finally:
        server.shutdown()
        server.server_close()
    assert first.status == 200 and [a.status for a in answers] == [304] * 3
    assert all(a.not_modified and a.body == b"" for a in answers)
    assert _Conditional.connections == 1


IMPORTS = """
import json, sys
from pathlib import Path
from monitor.config import load_config
from monitor.daemon import relay_targets
import monitor.cli, monitor.service.runner, monitor.service.http
loaded = {"after import": "apprise" in sys.modules, "icalendar": "icalendar" in sys.modules}
config = load_config(Path(sys.argv[1]))
targets = relay_targets(config)
loaded["after the targets"] = "apprise" in sys.modules
print(json.dumps(loaded))
"""


def test_apprise_is_imported_only_when_an_apprise_configuration_is_used(tmp_path, http_server):
    """Importing apprise loads every plugin it has (megabytes): a daemon that prints its digests
    never needs it, and one with an apprise configuration loads it to read that configuration.
    icalendar waits for the first calendar (/deadlines.ics is tested in test_endpoints.py)."""
    url = http_server.url_for("/news.rss")
    plain = write_config(tmp_path, {"news": url}, "1h")
    (tmp_path / "with").mkdir()
    configured = write_config(tmp_path / "with", {"news": url}, "1h", apprise="json://127.0.0.1:9/hook")

    def loaded(config: Path) -> dict:
        done = subprocess.run([sys.executable, "-c", IMPORTS, str(config)], capture_output=True, text=True,
                              cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    assert loaded(plain) == {"after import": False, "after the targets": False, "icalendar": False}
    assert loaded(configured) == {"after import": False, "after the targets": True, "icalendar": False}


class _Held(BaseHTTPRequestHandler):
    """An RSS feed per path; /slow.rss answers only once ``release`` is set."""

    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/slow.rss":
            type(self).release.wait(30)
        body = RSS.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_polls_due_together_share_one_cycle_and_a_slow_source_holds_up_no_other(tmp_path):
    """Every source is due at start: their polls are made by one cycle, yet each job ends with its
    own source's report (and counts its own outcome) while the slow source's answer is still held."""
    from monitor.daemon import make_service

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Held)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    names = ["a", "b", "c", "slow"]
    config = load_config(write_config(tmp_path, {name: f"{base}/{name}.rss" for name in names}, "1h"))
    service = make_service(config, tmp_path / "state")
    cycles: list[list[str]] = []
    seen = {}

    def ok(name: str) -> float:
        return service.registry.get_sample_value("monitor_job_runs_total",
                                                 {"job": f"poll:{name}", "outcome": "ok"}) or 0

    def observe():
        wait_for(lambda: all(ok(name) == 1 for name in ("a", "b", "c")), 30, "the quick sources' jobs to end")
        seen["slow before release"] = ok("slow")
        _Held.release.set()
        wait_for(lambda: ok("slow") == 1, 30, "the slow source's job to end")

    async def main():
        loop = asyncio.get_running_loop()
        running = asyncio.create_task(service.run())
        while not getattr(service, "poller", None):
            await asyncio.sleep(0)  # before the scheduler's first runs (their cycle starts a turn after them)
        original = service.poller.cycle

        async def recorded(only=None, **options):
            cycles.append(list(only))
            return await original(only, **options)

        service.poller.cycle = recorded
        try:
            await loop.run_in_executor(None, observe)
        finally:
            service.stop()
            await running

    try:
        asyncio.run(main())
    finally:
        _Held.release.set()
        server.shutdown()
        server.server_close()
    assert seen["slow before release"] == 0
    assert [sorted(cycle) for cycle in cycles] == [names]  # one cycle of all four
    assert {name: ok(name) for name in names} == {name: 1 for name in names}


DAEMON_IMPORTS = """
import asyncio, json, sys, urllib.request
from pathlib import Path
from monitor.config import load_config
from monitor.daemon import make_service

config = load_config(Path(sys.argv[1]))
port = sys.argv[3]
service = make_service(config, Path(sys.argv[2]), listen=f"127.0.0.1:{port}")

def scrape():
    for path in ("/healthz", "/metrics"):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            assert response.status == 200, path

async def main():
    running = asyncio.create_task(service.run())
    while not service.status.last_cycle_at:
        await asyncio.sleep(0.05)
    await asyncio.get_running_loop().run_in_executor(None, scrape)
    service.stop()
    await running

asyncio.run(main())
print(json.dumps(sorted(m for m in ("soupsieve", "bs4", "jinja2", "wcwidth", "sqlite_utils") if m in sys.modules)))
"""


def test_a_daemon_of_feeds_loads_neither_selectors_nor_templates_nor_table_widths(tmp_path, http_server):
    """soupsieve and bs4 (`html_list` selectors), jinja2 (console pages), wcwidth (terminal tables)
    and sqlite-utils cost megabytes of resident memory a daemon that polls feeds and answers
    /healthz and /metrics never uses: they are imported when first needed (each is used, and so
    imported, by its own tests)."""
    from test_daemon import free_port

    http_server.route("/news.rss", body=RSS, content_type="application/rss+xml")
    config = write_config(tmp_path, {"news": http_server.url_for("/news.rss")}, "1h")
    done = subprocess.run([sys.executable, "-c", DAEMON_IMPORTS, str(config), str(tmp_path / "state"),
                           str(free_port())], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_the_daemon_keeps_a_small_page_cache_and_other_commands_a_large_one(tmp_path):
    """A large cache filled by the daemon's first cycle would stay resident for its whole life;
    replay and the bulk commands keep the large one."""
    from monitor.daemon import _open_daemon_store, open_store
    from monitor.store.schema import CACHE_KIB, SMALL_CACHE_KIB

    with open_store(tmp_path) as store:
        large = store.conn.execute("PRAGMA cache_size").fetchone()[0]
    with _open_daemon_store(tmp_path) as store:
        small = store.conn.execute("PRAGMA cache_size").fetchone()[0]
    assert (large, small) == (-CACHE_KIB, -SMALL_CACHE_KIB) and SMALL_CACHE_KIB < CACHE_KIB
