"""Real loopback notification sinks for tests: an SMTP server and a JSON webhook.

    with SmtpSink(password="s3cret-pass") as smtp:          # plain SMTP on 127.0.0.1:<free port>
        apprise_url = smtp.mailto_url(to="analyst@example.org")
        ... notify ...
        [msg] = smtp.wait_for(1)
        msg.subject, msg.mail_from, msg.rcpt_tos, msg.text, msg.html, msg.auth_login

    hook = JsonSink()                                      # json://127.0.0.1:<port>/hook
    hook.url                                               # for apprise
    hook.down()            # answer 500 (down(status=503) for another status)
    hook.down("refuse")    # stop listening: the connection is refused
    hook.up()              # back at the same address, answering 200
    hook.received          # decoded JSON bodies ({"title", "message", "type", ...}), in order
    hook.attempts          # every request that reached the sink, failures included
    hook.close()

SmtpSink accepts AUTH (PLAIN/LOGIN) over the plain connection (auth_require_tls=False) for
user "monitor" with the constructor's password and refuses anything else (535). Each message
records the AUTH user of its session (`auth_login`, None when the client did not log in);
auth_required=True additionally refuses MAIL before AUTH (aiosmtpd then warns about AUTH
without TLS, hence off by default).
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socketserver
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote, urlencode

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from servers import LoopbackServer, RecordedRequest, _Handler, _TCPServer

SMTP_USER = "monitor"


class _DropLoginDataNotice(logging.Filter):
    """aiosmtpd itself sets the deprecated Session.login_data on every AUTH and logs a warning
    each time; that noise says nothing about the code under test."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_DropLoginDataNotice())


# --- SMTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpMessage:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage  # parsed with email.policy.default
    auth_login: str | None  # the AUTH user of the session that sent it (None: no AUTH)
    received_at: float = 0.0  # time.monotonic()

    @property
    def subject(self) -> str:
        return str(self.message["subject"] or "")

    @property
    def text(self) -> str | None:
        """The decoded text/plain part (None if the message has none)."""
        return _part(self.message, "text/plain")

    @property
    def html(self) -> str | None:
        """The decoded text/html part (None if the message has none)."""
        return _part(self.message, "text/html")

    @property
    def content_types(self) -> list[str]:
        return [p.get_content_type() for p in self.message.walk()]


def _part(message: EmailMessage, content_type: str) -> str | None:
    for part in message.walk():
        if part.get_content_type() == content_type and not part.is_multipart():
            return part.get_content()  # transfer-decoded and charset-decoded
    return None


@dataclass(frozen=True)
class AuthAttempt:
    mechanism: str
    login: str
    success: bool  # the password itself is never recorded


class _Recorder:
    """The aiosmtpd handler: keeps every accepted message."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        auth = session.auth_data  # the LoginPassword our authenticator accepted (None: no AUTH)
        login = auth.login if isinstance(auth, LoginPassword) else None
        self.sink._add(
            SmtpMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=raw,
                message=parsed,  # type: ignore[arg-type]
                auth_login=login.decode() if isinstance(login, bytes) else login,
                received_at=time.monotonic(),
            )
        )
        return "250 Message accepted for delivery"


class _FreePortController(Controller):
    """aiosmtpd's Controller bound to port 0: reads back the port the OS chose."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """A plain (no TLS) SMTP server on 127.0.0.1:<free port> that records what it receives."""

    def __init__(self, password: str, *, user: str = SMTP_USER, auth_required: bool = False):
        self.user = user
        self.password = password
        self.auth_required = auth_required
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._cond = threading.Condition()
        self._messages: list[SmtpMessage] = []
        self._auth_attempts: list[AuthAttempt] = []
        self._controller: _FreePortController | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> SmtpSink:
        if self._controller is not None:
            return self
        controller = _FreePortController(
            _Recorder(self),
            hostname=self.host,
            port=0,
            ready_timeout=5.0,
            authenticator=self._authenticate,
            auth_require_tls=False,  # AUTH over the plain connection
            auth_required=self.auth_required,
        )
        controller.start()
        self._controller = controller
        self.port = controller.port
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- apprise -------------------------------------------------------------------------

    def mailto_url(
        self,
        *,
        to: str = "analyst@example.org",
        sender: str = "monitor@example.org",
        password: str | None = None,
        user: str | None = None,
        **params: str,
    ) -> str:
        """The apprise URL that reaches this server: plain SMTP (mode=insecure), AUTH user:pass.

        `password`/`user` override the real credentials (to provoke an AUTH failure); extra
        keyword arguments become query parameters (e.g. cto="2", retry="0").
        """
        query = {"smtp": self.host, "mode": "insecure", "from": sender, "to": to, **params}
        auth = f"{quote(user or self.user, safe='')}:{quote(password or self.password, safe='')}"
        return f"mailto://{auth}@{self.host}:{self.port}/?{urlencode(query)}"

    # --- inspection ----------------------------------------------------------------------

    @property
    def messages(self) -> list[SmtpMessage]:
        with self._cond:
            return list(self._messages)

    @property
    def auth_attempts(self) -> list[AuthAttempt]:
        with self._cond:
            return list(self._auth_attempts)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[SmtpMessage]:
        """Block until at least `n` messages arrived; return them (AssertionError on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= n, timeout):
                raise AssertionError(
                    f"SmtpSink got {len(self._messages)} message(s), wanted {n} within {timeout}s"
                )
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()
            self._auth_attempts.clear()

    # --- server side ---------------------------------------------------------------------

    def _add(self, message: SmtpMessage) -> None:
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = False
        login = ""
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            ok = login == self.user and password == self.password
        with self._cond:
            self._auth_attempts.append(AuthAttempt(mechanism, login, ok))
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)  # -> 535 credentials invalid


# --- JSON webhook --------------------------------------------------------------------------


class _PinnedTCPServer(_TCPServer):
    """servers._TCPServer bound to a chosen port (0 = free)."""

    def __init__(self, owner: LoopbackServer, port: int) -> None:
        self.owner = owner
        socketserver.ThreadingTCPServer.__init__(self, ("127.0.0.1", port), _Handler)


_current_request = threading.local()  # the request this handler thread is answering


class _NotingList(list):
    """The server's request log; also notes, per handler thread, which request it holds."""

    def append(self, item: RecordedRequest) -> None:
        super().append(item)
        _current_request.value = item


