"""Replicas benchmark: polls per second of 1, 2 and 3 `monitor run` replicas sharing one PostgreSQL
log, on 1,000 loopback sources.

    python bench/replicas.py --sources 1000 --json

It starts its own PostgreSQL server (Debian's initdb and pg_ctl, as tests/pg.py does), and for each
replica count a fresh database and a loopback server answering every feed after ``--delay``
seconds (a remote site's latency; the per-host limit is lifted, as for 1,000 different sites). Every source is due at start; the figure is the sources polled
(first requests at the server) divided by the time from the first request to the last. The last
line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pg import PostgresServer  # noqa: E402  (tests/pg.py)
from report import finish  # noqa: E402  (bench/report.py)
from test_replicas import CountingFeeds, Replica, write_config  # noqa: E402


def run(server: PostgresServer, replicas: int, sources: int, delay: float, tmp: Path) -> float:
    feeds = CountingFeeds()
    feeds.delay = delay
    work = tmp / f"r{replicas}"
    work.mkdir()
    config = write_config(work, feeds, sources)
    # Each source once; and the per-host politeness limit (2 at a time by default) lifted for the
    # loopback server, which stands for 1,000 different sites: the figure is the replicas' own.
    config.write_text(config.read_text().replace('every = "10s"', 'every = "1h"')
                      + '[monitor.hosts."127.0.0.1"]\nconcurrency = 64\n')
    url = server.url(server.new_database())
    started = [Replica(f"r{i}", config, url) for i in range(replicas)]
    try:
        deadline = time.monotonic() + 1800
        while len(feeds.times()) < sources and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for replica in started:
            replica.stop()
    firsts = sorted(hits[0] for hits in feeds.times().values())
    feeds.shutdown()
    return round(len(firsts) / (firsts[-1] - firsts[0]), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each feed takes to answer")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    server = PostgresServer()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
            results = {"sources": args.sources, "delay_s": args.delay}
            for count in (1, 2, 3):
                results[f"polls_per_s_{count}_replica{'s' if count > 1 else ''}"] = \
                    run(server, count, args.sources, args.delay, Path(tmp))
    finally:
        server.stop()
    finish(results, as_json=args.json)


if __name__ == "__main__":
    main()
