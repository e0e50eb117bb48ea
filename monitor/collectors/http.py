"""The HTTP edge of the collectors: one shared, polite, bounded async client.

`Fetcher.get` either returns a `Response` (2xx, or 304 for a conditional GET) or raises a
`FetchError` whose `reason` is one of a small fixed set of classes, with a one-line human message
that never contains credentials from the URL. Bodies are decoded and capped while streaming, so a
gzip bomb or an endless body costs at most ``max_bytes`` plus one 64 KiB piece of memory.
Requests to one host are spaced and bounded per host, so one slow host never holds up another.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import select
import socket
import ssl
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, AsyncIterator, Callable, Iterator, Mapping
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import httpcore
import httpx

from monitor.clock import Clock, system_clock
from monitor.retry import RETRY_AFTER_LIMIT as _RETRY_AFTER

REASONS = frozenset(
    "timeout connect dns tls reset http_status too_large redirects protocol".split()
)
DEFAULT_MAX_BYTES = 10 * 2**20
EXCERPT_CHARS = 300
MESSAGE_CHARS = 300
ERROR_BODY_CAP = 64 * 1024  # enough of an error body for its excerpt and JSON message
RETRY_AFTER_LIMIT = _RETRY_AFTER.total_seconds()  # the one limit: monitor/retry.py
_PIECE = 64 * 1024  # most bytes inflated from a compressed body in one step

# Query parameter names whose values are secrets (api_key, access_token, X-Amz-Signature, ...).
SECRET_PARAM = re.compile(r"token|key|pass|pwd|secret|sig|auth|credential|session", re.IGNORECASE)
_DNS_TEXT = re.compile(
    r"name or service not known|nodename nor servname|name resolution|getaddrinfo|"
    r"no address associated with hostname",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Validators:
    """Cache validators of a previous response, sent back as a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Response:
    url: str  # final URL after redirects (userinfo removed)
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes  # content-encoding removed: what the server meant
    elapsed: float  # seconds, from the first byte sent to the last byte read
    validators: Validators = field(default_factory=Validators)
    not_modified: bool = False  # True on 304; body is then b""


@dataclass(frozen=True)
class HostLimit:
    rate: float | None = None  # max request starts per second for the host; None = unlimited
    concurrency: int = 2  # max requests in flight to the host

    def __post_init__(self) -> None:
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"HostLimit.rate must be positive or None, not {self.rate!r}")
        if self.concurrency < 1:
            raise ValueError(f"HostLimit.concurrency must be at least 1, not {self.concurrency!r}")


class FetchError(Exception):
    """A fetch that did not produce a usable response; `reason` is one of `REASONS`."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body_excerpt: str = "",
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown FetchError reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.body_excerpt = body_excerpt

    def __repr__(self) -> str:
        return f"FetchError({self.reason!r}, {self.message!r}, status={self.status!r})"


# --- URL hygiene ---------------------------------------------------------------------------


def redact_url(url: str | httpx.URL) -> str:
    """The URL without userinfo or fragment, with secret-looking query values replaced by ***."""
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    pieces = []
    for piece in parts.query.split("&") if parts.query else []:
        name = piece.split("=", 1)[0]
        pieces.append(f"{name}=***" if SECRET_PARAM.search(unquote_plus(name)) else piece)
    text = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else f"{netloc}{parts.path}"
    return f"{text}?{'&'.join(pieces)}" if pieces else text


def public_url(url: str) -> str:
    """The URL as an item may carry it: no userinfo, and no query parameter whose name looks
    secret (the rule of ``redact_url``), removed rather than masked; the fragment is kept.

    Item links are resolved against the source URL after this, so a relative link ("#item-1")
    cannot copy the source's API key into the log, the digests and the Atom feed, and an absolute
    link that echoes the key loses it too. An unparsable URL is returned as given (the parsers
    drop those themselves).
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
    except ValueError:
        return url
    pieces = parts.query.split("&") if parts.query else []
    kept = [piece for piece in pieces if not SECRET_PARAM.search(unquote_plus(piece.split("=", 1)[0]))]
    if netloc == parts.netloc and len(kept) == len(pieces):
        return url  # the common case: nothing to remove, and the URL stays byte for byte as sent
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(kept), parts.fragment))


