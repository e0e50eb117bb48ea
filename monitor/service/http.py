"""The daemon's read-only HTTP endpoints: /healthz, /metrics, /changes.atom, /deadlines.ics.

A stdlib threading server beside the event loop: a slow client or a large feed never delays a
poll. Each request reads through its own read-only SQLite connection, so it sees committed state
only and can never write.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sqlite3
import threading
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from monitor.store import EVENTS_DB
from monitor.detect.classify import KINDS
from monitor.service.health import assess
from monitor.store.errors import StoreError, describe
from monitor.store.schema import connect
from monitor.views import (
    ATOM_CONTENT_TYPE, CALENDAR_CONTENT_TYPE, METRICS_CONTENT_TYPE, StoreCollector, changes_feed, deadlines_calendar,
    render,
)
from monitor.views.params import BadRequest, Filters, Vocabulary, parse

if TYPE_CHECKING:
    from monitor.service.runner import Service

log = logging.getLogger("monitor.http")

IDLE_TIMEOUT = 10.0  # seconds a connection may sit without sending a request before it is closed
# Errors of a client that went away mid-answer: theirs, not ours, and worth a debug line at most.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
# What a Host header may be before it is written into a feed's self link; anything else is replaced.
_HOST = re.compile(r"(?:[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


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
        gazetteer = service.detector.gazetteer
        self.vocabulary = Vocabulary(frozenset(gazetteer.regions), frozenset(gazetteer.companies), frozenset(KINDS))
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

    def handle_error(self, request, client_address) -> None:
        """socketserver prints a traceback to stderr for any error of a request; here a client that
        left is a debug line, and anything else one line through the log (JSON under --log-format json)."""
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, CLIENT_GONE):
            log.debug("client %s went away: %s", client_address[0], error.__class__.__name__)
        else:
            log.error("request from %s failed: %s", client_address[0], error.__class__.__name__, exc_info=True,
                      extra={"fields": {"event": "http_error", "error": error.__class__.__name__}})

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: StatusServer
    protocol_version = "HTTP/1.1"
    server_version = "export-control-monitor"
    timeout = IDLE_TIMEOUT  # StreamRequestHandler sets it on the socket: an idle connection is closed

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        url = urlsplit(self.path)
        route = {"/healthz": self._health, "/metrics": self._metrics, "/changes.atom": self._changes,
                 "/deadlines.ics": self._deadlines, "/": self._index}.get(url.path)
        try:
            if route is None:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz, /metrics, /changes.atom, "
                                                             b"/deadlines.ics\n")
                return
            route(parse(url.path, url.query, self.server.vocabulary))
        except BadRequest as exc:
            self._send(400, "text/plain; charset=utf-8", f"{exc}\n".encode())
        except (StoreError, sqlite3.Error) as exc:
            reason = str(exc if isinstance(exc, StoreError) else describe(exc, self.server.db_path))
            log.warning("GET %s: %s", url.path, reason, extra={"fields": {"event": "http_store_error"}})
            self._send(503, "text/plain; charset=utf-8", f"the event log cannot be read now: {reason}\n".encode())
        except CLIENT_GONE:
            raise  # handle_error makes it a debug line
        except Exception:
            log.exception("GET %s failed", url.path)
            self._send(500, "text/plain; charset=utf-8", b"internal error (see the daemon's log)\n")

    def _index(self, query: Filters) -> None:
        self._send(200, "text/plain; charset=utf-8", b"export-control-monitor: /healthz /metrics "
                                                     b"/changes.atom?region=&company= /deadlines.ics?region=&company=\n")

    def _health(self, query: Filters) -> None:
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
        try:
            replica = service.holdings()
        except StoreError as exc:
            replica, status_error = {"replica": service.replica, "error": str(exc)}, str(exc)
        code, body = assess(scheduler_running=status.scheduler_running, stopping=status.stopping,
                            store_writable=writable, store_error=status_error, started_at=status.started_at,
                            last_cycle_at=status.last_cycle_at, head_seq=head, failing=failing,
                            sources=len(service.enabled_sources()), replica=replica)
        self._send(code, "application/json", json.dumps(body, ensure_ascii=False).encode() + b"\n")

    def _metrics(self, query: Filters) -> None:
        self._send(200, METRICS_CONTENT_TYPE, render(self.server.service.registry))

    def _changes(self, query: Filters) -> None:
        service = self.server.service
        with closing(self.server.read_only()) as conn:
            body = changes_feed(conn, region=query.region, company=query.company, kinds=query.kinds,
                                min_severity=query.min_severity, limit=query.limit,
                                feed_url=self._self_url("/changes.atom", query), now=service.clock())
        self._send(200, ATOM_CONTENT_TYPE, body)

    def _deadlines(self, query: Filters) -> None:
        now = self.server.service.clock()
        with closing(self.server.read_only()) as conn:
            body = deadlines_calendar(conn, today=now.date(), now=now, region=query.region, company=query.company)
        self._send(200, CALENDAR_CONTENT_TYPE, body)

    def _self_url(self, path: str, query: Filters) -> str:
        """Where this feed is served, from checked parts only: the client's Host header if it is a
        host name or address, and the canonical form of the filters it asked for."""
        host = self.headers.get("Host") or ""
        host = host if _HOST.fullmatch(host) else self.server.address
        return f"http://{host}{path}" + (f"?{urlencode(query.given)}" if query.given else "")

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except CLIENT_GONE as exc:  # the client closed before reading its answer
            self.close_connection = True
            log.debug("client %s went away before its answer: %s", self.client_address[0], exc.__class__.__name__)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's signature)
        log.debug("%s %s", self.address_string(), format % args)
