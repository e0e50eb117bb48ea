"""A loopback HTTP/1.1 server for tests: serves canned responses and injects real socket faults.

    server = LoopbackServer()                      # already listening on 127.0.0.1:<free port>
    server.route("/feed.rss", body=xml, content_type="application/rss+xml", etag='"v1"')
    server.route("/slow", fault="slow_drip", interval=0.2)
    server.route_sequence("/flaky", [{"status": 503}, {"body": "ok"}])
    ... fetch server.url + "/feed.rss" ...
    server.requests_for("/feed.rss")[0].headers["user-agent"]
    server.close()

Routes match on the path alone (the query string is ignored) unless the registered path contains
"?", in which case path and query must match exactly. Unknown paths get 404.

A route answers 304 when it has an `etag`/`last_modified` and the request's If-None-Match /
If-Modified-Since matches. `delay` (seconds) waits before answering. Faults, with their options:

    timeout        read the request, never answer (until the client leaves or the server closes);
                   hold=600 seconds at most
    slow_drip      headers, then one byte every `interval` (1.0) seconds, `size` (3600) bytes
    reset          abort the connection with an RST (SO_LINGER 0); after_headers=True first sends
                   the headers and part of the body
    redirect_loop  302 to itself (mode="self") or between path and path?loop=b (mode="alternate")
    huge           stream `size` bytes (80 MiB; None = endless) chunk by chunk, never held in
                   memory; content_length=False sends it chunked instead
    gzip_bomb      Content-Encoding: gzip of `size` (200 MiB) zeros, ~200 KB on the wire
    retry_after    429 (or status=503) with Retry-After: `retry_after` (seconds or a datetime)
    empty          200 with an empty body
Plain routes take encoding="gzip"|"deflate" to compress the body on the wire.

Handlers run in daemon threads; every fault loop watches a stop event, and close() also shuts
down open connections, so a hanging handler never blocks shutdown.
"""

from __future__ import annotations

import mimetypes
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MiB = 2**20

FAULT_OPTIONS: dict[str | None, dict[str, Any]] = {
    None: {"encoding": None},
    "timeout": {"hold": 600.0},
    "slow_drip": {"interval": 1.0, "size": 3600},
    "reset": {"after_headers": False},
    "redirect_loop": {"mode": "self"},
    "huge": {"size": 80 * MiB, "content_length": True, "chunk": 64 * 1024},
    "gzip_bomb": {"size": 200 * MiB},
    "retry_after": {"retry_after": 120},
    "empty": {},
}

_CONTENT_TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".xml": "application/xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    received_at: float = 0.0  # time.monotonic() when the request was read

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass
class _Spec:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    fault: str | None = None
    delay: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    file_path: Path | None = None
    content_type: str | None = None


def _make_spec(
    *,
    status: int = 200,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    fault: str | None = None,
    delay: float = 0.0,
    content_type: str | None = None,
    file_path: str | Path | None = None,
    **fault_options: Any,
) -> _Spec:
    if fault not in FAULT_OPTIONS:
        known = sorted(f for f in FAULT_OPTIONS if f)
        raise ValueError(f"unknown fault {fault!r}; known: {known}")
    unknown = set(fault_options) - set(FAULT_OPTIONS[fault])
    if unknown:
        raise ValueError(f"fault {fault!r} takes no option(s) {sorted(unknown)}")
    if isinstance(body, str):
        body = body.encode("utf-8")
        content_type = content_type or "text/plain; charset=utf-8"
    if etag is not None and not etag.startswith(('"', "W/")):
        etag = f'"{etag}"'  # entity tags are quoted strings
    return _Spec(
        status=status,
        body=body,
        headers=dict(headers or {}),
        etag=etag,
        last_modified=last_modified,
        fault=fault,
        delay=delay,
        options={**FAULT_OPTIONS[fault], **fault_options},
        file_path=Path(file_path) if file_path is not None else None,
        content_type=content_type,
    )


class _Route:
    def __init__(self, specs: list[_Spec]) -> None:
        self.specs = specs
        self.hits = 0

    def next_spec(self) -> _Spec:
        spec = self.specs[min(self.hits, len(self.specs) - 1)]  # the last one repeats
        self.hits += 1
        return spec


_bombs: dict[int, bytes] = {}
_bombs_lock = threading.Lock()


def gzip_bomb(size: int) -> bytes:
    """gzip of `size` zero bytes, compressed piece by piece and cached (200 MiB -> ~200 KB)."""
    with _bombs_lock:
        if size not in _bombs:
            compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
            zeros = bytes(MiB)
            parts = [
                compressor.compress(zeros[: min(MiB, size - done)]) for done in range(0, size, MiB)
            ]
            parts.append(compressor.flush())
            _bombs[size] = b"".join(parts)
        return _bombs[size]


