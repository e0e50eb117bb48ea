"""Peer benchmark: the same 300 loopback feeds checked by `monitor run` and by changedetection.io.

    python bench/peer.py --sources 300 --seconds 60 --json

The peer (changedetection.io, its plain `requests` fetcher, no browser) is installed on demand
into bench/.peer-venv, never into the project's own environment. One feed server, in a child
process so its CPU is neither client's, listens on two ports, one per client, and counts each
client's checks there. Every response is new bytes (the feed's window of 50 entries slides on by
one entry) with a fresh ETag and Last-Modified, so neither client can answer from a 304 or a hash
match: both download and process the same ~25 KB each check.

The clients run one after the other, each alone on the machine, with the same schedule (every
source every `--every` seconds). For each: checks made in a steady window of `--seconds` (counted
by the server), CPU per check (user+sys of the client's process tree, from /proc, over the same
window) and peak RSS (VmHWM summed over the process tree). The last line printed is one JSON
object; if the peer cannot be installed or started, one line says why and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from poll import entry  # bench/poll.py, beside this script: the same entries

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / "bench" / ".peer-venv"  # ignored by git
PEER_PACKAGE = "changedetection.io"
PEER_VERSION = "0.60.10"  # pinned so runs compare; --peer-version to try another
TICK = os.sysconf("SC_CLK_TCK")
CLIENTS = ("monitor", "peer")
ENTRIES = 50


# --- the feed server (child process) ---------------------------------------------------------

def window_feed(source: int, first: int) -> bytes:
    """The feed after `first` responses: entries first .. first+49, so each response adds one."""
    items = "".join(entry(source, n) for n in range(first + ENTRIES - 1, first - 1, -1))  # newest first
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Feed {source}</title>'
            f"<link>https://news.example.org/{source}</link><description>bench</description>"
            f"{items}</channel></rss>").encode()


class FeedCounts:
    """Per client: responses per feed (the window's position), checks, bytes, conditional asks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.served: dict[tuple[str, int], int] = {}
        self.totals = {c: {"checks": 0, "bytes": 0, "conditional": 0, "other": 0} for c in CLIENTS}

    def next_response(self, client: str, source: int) -> int:
        with self.lock:
            n = self.served.get((client, source), 0)
            self.served[client, source] = n + 1
            return n


def feed_handler(client: str, counts: FeedCounts, latency: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real feed host
        timeout = 60

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            name = self.path.rsplit("/", 1)[-1]
            if not (self.path.startswith("/feed/") and name.endswith(".rss") and name[:-4].isdigit()):
                with counts.lock:
                    counts.totals[client]["other"] += 1
                self.send_error(404)
                return
            source = int(name[:-4])
            time.sleep(latency)
            n = counts.next_response(client, source)
            body = window_feed(source, n)
            with counts.lock:
                totals = counts.totals[client]
                totals["checks"] += 1
                totals["bytes"] += len(body)
                totals["conditional"] += bool(self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"))
            self.send_response(200)  # never 304: the validators below are new every response
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", f'"{source}-{n}"')
            self.send_header("Last-Modified", formatdate(1_767_225_600 + n * 60, usegmt=True))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class FeedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client closed a kept-alive connection: expected
        super().handle_error(request, client_address)


def serve(latency: float) -> None:
    """The child process: one port per client; prints their ports, answers `counts` on stdin."""
    counts = FeedCounts()
    ports = {}
    for client in CLIENTS:
        server = FeedServer(("127.0.0.1", 0), feed_handler(client, counts, latency))
        ports[client] = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps(ports), flush=True)
    for line in sys.stdin:
        if line.strip() == "counts":
            with counts.lock:
                print(json.dumps(counts.totals), flush=True)


# --- measuring a client's process tree -------------------------------------------------------

def tree(pid: int) -> list[int]:
    """pid and its living descendants."""
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").glob("*"):
            try:
                pids.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
        i += 1
    return pids


def tree_cpu_seconds(pid: int) -> float:
    """user+sys of the tree, with the reaped children's (cutime, cstime) of each member."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / TICK


def tree_peak_rss_mb(pid: int) -> float:
    """VmHWM summed over the tree: the peak itself for one process, an upper bound for several."""
    total = 0
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


# --- the two clients -------------------------------------------------------------------------

class ClientFailed(Exception):
    """A client could not be installed, started or kept running: the benchmark cannot compare."""


def peer_python(version: str) -> Path:
    """The peer's interpreter, installing it into its own virtualenv first if need be."""
    python = PEER_VENV / "bin" / "python"
    def installed() -> str | None:
        if not python.exists():
            return None
        done = subprocess.run([str(python), "-m", "pip", "show", PEER_PACKAGE], capture_output=True, text=True)
        for line in done.stdout.splitlines():
            if line.startswith("Version:"):
                return line.split()[1]
        return None

    if installed() == version:
        return python
    print(f"installing {PEER_PACKAGE}=={version} into {PEER_VENV} (once; a few minutes)", file=sys.stderr)
    if not python.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], capture_output=True, text=True)
        if made.returncode:
            last = (made.stderr.strip().splitlines() or ["no output"])[-1]
            raise ClientFailed(f"peer unavailable: cannot create {PEER_VENV}: {last}")
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{PEER_PACKAGE}=={version}"],
                         capture_output=True, text=True)
    if pip.returncode or installed() != version:
        last = (pip.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClientFailed(f"peer unavailable: pip could not install {PEER_PACKAGE}=={version}: {last}")
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_monitor(tmp: Path, url: str, sources: int, every: int) -> subprocess.Popen:
    """`monitor run` as bench/daemon.py starts it: one feed source per feed, every `every` s."""
    lines = ['[monitor]\nstate_dir = "state"\n', '[monitor.hosts."127.0.0.1"]\nconcurrency = 16\n']
    for i in range(sources):
        lines.append(f'[[sources]]\nid = "s{i}"\nkind = "feed"\nurl = "{url}/feed/{i}.rss"\nevery = "{every}s"\n')
    (tmp / "sources.toml").write_text("\n".join(lines))
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", "sources.toml", "run",
                             "--listen", f"127.0.0.1:{free_port()}", "--log-level", "warning"],
                            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_peer(python: Path, tmp: Path, url: str, sources: int, every: int) -> subprocess.Popen:
    """changedetection.io headless: a fresh datastore, one watch per feed added on its command line
    (-u URL -uN options), each rechecked every `every` s, plain requests fetcher, no notification."""
    datastore = tmp / "datastore"
    watch = {"fetch_backend": "html_requests", "processor": "text_json_diff",
             "time_between_check_use_default": False,
             "time_between_check": {"weeks": None, "days": None, "hours": None, "minutes": None, "seconds": every}}
    args = [str(python), str(python.parent / "changedetection.py"), "-d", str(datastore), "-C",
            "-h", "127.0.0.1", "-p", str(free_port()), "-l", "WARNING"]
    for i in range(sources):
        args += ["-u", f"{url}/feed/{i}.rss", f"-u{i}", json.dumps(watch)]
    env = {
        **os.environ,
        "ALLOW_IANA_RESTRICTED_ADDRESSES": "true",  # its SSRF guard refuses 127.0.0.1 otherwise
        "DISABLE_VERSION_CHECK": "yes",  # no call home
        "MINIMUM_SECONDS_RECHECK_TIME": str(min(every, 3)),  # its floor is 3 s; ours is `every`
        "NO_PROXY": "127.0.0.1",
    }
    log = open(tmp / "peer.log", "wb")  # noqa: SIM115 - closed with the temporary directory
    return subprocess.Popen(args, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)


