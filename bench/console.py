"""Console page times on a large log, and the audit build on a year of many sources.

    python bench/console.py --changes 100000 --json
    python bench/console.py --audit --sources 300 --days 365 --every-hours 6 --json

A synthetic log is written through the real store API (EventStore.append, the live projections
folded in each append): items, changes with evidence, incidents (one per five changes), polls and
failures. Page times are the console's own renders (monitor.views.console over a read-only
connection, what each request of `monitor run` does), 30 requests per page with varied filters:
p50 and p95. The audit is `monitor audit` in a subprocess: wall time and peak RSS (from
getrusage of the child). Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.clock import to_iso  # noqa: E402
from monitor.daemon import open_store  # noqa: E402
from monitor.events import (  # noqa: E402
    CHANGE_DETECTED, INCIDENT_ITEM_ATTACHED, INCIDENT_OPENED, ITEM_DISCOVERED, SOURCE_FAILED, SOURCE_POLLED, NewEvent,
)
from monitor.vocabulary import KINDS  # noqa: E402

REGIONS = ["gulf", "middle-east", "china", "east-asia", "north-america", "europe"]
COMPANIES = ["nvidia", "amd", "intel", "huawei", "smic", "tsmc", "micron", "biren"]
TITLES = ["US slows licenses for {c} AI accelerator shipments to UAE", "美國放慢對中東AI晶片出口許可 {c}受影響",
          "Commerce adds entities to the Entity List ({c})", "商务部公告：对镓、锗相关物项实施出口管制 {c}"]


def clock_at(start: datetime):
    state = {"now": start}

    def clock():
        return state["now"]
    return state, clock


def build_changes(state_dir: Path, changes: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    st, clock = clock_at(start)
    with open_store(state_dir, clock=clock) as store:
        batch: list[NewEvent] = []
        incident = None
        for n in range(changes):
            st["now"] = start + timedelta(minutes=5 * n)
            at = to_iso(st["now"])
            source = f"src-{n % 40}"
            key = f"k{n}"
            company = rnd.choice(COMPANIES)
            title = rnd.choice(TITLES).format(c=company)
            item_stream = f"item:{source}:{key}"
            event_id = f"{item_stream}/{n:08x}"
            summary = f"Officials said shipments of {company} accelerators to the United Arab Emirates would slow. " * 3
            batch.append(NewEvent(ITEM_DISCOVERED, item_stream, {
                "source": source, "key": key, "title": title, "summary": summary, "url": f"https://example.org/{n}",
                "language": "zh" if "美" in title or "商" in title else "en", "published": at[:10],
                "content_hash": f"{n:064x}"[:64], "fields": {}}, event_id, occurred_at=at))
            kind = rnd.choice(KINDS)
            regions = sorted(rnd.sample(REGIONS, 2))
            change_id = f"chg-{n:012x}"
            if n % 5 == 0:
                incident = f"inc-{n:012x}"
                batch.append(NewEvent(INCIDENT_OPENED, f"incident:{incident}", {
                    "incident": incident, "title": title, "rule": None, "family": "rule", "status": "reported",
                    "stage": "reported", "severity": "medium", "kind": kind, "change_id": change_id},
                    f"incident:{incident}/open", occurred_at=at))
            batch.append(NewEvent(CHANGE_DETECTED, f"change:{source}:{key}", {
                "id": change_id, "kind": kind, "severity": rnd.choice(["low", "medium", "high"]), "title": title,
                "url": f"https://example.org/{n}", "source": source, "key": key, "published": at[:10], "rule": None,
                "regions": regions, "countries": ["AE", "US"], "companies": [company], "deadlines": [],
                "evidence": [{"kind": "company", "name": company, "value": company, "field": "summary",
                              "start": 32, "end": 32 + len(company)}],
                "incident": incident, "language": "en", "cause": event_id}, f"change:{source}:{key}/c", occurred_at=at))
            batch.append(NewEvent(INCIDENT_ITEM_ATTACHED, f"incident:{incident}", {
                "incident": incident, "change_id": change_id, "source": source, "key": key,
                "url": f"https://example.org/{n}", "title": title, "language": "en", "kind": kind, "severity": "medium",
                "attached_by": "opened" if n % 5 == 0 else "subject", "published": at[:10], "regions": regions,
                "countries": ["AE", "US"], "companies": [company], "keys": [f"item:{source}:{key}"], "words": [],
                "official": False, "date": at[:10]}, f"incident:{incident}/att/{change_id}", occurred_at=at))
            if len(batch) >= 800:
                store.append(batch)
                batch = []
        if batch:
            store.append(batch)


def build_year(state_dir: Path, sources: int, days: int, every_hours: int, seed: int = 11) -> int:
    rnd = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    st, clock = clock_at(start)
    count = 0
    with open_store(state_dir, clock=clock) as store:
        for step in range(days * 24 // every_hours):
            st["now"] = start + timedelta(hours=every_hours * step)
            at = to_iso(st["now"])
            batch = []
            for s in range(sources):
                sid = f"src-{s:03d}"
                if rnd.random() < 0.02:
                    batch.append(NewEvent(SOURCE_FAILED, f"source:{sid}", {
                        "source": sid, "at": at, "reason": "timeout", "message": "read timed out after 30 s",
                        "consecutive_failures": 1, "retry_at": at, "status": None},
                        f"source:{sid}/f/{step}", occurred_at=at))
                else:
                    batch.append(NewEvent(SOURCE_POLLED, f"source:{sid}", {
                        "source": sid, "at": at, "status": 304, "not_modified": True, "bytes": 0, "entries": None},
                        f"source:{sid}/p/{step}", occurred_at=at))
            store.append(batch)
            count += len(batch)
    return count


def timed(fn, runs: int) -> dict:
    times = []
    for i in range(runs):
        began = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(len(times) * 0.95) - 1], 1)}


def bench_pages(state_dir: Path, runs: int) -> dict:
    from monitor.config import SourceConfig  # noqa: F401  (only to be sure the package imports)
    from monitor.daemon import make_detector
    from monitor.config import Config
    from monitor.store.schema import connect
    from monitor.views import console
    from monitor.views.params import ConsoleVocabulary, parse_console

    detector = make_detector(Config())
    g = detector.gazetteer
    vocabulary = ConsoleVocabulary(frozenset(g.regions), frozenset(g.companies), frozenset(g.countries),
                                   frozenset(KINDS), frozenset(["low", "medium", "high"]),
                                   frozenset(["reported", "published"]), frozenset(f"src-{i}" for i in range(40)),
                                   frozenset(["en", "zh"]))
    choices = {"regions": [], "countries": [], "companies": [], "sources": [], "languages": []}
    queries = ["", "region=gulf", "company=nvidia", "region=gulf&company=nvidia", "kind=entity_list",
               "q=slows", "severity=high&language=zh", "from=2025-03-01&to=2025-03-31", "status=reported",
               "source=src-3"]
    today = date(2026, 1, 1)
    conn = connect(state_dir / "events.db", readonly=True)
    incident = conn.execute("SELECT id FROM incidents ORDER BY updated_seq DESC LIMIT 1").fetchone()[0]
    out = {
        "index": timed(lambda i: console.index_page(conn, parse_console("/", queries[i % len(queries)], vocabulary),
                                                    today=today, choices=choices, head=None), runs),
        "index_unfiltered": timed(lambda i: console.index_page(conn, parse_console("/", "", vocabulary), today=today,
                                                               choices=choices, head=None), runs),
        "incident": timed(lambda i: console.incident_page(conn, incident, catalog=detector.catalog, head=None), runs),
        "api_changes": timed(lambda i: console.api_changes(conn, parse_console("/api/changes", queries[i % len(queries)],
                                                                               vocabulary)), runs),
        "alerts": timed(lambda i: console.alerts_page(conn, (), can_retry=False, csrf="", retry_hint="",
                                                      message=None, head=None), runs),
    }
    conn.close()
    return out


def bench_audit(state_dir: Path, config: Path) -> dict:
    out = state_dir.parent / "audit.html"
    began = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "--state", str(state_dir), "audit",
                           "--from", "2025-01-01", "--to", "2025-12-31", "--out", str(out)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return {"audit_wall_s": round(wall, 1), "audit_cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime
                                                                 - before.ru_stime, 1),
            "audit_peak_rss_mb": round(after.ru_maxrss / 1024, 1), "report_bytes": out.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--audit", action="store_true", help="the audit benchmark instead of the page times")
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--every-hours", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        result: dict = {}
        began = time.perf_counter()
        if args.audit:
            events = build_year(state, args.sources, args.days, args.every_hours)
            build_changes(state, 2000)
            config = Path(tmp) / "sources.toml"
            config.write_text("[monitor]\nstate_dir = \"state\"\n")
            result.update({"sources": args.sources, "days": args.days, "poll_events": events,
                           "build_s": round(time.perf_counter() - began, 1)})
            result.update(bench_audit(state, config))
        else:
            build_changes(state, args.changes)
            result.update({"changes": args.changes, "build_s": round(time.perf_counter() - began, 1)})
            result.update(bench_pages(state, args.runs))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
