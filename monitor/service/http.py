"""The daemon's read-only HTTP endpoints: /healthz, /metrics, /changes.atom, /deadlines.ics.

A stdlib threading server beside the event loop: a slow client or a large feed never delays a
poll. Each request reads through its own read-only SQLite connection, so it sees committed state
only and can never write.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from monitor.daemon import EVENTS_DB
from monitor.service.health import assess
from monitor.store.schema import connect
from monitor.views import (
    ATOM_CONTENT_TYPE, CALENDAR_CONTENT_TYPE, METRICS_CONTENT_TYPE, StoreCollector, changes_feed, deadlines_calendar,
    render,
)
from monitor.vocabulary import SEVERITIES

if TYPE_CHECKING:
    from monitor.service.runner import Service

log = logging.getLogger("monitor.http")



class BadRequest(ValueError):
    pass


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class StatusServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung client must not keep the process alive at shutdown

    def __init__(self, address: tuple[str, int], service: "Service"):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.service = service
        self.db_path = service.state_dir / EVENTS_DB
        self.service.registry.register(StoreCollector(self.read_only, [s.id for s in service.config.sources]))

    @classmethod
    def start(cls, listen: str, service: "Service") -> "StatusServer":
        server = cls(split_listen(listen), service)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True).start()
        return server

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def read_only(self) -> sqlite3.Connection:
        return connect(self.db_path, readonly=True)

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: StatusServer
    protocol_version = "HTTP/1.1"
    server_version = "export-control-monitor"

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        route = {"/healthz": self._health, "/metrics": self._metrics, "/changes.atom": self._changes,
                 "/deadlines.ics": self._deadlines, "/": self._index}.get(url.path)
        try:
            if route is None:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz, /metrics, /changes.atom, "
                                                             b"/deadlines.ics\n")
                return
            route(query)
        except BadRequest as exc:
            self._send(400, "text/plain; charset=utf-8", f"{exc}\n".encode())
        except Exception:
            log.exception("GET %s failed", url.path)
            self._send(500, "text/plain; charset=utf-8", b"internal error (see the daemon's log)\n")

    def _index(self, query: dict) -> None:
        self._send(200, "text/plain; charset=utf-8", b"export-control-monitor: /healthz /metrics "
                                                     b"/changes.atom?region=&company= /deadlines.ics?region=&company=\n")

    def _health(self, query: dict) -> None:
        service = self.server.service
        status = service.status
        failing, head = [], None
        path = self.server.db_path
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        try:
            with closing(self.server.read_only()) as conn:
                conn.row_factory = sqlite3.Row
                failing = conn.execute("SELECT * FROM sources WHERE consecutive_failures > 0 ORDER BY source").fetchall()
                head = conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
        except sqlite3.Error as exc:
            writable, status_error = False, f"cannot read the store ({exc.__class__.__name__})"
        else:
            status_error = status.store_error
        code, body = assess(scheduler_running=status.scheduler_running, stopping=status.stopping,
                            store_writable=writable, store_error=status_error, started_at=status.started_at,
                            last_cycle_at=status.last_cycle_at, head_seq=head, failing=failing,
                            sources=len(service.enabled_sources()))
        self._send(code, "application/json", json.dumps(body, ensure_ascii=False).encode() + b"\n")

    def _metrics(self, query: dict) -> None:
        self._send(200, METRICS_CONTENT_TYPE, render(self.server.service.registry))

    def _changes(self, query: dict) -> None:
        severity = query.get("min_severity", "low")
        if severity not in SEVERITIES:
            raise BadRequest(f"min_severity must be one of {', '.join(SEVERITIES)}")
        limit = _int(query.get("limit", "100"), "limit", 1, 1000)
        kinds = tuple(k for k in query.get("kind", "").split(",") if k)
        service = self.server.service
        with closing(self.server.read_only()) as conn:
            body = changes_feed(conn, region=query.get("region") or None, company=query.get("company") or None,
                                kinds=kinds, min_severity=severity, limit=limit,
                                feed_url=f"http://{self.headers.get('Host') or self.server.address}{self.path}",
                                now=service.clock())
        self._send(200, ATOM_CONTENT_TYPE, body)

    def _deadlines(self, query: dict) -> None:
        now = self.server.service.clock()
        with closing(self.server.read_only()) as conn:
            body = deadlines_calendar(conn, today=now.date(), now=now, region=query.get("region") or None,
                                      company=query.get("company") or None)
        self._send(200, CALENDAR_CONTENT_TYPE, body)

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's signature)
        log.debug("%s %s", self.address_string(), format % args)


def _int(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value