class _PinnedLoopbackServer(LoopbackServer):
    """A LoopbackServer that can be started on a given port, so a sink can come back at the
    same address after it stopped listening, and that remembers the status each request got.
    (Same setup as LoopbackServer.__init__.)"""

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._routes = {}
        self._requests = _NotingList()
        self._connections = set()
        self._stop = threading.Event()
        self.answered: list[tuple[RecordedRequest, int]] = []
        self._server = _PinnedTCPServer(self, port)
        self.port = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"jsonsink-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _plain(self, h: Any, spec: Any, request_headers: dict[str, str]) -> None:
        request = getattr(_current_request, "value", None)
        if request is not None:
            with self._lock:
                self.answered.append((request, spec.status))
        super()._plain(h, spec, request_headers)

    def answered_for(self, path: str) -> list[tuple[RecordedRequest, int]]:
        with self._lock:
            return [(r, s) for r, s in self.answered if r.path == path]


class JsonSink:
    """An apprise json:// target on a loopback HTTP server: records POSTed JSON, can go down.

    `attempts` is every request that reached the sink (whatever it answered); `received` is
    the decoded JSON of the requests it accepted (answered 2xx). Both survive down()/up().
    """

    def __init__(self, path: str = "/hook") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._retired: list[_PinnedLoopbackServer] = []  # earlier incarnations (before refuse)
        self._status = 200
        self._server: _PinnedLoopbackServer | None = _PinnedLoopbackServer()
        self.port = self._server.port
        self._configure()

    @property
    def url(self) -> str:
        """The apprise URL (json:// = plain HTTP POST of {"title","message","type",...})."""
        return f"json://127.0.0.1:{self.port}{self.path}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    # --- state ---------------------------------------------------------------------------

    def down(self, mode: str = "500", *, status: int | None = None) -> None:
        """mode "500" (or status=...): answer with that error status; "refuse": stop listening
        (connections are refused until up())."""
        if mode == "refuse":
            self._shutdown()
            return
        if mode != "500":
            raise ValueError(f"unknown mode {mode!r}: use '500' or 'refuse'")
        self._listen()
        with self._lock:
            self._status = status or 500
        self._configure()

    def up(self) -> None:
        """Listen again (on the same port) and answer 200."""
        self._listen()
        with self._lock:
            self._status = 200
        self._configure()

    def respond_sequence(self, statuses: list[int]) -> None:
        """Successive requests get successive statuses; the last one repeats."""
        self._listen()
        with self._lock:
            server = self._server
            self._status = statuses[-1]
        assert server is not None
        server.route_sequence(self.path, [_response(s) for s in statuses])

    @property
    def listening(self) -> bool:
        with self._lock:
            return self._server is not None

    def close(self) -> None:
        self._shutdown()

    def __enter__(self) -> JsonSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- inspection ----------------------------------------------------------------------

    @property
    def attempts(self) -> list[RecordedRequest]:
        """Every request that reached the sink (any answer), across down()/up()."""
        return [r for r, _ in self._log()]

    @property
    def statuses(self) -> list[int | None]:
        """The status each attempt was answered with, in order."""
        return [s for _, s in self._log()]

    @property
    def received(self) -> list[dict[str, Any]]:
        """Decoded JSON bodies of the requests the sink accepted (2xx), in order."""
        return [
            json.loads(r.body) for r, s in self._log() if s is not None and 200 <= s < 300
        ]

    def wait_for(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least `n` bodies were accepted; return them (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received
            if len(got) >= n:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(f"JsonSink accepted {len(got)}, wanted {n} within {timeout}s")
            time.sleep(0.01)

    # --- internals -----------------------------------------------------------------------

    def _log(self) -> list[tuple[RecordedRequest, int | None]]:
        with self._lock:
            servers = [*self._retired, *([self._server] if self._server else [])]
        return [pair for server in servers for pair in _answers(server, self.path)]

    def _listen(self) -> None:
        with self._lock:
            if self._server is None:
                self._server = _PinnedLoopbackServer(self.port)

    def _shutdown(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            if server is not None:
                self._retired.append(server)  # its log stays readable after close()
        if server is not None:
            server.close()

    def _configure(self) -> None:
        with self._lock:
            server, status = self._server, self._status
        if server is not None:
            server.route_sequence(self.path, [_response(status)])


def _answers(server: _PinnedLoopbackServer, path: str) -> list[tuple[RecordedRequest, int | None]]:
    """Each request to `path` with the status it got (None: no answer recorded)."""
    answered = server.answered_for(path)
    out: list[tuple[RecordedRequest, int | None]] = []
    for request in server.requests_for(path):
        status = next((s for r, s in answered if r is request), None)
        out.append((request, status))
    return out


def _response(status: int) -> dict[str, Any]:
    return {"status": status, "body": "ok" if status < 400 else "down"}
