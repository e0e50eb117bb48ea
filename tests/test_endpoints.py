"""The daemon's endpoints against hostile and broken clients: a real `monitor run` subprocess on
127.0.0.1, real HTTP clients and raw sockets. Every parameter is checked (400 with the reason),
every output parses back with its own library, no request makes a 500 or a traceback, clients
that leave early are a debug line, every log line is JSON, and idle connections are closed."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import time
import urllib.parse

import feedparser
import icalendar
import pytest
import xml.etree.ElementTree as ET
from hypothesis import HealthCheck, example, given, settings, strategies as st

from servers import LoopbackServer
from sinks import JsonSink
from test_daemon import ITEMS, Daemon, free_port, rss, wait_for, write_config


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("endpoints")
    with LoopbackServer() as server, JsonSink() as sink:
        server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
        config = write_config(tmp_path, server, sink.url)
        running = Daemon(config, free_port(), "--log-level", "debug")
        try:
            running.wait_healthy()
            wait_for(lambda: b"<entry" in running.get("/changes.atom")[1], 20, f"changes in the feed\n{running}")
            yield running
        finally:
            running.kill()


def request(daemon, target: str, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    try:
        conn.putrequest("GET", target, skip_host=bool(headers and "Host" in headers))
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("target", [
    "/deadlines.ics?region=%0dX-INJECTED:1",
    "/deadlines.ics?region=%0d%0aX-INJECTED:1",
    "/deadlines.ics?company=x%0d%0a%0d%0aBEGIN:VEVENT",
    "/changes.atom?region=%01",
    "/changes.atom?company=%00",
    "/changes.atom?region=%ff%fe",
])
def test_control_characters_in_a_filter_are_a_400_with_the_reason(daemon, target):
    status, body = daemon.get(target)
    assert status == 400, body
    text = body.decode()
    assert "unknown" in text or "not UTF-8" in text
    assert "\r" not in text and "\x00" not in text and "\x01" not in text


@pytest.mark.parametrize("target, reason", [
    ("/changes.atom?regoin=gulf", "unknown parameter 'regoin' for /changes.atom (did you mean 'region'?)"),
    ("/changes.atom?region=gulff", "region: unknown region 'gulff' (did you mean 'gulf'?)"),
    ("/changes.atom?company=nvdia", "company: unknown company 'nvdia' (did you mean 'nvidia'?)"),
    ("/changes.atom?kind=entity_lst", "kind: unknown kind 'entity_lst' (did you mean 'entity_list'?)"),
    ("/changes.atom?limit=0", "limit must be a whole number from 1 to 1000"),
    ("/changes.atom?limit=%D9%A3", "limit must be a whole number"),  # an Arabic-Indic three
    ("/changes.atom?min_severity=urgent", "min_severity must be one of low, medium, high"),
    ("/changes.atom?region=gulf&region=china", "region is given more than once"),
    ("/deadlines.ics?kind=entity_list", "unknown parameter 'kind' for /deadlines.ics"),
    ("/healthz?verbose=1", "unknown parameter 'verbose' for /healthz"),
])
def test_every_parameter_is_checked_and_the_400_says_why(daemon, target, reason):
    status, body = daemon.get(target)
    assert status == 400 and reason in body.decode(), body


def test_valid_filters_are_case_insensitive_and_every_output_parses_back(daemon):
    status, atom = daemon.get("/changes.atom?region=Gulf&kind=LICENSE_SLOWDOWN,license_slowdown&limit=5")
    assert status == 200
    ET.fromstring(atom)
    feed = feedparser.parse(atom)
    assert not feed.bozo and feed.entries
    assert all("gulf" in {t.term for t in entry.tags} for entry in feed.entries)
    # The self link is built from the checked filters, in their canonical form.
    self_link = [link.href for link in feed.feed.links if link.rel == "self"][0]
    assert self_link.endswith("/changes.atom?region=gulf&kind=license_slowdown&limit=5")

    status, ics = daemon.get("/deadlines.ics?company=NVIDIA")
    assert status == 200
    calendar = icalendar.Calendar.from_ical(ics)
    assert calendar.name == "VCALENDAR" and "company nvidia" in str(calendar.get("name"))


def test_a_hostile_host_header_never_reaches_the_feed(daemon):
    status, atom = request(daemon, "/changes.atom", {"Host": "evil\x01.example\"><x y=\""})
    assert status == 200
    feed = feedparser.parse(atom)
    assert not feed.bozo
    assert all("evil" not in link.href for link in feed.feed.links)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/changes.atom", "/deadlines.ics", "/healthz", "/metrics", "/"]),
       pairs=st.lists(st.tuples(st.sampled_from(["region", "company", "kind", "min_severity", "limit", "x"]),
                                st.binary(max_size=12)), max_size=4))
@example(path="/deadlines.ics", pairs=[("region", b"\r\nX-INJECTED:1")])
@example(path="/changes.atom", pairs=[("company", b"\x01")])
def test_no_query_makes_a_500(daemon, path, pairs):
    query = "&".join(f"{name}={urllib.parse.quote_from_bytes(value)}" for name, value in pairs)
    status, body = daemon.get(f"{path}?{query}" if query else path)
    assert status in (200, 400), (status, body)
    if status == 200 and path == "/changes.atom":
        ET.fromstring(body)
    if status == 200 and path == "/deadlines.ics":
        assert b"X-INJECTED" not in body
        icalendar.Calendar.from_ical(body)


def test_clients_that_leave_early_are_debug_lines_and_every_log_line_is_json(daemon):
    for _ in range(10):
        sock = socket.create_connection(("127.0.0.1", daemon.port))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        # Close with a reset, before reading a byte of the answer.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    for _ in range(5):  # a malformed request line, and a client that hangs up mid-request
        with socket.create_connection(("127.0.0.1", daemon.port)) as sock:
            sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        with socket.create_connection(("127.0.0.1", daemon.port)) as sock:
            sock.sendall(b"GET /changes.atom HTTP/1.1\r\nHo")
    time.sleep(1.0)
    assert daemon.health()[0] == 200  # still serving
    log = daemon.log()
    lines = log.splitlines()
    assert all(line.startswith("{") for line in lines), "a log line that is not JSON:\n" + log
    parsed = [json.loads(line) for line in lines]
    assert "Traceback" not in log
    assert not [line for line in parsed if line["logger"] == "monitor.http" and line["level"] != "debug"], log


def test_an_idle_connection_is_closed(daemon):
    with socket.create_connection(("127.0.0.1", daemon.port)) as sock:
        sock.settimeout(30)
        started = time.monotonic()
        assert sock.recv(100) == b""  # the server hung up on a client that never sent a request
        assert time.monotonic() - started < 25
