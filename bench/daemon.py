"""Daemon benchmark: `monitor run` as a subprocess with N feed sources on a loopback server.

    python bench/daemon.py --sources 300 --seconds 60 --json

Measures what an operator sees: time from start to a healthy /healthz and to the first poll of
every source; then, over a steady window in which every source answers 304 and is polled every
`--every` seconds, the daemon's CPU per scheduled poll against the same polls run by a bare
`Poller.cycle` in this process (the reference, measured in the same run: the median of three
cycles) and by a bare cycle paced as the daemon is (the paced reference: the polls of one point
of the daemon's grid a cycle, then a sleep to the next, for up to 30 s), its RSS (at start, its peak in the first cycle, in the steady state, and its peak), the
latency of /healthz and /metrics, and the time from SIGTERM to exit.

Polls are counted from the event log: the polls made in the window against the polls the
schedule should have made there (each source is due every `--every` seconds plus a random 10%,
so a window holds fewer than window/every polls of a source, and the count depends on where the
window falls: sources that started together are polled in waves). The daemon's own count of
missed and skipped poll runs in the window is reported beside it. The last line printed is one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from poll import SERVER  # bench/poll.py: the loopback feed server, in a child process
from report import finish
from monitor.clock import parse_iso, system_clock
from monitor.config import load_config
from monitor.daemon import make_alerts, make_detector, make_fetcher, open_store
from monitor.events import SOURCE_FAILED, SOURCE_POLLED
from monitor.polling import Poller
from monitor.service.runner import poll_grid

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """VmHWM: the peak resident set so far; VmRSS: the resident set now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def get(port: int, path: str) -> tuple[int, bytes, float]:
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read(), time.perf_counter() - began
    except OSError:
        return 0, b"", time.perf_counter() - began


def samples(port: int) -> list:
    status, body, _ = get(port, "/metrics")
    if status != 200:
        return []
    return [s for f in text_string_to_metric_families(body.decode()) for s in f.samples]


def sources_polled(port: int) -> int:
    """How many sources have been polled at least once (not the polls: a source whose first poll
    is quick is polled again while others still wait for their first)."""
    return sum(1 for s in samples(port) if s.name == "monitor_polls_total" and s.value >= 1)


def poll_job_outcomes(port: int) -> dict[str, float]:
    """The daemon's own count of poll job runs by outcome (ok, missed, skipped, error, ...)."""
    outcomes: dict[str, float] = {}
    for s in samples(port):
        if s.name == "monitor_job_runs_total" and s.labels["job"].startswith("poll:"):
            outcomes[s.labels["outcome"]] = outcomes.get(s.labels["outcome"], 0) + s.value
    return outcomes