def _weak(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def _not_modified(spec: _Spec, headers: dict[str, str]) -> bool:
    if_none_match = headers.get("if-none-match")
    if spec.etag and if_none_match is not None:
        tags = if_none_match.split(",")
        return if_none_match.strip() == "*" or any(_weak(t) == _weak(spec.etag) for t in tags)
    if_modified_since = headers.get("if-modified-since")
    if spec.last_modified and if_modified_since:
        if if_modified_since.strip() == spec.last_modified.strip():
            return True
        try:
            since = parsedate_to_datetime(if_modified_since)
            return since >= parsedate_to_datetime(spec.last_modified)
        except (TypeError, ValueError):
            return False
    return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, Content-Length / chunked framing
    timeout = 30  # idle keep-alive connections are dropped after this many seconds
    server: _TCPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def _any(self) -> None:
        try:
            self.server.owner._dispatch(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
            self.close_connection = True  # the client went away mid-answer

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _any


class CountingHandler(BaseHTTPRequestHandler):
    """A keep-alive handler that counts the connections made to it (subclass it per server, so
    each keeps its own count) and logs nothing."""

    protocol_version = "HTTP/1.1"
    connections = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def log_message(self, *args) -> None:
        pass


class _TCPServer(socketserver.ThreadingTCPServer):
    # Not http.server.HTTPServer: its server_bind does a reverse DNS lookup of the address.
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024  # hundreds of concurrent connections in the benchmark

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client hung up or a fault closed the socket: expected here
        super().handle_error(request, client_address)


class LoopbackServer:
    """An HTTP/1.1 server on 127.0.0.1:<free port>, started on construction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stop = threading.Event()
        self._server = _TCPServer(self)
        self.port: int = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # close() returns quickly
            name=f"loopback-{self.port}",
            daemon=True,
        )
        self._thread.start()

    # --- configuration -------------------------------------------------------------------

    def route(
        self,
        path: str,
        *,
        status: int = 200,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        fault: str | None = None,
        delay: float = 0.0,
        content_type: str | None = None,
        **fault_options: Any,
    ) -> None:
        """Answer `path` with one response (faults and their options: the module docstring).

        A str body is sent as UTF-8 text/plain unless `content_type` says otherwise; `headers`
        are added last, so they can override anything.
        """
        response = {
            "status": status,
            "body": body,
            "headers": headers,
            "etag": etag,
            "last_modified": last_modified,
            "fault": fault,
            "delay": delay,
            "content_type": content_type,
        }
        self.route_sequence(path, [{**response, **fault_options}])

    def route_sequence(self, path: str, responses: list[dict[str, Any]]) -> None:
        """Successive requests to `path` get successive responses; the last one repeats."""
        if not responses:
            raise ValueError("route_sequence needs at least one response")
        specs = [_make_spec(**r) for r in responses]
        with self._lock:
            self._routes[path] = _Route(specs)

    def serve_file(
        self, path: str, file_path: str | Path, content_type: str | None = None, **response: Any
    ) -> None:
        """Serve a file's current bytes (read per request); content type from its suffix."""
        file_path = Path(file_path)
        if not file_path.is_file():
            raise FileNotFoundError(file_path)
        suffix = file_path.suffix.lower()
        content_type = content_type or _CONTENT_TYPES.get(suffix) or (
            mimetypes.guess_type(file_path.name)[0] or "application/octet-stream"
        )
        self.route(path, file_path=file_path, content_type=content_type, **response)

    def url_for(self, path: str) -> str:
        return self.url + path

    # --- inspection ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """Requests to `path` (or to exactly path?query when `path` contains "?")."""
        if "?" in path:
            return [r for r in self.requests if r.target == path]
        return [r for r in self.requests if r.path == path]

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._server.shutdown()  # stops serve_forever
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # wakes handlers blocked on these sockets
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- request handling (handler threads) ----------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _dispatch(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        for name, value in h.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        with self._lock:
            recorded = RecordedRequest(
                h.command, parts.path, parts.query, headers, body, time.monotonic()
            )
            self._requests.append(recorded)
            route = self._routes.get(f"{parts.path}?{parts.query}") if parts.query else None
            route = route or self._routes.get(parts.path)
            spec = route.next_spec() if route else None

        if spec is None:
            missing = f"no route for {parts.path}".encode()
            return _send(h, 404, {"Content-Type": "text/plain"}, missing)
        if spec.delay and self._stop.wait(spec.delay):
            h.close_connection = True
            return None
        if spec.fault is None:
            return self._plain(h, spec, headers)
        return getattr(self, "_fault_" + spec.fault)(h, spec, parts)

    def _plain(self, h: _Handler, spec: _Spec, request_headers: dict[str, str]) -> None:
        validators = {}
        if spec.etag:
            validators["ETag"] = spec.etag
        if spec.last_modified:
            validators["Last-Modified"] = spec.last_modified
        if validators and _not_modified(spec, request_headers):
            return _send(h, 304, {**validators, **spec.headers})
        body = spec.file_path.read_bytes() if spec.file_path else spec.body
        headers = {"Content-Type": spec.content_type or "application/octet-stream", **validators}
        encoding = spec.options.get("encoding")
        if encoding:
            wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
            compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
            body = compressor.compress(body) + compressor.flush()
            headers["Content-Encoding"] = encoding
        _send(h, spec.status, {**headers, **spec.headers}, body)

    # Each fault really happens on the socket.

    def _fault_timeout(self, h: _Handler, spec: _Spec, parts: Any) -> None:
        h.close_connection = True
        deadline = time.monotonic() + spec.options["hold"]
        while not self._stop.is_set() and time.monotonic() < deadline:
            if _client_left(h.connection, wait=0.05):
                return

    def _fault_slow_drip(self, h: _Handler, spec: _Spec, parts: Any) -> None:
        h.close_connection = True
        size = spec.options["size"]
        _send_head(h, spec.status, {"Content-Type": "text/plain", "Content-Length": str(size)})
        for _ in range(size):
            h.wfile.write(b"x")
            if self._stop.wait(spec.options["interval"]):
                return

    def _fault_reset(self, h: _Handler, spec: _Spec, parts: Any) -> None:
        h.close_connection = True
        if spec.options["after_headers"]:
            _send_head(h, 200, {"Content-Type": "text/plain", "Content-Length": "1000"})
            h.wfile.write(b"partial body ")
        # SO_LINGER with zero timeout turns close() into an RST. rfile holds a reference to the
        # socket, so close it too or the descriptor stays open until the handler finishes.
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.rfile.close()
        h.connection.close()

    def _fault_redirect_loop(self, h: _Handler, spec: _Spec, parts: Any) -> None:
        status = spec.status if 300 <= spec.status < 400 else 302
        if spec.options["mode"] == "alternate":
            location = parts.path if "loop=b" in parts.query else f"{parts.path}?loop=b"
        else:
            location = h.path
        _send(h, status, {"Location": location})

    def _fault_huge(self, h: _Handler, spec: _Spec, parts: Any) -> None:
        h.close_connection = True
        size, chunk = spec.options["size"], spec.options["chunk"]
        headers = {"Content-Type": "application/octet-stream"}
        chunked = size is None or not spec.options["content_length"]
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(size)
        _send_head(h, spec.status, headers)
        block = (b"0123456789abcdef" * (chunk // 16 + 1))[:chunk]
        sent = 0
        while (size is None or sent < size) and not self._stop.is_set():
            piece = block if size is None else block[: min(chunk, size - sent)]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked and not self._stop.is_set():
            h.wfile.write(b"0\r\n\r\n")

    def _fault_gzip_bomb(self, h: _Handler, spec: _Spec, parts: Any) -> None:
        body = gzip_bomb(spec.options["size"])
        headers = {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}
        _send(h, spec.status, headers, body)

    def _fault_retry_after(self, h: _Handler, spec: _Spec, parts: Any) -> None:
        value = spec.options["retry_after"]
        if isinstance(value, datetime):
            value = format_datetime(value, usegmt=True)
        status = spec.status if spec.status in (429, 503) else 429
        headers = {"Content-Type": spec.content_type or "text/plain", "Retry-After": str(value)}
        _send(h, status, {**headers, **spec.headers}, spec.body)

    def _fault_empty(self, h: _Handler, spec: _Spec, parts: Any) -> None:
        _send(h, spec.status, {"Content-Type": spec.content_type or "text/plain", **spec.headers})


def _send_head(h: _Handler, status: int, headers: dict[str, str]) -> None:
    h.send_response(status)
    for name, value in headers.items():
        h.send_header(name, value)
    h.end_headers()


def _send(h: _Handler, status: int, headers: dict[str, str], body: bytes = b"") -> None:
    no_body = status == 304 or 100 <= status < 200 or status == 204
    if not no_body and not any(k.lower() == "content-length" for k in headers):
        headers = {**headers, "Content-Length": str(len(body))}
    _send_head(h, status, headers)
    if body and not no_body and h.command != "HEAD":
        h.wfile.write(body)


def _client_left(conn: socket.socket, *, wait: float) -> bool:
    """True once the peer has closed its side (readable with nothing to read)."""
    try:
        readable, _, _ = select.select([conn], [], [], wait)
        if not readable:
            return False
        if conn.recv(1, socket.MSG_PEEK):
            time.sleep(wait)  # the client sent more (pipelining): keep holding, don't spin
            return False
        return True
    except (OSError, ValueError):
        return True
