"""Hostile and broken sources against the real poll cycle and CLI: one bad entry never costs the
others, a poll that cannot be recorded is recorded as a failure, secrets in a source URL never
reach an item, and a feed that yields nothing usable is failing, not quiet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.collectors.screen import entry_problem, safe_line, screen
from monitor.config import load_config
from monitor.daemon import make_alerts, make_detector, make_fetcher, open_store
from monitor.observation import Observation
from monitor.polling import Poller
from test_poll import cycle, events, feed_source, write_config

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{}</channel></rss>"""


def item(title: str, link: str, guid: str, extra: str = "") -> str:
    return f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>{extra}</item>"


def html_source(id: str, url: str) -> str:
    return (f'[[sources]]\nid = "{id}"\nkind = "html_list"\nurl = "{url}"\nevery = "1m"\n'
            'item = "li"\nlanguage = "zh"\n')


def fr_source(id: str, url: str) -> str:
    return f'[[sources]]\nid = "{id}"\nkind = "federal_register"\nurl = "{url}"\nevery = "1m"\n'


def run(*args: str, path: Path):
    result = CliRunner().invoke(cli, ["--config", str(path), *args])
    assert "Traceback" not in result.output + (result.stderr or "")
    return result


# --- one hostile entry ---------------------------------------------------------------------------


def test_a_nul_in_one_guid_skips_that_entry_names_the_field_and_records_the_others(http_server, tmp_path):
    body = RSS.format(item("Good one", "https://x.example/1", "g1")
                      + item("Bad one", "https://x.example/2", "g\x002")
                      + item("Good three", "https://x.example/3", "g3")).encode()
    http_server.route("/feed.xml", body=body, content_type="application/rss+xml")
    path = write_config(tmp_path, feed_source("news", http_server.url_for("/feed.xml")))

    poll = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "poll"],
                          capture_output=True, text=True, timeout=120)
    assert poll.returncode == 0 and "Traceback" not in poll.stderr
    assert "skipped entry 2" in poll.stdout and "guid contains a control character (U+0000)" in poll.stdout
    config = load_config(path)
    assert {e.data["key"] for e in events(config, "ItemDiscovered")} == {"g1", "g3"}
    (polled,) = events(config, "SourcePolled")
    assert any('skipped entry 2 ("Bad one"): guid contains a control character (U+0000)' in w
               for w in polled.data["warnings"])
    assert polled.data["entries"] == 2
    state = json.loads(run("sources", "--json", path=path).output)
    assert state["health"] == "ok" and state["polls"] == 1


HOSTILE_FEED_ITEMS = {
    # each: the bad entry, and the field its warning names
    "guid": (item("Bad", "https://x.example/b", "a\x1bb"), "guid contains a control character (U+001B)"),
    "huge guid": (item("Bad", "https://x.example/b", "g" * 600), None),  # hashed to a short key: kept
    "link": (item("Bad", "https://x.example/b\x00c", "gb"), "url contains a control character (U+0000)"),
    "category": (item("Bad", "https://x.example/b", "gb", "<category>a\x00b</category>"), None),  # text: cleaned
    "author": (item("Bad", "https://x.example/b", "gb", "<author>a\x07b</author>"), None),  # text: cleaned
    "title": (item("Bad \x00 title \x9b31m", "https://x.example/b", "gb"), None),  # text: cleaned
    "huge title": (item("T" * 3000, "https://x.example/b", "gb"), "title is too long (3000 characters, at most 2000)"),
}