def schedule_kept(config, began: float, ended: float, every: float, jitter: float) -> dict:
    """The polls made in the window [began, ended] (Unix times) against the polls the schedule
    should have made there, read from the event log.

    Each source is due every ``every`` seconds plus a random 0..``jitter`` (APScheduler draws it
    anew for each run), so two polls of a source are ``every``..``every + jitter`` apart plus any
    lateness; a longer gap holds runs that were not made: round(gap / (every + jitter / 2)) - 1 of
    them. After a source's last poll, every whole ``every + jitter`` to the window's end is a run
    that was certainly due and not made."""
    mean = every + jitter / 2
    times: dict[str, list[float]] = {}
    with open_store(config.state_path) as store:
        for event in store.read(types=[SOURCE_POLLED, SOURCE_FAILED]):
            times.setdefault(event.data["source"], []).append(parse_iso(event.data["at"]).timestamp())
    made = missed = 0
    gaps: list[float] = []
    for source in config.sources:
        polled = sorted(times.get(source.id, []))
        inside = [t for t in polled if began <= t <= ended]
        made += len(inside)
        for previous, current in zip(polled, polled[1:]):
            if began <= current <= ended:
                gaps.append(current - previous)
                missed += max(0, round((current - previous) / mean) - 1)
        before = [t for t in polled if t <= ended]
        if before:
            missed += int((ended - before[-1]) // (every + jitter))
    gaps.sort()
    at = (lambda q: round(gaps[min(len(gaps) - 1, int(q * len(gaps)))], 2)) if gaps else (lambda q: None)
    return {"made": made, "expected": made + missed, "gap_s": {"p50": at(0.5), "p99": at(0.99), "max": at(1.0)}}


def wait_for(predicate, timeout: float, every: float = 0.05) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if predicate():
            return time.monotonic() - began
        time.sleep(every)
    raise TimeoutError


async def reference_cpu_per_poll(config) -> float:
    """The same steady 304 polls without the daemon: one Poller, one store, cycles of every source."""
    with open_store(config.state_path) as store:
        async with make_fetcher(config) as fetcher:
            detector = make_detector(config)
            poller = Poller(config, store, fetcher, system_clock, detector=detector,
                            alerts=make_alerts(config, detector))
            await poller.cycle(force=True)  # first sight: validators recorded
            costs = []
            for _ in range(3):  # the median of three steady cycles: the machine is shared
                began = time.process_time()
                reports = await poller.cycle(force=True)
                costs.append((time.process_time() - began) / len(reports))
            return sorted(costs)[1]


async def paced_reference_cpu_per_poll(config, every: float, seconds: float) -> float:
    """The same steady 304 polls by a bare ``Poller.cycle`` at the daemon's pace: every source once
    per ``every`` seconds, in cycles of the polls that fall on one point of the daemon's grid,
    sleeping in between. What this costs beyond the flat-out reference is the pacing (a process
    that sleeps and wakes), not the daemon's scheduler, jobs or narration."""
    grid = poll_grid(every)
    with open_store(config.state_path) as store:
        async with make_fetcher(config) as fetcher:
            detector = make_detector(config)
            poller = Poller(config, store, fetcher, system_clock, detector=detector,
                            alerts=make_alerts(config, detector))
            ids = [source.id for source in config.sources]
            per_point = max(1, round(len(ids) * grid / (every * 1.05)))  # the mean interval is every + 5%
            await poller.cycle(force=True)
            polls, began, position = 0, time.process_time(), 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                started = time.monotonic()
                batch = [ids[(position + i) % len(ids)] for i in range(per_point)]
                position += per_point
                polls += len(await poller.cycle(batch, force=True))
                await asyncio.sleep(max(0.0, grid - (time.monotonic() - started)))
            return (time.process_time() - began) / polls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--every", type=int, default=10, help="seconds between polls of one source")
    parser.add_argument("--seconds", type=float, default=60, help="length of the steady window")
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    script = SERVER.format(tests=str(ROOT / "tests"), bench=str(ROOT / "bench"), latency=args.latency)
    server = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    server.stdin.write(f"{args.sources} 1 etag\n")
    server.stdin.flush()
    assert server.stdout.readline().strip() == "ok"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
            lines = ['[monitor]\nstate_dir = "state"\n', '[monitor.hosts."127.0.0.1"]\nconcurrency = 16\n']
            for i in range(args.sources):
                lines.append(f'[[sources]]\nid = "s{i}"\nkind = "feed"\nurl = "{url}/feed/{i}.rss"\n'
                             f'every = "{args.every}s"\n')
            path = Path(tmp) / "sources.toml"
            path.write_text("\n".join(lines))
            started = time.monotonic()
            daemon = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(path), "run", "--listen",
                                       f"127.0.0.1:{port}", "--log-level", "warning"],
                                      cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: get(port, "/healthz")[0] == 200, 60)
            healthy = time.monotonic() - started
            rss_started = rss_mb(daemon.pid, "VmRSS")
            # A scrape of /metrics counts over the whole log: once a second, not in a tight loop
            # that would weigh on the first cycle it measures (Prometheus scrapes every 15 s or so).
            wait_for(lambda: sources_polled(port) >= args.sources, 600, every=1.0)
            first_cycle = time.monotonic() - started
            peak_first_cycle = rss_mb(daemon.pid)
            time.sleep(args.every)  # past the first, new-item polls: into the 304 steady state
            # The daemon's CPU is read inside the scrapes of /metrics, so that their cost (a
            # scrape counts over the whole log) is not put on the polls.
            jobs0 = poll_job_outcomes(port)
            cpu0, wall0 = cpu_seconds(daemon.pid), time.time()
            time.sleep(args.seconds)
            cpu1, wall1 = cpu_seconds(daemon.pid), time.time()
            jobs1 = poll_job_outcomes(port)
            health_ms = sorted(get(port, "/healthz")[2] * 1000 for _ in range(20))[10]
            metrics_ms = sorted(get(port, "/metrics")[2] * 1000 for _ in range(20))[10]
            rss, rss_steady = rss_mb(daemon.pid), rss_mb(daemon.pid, "VmRSS")
            stop_began = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            exit_code = daemon.wait(timeout=30)
            stop_s = time.monotonic() - stop_began
            config = load_config(path)
            kept = schedule_kept(config, wall0, wall1, args.every, args.every * 0.1)
            reference = asyncio.run(reference_cpu_per_poll(config))
            paced = asyncio.run(paced_reference_cpu_per_poll(config, args.every, min(args.seconds, 30)))
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(timeout=10)

    steady_polls = kept["made"]  # the polls recorded inside the CPU window, from the log
    per_poll = (cpu1 - cpu0) / steady_polls if steady_polls else float("nan")
    finish({
        "sources": args.sources,
        "every_s": args.every,
        "window_s": args.seconds,
        "start_to_healthy_s": round(healthy, 2),
        "start_to_first_cycle_s": round(first_cycle, 2),
        "scheduled_polls_made": kept["made"],
        "scheduled_polls_expected": kept["expected"],
        "scheduled_polls_made_percent": round(100 * kept["made"] / kept["expected"], 1) if kept["expected"] else None,
        "poll_gap_s": kept["gap_s"],
        "poll_jobs_missed": int(jobs1.get("missed", 0) - jobs0.get("missed", 0)),
        "poll_jobs_skipped": int(jobs1.get("skipped", 0) - jobs0.get("skipped", 0)),
        "polls_per_s": round(steady_polls / args.seconds, 1),
        "daemon_cpu_ms_per_poll": round(per_poll * 1000, 3),
        "reference_cycle_cpu_ms_per_poll": round(reference * 1000, 3),
        "daemon_vs_reference": round(per_poll / reference, 2),
        "paced_reference_cpu_ms_per_poll": round(paced * 1000, 3),
        "daemon_vs_paced_reference": round(per_poll / paced, 2),
        "daemon_cpu_percent": round((cpu1 - cpu0) / args.seconds * 100, 1),
        "peak_rss_mb": round(rss, 1),
        "rss_at_start_mb": round(rss_started, 1),
        "peak_rss_first_cycle_mb": round(peak_first_cycle, 1),
        "rss_steady_mb": round(rss_steady, 1),
        "healthz_median_ms": round(health_ms, 2),
        "metrics_median_ms": round(metrics_ms, 2),
        "sigterm_to_exit_s": round(stop_s, 2),
        "exit_code": exit_code,
    }, as_json=args.json)


if __name__ == "__main__":
    main()
