"""The HTTP edge against a real loopback server: bodies, validators, faults, caps, politeness."""

from __future__ import annotations

import asyncio
import resource
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from monitor.collectors.http import (
    Fetcher,
    FetchError,
    HostLimit,
    Response,
    Validators,
    _json_error_detail,
    parse_retry_after,
    redact_url,
)
from servers import CountingHandler, LoopbackServer, gzip_bomb

UA = "export-control-monitor-tests/0.1 (+https://example.invalid/contact)"
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


def get(url: str, *, fetcher: dict | None = None, **get_options) -> Response:
    async def main() -> Response:
        async with Fetcher(user_agent=UA, **(fetcher or {})) as f:
            return await f.get(url, **get_options)

    return asyncio.run(main())


def get_error(url: str, *, fetcher: dict | None = None, **get_options) -> FetchError:
    with pytest.raises(FetchError) as info:
        get(url, fetcher=fetcher, **get_options)
    return info.value


def free_port() -> int:
    """A port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- success paths ---------------------------------------------------------------------------


def test_200_body_headers_and_validators(http_server):
    http_server.route(
        "/doc",
        body=b"hello",
        content_type="text/plain",
        etag='"v1"',
        last_modified=LAST_MODIFIED,
        headers={"X-Thing": "A"},
    )
    resp = get(http_server.url + "/doc")
    assert (resp.status, resp.body, resp.not_modified) == (200, b"hello", False)
    assert resp.url == http_server.url + "/doc"
    assert resp.headers["x-thing"] == "A" and resp.headers["content-type"] == "text/plain"
    assert resp.validators == Validators(etag='"v1"', last_modified=LAST_MODIFIED)
    assert resp.elapsed >= 0
    [request] = http_server.requests_for("/doc")
    assert request.headers["user-agent"] == UA
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in request.headers and "if-modified-since" not in request.headers


def test_conditional_get_with_etag_gets_not_modified(http_server):
    http_server.route("/feed", body="<rss/>", etag='"v1"', last_modified=LAST_MODIFIED)
    validators = Validators(etag='"v1"', last_modified=LAST_MODIFIED)
    resp = get(http_server.url + "/feed", validators=validators)
    assert (resp.status, resp.not_modified, resp.body) == (304, True, b"")
    assert resp.validators.etag == '"v1"'
    [request] = http_server.requests_for("/feed")
    assert request.headers["if-none-match"] == '"v1"'
    assert request.headers["if-modified-since"] == LAST_MODIFIED


def test_conditional_get_with_last_modified_only(http_server):
    http_server.route("/feed", body="<rss/>", last_modified=LAST_MODIFIED)
    resp = get(http_server.url + "/feed", validators=Validators(last_modified=LAST_MODIFIED))
    assert resp.not_modified
    assert http_server.requests_for("/feed")[0].headers["if-modified-since"] == LAST_MODIFIED


def test_changed_etag_gets_the_new_body(http_server):
    http_server.route("/feed", body="<rss>new</rss>", etag='"v2"')
    resp = get(http_server.url + "/feed", validators=Validators(etag='"v1"'))
    assert (resp.status, resp.body, resp.validators.etag) == (200, b"<rss>new</rss>", '"v2"')


def test_params_are_appended_to_the_query(http_server):
    http_server.route("/api/v1/documents.json", body="{}")
    params = [("conditions[agencies][]", "industry-and-security-bureau"), ("per_page", "20")]
    get(http_server.url + "/api/v1/documents.json?order=newest", params=params)
    [request] = http_server.requests_for("/api/v1/documents.json")
    assert "order=newest" in request.query and "per_page=20" in request.query
    assert "industry-and-security-bureau" in request.query


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_body_is_decoded(http_server, encoding):
    text = "<rss>" + "export controls " * 1000 + "</rss>"
    http_server.route("/feed", body=text, encoding=encoding)
    resp = get(http_server.url + "/feed")
    assert resp.body == text.encode() and resp.headers["content-encoding"] == encoding


def test_empty_200_is_ok(http_server):
    http_server.route("/empty", fault="empty")
    resp = get(http_server.url + "/empty")
    assert (resp.status, resp.body) == (200, b"")


def test_redirect_is_followed_and_final_url_reported(http_server):
    http_server.route("/old", status=301, headers={"Location": "/new"})
    http_server.route("/new", body="moved here")
    resp = get(http_server.url + "/old")
    assert resp.body == b"moved here" and resp.url == http_server.url + "/new"


def test_route_sequence_repeats_the_last_response(http_server):
    http_server.route_sequence("/flaky", [{"status": 503}, {"body": "ok"}])
    assert get_error(http_server.url + "/flaky").status == 503
    assert get(http_server.url + "/flaky").body == b"ok"
    assert get(http_server.url + "/flaky").body == b"ok"


# --- faults ------------------------------------------------------------------------------------


def test_no_answer_is_a_timeout(http_server):
    http_server.route("/hang", fault="timeout")
    error = get_error(http_server.url + "/hang", fetcher={"read_timeout": 0.5})
    assert error.reason == "timeout" and "0.5s" in error.message


def test_slow_drip_is_cut_by_the_total_deadline(http_server):
    # One byte every 0.1 s never trips a 5 s read timeout; only the whole-request deadline can.
    http_server.route("/drip", fault="slow_drip", interval=0.1)
    started = time.monotonic()
    error = get_error(http_server.url + "/drip", fetcher={"read_timeout": 5, "total_timeout": 1.0})
    assert error.reason == "timeout" and "within 1s" in error.message
    assert time.monotonic() - started >= 0.9


@pytest.mark.parametrize("after_headers", [False, True])
def test_reset_connection(http_server, after_headers):
    http_server.route("/reset", fault="reset", after_headers=after_headers)
    error = get_error(http_server.url + "/reset")
    assert error.reason == "reset", error.message


def test_connection_refused():
    port = free_port()
    error = get_error(f"http://127.0.0.1:{port}/x")
    assert error.reason == "connect"
    assert error.message == f"connection refused by 127.0.0.1:{port}"


class _NoDNS(httpx.AsyncBaseTransport):
    """A resolver failure, which no loopback server can produce (the one allowed mock)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as exc:
            message = "[Errno -2] Name or service not known"
            raise httpx.ConnectError(message, request=request) from exc