@pytest.mark.parametrize("case", [k for k, v in HOSTILE_FEED_ITEMS.items() if v])
def test_every_field_of_a_feed_entry_is_screened(case, http_server, tmp_path):
    bad, warning = HOSTILE_FEED_ITEMS[case]
    body = RSS.format(item("Good one", "https://x.example/1", "g1") + bad
                      + item("Good three", "https://x.example/3", "g3")).encode()
    http_server.route("/feed.xml", body=body, content_type="application/rss+xml")
    path = write_config(tmp_path, feed_source("news", http_server.url_for("/feed.xml")))
    reports, config = cycle(path)
    keys = {e.data["key"] for e in events(config, "ItemDiscovered")}
    assert {"g1", "g3"} <= keys
    (polled,) = events(config, "SourcePolled")
    if warning:  # the bad entry is skipped, and its warning names the field
        assert len(keys) == 2 and any(warning in w for w in polled.data["warnings"]), polled.data["warnings"]
    else:  # prose is cleaned and the entry kept; the log holds no control character
        assert len(keys) == 3
        for event in events(config, "ItemDiscovered"):
            assert entry_problem(Observation(**{k: event.data[k] for k in ("source", "key", "title", "url", "summary",
                                                                            "language", "published", "updated",
                                                                            "fields")})) is None


def test_a_federal_register_result_with_a_hostile_document_number_is_skipped(http_server, tmp_path):
    docs = [{"document_number": "2025-00001", "title": "Good"},
            {"document_number": "2025-\x0000002", "title": "Bad"},
            {"document_number": "2025-00003", "title": "Bad too", "action": "Final\x1b[2J rule"},
            {"document_number": "2025-00004", "title": "Good too", "action": "Final rule\ud800"}]  # scrubbed: kept
    http_server.route("/api/v1/documents.json", body=json.dumps({"count": 3, "results": docs}),
                      content_type="application/json")
    path = write_config(tmp_path, fr_source("fr", http_server.url_for("/api/v1/documents.json")))
    reports, config = cycle(path)
    assert reports["fr"].status == "new" and reports["fr"].new == 2
    discovered = {e.data["key"]: e.data for e in events(config, "ItemDiscovered")}
    assert set(discovered) == {"2025-00001", "2025-00004"}
    assert discovered["2025-00004"]["fields"]["action"] == "Final rule\ufffd"
    warnings = events(config, "SourcePolled")[0].data["warnings"]
    assert any('skipped entry 2 ("Bad"): document_number contains a control character (U+0000)' in w for w in warnings)
    assert any('skipped entry 3 ("Bad too"): action contains a control character (U+001B)' in w for w in warnings)


def test_an_html_list_row_with_a_hostile_link_is_skipped(http_server, tmp_path):
    page = ('<html lang="zh"><body><ul><li><a href="/a/1.html">公告一</a></li>'
            '<li><a href="/a/2\x00.html">公告二</a></li><li><a href="/a/3.html">公告三</a></li></ul></body></html>')
    http_server.route("/list.html", body=page.encode(), content_type="text/html; charset=utf-8")
    path = write_config(tmp_path, html_source("mofcom", http_server.url_for("/list.html")))
    reports, config = cycle(path)
    titles = sorted(e.data["title"] for e in events(config, "ItemDiscovered"))
    assert titles == ["公告一", "公告三"]
    assert any("url contains a control character (U+0000)" in w
               for w in events(config, "SourcePolled")[0].data["warnings"])


def test_a_warning_that_quotes_the_body_is_one_printable_line():
    assert safe_line("bad \x00 and \ud800\nnext") == "bad \\u0000 and \\ud800 next"
    kept, warnings = screen([Observation("s", "k\n2", "t")])
    assert kept == [] and warnings == ['skipped entry 1 ("t"): key contains a control character (U+000A)']


# --- a poll that cannot be recorded --------------------------------------------------------------


class _BrokenDetector:
    """Detection that raises: no server can make the store refuse a screened poll, so this stands
    in for any bug between collecting and appending."""

    def __init__(self, real):
        self.gazetteer, self.catalog = real.gazetteer, real.catalog

    def detect_all(self, items, source):
        raise ValueError("boom \x00 with text from the body")


