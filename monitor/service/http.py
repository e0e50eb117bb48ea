"""The daemon's HTTP endpoints: /healthz, /metrics, /changes.atom, /deadlines.ics, the console at / and its
JSON API under /api/.

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
import time
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from monitor.clock import to_iso
from monitor.store import EVENTS_DB
from monitor.detect.classify import KINDS
from monitor.alerts.retry import NotRetryable, requeue
from monitor.projections.browse import facet_values, log_head
from monitor.service.access import COOKIE, HOW_TO, Access
from monitor.service.health import assess
from monitor.store.integrity import verify
from monitor.views import console
from monitor.vocabulary import ALERT_STATUSES, INCIDENT_STATUSES, SEVERITIES
from monitor.store.errors import StoreError, describe
from monitor.store.schema import SMALL_CACHE_KIB, connect
from monitor.views import (
    ATOM_CONTENT_TYPE, CALENDAR_CONTENT_TYPE, METRICS_CONTENT_TYPE, StoreCollector, changes_feed, deadlines_calendar,
    render,
)
from monitor.views.params import BadRequest, ConsoleVocabulary, Filters, Vocabulary, parse, parse_console, parse_none
from monitor.projections.log_summary import log_head_seq
from monitor.projections.sources import failing_sources

if TYPE_CHECKING:
    from monitor.service.runner import Service

log = logging.getLogger("monitor.http")

VERIFY_EVERY = 300  # seconds: the console's log page verifies the chain at most this often
MAX_FORM = 4096  # bytes of a POSTed form
_INCIDENT_ID = re.compile(r"inc-[0-9a-f]{6,32}")
API_INDEX = {
    "/api/changes": "changes (the filters of /; as `monitor changes --json`)",
    "/api/incidents": "incidents (the filters of /; as `monitor incidents --json`)",
    "/api/incidents/ID": "one incident's timeline (as `monitor incident ID --json`)",
    "/api/sources": "sources (as `monitor sources --json`)",
    "/api/alerts": "the outbox (?status=dead; as `monitor alerts --json`)",
    "/api/deadlines": "upcoming deadlines (as `monitor deadlines --json`)",
    "/api/log": "the log head, the last verification and the anchors",
}
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
        self.access = Access.of(address[0], getattr(service, "console_token", None))
        self.countries = frozenset(gazetteer.countries)
        self.choices = {
            "regions": sorted(((slug, f"{r.name} ({slug})") for slug, r in gazetteer.regions.items()), key=lambda x: x[1].lower()),
            "companies": sorted(((slug, c.name) for slug, c in gazetteer.companies.items()), key=lambda x: x[1].lower()),
            "countries": sorted(((code, f"{c.name} ({code})") for code, c in gazetteer.countries.items()), key=lambda x: x[1]),
        }
        self._facets: tuple[int, dict] | None = None
        self._verification: dict | None = None
        self._verify_lock = threading.Lock()
        if not self.access.loopback and not self.access.token:
            log.warning("the console on %s answers 403 to every page but /healthz: no token is configured; %s",
                        f"{address[0]}:{address[1]}", HOW_TO, extra={"fields": {"event": "console_no_token"}})

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
        return connect(self.db_path, readonly=True, cache_kib=SMALL_CACHE_KIB)

    def console_vocabulary(self, conn: sqlite3.Connection) -> ConsoleVocabulary:
        """What console filters may name: the gazetteer's, the kinds and statuses, and the sources and
        languages configured or recorded (recorded ones read once per log head)."""
        head = log_head(conn)[0]
        if self._facets is None or self._facets[0] != head:
            self._facets = (head, facet_values(conn))
        facets = self._facets[1]
        sources = {s.id for s in self.service.config.sources} | set(facets["sources"])
        languages = {"en", "zh"} | set(facets["languages"])
        v = self.vocabulary
        return ConsoleVocabulary(v.regions, v.companies, self.countries, v.kinds, frozenset(SEVERITIES),
                                 frozenset(INCIDENT_STATUSES), frozenset(sources), frozenset(languages))

    def choices_with(self, vocabulary: ConsoleVocabulary) -> dict:
        return {**self.choices, "sources": sorted(vocabulary.sources), "languages": sorted(vocabulary.languages)}

    def verification(self, conn: sqlite3.Connection) -> dict:
        """The chain's verification, run again when the log moved and the last run is older than
        VERIFY_EVERY seconds (one at a time: a second reader waits for the first's result)."""
        with self._verify_lock:
            head = log_head(conn)[0]
            last = self._verification
            if last is None or (last["head_seq"] != head and time.monotonic() - last["_at"] > VERIFY_EVERY):
                report = verify(conn)
                self._verification = {**report.to_json(), "at": to_iso(self.service.clock()),
                                      "_at": time.monotonic(), "checked": report.checked}
            return {k: v for k, v in self._verification.items() if not k.startswith("_")}

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

    # -- dispatch -------------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(405, "text/plain; charset=utf-8", b"use GET\n", extra={"Allow": "GET, POST"})

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        api = path.startswith("/api/") or path == "/api"
        html = not api and path not in ("/metrics", "/changes.atom", "/deadlines.ics", "/healthz")
        try:
            decision = self.server.access.decide(path, self.headers)
            if decision == "forbidden":
                self._refuse(403, "this console needs a token", f"It listens on a non-loopback address and no token is "
                             f"configured: {HOW_TO}.", html)
                return
            if decision == "login":
                self._refuse(401, "sign in", "This console needs its token: enter it once (a cookie keeps you signed "
                             "in), or send it as `Authorization: Bearer …`.", html, login=True, next_path=self.path)
                return
            if method == "POST":
                self._post(path)
                return
            route, arg = self._route(path)
            if route is None:
                self._not_found(path, html)
                return
            route(url.query, *arg)
        except BadRequest as exc:
            if api:
                self._json(400, {"error": str(exc)})
            elif html:
                self._html(400, console.message_page("Bad request", str(exc),
                                                     hint="Each filter takes the values listed in its menu."))
            else:
                self._send(400, "text/plain; charset=utf-8", f"{exc}\n".encode())
        except (StoreError, sqlite3.Error) as exc:
            reason = str(exc if isinstance(exc, StoreError) else describe(exc, self.server.db_path))
            log.warning("%s %s: %s", method, path, reason, extra={"fields": {"event": "http_store_error"}})
            self._send(503, "text/plain; charset=utf-8", f"the event log cannot be read now: {reason}\n".encode())
        except CLIENT_GONE:
            raise  # handle_error makes it a debug line
        except Exception:
            log.exception("%s %s failed", method, path)
            self._send(500, "text/plain; charset=utf-8", b"internal error (see the daemon's log)\n")

    def _route(self, path: str):
        fixed = {"/healthz": self._health, "/metrics": self._metrics, "/changes.atom": self._changes,
                 "/deadlines.ics": self._deadlines, "/": self._index, "/sources": self._sources,
                 "/alerts": self._alerts, "/deadlines": self._deadlines_page, "/log": self._log, "/login": self._login,
                 "/api": self._api_index, "/api/": self._api_index, "/api/changes": self._api_changes,
                 "/api/incidents": self._api_incidents, "/api/sources": self._api_sources,
                 "/api/alerts": self._api_alerts, "/api/deadlines": self._api_deadlines, "/api/log": self._api_log}
        if path in fixed:
            return fixed[path], ()
        for prefix, route in (("/incidents/", self._incident), ("/api/incidents/", self._api_incident)):
            if path.startswith(prefix):
                ident = path[len(prefix):]
                return (route, (ident,)) if _INCIDENT_ID.fullmatch(ident) else (None, ())
        return None, ()

    def _not_found(self, path: str, html: bool) -> None:
        if html:
            self._html(404, console.message_page("Not found", f"Nothing is served at {path[:100]}.",
                                                 hint="The console's pages: / (incidents and changes), /sources, "
                                                      "/alerts, /deadlines, /log; the JSON API under /api/.",
                                                 error=False))
        elif path.startswith("/api"):
            self._json(404, {"error": f"nothing is served at {path[:100]}", "endpoints": API_INDEX})
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /, /api/, /healthz, /metrics, "
                                                         b"/changes.atom, /deadlines.ics\n")

    def _refuse(self, code: int, title: str, text: str, html: bool, *, login: bool = False,
                next_path: str = "/") -> None:
        extra = {"WWW-Authenticate": 'Bearer realm="monitor console"'} if code == 401 else {}
        if html:
            self._html(code, console.message_page(title, text, login=login, next_path=_local(next_path)), extra=extra)
        else:
            self._send(code, "text/plain; charset=utf-8", f"{title}: {text}\n".encode(), extra=extra)

    # -- the status endpoints (unchanged contracts) -------------------------------------------------------

    def _health(self, raw: str) -> None:
        parse("/healthz", raw, self.server.vocabulary)
        service = self.server.service
        status = service.status
        failing, head = [], None
        path = self.server.db_path
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        try:
            with closing(self.server.read_only()) as conn:
                failing = failing_sources(conn)
                head = log_head_seq(conn)
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

    def _metrics(self, raw: str) -> None:
        parse("/metrics", raw, self.server.vocabulary)
        self._send(200, METRICS_CONTENT_TYPE, render(self.server.service.registry))

    def _changes(self, raw: str) -> None:
        query = parse("/changes.atom", raw, self.server.vocabulary)
        service = self.server.service
        with closing(self.server.read_only()) as conn:
            body = changes_feed(conn, region=query.region, company=query.company, kinds=query.kinds,
                                min_severity=query.min_severity, limit=query.limit,
                                feed_url=self._self_url("/changes.atom", query), now=service.clock())
        self._send(200, ATOM_CONTENT_TYPE, body)

    def _deadlines(self, raw: str) -> None:
        query = parse("/deadlines.ics", raw, self.server.vocabulary)
        now = self.server.service.clock()
        with closing(self.server.read_only()) as conn:
            body = deadlines_calendar(conn, today=now.date(), now=now, region=query.region, company=query.company)
        self._send(200, CALENDAR_CONTENT_TYPE, body)

    # -- the console ----------------------------------------------------------------------------------------

    def _index(self, raw: str) -> None:
        with closing(self.server.read_only()) as conn:
            vocabulary = self.server.console_vocabulary(conn)
            query = parse_console("/", raw, vocabulary)
            body = console.index_page(conn, query, today=self.server.service.clock().date(),
                                      choices=self.server.choices_with(vocabulary), head=log_head(conn))
        self._html(200, body)

    def _incident(self, raw: str, incident_id: str) -> None:
        parse_none("/incidents/ID", raw)
        with closing(self.server.read_only()) as conn:
            body = console.incident_page(conn, incident_id, catalog=self.server.service.detector.catalog,
                                         head=log_head(conn))
        if body is None:
            self._html(404, console.message_page("No such incident", f"No incident {incident_id} in the log.",
                                                 hint="The list on / shows every incident.", error=False))
        else:
            self._html(200, body)

    def _sources(self, raw: str) -> None:
        parse_none("/sources", raw)
        with closing(self.server.read_only()) as conn:
            body = console.sources_page(conn, self.server.service.config.sources, head=log_head(conn))
        self._html(200, body)

    def _alert_statuses(self, path: str, raw: str) -> tuple[str, ...]:
        values = parse_none(path, raw, ("status",))
        from monitor.views.params import _many

        return _many("status", values.get("status", ""), frozenset(ALERT_STATUSES), "alert status")

    def _alerts(self, raw: str, message: str | None = None, code: int = 200) -> None:
        statuses = self._alert_statuses("/alerts", raw)
        access = self.server.access
        can_retry = bool(access.token) and access.presented(self.headers)
        hint = ("needs MONITOR_CONSOLE_TOKEN set for the daemon" if not access.token
                else "sign in with the console token (/login)")
        with closing(self.server.read_only()) as conn:
            body = console.alerts_page(conn, statuses, can_retry=can_retry, csrf=access.csrf if can_retry else "",
                                       retry_hint=hint, message=message, head=log_head(conn))
        self._html(code, body)

    def _deadlines_page(self, raw: str) -> None:
        parse_none("/deadlines", raw)
        with closing(self.server.read_only()) as conn:
            body = console.deadlines_page(conn, self.server.service.clock().date(), head=log_head(conn))
        self._html(200, body)

    def _log(self, raw: str) -> None:
        parse_none("/log", raw)
        with closing(self.server.read_only()) as conn:
            body = console.log_page(conn, self.server.verification(conn), VERIFY_EVERY)
        self._html(200, body)

    def _login(self, raw: str) -> None:
        values = parse_none("/login", raw, ("next",))
        access = self.server.access
        if access.loopback and not access.token:
            text = "This console listens on loopback and is open: there is nothing to sign in to."
            self._html(200, console.message_page("Sign in", text, error=False,
                                                 hint="Retrying dead alerts needs MONITOR_CONSOLE_TOKEN set."))
            return
        if not access.token:
            self._refuse(403, "this console needs a token", f"No token is configured: {HOW_TO}.", True)
            return
        self._html(200, console.message_page("Sign in", "Enter the console token (MONITOR_CONSOLE_TOKEN).",
                                             error=False, login=True, next_path=_local(values.get("next", "/"))))

    # -- actions (POST) ----------------------------------------------------------------------------------------

    def _form(self) -> dict[str, str]:
        length_text = self.headers.get("Content-Length") or ""
        if not length_text.isdigit():
            raise BadRequest("a form needs a Content-Length")
        length = int(length_text)
        if length > MAX_FORM:
            raise BadRequest(f"the form is larger than {MAX_FORM} bytes")
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise BadRequest("a form must be sent as application/x-www-form-urlencoded")
        raw = self.rfile.read(length)
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the form is not UTF-8 or has too many fields") from None
        return dict(pairs)

    def _post(self, path: str) -> None:
        if path not in ("/login", "/alerts/retry"):
            self._send(405, "text/plain; charset=utf-8", b"only /login and /alerts/retry take a POST\n",
                       extra={"Allow": "GET"})
            return
        form = self._form()
        access = self.server.access
        if path == "/login":
            if not access.token:
                self._refuse(403, "this console needs a token", f"No token is configured: {HOW_TO}.", True)
                return
            if not access.check_token(form.get("token", "")):
                log.warning("console sign-in refused from %s: wrong token", self.client_address[0],
                            extra={"fields": {"event": "console_login_refused"}})
                self._html(403, console.message_page("Sign in", "That is not the console token.", login=True,
                                                     next_path=_local(form.get("next", "/"))))
                return
            cookie = f"{COOKIE}={access.session_value}; Path=/; HttpOnly; SameSite=Strict"
            self._send(303, "text/plain; charset=utf-8", b"signed in\n",
                       extra={"Location": _local(form.get("next", "/")), "Set-Cookie": cookie})
            return
        reason = access.may_act(self.headers, form.get("csrf", ""))
        if reason is None and not self._same_origin():
            reason = "the form came from another site (Origin does not match this console)"
        if reason is not None:
            log.warning("console retry refused from %s: %s", self.client_address[0], reason,
                        extra={"fields": {"event": "console_retry_refused"}})
            self._alerts("", message=f"Not retried: {reason}.", code=403)
            return
        alert_id = form.get("id", "").strip()
        if not re.fullmatch(r"alr-[0-9a-f]{6,32}", alert_id):
            raise BadRequest("id: not an alert id (alr-…)")
        try:
            service = self.server.service
            with service.wiring.open_store(service.state_dir, clock=service.clock, database=service.database) as store:
                report = verify(store.conn)
                if not report.ok:
                    message = (f"Not retried: the event log fails verification at seq {report.bad_seq} "
                               f"({report.problem}); see `monitor verify`.")
                    self._alerts("", message=message, code=409)
                    return
                found = requeue(store, [alert_id], to_iso(self.server.service.clock()))
        except NotRetryable as exc:
            self._alerts("", message=f"Not retried: {exc}.", code=409)
            return
        log.info("console: alert %s queued again", alert_id, extra={"fields": {"event": "console_retry",
                                                                                "alerts": found}})
        wake = getattr(self.server.service, "wake_relay_threadsafe", None)
        if wake is not None:
            wake()
        self._send(303, "text/plain; charset=utf-8", b"queued again\n", extra={"Location": "/alerts?status=queued"})

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        if not origin or origin == "null":  # no-referrer pages send "null": the CSRF value decides
            return True
        host = self.headers.get("Host") or ""
        return urlsplit(origin).netloc == host

    # -- the JSON API ------------------------------------------------------------------------------------------

    def _api_index(self, raw: str) -> None:
        parse_none("/api/", raw)
        self._json(200, {"endpoints": API_INDEX, "filters": list(console_parameters())})

    def _api_changes(self, raw: str) -> None:
        with closing(self.server.read_only()) as conn:
            query = parse_console("/api/changes", raw, self.server.console_vocabulary(conn))
            self._json(200, console.api_changes(conn, query))

    def _api_incidents(self, raw: str) -> None:
        with closing(self.server.read_only()) as conn:
            query = parse_console("/api/incidents", raw, self.server.console_vocabulary(conn))
            self._json(200, console.api_incidents(conn, query))

    def _api_incident(self, raw: str, incident_id: str) -> None:
        parse_none("/api/incidents/ID", raw)
        from monitor.projections.incidents import incident_timeline

        with closing(self.server.read_only()) as conn:
            timeline = incident_timeline(conn, incident_id)
        if timeline is None:
            self._json(404, {"error": f"no incident {incident_id!r}"})
        else:
            self._json(200, timeline)

    def _api_sources(self, raw: str) -> None:
        parse_none("/api/sources", raw)
        with closing(self.server.read_only()) as conn:
            self._json(200, console.source_rows(conn, self.server.service.config.sources))

    def _api_alerts(self, raw: str) -> None:
        statuses = self._alert_statuses("/api/alerts", raw)
        with closing(self.server.read_only()) as conn:
            self._json(200, console.api_alerts(conn, statuses))

    def _api_deadlines(self, raw: str) -> None:
        parse_none("/api/deadlines", raw)
        with closing(self.server.read_only()) as conn:
            self._json(200, console.deadline_rows(conn, self.server.service.clock().date()))

    def _api_log(self, raw: str) -> None:
        parse_none("/api/log", raw)
        from monitor.projections.browse import anchor_events

        with closing(self.server.read_only()) as conn:
            seq, digest, at = log_head(conn)
            body = {"head": {"seq": seq, "hash": digest, "recorded_at": at},
                    "verification": self.server.verification(conn), "anchors": anchor_events(conn)}
        self._json(200, body)

    # -- answers -----------------------------------------------------------------------------------------------

    def _self_url(self, path: str, query: Filters) -> str:
        """Where this feed is served, from checked parts only: the client's Host header if it is a
        host name or address, and the canonical form of the filters it asked for."""
        host = self.headers.get("Host") or ""
        host = host if _HOST.fullmatch(host) else self.server.address
        return f"http://{host}{path}" + (f"?{urlencode(query.given)}" if query.given else "")

    def _html(self, code: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                              "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                   "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", **(extra or {})}
        self._send(code, console.HTML, body, extra=headers)

    def _json(self, code: int, body) -> None:
        self._send(code, "application/json; charset=utf-8",
                   json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n")

    def _send(self, code: int, content_type: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except CLIENT_GONE as exc:  # the client closed before reading its answer
            self.close_connection = True
            log.debug("client %s went away before its answer: %s", self.client_address[0], exc.__class__.__name__)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's signature)
        log.debug("%s %s", self.address_string(), format % args)


def console_parameters() -> tuple[str, ...]:
    from monitor.views.params import CONSOLE_PARAMETERS

    return CONSOLE_PARAMETERS


def _local(path: str) -> str:
    """A redirect target that stays on this console: a path, never another site."""
    path = (path or "/").strip()
    if not path.startswith("/") or path.startswith("//") or "\\" in path or any(ord(c) < 32 for c in path):
        return "/"
    return path[:500]