def test_dns_failure():
    error = get_error("https://no-such-host.example/x", fetcher={"transport": _NoDNS()})
    assert error.reason == "dns" and "no-such-host.example" in error.message


def test_tls_to_a_plain_http_port_is_a_tls_error(http_server):
    http_server.route("/x", body="plain")
    error = get_error(f"https://{http_server.host}/x")
    assert error.reason == "tls", error.message


def test_500_is_http_status(http_server):
    http_server.route("/boom", status=500, body="internal error")
    error = get_error(http_server.url + "/boom")
    assert (error.reason, error.status, error.retry_after) == ("http_status", 500, None)
    assert error.message.startswith("HTTP 500") and error.body_excerpt == "internal error"


def test_429_retry_after_seconds(http_server):
    http_server.route("/limited", fault="retry_after", retry_after=7)
    error = get_error(http_server.url + "/limited")
    assert (error.reason, error.status, error.retry_after) == ("http_status", 429, 7.0)


def test_503_retry_after_http_date_uses_the_injected_wall_clock(http_server):
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = now + timedelta(seconds=90)
    http_server.route("/down", fault="retry_after", status=503, retry_after=later)
    error = get_error(http_server.url + "/down", fetcher={"wall_clock": lambda: now})
    assert (error.status, error.retry_after) == (503, 90.0)


def test_federal_register_404_message_is_visible(http_server, fr_fixtures):
    fixture = fr_fixtures / "fr_document_404.json"
    http_server.serve_file("/api/v1/documents/nope.json", fixture, status=404)
    error = get_error(http_server.url + "/api/v1/documents/nope.json")
    assert error.status == 404 and "Record Not Found" in error.message
    assert '"message"' in error.body_excerpt
    assert "\n" not in error.message and len(error.message) <= 300