def _secrets_of(url: str | httpx.URL) -> list[str]:
    """Every credential-looking string in a URL, raw and percent-decoded, longest first."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return []
    found: set[str] = set()
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        for value in (userinfo, *userinfo.split(":", 1)):
            found.update({value, unquote_plus(value)})
    for piece in parts.query.split("&") if parts.query else []:
        name, _, value = piece.partition("=")
        if value and SECRET_PARAM.search(unquote_plus(name)):
            found.update({value, unquote_plus(value)})
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def _strip_userinfo(url: str) -> str:
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@?#]*@", r"\1", url)


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB ({n} bytes)" if n >= 2**20 else f"{n} bytes"


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- Retry-After and error bodies ------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP-date), or None.

    `now` is the wall-clock time the date form is measured from; the result is never negative
    and never more than a day.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_LIMIT)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_LIMIT) if math.isfinite(seconds) else None


def _json_error_detail(body: bytes) -> str:
    """The "message"/"errors" text of a JSON error body (the Federal Register API's shape)."""
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    if isinstance(data.get("message"), str):
        parts.append(data["message"])
    if "errors" in data:
        parts.extend(_flatten_errors(data["errors"], ""))
    return "; ".join(p for p in parts if p)


def _flatten_errors(value: object, prefix: str) -> Iterator[str]:
    # {"conditions": {"agencies": ["x is not a valid agency"]}} -> "conditions.agencies: x is ..."
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten_errors(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        texts = [str(v) for v in value if not isinstance(v, (dict, list))]
        if texts:
            yield f"{prefix}: {', '.join(texts)}" if prefix else ", ".join(texts)
        for inner in value:
            if isinstance(inner, (dict, list)):
                yield from _flatten_errors(inner, prefix)
    elif value is not None:
        yield f"{prefix}: {value}" if prefix else str(value)


# --- decoding ----------------------------------------------------------------------------------


class _Undecodable(Exception):
    pass


class _Decoder:
    """Removes gzip/deflate content-encoding, inflating at most _PIECE bytes per step.

    httpx's own decoder inflates a whole network chunk at once: 64 KiB of a gzip bomb becomes
    ~64 MiB before our cap could look at it. Here each step is bounded.
    """

    def __init__(self, encoding: str | None) -> None:
        name = (encoding or "identity").strip().lower()
        self._may_be_raw_deflate = False
        if name in ("", "identity"):
            self._z = None
        elif name in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif name == "deflate":
            self._z = zlib.decompressobj()
            self._may_be_raw_deflate = True  # some servers send deflate without the zlib header
        else:
            raise _Undecodable(name)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            if data:
                yield data
            return
        if self._may_be_raw_deflate:
            self._may_be_raw_deflate = False
            try:
                out = self._z.decompress(data, _PIECE)
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._z.decompress(data, _PIECE)
            data = self._z.unconsumed_tail
            if out:
                yield out
        while data and not self._z.eof:
            out = self._z.decompress(data, _PIECE)
            data = self._z.unconsumed_tail
            if out:
                yield out

    def flush(self) -> bytes:
        return self._z.flush() if self._z is not None and not self._z.eof else b""


# --- per-host politeness -------------------------------------------------------------------


class _HostGate:
    """Bounds concurrency and spaces request starts for one host (host:port)."""

    def __init__(self, limit: HostLimit) -> None:
        self._semaphore = asyncio.Semaphore(limit.concurrency)
        self._interval = 1.0 / limit.rate if limit.rate else 0.0
        self._next_start: float | None = None

    @asynccontextmanager
    async def slot(self, clock: Callable[[], float]) -> AsyncIterator[None]:
        async with self._semaphore:
            if self._interval:
                # Reserve the next start time before sleeping (no await in between), so
                # concurrent callers get successive slots 1/rate apart.
                now = clock()
                start = now if self._next_start is None else max(now, self._next_start)
                self._next_start = start + self._interval
                if start > now:
                    await asyncio.sleep(start - now)
            yield


def _host_key(url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.host}:{port}"


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """exc, its causes/contexts, and members of exception groups among them."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)


# --- the fetcher -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """One request's URL and what may be shown of it."""

    url: httpx.URL
    host: str  # host:port, the politeness key
    shown: str  # redacted URL for messages
    secrets: tuple[str, ...]

    def error(
        self,
        reason: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body_excerpt: str = "",
    ) -> FetchError:
        """A FetchError whose texts are scrubbed of this URL's credentials."""
        return FetchError(
            reason,
            _one_line(self.scrub(message), MESSAGE_CHARS),
            status=status,
            retry_after=retry_after,
            body_excerpt=self.scrub(body_excerpt),
        )

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return re.sub(r"(://)[^/@\s?#]*@", r"\1", text)  # any userinfo left in a quoted URL


class Fetcher:
    """One shared httpx.AsyncClient with timeouts, body caps and per-host politeness.

    Use as ``async with Fetcher(user_agent=...) as fetcher: await fetcher.get(url)``.
    `hosts` maps "host" or "host:port" to a HostLimit; other hosts get `default_host_limit`.
    `clock` (monotonic seconds) spaces requests and measures elapsed time; `wall_clock`
    (aware datetime) resolves HTTP-date Retry-After values.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        connect_timeout: float = 10,
        read_timeout: float = 30,
        total_timeout: float = 120,
        max_redirects: int = 5,
        hosts: Mapping[str, HostLimit] | None = None,
        default_host_limit: HostLimit = HostLimit(rate=None, concurrency=4),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Clock = system_clock,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._total_timeout = total_timeout
        self._max_redirects = max_redirects
        self._hosts = {key.lower(): limit for key, limit in (hosts or {}).items()}
        self._default_limit = default_host_limit
        self._clock = clock
        self._wall_clock = wall_clock
        self._gates: dict[str, _HostGate] = {}
        # Per-host gates bound concurrency; no global pool cap, so a host with hanging
        # connections cannot starve the pool for the others.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=32)
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
            ),
            follow_redirects=True,
            max_redirects=max_redirects,
            limits=limits,
            http1=True,
            http2=False,
            transport=transport or (_transport(limits) if _INTERNALS_FIT else None),
            event_hooks={"request": [_only_http]},
        )
        if _INTERNALS_FIT:
            self._client._cookies = _Cookies()  # noqa: SLF001 - where httpx 0.28 keeps the client's jar

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock (seconds) requests are spaced and timed by."""
        return self._clock

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _gate(self, url: httpx.URL) -> _HostGate:
        key = _host_key(url)
        gate = self._gates.get(key)
        if gate is None:
            limit = self._hosts.get(key) or self._hosts.get(url.host) or self._default_limit
            gate = self._gates[key] = _HostGate(limit)
        return gate

    async def get(
        self,
        url: str,
        *,
        params: list[tuple[str, str]] | None = None,
        validators: Validators | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Response:
        """GET `url` (with `params` appended to its query); raises FetchError."""
        try:
            full = httpx.URL(url)
            if params:
                full = full.copy_merge_params(params)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise FetchError("protocol", f"invalid URL {redact_url(url)}") from None
        target = _Target(full, _host_key(full), redact_url(full), tuple(_secrets_of(full)))
        if full.scheme not in ("http", "https") or not full.host:
            raise target.error("protocol", f"not an http(s) URL: {target.shown}")

        headers = {}
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified

        async with self._gate(full).slot(self._clock):
            started = self._clock()
            try:
                # The deadline also cuts a slow drip, which never trips the read timeout.
                async with asyncio.timeout(self._total_timeout):
                    return await self._fetch(target, headers, max_bytes, started)
            except TimeoutError:
                raise target.error(
                    "timeout",
                    f"no complete response from {target.host} within {self._total_timeout:g}s",
                ) from None
            except httpx.HTTPError as exc:
                reason, message = self._classify(exc, target)
                raise target.error(reason, message) from None

    async def _fetch(
        self, target: _Target, headers: dict[str, str], max_bytes: int, started: float
    ) -> Response:
        async with self._client.stream("GET", target.url, headers=headers) as resp:
            status = resp.status_code
            response_headers = {name.lower(): value for name, value in resp.headers.items()}
            final_url = _strip_userinfo(str(resp.url))
            validators = Validators(
                etag=resp.headers.get("etag"), last_modified=resp.headers.get("last-modified")
            )
            if status == 304:
                # Read the (empty) body to its end: a response left unread closes its connection,
                # and every steady poll would then pay a new TCP connection (and its close).
                await self._read(target, resp, ERROR_BODY_CAP, truncate=True)
                elapsed = self._clock() - started
                return Response(
                    final_url, status, response_headers, b"", elapsed, validators, not_modified=True
                )
            if not 200 <= status < 300:
                body = await self._read(target, resp, ERROR_BODY_CAP, truncate=True)
                raise self._status_error(target, resp, body)

            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise target.error(
                    "too_large",
                    f"response from {target.shown} declares {int(declared)} bytes, "
                    f"more than the cap of {_size(max_bytes)}",
                )
            body = await self._read(target, resp, max_bytes)
            return Response(
                final_url, status, response_headers, body, self._clock() - started, validators
            )

    async def _read(
        self, target: _Target, resp: httpx.Response, cap: int, *, truncate: bool = False
    ) -> bytes:
        """The decoded body, reading no more than `cap` decoded bytes plus one piece."""
        encoding = resp.headers.get("content-encoding")
        try:
            decoder = _Decoder(encoding)
        except _Undecodable:
            raise target.error(
                "protocol", f"unsupported content-encoding {encoding!r} from {target.host}"
            ) from None
        chunks: list[bytes] = []
        total = 0
        try:
            async for raw in resp.aiter_raw():
                for piece in decoder.feed(raw):
                    total += len(piece)
                    if total > cap:
                        if truncate:
                            chunks.append(piece[: cap - (total - len(piece))])
                            return b"".join(chunks)
                        raise target.error(
                            "too_large",
                            f"response from {target.shown} exceeds the cap of {_size(cap)}",
                        )
                    chunks.append(piece)
            tail = decoder.flush()
        except zlib.error:
            raise target.error(
                "protocol", f"could not decode the {encoding} body from {target.host}"
            ) from None
        if total + len(tail) > cap and not truncate:
            raise target.error(
                "too_large", f"response from {target.shown} exceeds the cap of {_size(cap)}"
            )
        chunks.append(tail)
        return b"".join(chunks)

    def _status_error(self, target: _Target, resp: httpx.Response, body: bytes) -> FetchError:
        status = resp.status_code
        detail = _json_error_detail(body)
        phrase = f" {resp.reason_phrase}" if resp.reason_phrase else ""
        message = f"HTTP {status}{phrase} from {_one_line(target.shown, 120)}"
        if detail:
            message += f": {detail}"
        return target.error(
            "http_status",
            message,
            status=status,
            retry_after=parse_retry_after(resp.headers.get("retry-after"), self._wall_clock()),
            body_excerpt=body.decode("utf-8", errors="replace")[:EXCERPT_CHARS],
        )

    def _classify(self, exc: httpx.HTTPError, target: _Target) -> tuple[str, str]:
        """(reason, one-line message) for an httpx exception."""
        host = target.host
        chain = list(_exception_chain(exc))
        text = _one_line(str(exc) or type(exc).__name__, 160)

        def has(kind: type[BaseException]) -> bool:
            return any(isinstance(e, kind) for e in chain)

        if isinstance(exc, httpx.ConnectTimeout):
            return "timeout", f"could not connect to {host} within {self._connect_timeout:g}s"
        if isinstance(exc, httpx.ReadTimeout):
            return "timeout", f"no data from {host} within {self._read_timeout:g}s"
        if isinstance(exc, httpx.WriteTimeout):
            return "timeout", f"could not send to {host} within {self._read_timeout:g}s"
        if isinstance(exc, httpx.PoolTimeout):
            return "timeout", f"no free connection to {host} within {self._connect_timeout:g}s"
        if isinstance(exc, httpx.TimeoutException):
            return "timeout", f"timed out talking to {host}"
        if isinstance(exc, httpx.TooManyRedirects):
            return "redirects", f"more than {self._max_redirects} redirects from {target.shown}"
        if isinstance(exc, httpx.UnsupportedProtocol):
            # The first URL was checked in get(), so this is where a redirect pointed.
            return "redirects", f"redirect from {target.shown} to a non-http(s) URL"
        resolver_text = isinstance(exc, httpx.ConnectError) and _DNS_TEXT.search(text)
        if has(socket.gaierror) or resolver_text:
            return "dns", f"could not resolve host {target.url.host}"
        if has(ssl.SSLError) or has(ssl.CertificateError) or "[SSL" in text:
            ssl_error = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
            detail = getattr(ssl_error, "verify_message", None) or getattr(ssl_error, "reason", "")
            return "tls", f"TLS with {host} failed: {detail or text}"
        if has(ConnectionRefusedError):
            return "connect", f"connection refused by {host}"
        if has(ConnectionResetError) or has(BrokenPipeError):
            return "reset", f"connection to {host} was reset"
        if isinstance(exc, httpx.ConnectError):
            return "connect", f"could not connect to {host}: {text}"
        if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
            return "reset", f"connection to {host} was broken: {text}"
        if isinstance(exc, httpx.RemoteProtocolError) and re.search(
            r"peer closed|disconnected|incomplete", text, re.IGNORECASE
        ):
            return "reset", f"{host} closed the connection before the response was complete"
        return "protocol", f"invalid HTTP exchange with {host}: {text}"


# ``_Pool`` overrides a private method of httpcore's pool, ``_transport`` sets httpx's private
# ``_pool`` and the Fetcher the client's ``_cookies``, all as httpcore 1.0 and httpx 0.28 have them
# (the locked versions): with other releases the Fetcher keeps httpx's own pool and jar, slower but sure.
_INTERNALS_FIT = (httpcore.__version__.startswith("1.0.") and httpx.__version__.startswith("0.28.")
              and hasattr(httpcore.AsyncConnectionPool, "_assign_requests_to_connections"))


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, which wraps every response and its request for http.cookiejar (a urllib
    Request, its URL parsed) to look for cookies that most responses do not set; here a response
    without a cookie header is not wrapped (what the jar would find in it is nothing)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


def _transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (what AsyncClient makes without one), over a pool whose bookkeeping
    costs O(connections) a request instead of O(connections²) syscalls and dicts."""
    transport = httpx.AsyncHTTPTransport(limits=limits, http1=True, http2=False)
    transport._pool = _Pool(  # noqa: SLF001 - the transport takes no pool; its arguments, as it passes them
        ssl_context=transport._pool._ssl_context,  # noqa: SLF001 - the context httpx made (verify, trust_env)
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=False,
        network_backend=_Backend(),
    )
    return transport


class _Pool(httpcore.AsyncConnectionPool):
    """httpcore's pool with its bookkeeping done in one pass, and idle connections re-checked
    when handed out rather than all of them at every change.

    httpcore re-checks every pooled connection each time a request is queued or a response
    closed (a poll(2) for each idle one), and for each idle one counts all of them again
    (O(n²)): ~1,100 calls and ~60 socket polls a request with 16 connections to one host, 11%
    of the daemon's CPU. Here a connection is checked (keep-alive expiry, or readable: the
    server closed it) before it takes a request, and all of them at most once a second, so an
    expired one is still closed soon; idle connections beyond ``max_keepalive_connections`` are
    closed (httpcore's count, by a slip, includes busy ones); a queued request takes the first
    available connection no other request holds, else a new one. (HTTP/1.1 only, as the
    Fetcher uses it.)
    """

    _SWEEP_EVERY = 1.0  # seconds between two checks of every pooled connection
    _swept = -math.inf

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        now = time.monotonic()
        sweep = now - self._swept >= self._SWEEP_EVERY
        if sweep:
            self._swept = now
        closing: list[httpcore.AsyncConnectionInterface] = []
        live: list[httpcore.AsyncConnectionInterface] = []
        for connection in self._connections:
            if connection.is_closed():
                continue
            (closing if sweep and connection.has_expired() else live).append(connection)
        # HTTP/1.1: a connection serves one request at a time. One handed to a request that has not
        # sent it yet still looks idle and available; httpcore would hand it to every queued
        # request (all but one then fail over, ConnectionNotAvailable, and queue again).
        taken = {id(r.connection) for r in self._requests if r.connection is not None}
        idle = [c for c in live if c.is_idle() and id(c) not in taken]
        surplus = idle[:max(0, len(idle) - self._max_keepalive_connections)]  # maxsize when unbounded
        if surplus:
            closing += surplus
            live = [c for c in live if c not in surplus]
        for request in self._requests:
            if request.is_queued():
                self._assign(request, live, closing, taken)
        self._connections = live
        return closing

    def _assign(self, request, live: list, closing: list, taken: set[int]) -> None:
        origin = request.request.url.origin
        for connection in [c for c in live if id(c) not in taken and c.can_handle_request(origin)
                           and c.is_available()]:
            if connection.has_expired():
                live.remove(connection)
                closing.append(connection)
            else:
                request.assign_to_connection(connection)
                taken.add(id(connection))
                return
        if len(live) >= self._max_connections:
            spare = next((c for c in live if id(c) not in taken and c.is_idle()), None)
            if spare is None:
                return  # stays queued until a connection is free
            live.remove(spare)
            closing.append(spare)
        connection = self.create_connection(origin)
        live.append(connection)
        request.assign_to_connection(connection)
        taken.add(id(connection))


class _Backend(httpcore.AnyIOBackend):
    """httpcore's asyncio backend, with streams that answer "is this idle socket readable?"
    (asked of every pooled connection on every change of the pool) with one poll(2), not
    anyio's mapping of every socket attribute built anew each time."""

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await super().connect_tcp(*args, **kwargs))


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info != "is_readable":
            return self._stream.get_extra_info(info)
        fd = self._socket.fileno() if self._socket is not None else -1
        if fd < 0:
            return True  # no socket left: as httpcore, the next read would return b""
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        return bool(poll.poll(0))


async def _only_http(request: httpx.Request) -> None:
    # Runs for the first request and every redirect: never follow into file:, ftp:, etc.
    if request.url.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"refusing to fetch a {request.url.scheme!r} URL")
