"""Screening-list benchmark: a full-size Consolidated Screening List file polled, diffed and matched
against a 5,000-name watchlist, as `monitor poll` does it, on a loopback server.

    python bench/csl.py --records 14000 --watchlist 5000 --json

The file is built from the fixtures' real rows (../shared/fixtures/csl: every distinct row of the
2022, 2023, 2025 files and the sample, about 700), repeated until it holds ``--records`` records;
each copy after the first gets a numbered name (``"<real name> 17"``), so keys and names stay
distinct and the rows keep their real length, quoting, addresses and lists. The watchlist holds
names of the file written differently (upper case, suffix dropped, words reversed), one in five,
and made-up company names for the rest.

Polls, each recorded in the store: the first (the baseline: every record new, every entity screened
against the whole watchlist), a changed file (1% added, 1% removed, 2% modified), a 304, and the
same bytes without validators. For each: wall time, CPU time of this process (the server runs in
a child process) and peak RSS (this process, whole run so far). Also the pure parse and diff of
the changed file. Targets: a changed file in under 5 s and 300 MB; an unchanged poll under 50 ms
of CPU. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import finish  # bench/report.py, beside this script
from monitor.clock import system_clock
from monitor.collectors.screening_list import COLUMNS, parse_screening_list
from monitor.config import load_config
from monitor.daemon import make_alerts, make_detector, make_fetcher, open_store
from monitor.detect.screening import diff
from monitor.polling import Poller
from monitor.projections.screening import current_entities

ROOT = Path(__file__).resolve().parents[1]
CSL = ROOT.parent / "shared" / "fixtures" / "csl"
HEADER = ["_id", *COLUMNS[1:]]
SERVER = """
import sys
sys.path.insert(0, {tests!r})
from servers import LoopbackServer
server = LoopbackServer()
print(server.url, flush=True)
for line in sys.stdin:
    path, etag = line.split()
    server.serve_file("/consolidated.csv", path, content_type="text/csv", etag=None if etag == "-" else etag)
    print("ok", flush=True)