def test_federal_register_400_errors_are_visible(http_server, fr_fixtures):
    fixture = fr_fixtures / "fr_documents_400_bad_agency.json"
    http_server.serve_file("/api/v1/documents.json", fixture, status=400)
    error = get_error(http_server.url + "/api/v1/documents.json?conditions[agencies][]=nope")
    assert error.status == 400 and "agencies: invalid value" in error.message


def test_json_error_detail_shapes():
    nested = b'{"errors":{"conditions":{"agencies":["foo is not a valid agency"]}}}'
    assert _json_error_detail(nested) == "conditions.agencies: foo is not a valid agency"
    assert _json_error_detail(b'{"status":404,"message":"Not Found"}') == "Not Found"
    assert _json_error_detail(b"<html>nope</html>") == ""
    assert _json_error_detail(b"[1, 2]") == ""


def test_error_message_is_one_bounded_line(http_server):
    body = '{"message": "' + "very long\\nmessage " * 200 + '"}'
    http_server.route("/long", status=400, body=body)
    error = get_error(http_server.url + "/long")
    assert "\n" not in error.message and len(error.message) <= 300
    assert len(error.body_excerpt) <= 300


@pytest.mark.parametrize("mode", ["self", "alternate"])
def test_redirect_loop(http_server, mode):
    http_server.route("/loop", fault="redirect_loop", mode=mode)
    error = get_error(http_server.url + "/loop", fetcher={"max_redirects": 3})
    assert error.reason == "redirects" and "3 redirects" in error.message
    assert len(http_server.requests_for("/loop")) == 4  # the first request and 3 redirects


def test_redirect_to_a_non_http_scheme_is_refused(http_server):
    http_server.route("/ftp", status=302, headers={"Location": "ftp://127.0.0.1/file"})
    assert get_error(http_server.url + "/ftp").reason == "redirects"


def test_non_http_url_is_refused():
    assert get_error("file:///etc/passwd").reason == "protocol"


# --- body caps -----------------------------------------------------------------------------


def _rss() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class PeakRss:
    """Samples this process's resident memory while the block runs; `growth` is peak - start."""

    def __enter__(self) -> PeakRss:
        self.start = _rss() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak = self.start
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, _rss() or 0)

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()
        if _rss() is None:  # no /proc: the lifetime high-water mark (can only under-report)
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.growth = self.peak - self.start


@pytest.mark.parametrize("content_length", [True, False])
def test_80_mb_body_is_cut_at_the_cap_with_bounded_memory(http_server, content_length):
    http_server.route("/huge", fault="huge", size=80 * 2**20, content_length=content_length)
    with PeakRss() as memory:
        error = get_error(http_server.url + "/huge")
    assert error.reason == "too_large" and str(10 * 2**20) in error.message
    assert memory.growth < 50 * 2**20


def test_endless_body_is_cut_at_the_cap(http_server):
    http_server.route("/endless", fault="huge", size=None)
    error = get_error(http_server.url + "/endless", max_bytes=2**20)
    assert error.reason == "too_large"


def test_gzip_bomb_is_cut_at_the_cap_with_bounded_memory(http_server):
    gzip_bomb(200 * 2**20)  # build the cached bomb before measuring
    http_server.route("/bomb", fault="gzip_bomb")
    with PeakRss() as memory:
        error = get_error(http_server.url + "/bomb")
    assert error.reason == "too_large"
    assert memory.growth < 50 * 2**20


@pytest.mark.parametrize("content_length", [True, False])
def test_cap_is_exact(http_server, content_length):
    http_server.route("/fits", fault="huge", size=1000, content_length=content_length)
    assert len(get(http_server.url + "/fits", max_bytes=1000).body) == 1000
    assert get_error(http_server.url + "/fits", max_bytes=999).reason == "too_large"


# --- politeness and isolation ----------------------------------------------------------------


