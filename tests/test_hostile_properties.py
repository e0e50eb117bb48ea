"""Properties: whatever a source sends, through every parser, the screen and the store append, no
exception escapes, and no good entry beside a hostile one is lost.

Each example runs the real path of a poll after the fetch: the parser, ``collect``'s intake (the
screen), and ``Poller.record`` (identity, detection, routing, one append to a real SQLite log).
"""

from __future__ import annotations

import html
import json
import tempfile
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings, strategies as st

from monitor.clock import system_clock
from monitor.collectors.collect import PollOutcome, _take
from monitor.collectors.http import redact_url
from monitor.collectors.federal_register import parse_federal_register
from monitor.collectors.feed import parse_feed
from monitor.collectors.html_list import parse_html_list
from monitor.collectors.parsing import ParseError
from monitor.config import validate_config
from monitor.daemon import make_alerts, make_detector, open_store
from monitor.polling import Poller

URL = "https://source.example/list?key=S3CRET"
CONFIG = validate_config({
    "sources": [
        {"id": "feed", "kind": "feed", "url": URL},
        {"id": "fr", "kind": "federal_register", "url": "https://www.federalregister.gov/api/v1/documents.json"},
        {"id": "html", "kind": "html_list", "url": URL, "item": "li", "date": "span"},
    ],
    "alerts": {"routes": [{"tag": "all", "group_by": "region"}]},
}, "sources.toml")
DETECTOR = make_detector(CONFIG)

# Text a hostile or broken source sends: the usual suspects, and any code point at all (lone
# surrogates included), sometimes repeated into a huge value.
PIECES = st.sampled_from(["\x00", "\n", "\r\n", "\t", "\x1b[2J", "\x07", "\x7f", "\x85", "\x9b", "\ud800", "\udfff",
                          "\u2028", "\ufeff", "\u200b", "&#0;", "&#xD800;", "&amp;", "]]>", "<b>", "2024-13-45",
                          "javascript:alert(1)", "http://[::1", "?token=t0k", "美国商务部", "Nvidia", " "])
RAW = st.lists(st.one_of(PIECES, st.characters(exclude_categories=())), max_size=25).map("".join)
HOSTILE = st.one_of(RAW, RAW.map(lambda text: text * 400))
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def record(source_id: str, result) -> set[str]:
    """``collect``'s intake and the poller's append, into a fresh log; the item keys recorded."""
    source = CONFIG.source(source_id)
    outcome = PollOutcome(source.id, redact_url(URL), status=200)  # as collect() makes it
    _take(outcome, result)
    with tempfile.TemporaryDirectory() as state, open_store(state) as store:
        report = Poller(CONFIG, store, fetcher=None, clock=system_clock, detector=DETECTOR,
                        alerts=make_alerts(CONFIG, DETECTOR)).record(source, outcome)
        assert report.recorded
        keys = {key for (key,) in store.conn.execute("SELECT key FROM items")}
        raw = b"".join(row[0].encode() for row in store.conn.execute("SELECT data FROM events"))
    assert b"S3CRET" not in raw  # the source URL's key reaches no event
    return keys


def xml_text(text: str) -> str:
    return escape(text)


# --- feeds ---------------------------------------------------------------------------------------

FEED_FIELDS = ["title", "link", "guid", "description", "category", "author", "pubDate", "source"]


def rss_item(fields: dict[str, str]) -> str:
    return "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</item>"


def good_item(n: int) -> dict[str, str]:
    return {"title": f"Good entry {n}", "link": f"https://news.example/{n}", "guid": f"good-{n}",
            "pubDate": "Tue, 03 Dec 2024 10:00:00 GMT"}


@SETTINGS
@given(HOSTILE, st.sampled_from(FEED_FIELDS), st.sampled_from(["auto", "guid", "link"]))
def test_a_hostile_field_in_one_feed_entry_costs_only_that_entry(text, field, item_key):
    bad = {**good_item(9), "guid": "bad-9", field: xml_text(text)}
    items = [good_item(1), good_item(2), bad, good_item(3)]
    body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            + "".join(map(rss_item, items)) + "</channel></rss>").encode("utf-8", "surrogatepass")
    result = parse_feed(body, source="feed", url=URL, item_key=item_key)
    keys = record("feed", result)
    wanted = {"good-1", "good-2", "good-3"} if item_key != "link" else {f"https://news.example/{n}" for n in (1, 2, 3)}
    assert wanted <= keys


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_as_a_feed_are_recorded_or_refused(body):
    try:
        result = parse_feed(body, source="feed", url=URL)
    except ParseError:
        return
    record("feed", result)


# --- the Federal Register API ----------------------------------------------------------------------

