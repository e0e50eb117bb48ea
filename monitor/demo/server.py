"""The demo's sources: a tiny threaded HTTP/1.1 server on 127.0.0.1 serving the bundled recordings.

    with DemoServer() as server:             # listening on 127.0.0.1:<free port>
        server.url_for("/news/export-controls.rss")
        server.revise()                       # from now on, the revised Federal Register search page

Routes are a table of path -> recorded file. Every answer carries an ETag (a hash of the bytes
served) and a Last-Modified, so a client that sends them back gets 304 Not Modified while nothing
changed. Federal Register search pages have their ``next_page_url`` (and ``previous_page_url``)
rewritten to this server when served, so paging never leaves the loopback interface.

Standard library only; not ``http.server.HTTPServer``, whose ``server_bind`` looks the host name up.
"""

from __future__ import annotations

import hashlib
import json
import socketserver
import threading
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

DATA = Path(__file__).parent / "data"

FR_SEARCH = "/api/v1/documents.json"
FR_PUBLIC_INSPECTION = "/api/v1/public-inspection-documents/current.json"
FR_DOCUMENT = "/api/v1/documents/2024-01580.json"
NEWS = "/news/export-controls.rss"

# The query the search was recorded with (Federal Register API, BIS documents matching "advanced computing").
FR_SEARCH_QUERY = ("conditions[agencies][]=industry-and-security-bureau&conditions[term]=advanced+computing"
                   "&order=newest&per_page=3")

# The document that the second poll sees revised: on the morning of publication the API has no FR
# citation for 2026-00789 yet; by the next poll it has "91 FR 1684".
REVISED_DOCUMENT = "2026-00789"


@dataclass(frozen=True)
class Recording:
    file: str
    content_type: str
    last_modified: str  # an HTTP date


_JSON = "application/json; charset=utf-8"
ROUTES: dict[str, Recording] = {
    FR_SEARCH: Recording("fr_documents_bis_page1.json", _JSON, "Thu, 15 Jan 2026 11:00:00 GMT"),
    FR_SEARCH + "#page=2": Recording("fr_documents_bis_page2.json", _JSON, "Thu, 15 Jan 2026 11:00:00 GMT"),
    FR_PUBLIC_INSPECTION: Recording("fr_public_inspection_current.json", _JSON, "Fri, 10 Jan 2025 21:20:00 GMT"),
    FR_DOCUMENT: Recording("fr_document_2024-01580.json", _JSON, "Mon, 29 Jan 2024 14:00:00 GMT"),
    NEWS: Recording("news.rss", "application/rss+xml; charset=utf-8", "Tue, 13 May 2025 22:00:00 GMT"),
}
REVISIONS: dict[str, Recording] = {
    FR_SEARCH: Recording("fr_documents_bis_page1.revised.json", _JSON, "Fri, 16 Jan 2026 11:00:00 GMT"),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
    timeout = 10  # an idle keep-alive connection is dropped after this many seconds
    server: "_TCPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the demo prints its own story
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.owner._answer(self)

    do_HEAD = do_GET


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: "DemoServer") -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer is not the demo's story


class DemoServer:
    """The bundled recordings on http://127.0.0.1:<free port>, started on construction."""

    def __init__(self, data: Path = DATA) -> None:
        self.data = data
        self._lock = threading.Lock()
        self._routes = dict(ROUTES)
        self.hits: dict[str, list[int]] = {}  # path -> status codes answered, in order
        self._server = _TCPServer(self)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"demo-server-{self.port}", daemon=True)
        self._thread.start()

    def url_for(self, path: str) -> str:
        return self.url + path

    def revise(self) -> None:
        """Serve the revised recordings from now on (the second poll's view of the sources)."""
        with self._lock:
            self._routes.update(REVISIONS)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "DemoServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- answering (handler threads) -----------------------------------------------------------

    def _answer(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        key = parts.path
        if key == FR_SEARCH and parse_qs(parts.query).get("page", ["1"])[0] == "2":
            key = FR_SEARCH + "#page=2"
        with self._lock:
            recording = self._routes.get(key)
        if recording is None:
            return self._send(h, parts.path, 404, {"Content-Type": "text/plain; charset=utf-8"},
                              f"no recording for {parts.path}\n".encode())
        body = self._body(recording)
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        validators = {"ETag": etag, "Last-Modified": recording.last_modified}
        if _not_modified(h, etag, recording.last_modified):
            return self._send(h, parts.path, 304, validators)
        self._send(h, parts.path, 200, {"Content-Type": recording.content_type, **validators}, body)

    def _body(self, recording: Recording) -> bytes:
        raw = (self.data / recording.file).read_bytes()
        if not recording.file.startswith("fr_documents_"):
            return raw
        page = json.loads(raw)
        for name in ("next_page_url", "previous_page_url"):
            if isinstance(page.get(name), str):
                page[name] = self._loopback(page[name])
        return json.dumps(page, ensure_ascii=False, indent=2).encode("utf-8")

    def _loopback(self, url: str) -> str:
        """The same path and query, on this server: paging must never leave 127.0.0.1."""
        parts = urlsplit(url)
        return urlunsplit(("http", f"127.0.0.1:{self.port}", parts.path, parts.query, ""))

    def _send(self, h: _Handler, path: str, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        with self._lock:
            self.hits.setdefault(path, []).append(status)
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        if status != 304:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if body and status != 304 and h.command != "HEAD":
            h.wfile.write(body)


def _not_modified(h: _Handler, etag: str, last_modified: str) -> bool:
    if_none_match = h.headers.get("If-None-Match")
    if if_none_match is not None:  # the stronger validator decides when it is sent
        return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
    if_modified_since = h.headers.get("If-Modified-Since")
    if not if_modified_since:
        return False
    try:
        return parsedate_to_datetime(if_modified_since) >= parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False