def test_rate_spaces_starts_per_host_without_delaying_other_hosts(http_server):
    limited = http_server
    limited.route("/a", body="a")
    with LoopbackServer() as other:
        other.route("/b", body="b")
        b_done: list[float] = []

        async def main() -> None:
            hosts = {limited.host: HostLimit(rate=5.0, concurrency=10)}
            async with Fetcher(user_agent=UA, hosts=hosts) as f:

                async def get_b() -> None:
                    await f.get(other.url + "/b")
                    b_done.append(time.monotonic())

                await asyncio.gather(
                    *(f.get(limited.url + "/a") for _ in range(10)), *(get_b() for _ in range(10))
                )

        asyncio.run(main())
    starts = sorted(r.received_at for r in limited.requests_for("/a"))
    assert len(starts) == 10 and starts[-1] - starts[0] >= 1.5  # 9 gaps of 0.2 s
    assert max(b_done) < starts[-1]  # the other host was served while "a" was still spacing


def test_concurrency_per_host_is_bounded(http_server):
    http_server.route("/slow", body="ok", delay=0.3)

    async def main() -> None:
        hosts = {http_server.host: HostLimit(concurrency=2)}
        async with Fetcher(user_agent=UA, hosts=hosts) as f:
            await asyncio.gather(*(f.get(http_server.url + "/slow") for _ in range(4)))

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started >= 0.55  # two waves of 0.3 s


def test_hanging_host_does_not_delay_a_healthy_one(http_server):
    http_server.route("/ok", body="ok")
    with LoopbackServer() as hanging:
        hanging.route("/hang", fault="timeout")
        finished: dict[str, float] = {}

        async def timed(name: str, coro) -> object:
            try:
                return await coro
            finally:
                finished.setdefault(name, time.monotonic())

        async def main() -> list[object]:
            async with Fetcher(user_agent=UA, read_timeout=1.0) as f:
                # More hanging requests than the default per-host concurrency of 4.
                hangs = [timed("hang", f.get(hanging.url + "/hang")) for _ in range(5)]
                return await asyncio.gather(
                    *hangs, timed("ok", f.get(http_server.url + "/ok")), return_exceptions=True
                )

        results = asyncio.run(main())
    assert all(isinstance(r, FetchError) and r.reason == "timeout" for r in results[:5])
    assert isinstance(results[5], Response) and results[5].body == b"ok"
    assert finished["ok"] < finished["hang"]


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route",
    [
        {"status": 500, "body": "oops"},
        {"fault": "timeout"},
        {"fault": "reset"},
        {"fault": "redirect_loop"},
        {"status": 400, "body": '{"message": "bad token abc123tok"}'},
    ],
)
def test_credentials_never_appear_in_messages(http_server, route):
    http_server.route("/x", **route)
    url = f"http://alice:s3cretpw@{http_server.host}/x?token=abc123tok&api_key=k3yk3y&q=chips"
    error = get_error(url, fetcher={"read_timeout": 0.5})
    for secret in ("alice", "s3cretpw", "abc123tok", "k3yk3y"):
        assert secret not in error.message and secret not in error.body_excerpt
        assert secret not in str(error) and secret not in repr(error)


def test_credentials_never_appear_when_refused():
    url = f"http://alice:s3cretpw@127.0.0.1:{free_port()}/x?signature=abc123sig"
    error = get_error(url)
    assert "s3cretpw" not in error.message and "abc123sig" not in error.message


def test_redact_url():
    url = "https://u:pw@api.example.gov:8443/v1/docs?access_token=t0k&q=gpu&X-Amz-Signature=s#f"
    assert redact_url(url) == (
        "https://api.example.gov:8443/v1/docs?access_token=***&q=gpu&X-Amz-Signature=***"
    )
    assert redact_url("http://127.0.0.1:8080/feed.rss") == "http://127.0.0.1:8080/feed.rss"


def test_parse_retry_after():
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:00 GMT", now) == 60.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("9999999", now) == 24 * 3600.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_host_limit_is_validated():
    with pytest.raises(ValueError):
        HostLimit(rate=0)
    with pytest.raises(ValueError):
        HostLimit(concurrency=0)


