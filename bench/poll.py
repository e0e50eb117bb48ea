"""Poll-cycle benchmark: 300 feed sources on a loopback server with 20 ms latency per response,
recorded and run through change detection exactly as `monitor poll` does.

    python bench/poll.py --sources 300 --json

Cycles: a first poll (every entry new), a steady cycle answered 304, a steady cycle answered 200
with the same bytes, and a changed cycle (50 new entries in every feed). For each: wall time, CPU
ms per source (this process only: the server runs in a child process) and, for the changed
cycle, the CPU that bare feedparser spends parsing the same bodies, measured in the same run.
All sources share one loopback host, so its per-host concurrency is raised to stand in for the
many hosts real sources live on. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import feedparser

from report import finish  # bench/report.py, beside this script
from monitor.clock import system_clock
from monitor.config import load_config
from monitor.daemon import make_alerts, make_detector, make_fetcher, open_store
from monitor.polling import Poller

ROOT = Path(__file__).resolve().parents[1]
SERVER = """
import sys
sys.path.insert(0, {tests!r})
from servers import LoopbackServer
sys.path.insert(0, {bench!r})
from poll import feed
server = LoopbackServer()
print(server.url, flush=True)
for line in sys.stdin:
    sources, generation, mode = line.split()
    for i in range(int(sources)):
        etag = f'"{{i}}-{{generation}}"' if mode == "etag" else None
        server.route(f"/feed/{{i}}.rss", body=feed(i, int(generation)), content_type="application/rss+xml",
                     etag=etag, delay={latency})
    print("ok", flush=True)
"""


def entry(source: int, n: int) -> str:
    """One entry of a bench feed (~500 bytes); bench/peer.py's feeds are made of the same."""
    return (
        f"<item><title>Source {source} item {n}: Commerce revises export controls on advanced computing "
        f"items</title><link>https://news.example.org/{source}/{n}</link><guid>urn:s{source}:n{n}</guid>"
        f"<pubDate>Thu, 15 Jan 2026 {n % 24:02d}:00:00 GMT</pubDate><description>The Bureau of Industry "
        f"and Security issued an interim final rule on &lt;b&gt;advanced computing&lt;/b&gt; "
        f"integrated circuits; licence applications for the UAE and Saudi Arabia are under review. "
        f"Entry {n} of source {source}.</description></item>"
    )


def feed(source: int, generation: int, entries: int = 50) -> bytes:
    """An RSS feed whose 50 entries are new in every generation (~25 KB)."""
    items = []
    for n in range(generation * entries, (generation + 1) * entries):
        items.append(entry(source, n))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Feed {source}</title>'
            f"<link>https://news.example.org/{source}</link><description>bench</description>"
            f"{''.join(items)}</channel></rss>").encode()


async def measure(poller: Poller) -> dict:
    cpu, wall = time.process_time(), time.perf_counter()
    reports = await poller.cycle(force=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    statuses = {}
    for r in reports:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {"wall_s": round(wall, 3), "cpu_ms_per_source": round(cpu * 1000 / len(reports), 3),
            "cpu_s": round(cpu, 3), "statuses": statuses}


async def cycles(config, serve):
    """The cycles, as the daemon runs them: one store and one HTTP client for the whole run."""
    with open_store(config.state_path) as store:
        async with make_fetcher(config) as fetcher:
            detector = make_detector(config)
            poller = Poller(config, store, fetcher, system_clock, detector=detector,
                            alerts=make_alerts(config, detector))
            serve(1, "etag")
            first = await measure(poller)
            steady_304 = await measure(poller)
            serve(1, "plain")  # same bytes, no validators: the body hash spares the parse
            await measure(poller)  # the first plain answer records its (absent) validators
            steady_same = await measure(poller)
            serve(2, "etag")
            changed = await measure(poller)
        return first, steady_304, steady_same, changed, store.head().seq


def bare_feedparser_cpu(bodies: list[bytes]) -> float:
    headers = {"content-type": "application/rss+xml"}
    began = time.process_time()
    for body in bodies:
        feedparser.parse(io.BytesIO(body), response_headers=headers)
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.020, help="seconds the server waits per response")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    script = SERVER.format(tests=str(ROOT / "tests"), bench=str(ROOT / "bench"), latency=args.latency)
    server = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()

    def serve(generation: int, mode: str) -> None:
        server.stdin.write(f"{args.sources} {generation} {mode}\n")
        server.stdin.flush()
        assert server.stdout.readline().strip() == "ok"

    try:
        with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
            lines = ['[monitor]\nstate_dir = "state"\n', '[monitor.hosts."127.0.0.1"]\nconcurrency = 16\n']
            for i in range(args.sources):
                lines.append(f'[[sources]]\nid = "s{i}"\nkind = "feed"\nurl = "{url}/feed/{i}.rss"\nevery = "15m"\n')
            (Path(tmp) / "sources.toml").write_text("\n".join(lines))
            config = load_config(Path(tmp) / "sources.toml")
            first, steady_304, steady_same, changed, events = asyncio.run(cycles(config, serve))
            bare = bare_feedparser_cpu([feed(i, 2) for i in range(args.sources)])
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(timeout=10)

    results = {
        "sources": args.sources,
        "latency_ms": args.latency * 1000,
        "first_cycle": first,
        "steady_304": steady_304,
        "steady_same_bytes": steady_same,
        "changed": changed,
        "bare_feedparser_cpu_s": round(bare, 3),
        "changed_overhead_vs_feedparser": round((changed["cpu_s"] - bare) / bare, 3),
        "events": events,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    finish(results, as_json=args.json)


if __name__ == "__main__":
    main()
