"""Several `monitor run` replicas on one PostgreSQL log, as real processes: the sources are shared
out by leases, each is polled once per interval (counted at the server), and a replica killed
with SIGKILL has its work taken over; the relay sends each digest once across replicas, keeps its
lease through a pass longer than the lease, and a relay holder killed mid-pass costs at most the
one digest it was sending (sent again by the next holder).

Nothing here asserts how fast anything is: only the order of events (a source's polls are at least
its interval apart; a dead replica's source is polled again only after its lease expired; a
digest is delivered once), with generous bounds on how long the test waits for them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from servers import LoopbackServer
from test_daemon import Endpoints, free_port, wait_for

SOURCES = 300
EVERY = 10.0  # seconds
LEASE = 4  # seconds


class CountingFeeds(ThreadingHTTPServer):
    """/s/N.rss for any N: a one-item feed with an ETag (a repeat is a 304), every request's wall-clock
    time recorded by path."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _FeedHandler)
        self.lock = threading.Lock()
        self.hits: dict[str, list[float]] = defaultdict(list)
        self.delay = 0.5
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def times(self) -> dict[str, list[float]]:
        with self.lock:
            return {path: list(hits) for path, hits in self.hits.items()}


class _FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        with self.server.lock:
            self.server.hits[self.path].append(time.time())
        time.sleep(self.server.delay)  # a poll takes a while: a replica is always in the middle of some
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{self.path}</title><item><title>Weekly '
                f'note</title><link>https://example.org{self.path}/1</link><guid>1</guid></item></channel></rss>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Replica:
    def __init__(self, name: str, config: Path, database: str, *, extra_env: dict | None = None):
        self.name, self.port = name, free_port()
        self.state = config.parent / f"state-{name}"
        self.log_path = config.parent / f"{name}.log"
        self._log = open(self.log_path, "wb")
        env = {**os.environ, "MONITOR_DATABASE": database, "MONITOR_REPLICA": name, "MONITOR_STATE": str(self.state),
               "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run", "--listen",
                                      f"127.0.0.1:{self.port}", "--log-format", "json"],
                                     cwd=config.parent, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def health(self) -> dict:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as response:
            return json.loads(response.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def write_config(tmp_path: Path, feeds: CountingFeeds, count: int, alerts: str = "") -> Path:
    sources = "".join(f'[[sources]]\nid = "s{n}"\nkind = "feed"\nurl = "{feeds.url(f"/s/{n}.rss")}"\n'
                      f'every = "{int(EVERY)}s"\n' for n in range(count))
    path = tmp_path / "sources.toml"
    path.write_text(f'[monitor]\nlease = "{LEASE}s"\n{sources}{alerts}', encoding="utf-8")
    return path


@pytest.fixture
def replicas():
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.stop()


def test_three_replicas_share_300_sources_poll_each_once_per_interval_and_take_over_after_sigkill(
        tmp_path, postgres_server, pg_url, replicas):
    feeds = CountingFeeds()
    config = write_config(tmp_path, feeds, SOURCES)
    paths = [f"/s/{n}.rss" for n in range(SOURCES)]
    replicas.extend(Replica(f"r{i}", config, pg_url) for i in range(3))
    logs = lambda: "\n".join(r.log()[-3000:] for r in replicas)  # noqa: E731

    def polled_at_least(times: int, after: float = 0.0) -> bool:
        hits = feeds.times()
        return all(sum(1 for t in hits.get(p, ()) if t > after) >= times for p in paths)

    wait_for(lambda: polled_at_least(2), 300, f"every source polled twice\n{logs()}")
    healths = [r.health() for r in replicas]
    assert [h["replica"]["replica"] for h in healths] == ["r0", "r1", "r2"]
    # Each replica did a share of the polling (its own /metrics count its polls).
    shares = [sum(v for (name, labels), v in Endpoints(r.port).metrics().items()
                  if name == "monitor_job_runs_total" and dict(labels)["job"].startswith("poll:")
                  and dict(labels)["outcome"] == "ok") for r in replicas]
    assert all(share > 0 for share in shares), shares

    victim = replicas[0]
    with postgres_server.admin(pg_url.rsplit("/", 1)[1]) as admin:
        holding = "SELECT name, expires_at FROM leases WHERE holder = 'r0' AND name LIKE 'source:%'"
        wait_for(lambda: admin.execute(holding).fetchall(), 60, "the victim in the middle of a poll")
        victim.kill()
        killed_at = time.time()
        held = {name.removeprefix("source:"): expires.timestamp() for name, expires in admin.execute(holding)}
    assert held  # it died holding sources: they must come back

    wait_for(lambda: polled_at_least(2, after=killed_at), 300, f"every source polled twice after the kill\n{logs()}")
    # (A replica stopping cancels the polls it has under way and lets go of them, so the other may
    # poll them again at once: what happens from the first stop on is not counted.)
    hits = feeds.times()
    for replica in replicas[1:]:
        assert replica.stop() == 0, replica.log()[-3000:]

    for path in paths:
        times = sorted(hits[path])
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        source = f"s{path[3:-4]}"
        if source in held:
            # The poll in flight at the kill was never recorded: it is done again once the lease
            # expired (the one repeat, at the server, of each source the dead replica held) ...
            after = [t for t in times if t > killed_at]
            assert after and after[0] > held[source], (source, held[source], after[:1])
            gaps.remove(min(gaps))
        # ... and otherwise never two polls of a source inside one interval: the next claim waits
        # `every` after the previous poll was recorded (the database's clock, the same as this one).
        assert min(gaps) >= EVERY * 0.999, (path, gaps)
    # In the log, no source has two recorded polls inside one interval, the repeats included.
    with psycopg.connect(pg_url) as conn:
        polls = defaultdict(list)
        for data in conn.execute("SELECT data FROM events WHERE type IN ('SourcePolled', 'SourceFailed') "
                                 "ORDER BY seq"):
            entry = json.loads(data[0])
            polls[entry["source"]].append(datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp())
    assert len(polls) == SOURCES
    for source, times in polls.items():
        assert all(b - a >= EVERY * 0.999 for a, b in zip(times, times[1:])), (source, times)


def test_two_replicas_send_each_digest_once(tmp_path, http_server, json_sink, pg_url, replicas):
    """Both replicas poll and queue alerts into the one log; only the relay lease's holder sends, and
    every digest reaches the sink exactly once."""
    from test_daemon import ITEMS, rss, write_config as daemon_config

    http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
    config = daemon_config(tmp_path, http_server, json_sink.url)
    replicas.extend(Replica(f"q{i}", config, pg_url) for i in range(2))

    def outbox() -> tuple[set, list, list]:
        with psycopg.connect(pg_url) as conn:
            queued = {json.loads(d)["alert_id"] for (d,) in conn.execute(
                "SELECT data FROM events WHERE type = 'AlertQueued'")}
            delivered = [json.loads(d) for (d,) in conn.execute(
                "SELECT data FROM events WHERE type = 'AlertDelivered' ORDER BY seq")]
            relays = [h for (h,) in conn.execute("SELECT holder FROM leases WHERE name = 'relay'")]
        return queued, delivered, relays

    def all_sent():
        queued, delivered, _ = outbox()
        return queued and queued == {a for d in delivered for a in d["alert_ids"]}

    wait_for(all_sent, 120, "every queued alert delivered\n" + "\n".join(r.log()[-2000:] for r in replicas))
    time.sleep(3)  # a few more relay passes of both replicas: nothing more may be sent
    queued, delivered, relays = outbox()
    sent = [a for d in delivered for a in d["alert_ids"]]
    assert len(sent) == len(set(sent)) == len(queued)  # each alert in one delivered digest
    assert len(json_sink.received) == len(delivered)  # and each digest posted once
    assert relays and relays[0] in ("q0", "q1")


DESKS = ("desk-1", "desk-2", "desk-3")  # one route each: a digest per desk in every relay pass
# Longer than a send's read timeout (targets.SEND_TIMEOUT, 4 s): a live holder blocked on the held
# digest keeps its lease, so the only way to lose the relay here is to die.
RELAY_LEASE = 8  # seconds
SHORT_LEASE, SLOW_SINK = 2, 3.0  # seconds: a digest outlasts the lease, not a send's timeout


def shared_outbox(pg_url: str) -> tuple[set, list]:
    """(alerts queued, alert ids delivered, one per delivery) in the shared log."""
    with psycopg.connect(pg_url) as conn:
        queued = {json.loads(d)["alert_id"] for (d,) in conn.execute(
            "SELECT data FROM events WHERE type = 'AlertQueued'")}
        delivered = [a for (d,) in conn.execute("SELECT data FROM events WHERE type = 'AlertDelivered'")
                     for a in json.loads(d)["alert_ids"]]
    return queued, delivered


def write_relay_config(tmp_path: Path, feeds, sink, *, lease: int = RELAY_LEASE) -> Path:
    """Three feeds with export-control news, and three routes to the one json:// sink: several
    digests are due together. The digest window gathers what the first polls find into one pass."""
    from test_daemon import ITEMS, LATER, rss

    for n, items in enumerate([ITEMS[:1], ITEMS[1:2], [ITEMS[2], LATER]]):
        feeds.route(f"/f{n}.rss", body=rss(items), content_type="application/rss+xml", etag=f"v{n}")
    (tmp_path / "apprise.yml").write_text(
        f'version: 1\nurls:\n  - "json://127.0.0.1:{sink.port}/hook":\n'
        + "".join(f"      - tag: {desk}\n" for desk in DESKS), encoding="utf-8")
    sources = "".join(f'[[sources]]\nid = "f{n}"\nkind = "feed"\nurl = "{feeds.url_for(f"/f{n}.rss")}"\n'
                      'every = "2s"\n' for n in range(3))
    routes = "".join(f'[[alerts.routes]]\ntag = "{desk}"\ngroup_by = "region"\n' for desk in DESKS)
    path = tmp_path / "sources.toml"
    path.write_text(f'[monitor]\nlease = "{lease}s"\nbackoff_base = "1s"\nbackoff_cap = "2s"\n{sources}'
                    '[alerts]\napprise_config = "apprise.yml"\ndigest_window = "3s"\nhigh_bypasses_window = false\n'
                    f'relay_every = "1s"\nretry_base = "1s"\nretry_cap = "2s"\n{routes}', encoding="utf-8")
    return path


def _relay_holder(replica: Replica) -> str | None:
    """Who holds the relay lease, as this replica's /healthz tells it."""
    try:
        leases = replica.health()["replica"]["leases"]
    except OSError:  # not listening (yet)
        return None
    return next((lease["replica"] for lease in leases if lease["lease"] == "relay"), None)


def _relay_passes(replica: Replica) -> float:
    return sum(v for (name, labels), v in Endpoints(replica.port).metrics().items()
               if name == "monitor_job_runs_total" and dict(labels) == {"job": "relay", "outcome": "ok"})


def _three_more_relay_passes(replicas: list[Replica], logs) -> None:
    """Wait until every replica ran its relay job three more times: whichever of them held the
    relay meanwhile had passes in which nothing more was due, so nothing more may be sent."""
    before = [_relay_passes(r) for r in replicas]
    wait_for(lambda: all(_relay_passes(r) >= n + 3 for r, n in zip(replicas, before)), 120,
             f"three more relay passes\n{logs()}")


def test_sigkill_of_the_relay_holder_mid_pass_repeats_at_most_the_digest_in_flight(
        tmp_path, http_server, pg_url, postgres_server, replicas):
    """Three replicas; the relay's holder is killed in a pass, while the sink holds the second digest
    unanswered (so a send is certainly in flight; three routes make several digests due). Another
    replica takes the relay over once the dead one's lease expired, and every alert reaches the
    sink; the only repeat is the digest that was in flight (the window the README documents), sent
    again by the new holder."""
    from test_daemon import alert_ids

    with LoopbackServer() as sink:
        # The first digest is answered; the second is read and never answered (until its sender
        # has gone); every later one is answered at once.
        sink.route_sequence("/hook", [{"status": 200, "body": "ok"}, {"fault": "timeout", "hold": 300},
                                      {"status": 200, "body": "ok"}])
        config = write_relay_config(tmp_path, http_server, sink)
        replicas.extend(Replica(f"k{i}", config, pg_url) for i in range(3))
        logs = lambda: "\n".join(f"--- {r.name}\n{r.log()[-2500:]}" for r in replicas)  # noqa: E731

        # Who sends: the relay lease's holder, as /healthz and /metrics of every replica say. It
        # takes the lease at its first relay pass, before any digest is due, and renews it every
        # pass, so it is the sender of what follows while it lives.
        wait_for(lambda: len({_relay_holder(r) for r in replicas}) == 1 and _relay_holder(replicas[0]), 120,
                 f"every replica naming the one relay holder\n{logs()}")
        [victim] = [r for r in replicas if r.name == _relay_holder(replicas[0])]
        held_by = {dict(labels)["replica"] for (name, labels), value in Endpoints(victim.port).metrics().items()
                   if name == "monitor_lease_held" and dict(labels)["lease"] == "relay" and value == 1}
        assert held_by == {victim.name}
        with postgres_server.admin(pg_url.rsplit("/", 1)[1]) as admin:
            lease = "SELECT holder, expires_at, taken_at FROM leases WHERE name = 'relay'"
            # The second digest reaches the sink, which holds it: kill its sender now (well inside
            # the send's 4 s read timeout, so the send is certainly still in flight).
            wait_for(lambda: len(sink.requests_for("/hook")) >= 2, 120, f"a second digest at the sink\n{logs()}")
            assert admin.execute(lease).fetchone()[0] == victim.name
            victim.kill()
            assert len(sink.requests_for("/hook")) == 2, "the held digest is still the last one sent"
            _, died_holding_until, _ = admin.execute(lease).fetchone()

            survivors = [r for r in replicas if r is not victim]
            wait_for(lambda: {_relay_holder(r) for r in survivors} - {None, victim.name}, 120,
                     f"another replica holding the relay\n{logs()}")
            holder, _, taken_at = admin.execute(lease).fetchone()
        assert holder in {r.name for r in survivors}
        # Taken over only once the dead holder's lease had expired (never two holders at once),
        # and by the first relay pass after that: within one lease period of the expiry.
        assert died_holding_until <= taken_at, (died_holding_until, taken_at)
        assert (taken_at - died_holding_until).total_seconds() < RELAY_LEASE, (died_holding_until, taken_at)

        outbox = lambda: shared_outbox(pg_url)  # noqa: E731

        def all_delivered():
            queued, delivered = outbox()
            return queued and queued <= set(delivered)

        wait_for(all_delivered, 120, f"every queued alert delivered\n{logs()}")
        _three_more_relay_passes(survivors, logs)
        queued, delivered = outbox()
        requests = sink.requests_for("/hook")
        for replica in survivors:
            assert replica.stop() == 0, replica.log()[-3000:]

    assert len(delivered) == len(set(delivered)) == len(queued)  # each alert recorded delivered once
    bodies = [json.loads(r.body) for r in requests]
    sent = [alert_ids([body]) for body in bodies]
    in_flight = set(sent[1])
    assert in_flight and all(sent), sent  # the digest held at the kill named its alerts
    # Every alert reached the sink in a digest it answered (all but the one held at the kill) ...
    answered = [ids for n, ids in enumerate(sent) if n != 1]
    assert set(queued) == {a for ids in answered for a in ids}
    # ... and what reached it twice is exactly the digest in flight at the kill, sent again once.
    seen = defaultdict(int)
    for ids in sent:
        for alert in ids:
            seen[alert] += 1
    assert {a for a, n in seen.items() if n > 1} == in_flight
    assert max(seen.values()) == 2
    # They went out again together, in one digest of the new holder (with whatever else had fallen
    # due on that route meanwhile).
    again = [set(ids) for ids in sent[2:] if in_flight & set(ids)]
    assert len(again) == 1 and in_flight <= again[0], (in_flight, again)


def test_a_relay_pass_longer_than_the_lease_keeps_it_and_sends_each_digest_once(
        tmp_path, http_server, pg_url, postgres_server, replicas):
    """Every digest takes the sink longer to answer than the relay's lease lasts (but less than a
    send's timeout): the holder keeps the lease renewed while its pass runs, so no other replica
    takes the relay over mid-pass and sends the same digests again."""
    from test_daemon import alert_ids

    with LoopbackServer() as sink:
        sink.route("/hook", status=200, body="ok", delay=SLOW_SINK)
        config = write_relay_config(tmp_path, http_server, sink, lease=SHORT_LEASE)
        replicas.extend(Replica(f"p{i}", config, pg_url) for i in range(2))
        logs = lambda: "\n".join(f"--- {r.name}\n{r.log()[-2500:]}" for r in replicas)  # noqa: E731

        outbox = lambda: shared_outbox(pg_url)  # noqa: E731

        wait_for(lambda: (o := outbox())[0] and o[0] <= set(o[1]), 180, f"every queued alert delivered\n{logs()}")
        _three_more_relay_passes(replicas, logs)
        queued, delivered = outbox()
        requests = sink.requests_for("/hook")
        for replica in replicas:
            assert replica.stop() == 0, replica.log()[-3000:]

    sent = [alert for r in requests for alert in alert_ids([json.loads(r.body)])]
    assert len(requests) >= 3  # a pass of several digests, each longer than the lease
    assert sorted(sent) == sorted(set(sent)) == sorted(queued), "a digest sent twice"
    assert len(delivered) == len(set(delivered)) == len(queued)
