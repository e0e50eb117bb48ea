"""`/healthz`: is this daemon doing its job? Pure: facts in, (HTTP status, JSON body) out.

Healthy means the scheduler runs and the store takes writes. A failing *source* does not make the
daemon unhealthy (restarting the container would not bring a remote site back); it is listed, so a
probe or a person can see it, and the ops route is alerted after the source's silence limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from monitor import __version__
from monitor.clock import to_iso


def assess(*, scheduler_running: bool, stopping: bool, store_writable: bool, store_error: str | None,
           started_at: datetime, last_cycle_at: datetime | None, head_seq: int | None,
           failing: Iterable[Mapping[str, Any]], sources: int,
           replica: Mapping[str, Any] | None = None) -> tuple[int, dict]:
    problems = []
    if stopping:
        problems.append("stopping")
    elif not scheduler_running:
        problems.append("the scheduler is not running")
    if not store_writable:
        problems.append("the state directory is not writable")
    if store_error:
        problems.append(f"the last append failed: {store_error}")
    body = {
        "status": "ok" if not problems else "unhealthy",
        "problems": problems,
        "version": __version__,
        "scheduler": "stopping" if stopping else ("running" if scheduler_running else "stopped"),
        "store": {"writable": store_writable and not store_error, "head_seq": head_seq},
        "started_at": to_iso(started_at),
        "last_successful_cycle": to_iso(last_cycle_at) if last_cycle_at else None,
        "sources": sources,
        "failing_sources": [
            {"source": row["source"], "since": row["failing_since"], "consecutive_failures": row["consecutive_failures"],
             "reason": row["last_error_reason"], "error": row["last_error"], "next_attempt_at": row["retry_at"],
             "last_success_at": row["last_success_at"]}
            for row in failing
        ],
    }
    if replica is not None:  # a shared log: this replica's name, and who holds which lease now
        body["replica"] = dict(replica)
    return (200 if not problems else 503), body