def measure(name: str, process: subprocess.Popen, counts, args, log: Path | None = None) -> dict:
    """First check of every feed, one more round, then the steady window."""
    def checks() -> int:
        return counts()[name]["checks"]

    began = time.monotonic()
    while checks() < args.sources:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log else []
            raise ClientFailed(f"{name} exited with code {process.returncode} before checking every feed"
                                  + (f": {' | '.join(tail)}" if tail else ""))
        if time.monotonic() - began > args.start_timeout:
            raise ClientFailed(f"{name} made {checks()} of {args.sources} first checks in {args.start_timeout} s")
        time.sleep(0.2)
    first_round = time.monotonic() - began
    time.sleep(args.every)  # past the first checks (every entry new) into the steady state
    cpu0, at0 = tree_cpu_seconds(process.pid), counts()[name]
    time.sleep(args.seconds / 2)
    cpu_half, at_half = tree_cpu_seconds(process.pid), counts()[name]
    time.sleep(args.seconds / 2)
    cpu1, at1 = tree_cpu_seconds(process.pid), counts()[name]
    if process.poll() is not None:
        raise ClientFailed(f"{name} exited with code {process.returncode} during the window")
    rss = tree_peak_rss_mb(process.pid)
    processes = len(tree(process.pid))
    made = at1["checks"] - at0["checks"]
    scheduled = args.sources * args.seconds / args.every
    return {
        "start_to_first_round_s": round(first_round, 1),
        "checks": made,
        "checks_of_scheduled": round(made / scheduled, 3),
        "mb_downloaded": round((at1["bytes"] - at0["bytes"]) / 2**20, 1),
        "conditional_requests": at1["conditional"] - at0["conditional"],
        "cpu_s": round(cpu1 - cpu0, 2),
        "cpu_ms_per_check": per_check(cpu0, cpu1, at0, at1),
        # each half of the window alone: close figures say the first checks' work is over
        "cpu_ms_per_check_halves": [per_check(cpu0, cpu_half, at0, at_half), per_check(cpu_half, cpu1, at_half, at1)],
        "cpu_percent": round((cpu1 - cpu0) / args.seconds * 100, 1),
        "peak_rss_mb": round(rss, 1),
        "processes": processes,
    }


