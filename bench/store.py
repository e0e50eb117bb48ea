"""Event-log benchmark: append, replay and verify throughput against raw SQLite, and peak memory.

    python bench/store.py --events 1000000 --json
    python bench/store.py --events 100000 --database postgresql://monitor@127.0.0.1/bench   # an empty database

With ``--database`` the same events are also appended to a PostgreSQL log (through the store, as a
replica does: the append, then the pull into the replica's SQLite mirror and its projections), and
replayed and verified from PostgreSQL, beside the SQLite figures of the same run (``pg_*``).

The last line printed is one JSON object. Replay and verify run in a fresh child process, so
``peak_rss_mb`` is the memory that replaying N events takes, not what building the log took.
Rates are events per second of CPU time (``time.process_time``), store and reference alike: the
machine is shared, and wall time would measure the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import finish  # bench/report.py, beside this script
from monitor.daemon import open_store
from monitor.events import NewEvent, derive_event_id, dumps
from monitor.projections import default_projections, replay
from monitor.store import EventStore, verify


def make_events(start: int, count: int) -> list[NewEvent]:
    """Events shaped like a poll's output (~400 bytes each): mostly newly discovered items, each on
    a new item stream, and one in ten a revision of an item seen earlier (a random older stream)."""
    events = []
    for n in range(start, start + count):
        item = n if n % 10 or n < 10 else (n * 7919) % n  # every tenth event revises an older item
        kind, stream = "ItemDiscovered" if item == n else "ItemRevised", f"item:fr-bis:{item:08d}"
        events.append(NewEvent(
            kind,
            stream,
            {
                "source": "fr-bis",
                "key": f"{item:08d}",
                "title": "Implementation of Additional Due Diligence Measures for Advanced Computing Integrated Circuits",
                "url": f"https://www.federalregister.gov/documents/2025/01/16/{item:08d}/x",
                "content_hash": f"{n:064x}",
                "fields": {"type": "Rule", "action": "Interim final rule", "rins": ["0694-AJ98"], "n": n},
            },
            derive_event_id(stream, kind, f"{n:064x}"),  # as the collectors derive them
            occurred_at="2025-01-16",
        ))
    return events


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def bench_append(state: Path, total: int, batch: int, projected: bool) -> float:
    store = open_store(state) if projected else EventStore(state / "events.db")
    elapsed = 0.0
    with store:
        for start in range(0, total, batch):
            events = make_events(start, min(batch, total - start))  # built outside the timing
            began = time.process_time()
            store.append(events)
            elapsed += time.process_time() - began
    return rate(total, elapsed)


def bench_raw(path: Path, total: int, batch: int) -> float:
    """The reference: the same events, serialised, into a plain SQLite table (no indexes, no hashing,
    no checks), same pragmas, same batches, one transaction a batch."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE plain (seq INTEGER PRIMARY KEY, event_id TEXT, stream TEXT, stream_version INTEGER, "
                 "type TEXT, schema_version INTEGER, occurred_at TEXT, recorded_at TEXT, data TEXT, "
                 "prev_hash TEXT, hash TEXT)")
    elapsed, seq = 0.0, 0
    for start in range(0, total, batch):
        events = make_events(start, min(batch, total - start))
        began = time.process_time()
        rows = []  # serialising is part of storing an event, for the reference as for the store
        for e in events:
            seq += 1
            rows.append((seq, e.event_id, e.stream, 1, e.type, 1, e.occurred_at, "2026-01-01T00:00:00.000000Z",
                         dumps(e.data), "0" * 64, "0" * 64))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO plain VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
        elapsed += time.process_time() - began
    conn.close()
    return rate(total, elapsed)


def child_read_phase(state: Path) -> dict:
    """Runs in a fresh process: replay and verify the log, and report the peak RSS."""
    with EventStore(state / "events.db") as store:  # no live projections: measure the replay itself
        began = time.process_time()
        result = replay(store, default_projections())
        replay_s = time.process_time() - began
        began = time.process_time()
        report = verify(store.conn)
        verify_s = time.process_time() - began
    assert report.ok, report.problem
    return {
        "replay_per_s": rate(result.events, replay_s),
        "verify_per_s": rate(report.checked, verify_s),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "replayed": result.events,
    }


def bench_postgres(url: str, state: Path, total: int, batch: int) -> dict:
    # Wall time here: most of the work is the PostgreSQL server's, which this process's CPU time omits.
    from monitor.projections import Projector
    from monitor.store.postgres import PostgresEventStore

    with PostgresEventStore(url, None) as log:
        if log.head().seq:
            raise SystemExit(f"{log.where}: not empty; give an empty database (createdb, then --database)")
    elapsed = 0.0
    with PostgresEventStore(url, state / "events.db", projections=Projector(default_projections())) as store:
        for start in range(0, total, batch):
            events = make_events(start, min(batch, total - start))
            began = time.perf_counter()
            store.append(events)
            elapsed += time.perf_counter() - began
    with PostgresEventStore(url, None) as log:
        began = time.perf_counter()
        result = replay(log, default_projections())
        replay_s = time.perf_counter() - began
        began = time.perf_counter()
        report = log.verify()
        verify_s = time.perf_counter() - began
    assert report.ok, report.problem
    return {"pg_append_projected_per_s": rate(total, elapsed), "pg_replay_per_s": rate(result.events, replay_s),
            "pg_verify_per_s": rate(report.checked, verify_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--single", type=int, default=20_000, help="events appended one per transaction")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--database", metavar="URL", help="also an empty PostgreSQL database (password: PGPASSWORD "
                                                          "or a passfile)")
    parser.add_argument("--child-read-phase", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_read_phase:
        print(json.dumps(child_read_phase(args.child_read_phase)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        tmp = Path(tmp)
        results = {
            "events": args.events,
            "batch": args.batch,
            "raw_insert_per_s": bench_raw(tmp / "raw.db", args.events, args.batch),
            "append_per_s": bench_append(tmp / "bare", args.events, args.batch, projected=False),
            "append_projected_per_s": bench_append(tmp / "main", args.events, args.batch, projected=True),
            "append_single_per_s": bench_append(tmp / "single", min(args.single, args.events), 1, projected=False),
        }
        child = subprocess.run([sys.executable, __file__, "--child-read-phase", str(tmp / "main")],
                               capture_output=True, text=True, check=True)
        results.update(json.loads(child.stdout.splitlines()[-1]))
        results["append_vs_raw"] = round(results["append_per_s"] / results["raw_insert_per_s"], 3)
        results["db_mb"] = round(os.path.getsize(tmp / "main" / "events.db") / 2**20, 1)
        if args.database:
            results.update(bench_postgres(args.database, tmp / "pg", args.events, args.batch))
    finish(results, as_json=args.json)


if __name__ == "__main__":
    main()