"""


def real_rows() -> list[dict[str, str]]:
    rows, seen = [], set()
    for name in ("consolidated_2022-05-06.csv", "consolidated_2023-11-30.csv", "consolidated_sample.csv",
                 "consolidated_2025-06-25_excerpt.csv"):
        with (CSL / name).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                marker = (row["source"], row["name"], row["addresses"])
                if marker not in seen:
                    seen.add(marker)
                    rows.append(row)
    return rows


def build(rows: list[dict[str, str]], count: int) -> list[dict[str, str]]:
    out = []
    for n in range(count):
        row = dict(rows[n % len(rows)])
        copy = n // len(rows)
        if copy:
            row["name"] = f"{row['name'].strip()} {copy}"
            row["_id"] = f"{row['_id']}-{copy}"
            if row["entity_number"]:
                row["entity_number"] = f"{row['entity_number']}{copy:03d}"
        out.append(row)
    return out


def write(rows: list[dict[str, str]], path: Path) -> int:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    path.write_bytes(data)
    return len(data)


def changed(rows: list[dict[str, str]], rng: random.Random) -> list[dict[str, str]]:
    n = len(rows)
    out = [dict(r) for r in rows]
    for i in rng.sample(range(n), n // 50):  # 2% modified: an address or a licence policy
        out[i]["addresses"] = out[i]["addresses"] + "; Room 1, New Street, Shenzhen, CN"
    removed = set(rng.sample(range(n), n // 100))
    out = [r for i, r in enumerate(out) if i not in removed]
    for i in range(n // 100):  # 1% added
        row = dict(rows[i])
        row["name"], row["_id"] = f"Newly Listed Trading {i} Co., Ltd.", f"new-{i}"
        row["entity_number"] = f"9{i:05d}" if row["entity_number"] else ""
        out.append(row)
    return out


def watchlist(rows: list[dict[str, str]], size: int, rng: random.Random) -> str:
    lines = ["name,name_zh,country,ref"]
    for i in range(size):
        if i % 5 == 0:
            name = rows[(i * 7) % len(rows)]["name"].strip()
            form = i % 3
            name = name.upper() if form == 0 else " ".join(reversed(name.split())) if form == 1 else \
                name.replace("Co., Ltd.", "").replace("Ltd", "Limited")
        else:
            name = f"{rng.choice(['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne'])} " \
                   f"{rng.choice(['Trading', 'Logistics', 'Semiconductor', 'Optics', 'Systems'])} {i} GmbH"
        lines.append(f'"{name.replace(chr(34), "")}",,,W-{i}')
    return "\n".join(lines) + "\n"


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def measure(poller: Poller) -> dict:
    cpu, wall = time.process_time(), time.perf_counter()
    report = (await poller.cycle(force=True))[0]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"wall_s": round(wall, 3), "cpu_ms": round(cpu * 1000, 1), "peak_rss_mb": rss_mb(), "status": report.status,
            "added": report.new, "modified": report.revised, "removed": report.removed, "changes": report.changes,
            "matches": report.matches}


async def polls(config, serve, first_path: Path, second_path: Path):
    with open_store(config.state_path) as store:
        async with make_fetcher(config) as fetcher:
            detector = make_detector(config)
            poller = Poller(config, store, fetcher, system_clock, detector=detector,
                            alerts=make_alerts(config, detector))
            serve(first_path, '"v1"')
            first = await measure(poller)
            serve(second_path, '"v2"')
            second = await measure(poller)
            not_modified = await measure(poller)
            serve(second_path, "-")
            await measure(poller)  # the first plain answer records its (absent) validators
            same_bytes = await measure(poller)
            live = current_entities(store.conn, "csl")
        return first, second, not_modified, same_bytes, live, store.head().seq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=14_000)
    parser.add_argument("--watchlist", type=int, default=5_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(15)
    base = build(real_rows(), args.records)
    later = changed(base, rng)
    script = SERVER.format(tests=str(ROOT / "tests"))
    server = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()

    def serve(path: Path, etag: str) -> None:
        server.stdin.write(f"{path} {etag}\n")
        server.stdin.flush()
        assert server.stdout.readline().strip() == "ok"

    try:
        with tempfile.TemporaryDirectory(prefix="bench-csl-") as tmp:
            tmp_path = Path(tmp)
            size = write(base, tmp_path / "v1.csv")
            write(later, tmp_path / "v2.csv")
            (tmp_path / "watchlist.csv").write_text(watchlist(base, args.watchlist, rng), encoding="utf-8")
            (tmp_path / "sources.toml").write_text(
                '[monitor]\nstate_dir = "state"\n\n[[sources]]\nid = "csl"\nkind = "screening_list"\n'
                f'url = "{url}/consolidated.csv"\n\n[watchlist]\nfile = "watchlist.csv"\n')
            config = load_config(tmp_path / "sources.toml")
            setup_rss = rss_mb()
            first, second, not_modified, same_bytes, live, events = asyncio.run(
                polls(config, serve, tmp_path / "v1.csv", tmp_path / "v2.csv"))
            body = (tmp_path / "v2.csv").read_bytes()
            began = time.process_time()
            parsed = parse_screening_list(body)
            parse_cpu = time.process_time() - began
            previous = dict(live)  # the live entities after the changed poll: diffing v2 again finds nothing
            began = time.process_time()
            diff(previous, parsed.records)
            diff_cpu = time.process_time() - began
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(timeout=10)
    finish({
        "records": args.records, "file_bytes": size, "watchlist": args.watchlist,
        "first_poll_baseline": first, "changed_poll": second, "unchanged_304": not_modified,
        "unchanged_same_bytes": same_bytes,
        "pure_parse_changed_file_ms": round(parse_cpu * 1000, 1),
        "pure_diff_changed_file_ms": round(diff_cpu * 1000, 1),
        "rss_before_polls_mb": setup_rss, "events": events,
    }, as_json=args.json)


if __name__ == "__main__":
    main()