def per_check(cpu0: float, cpu1: float, at0: dict, at1: dict) -> float | None:
    made = at1["checks"] - at0["checks"]
    return round((cpu1 - cpu0) * 1000 / made, 3) if made else None


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--every", type=int, default=10, help="seconds between checks of one feed, both clients")
    parser.add_argument("--seconds", type=float, default=60, help="length of each client's steady window")
    parser.add_argument("--latency", type=float, default=0.020, help="seconds the server waits per response")
    parser.add_argument("--start-timeout", type=float, default=300, help="seconds allowed for the first round")
    parser.add_argument("--peer-version", default=PEER_VERSION)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server child
    args = parser.parse_args()
    if args.serve:
        return serve(args.latency)

    try:
        python = peer_python(args.peer_version)
    except ClientFailed as error:
        print(error)
        sys.exit(1)

    server = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(args.latency)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ports = json.loads(server.stdout.readline())

    def counts() -> dict:
        server.stdin.write("counts\n")
        server.stdin.flush()
        return json.loads(server.stdout.readline())

    results: dict = {"sources": args.sources, "every_s": args.every, "window_s": args.seconds,
                     "latency_ms": args.latency * 1000, "peer_version": f"{PEER_PACKAGE} {args.peer_version}"}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-peer-monitor-") as tmp:
            monitor = start_monitor(Path(tmp), f"http://127.0.0.1:{ports['monitor']}", args.sources, args.every)
            try:
                results["monitor"] = measure("monitor", monitor, counts, args)
            finally:
                code = stop(monitor)
            results["monitor"]["exit_code"] = code
        with tempfile.TemporaryDirectory(prefix="bench-peer-peer-") as tmp:
            peer = start_peer(python, Path(tmp), f"http://127.0.0.1:{ports['peer']}", args.sources, args.every)
            try:
                results["peer"] = measure("peer", peer, counts, args, log=Path(tmp) / "peer.log")
            finally:
                code = stop(peer)
            results["peer"]["exit_code"] = code
    except ClientFailed as error:
        print(error)
        sys.exit(1)
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(timeout=10)

    mine, theirs = results["monitor"], results["peer"]
    if mine["cpu_ms_per_check"] and theirs["cpu_ms_per_check"]:
        results["cpu_per_check_peer_over_monitor"] = round(theirs["cpu_ms_per_check"] / mine["cpu_ms_per_check"], 2)
    results["rss_monitor_over_peer"] = round(mine["peak_rss_mb"] / theirs["peak_rss_mb"], 2)
    results["targets"] = {"cpu_per_check_peer_over_monitor": ">= 5", "rss_monitor_over_peer": "<= 0.5"}
    sys.path.insert(0, str(ROOT / "bench"))
    from report import finish  # bench/report.py: machine, date, the JSON line

    finish(results, as_json=args.json)


if __name__ == "__main__":
    main()