class _Counting(CountingHandler):
    """Answers every path; /close.rss closes the connection once it has answered, without saying
    so (a server dropping an idle connection)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        time.sleep(0.02)
        body = b"<rss/>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/close.rss":
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True


@pytest.fixture
def counting_server():
    from http.server import ThreadingHTTPServer

    class Handler(_Counting):
        connections = 0

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Handler
    server.shutdown()
    server.server_close()


def test_the_pool_reuses_its_connections_across_rounds_of_concurrent_requests(counting_server):
    """Three rounds of 12 requests, 4 at a time to the host: 4 connections, kept between rounds."""
    base, handler = counting_server

    async def rounds():
        async with Fetcher(user_agent=UA, default_host_limit=HostLimit(concurrency=4)) as f:
            for _ in range(3):
                answers = await asyncio.gather(*(f.get(f"{base}/{i}.rss") for i in range(12)))
                assert [a.status for a in answers] == [200] * 12
            return len(f._client._transport._pool.connections)

    pooled = asyncio.run(rounds())
    assert handler.connections == 4
    assert pooled == 4


def test_a_connection_the_server_dropped_while_idle_is_replaced_not_used(counting_server):
    """The pool sees the dropped connection as readable (EOF) and opens a new one: no error."""
    base, handler = counting_server

    async def twice():
        async with Fetcher(user_agent=UA) as f:
            first = await f.get(f"{base}/close.rss")
            await asyncio.sleep(0.2)  # the server's close reaches the idle socket
            return first, await f.get(f"{base}/feed.rss")

    first, second = asyncio.run(twice())
    assert (first.status, second.status) == (200, 200)
    assert handler.connections == 2


def test_idle_connections_beyond_the_keepalive_bound_are_closed(counting_server):
    """40 requests at once to one host (no host bound): at most 32 connections stay pooled."""
    base, handler = counting_server

    async def burst():
        async with Fetcher(user_agent=UA, default_host_limit=HostLimit(concurrency=40)) as f:
            answers = await asyncio.gather(*(f.get(f"{base}/{i}.rss") for i in range(40)))
            assert [a.status for a in answers] == [200] * 40
            return len(f._client._transport._pool.connections)

    assert asyncio.run(burst()) == 32
    assert handler.connections == 40


def test_cookies_a_server_sets_are_sent_back_and_a_response_without_one_leaves_them_as_they_were(http_server, monkeypatch):
    """The jar skips responses with no cookie header (`_Cookies`), on the locked releases and
    with httpx's own jar alike: what is kept and sent back is the same."""
    from monitor.collectors import http as module

    async def cookies_sent(run: str):
        http_server.route(f"/{run}/login", body="ok", headers={"Set-Cookie": "session=abc; Path=/"})
        http_server.route(f"/{run}/plain", body="ok")
        async with Fetcher(user_agent=UA) as f:
            await f.get(http_server.url_for(f"/{run}/plain"))
            await f.get(http_server.url_for(f"/{run}/login"))
            await f.get(http_server.url_for(f"/{run}/plain"))  # no Set-Cookie: the session stays
            await f.get(http_server.url_for(f"/{run}/plain"))
            return type(f._client.cookies), [r.headers.get("cookie") for r in http_server.requests_for(f"/{run}/plain")]

    assert asyncio.run(cookies_sent("ours")) == (module._Cookies, [None, "session=abc", "session=abc"])
    monkeypatch.setattr(module, "_INTERNALS_FIT", False)
    assert asyncio.run(cookies_sent("httpx")) == (httpx.Cookies, [None, "session=abc", "session=abc"])


def test_the_fetcher_pools_with_its_own_pool_on_the_locked_releases_and_with_httpx_s_on_others(counting_server, monkeypatch):
    """`_Pool` overrides httpcore internals: on the locked httpx/httpcore it is used; on any other
    release the Fetcher falls back to httpx's own pool and still fetches."""
    from monitor.collectors import http as module

    base, _handler = counting_server

    async def pool_and_status():
        async with Fetcher(user_agent=UA) as f:
            answer = await f.get(f"{base}/feed.rss")
            return type(f._client._transport._pool), answer.status

    assert module._INTERNALS_FIT, "httpx or httpcore moved: check _Pool and _Cookies against the new release before re-enabling them"
    assert asyncio.run(pool_and_status()) == (module._Pool, 200)
    monkeypatch.setattr(module, "_INTERNALS_FIT", False)
    pool, status = asyncio.run(pool_and_status())
    assert pool is not module._Pool and status == 200