def test_a_poll_that_cannot_be_recorded_is_recorded_as_an_internal_failure(http_server, tmp_path):
    import asyncio

    from monitor.clock import system_clock

    http_server.route("/feed.xml", body=RSS.format(item("A", "https://x.example/1", "g1")).encode(),
                      content_type="application/rss+xml")
    path = write_config(tmp_path, feed_source("news", http_server.url_for("/feed.xml")))
    config = load_config(path)

    async def once():
        with open_store(config.state_path) as store:
            async with make_fetcher(config) as fetcher:
                detector = make_detector(config)
                poller = Poller(config, store, fetcher, system_clock, detector=_BrokenDetector(detector),
                                alerts=make_alerts(config, detector))
                return await poller.cycle()

    (report,) = asyncio.run(once())
    assert report.status == "failed" and report.recorded
    assert report.message == "internal: could not record the poll (ValueError)"
    (failed,) = events(config, "SourceFailed")
    assert failed.data["reason"] == "internal" and "boom" not in failed.data["message"]
    assert not events(config, "ItemDiscovered")  # nothing half-recorded
    state = json.loads(run("sources", "--json", path=path).output)
    assert state["health"] == "failing" and state["last_error_reason"] == "internal"


# --- secrets in the source URL -------------------------------------------------------------------


def test_a_key_in_the_source_url_never_reaches_an_item_a_change_or_the_log(http_server, tmp_path):
    body = RSS.format(
        item("US adds SMIC to the Entity List", "#item-1", "g1")
        + item("Nvidia export licence rule for the UAE", "https://x.example/2?token=S3CRET&amp;page=2", "g2")
    ).encode()
    http_server.route("/feed.xml", body=body, content_type="application/rss+xml")
    page = '<ul><li><a href="#top">top</a></li><li><a href="?id=7">商务部公告2024年第46号 出口管制</a></li></ul>'
    http_server.route("/list.html", body=page.encode(), content_type="text/html; charset=utf-8")
    path = write_config(tmp_path, feed_source("news", http_server.url_for("/feed.xml") + "?key=S3CRET&lang=en")
                        + html_source("mofcom", http_server.url_for("/list.html") + "?sig=S3CRET"))
    reports, config = cycle(path)
    assert reports["news"].new == 2 and reports["mofcom"].new == 1
    urls = {e.data["key"]: e.data["url"] for e in events(config, "ItemDiscovered")}
    assert urls["g1"] == http_server.url_for("/feed.xml") + "?lang=en#item-1"
    assert urls["g2"] == "https://x.example/2?page=2"
    assert urls["announcement:商务部:2024-46"] == http_server.url_for("/list.html") + "?id=7"
    changes = run("changes", "--json", path=path).output
    assert changes.strip() and "S3CRET" not in changes
    everything = run("events", "--json", path=path).output
    assert "S3CRET" not in everything and "key=***" in everything  # the request URL is shown masked
    for file in config.state_path.iterdir():
        assert b"S3CRET" not in file.read_bytes(), file


# --- nothing usable: a failing source, not a quiet one ----------------------------------------------


@pytest.mark.parametrize("body, words", [
    (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x &bogus; y</title', "not well-formed"),
    (RSS.format(item("", "", "") + item("", "", "")).encode(), "no entry could be used (2 skipped"),
    (RSS.format(item("A", "https://x.example/1", "g\x001") + item("B", "https://x.example/2", "g\x002")).encode(),
     "no entry could be used (2 skipped; skipped entry 2"),
])
def test_a_feed_that_yields_nothing_usable_is_a_failing_source(body, words, http_server, tmp_path):
    http_server.route("/feed.xml", body=body, content_type="application/rss+xml")
    path = write_config(tmp_path, feed_source("news", http_server.url_for("/feed.xml")))
    poll = run("poll", path=path)
    assert poll.exit_code == 0 and "news" in poll.output and "failed" in poll.output and words in poll.output
    state = json.loads(run("sources", "--json", path=path).output)
    assert state["health"] == "failing" and state["last_error_reason"] == "parse_error"
    assert state["consecutive_failures"] == 1


def test_a_well_formed_empty_feed_is_still_ok(http_server, tmp_path):
    http_server.route("/feed.xml", body=RSS.format("").encode(), content_type="application/rss+xml")
    path = write_config(tmp_path, feed_source("news", http_server.url_for("/feed.xml")))
    reports, _ = cycle(path)
    assert reports["news"].status == "no_change" and reports["news"].entries == 0
    assert json.loads(run("sources", "--json", path=path).output)["health"] == "ok"