FR_FIELDS = ["document_number", "title", "abstract", "html_url", "pdf_url", "type", "action", "citation",
             "publication_date", "effective_on", "comments_close_on", "dates", "correction_of", "signing_date",
             "executive_order_number"]
FR_LISTS = ["regulation_id_numbers", "docket_ids", "agencies", "corrections", "cfr_references"]


def good_doc(n: int) -> dict:
    return {"document_number": f"2025-0000{n}", "title": f"Good rule {n}", "type": "Rule",
            "publication_date": "2025-01-15", "html_url": f"https://www.federalregister.gov/d/2025-0000{n}",
            "regulation_id_numbers": ["0694-AJ90"]}


@SETTINGS
@given(HOSTILE, st.sampled_from(FR_FIELDS + FR_LISTS), st.booleans())
def test_a_hostile_field_in_one_federal_register_document_costs_only_that_document(text, field, as_list):
    value = [text] if field in FR_LISTS or as_list else text
    docs = [good_doc(1), good_doc(2), {**good_doc(9), field: value}, good_doc(3)]
    body = json.dumps({"count": 4, "results": docs}).encode()  # JSON escapes every code point
    keys = record("fr", parse_federal_register(body, source="fr", url=CONFIG.source("fr").url))
    assert {"2025-00001", "2025-00002", "2025-00003"} <= keys


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_as_a_federal_register_answer_are_recorded_or_refused(body):
    try:
        result = parse_federal_register(body, source="fr", url=CONFIG.source("fr").url)
    except ParseError:
        return
    record("fr", result)


# --- notice lists ----------------------------------------------------------------------------------


def row(href: str, title: str, date: str) -> str:
    return f'<li><a href="{href}">{title}</a><span>{date}</span></li>'


@SETTINGS
@given(HOSTILE, st.sampled_from(["href", "title", "date"]))
def test_a_hostile_field_in_one_notice_row_costs_only_that_row(text, field):
    bad = {"href": "/n/9.html", "title": "坏公告", "date": "2024-12-03", field: html.escape(text)}
    rows = [row(f"/n/{n}.html", f"公告{n} 出口管制", "2024-12-03") for n in (1, 2)]
    rows += [row(**bad), row("/n/3.html", "公告3 出口管制", "2024-12-03")]
    body = ("<html><body><ul>" + "".join(rows) + "</ul></body></html>").encode("utf-8", "surrogatepass")
    result = parse_html_list(body, source="html", url=URL, headers={"content-type": "text/html; charset=utf-8"},
                             item="li", date="span")
    keys = record("html", result)
    assert {f"https://source.example/n/{n}.html" for n in (1, 2, 3)} <= keys


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_as_a_notice_list_are_recorded_or_refused(body):
    try:
        result = parse_html_list(body, source="html", url=URL, item="li", date="span")
    except ParseError:
        return
    record("html", result)


# --- the screen's fast path ------------------------------------------------------------------------

VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), HOSTILE,
                   st.lists(st.one_of(st.none(), st.integers(), st.floats(), HOSTILE, st.lists(st.integers())),
                            max_size=4),
                   st.lists(st.just("x"), min_size=999, max_size=1002), st.dictionaries(RAW, RAW, max_size=1))
DATES = st.one_of(st.none(), st.just("2024-12-03"), st.just("2024-12-03T10:00:00Z"), RAW, st.integers())


@SETTINGS
@given(st.one_of(HOSTILE, st.none(), st.integers()), st.one_of(HOSTILE, st.none()), HOSTILE,
       st.one_of(HOSTILE, st.none()), st.one_of(st.just("en"), st.none(), HOSTILE), DATES, DATES,
       st.one_of(st.dictionaries(st.one_of(RAW, st.sampled_from(["url", "alt_urls", "guid"])), VALUES, max_size=4),
                 st.lists(st.integers(), max_size=1)))
def test_the_screens_fast_path_passes_only_what_the_full_rules_pass(key, url, title, summary, language,
                                                                     published, updated, fields):
    """``entry_problem`` answers most entries with one search over all their strings; it must
    agree with the field-by-field rules on every observation (which then name the problem)."""
    from monitor.collectors.screen import _plainly_fine, _problem
    from monitor.observation import Observation

    obs = Observation(source="s", key=key, title=title, url=url, summary=summary, language=language,
                      published=published, updated=updated, fields=fields)
    if _plainly_fine(obs):
        assert _problem(obs) is None
    plain = Observation(source="s", key="k1", title="A title", url="https://example.org/1", summary="text",
                        language="en", published="2024-12-03", fields={"guid": "g", "categories": ["a", "b"]})
    assert _plainly_fine(plain) and _problem(plain) is None
