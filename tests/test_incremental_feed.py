"""Incremental feed parsing records exactly what a full parse records.

A parse given the memory of the previous one hands feedparser only the entries it has not seen;
the rest come from the memory. The proofs: over random sequences of feed versions (entries added,
removed, edited, reordered, repeated; CDATA and comments holding entry tags; odd encodings;
envelope changes; broken bytes), the parse with memory equals the parse without, step by step;
and a poller that keeps its memory records the very events a poller starting afresh each cycle
records (a restart, so every parse is a full one), against a real loopback server and real stores.
"""

from __future__ import annotations

import asyncio
import gc
import random
import sqlite3
import tempfile
import tracemalloc
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from monitor.collectors.feed import entry_ranges, parse_feed
from monitor.collectors.parsing import ParseError
from monitor.config import load_config
from monitor.daemon import make_alerts, make_detector, make_fetcher, open_store
from monitor.polling import Poller
from monitor.store import EventStore
from servers import LoopbackServer
from test_poll import feed_source, write_config

URL = "https://news.example.org/feed.rss"

# --- random feeds ----------------------------------------------------------------------------

WORDS = ["export", "controls", "chips", "Nvidia H20", "UAE", "Entity List", "BIS", "licence", "出口管制",
         "芯片", "Café", "naïve", "€100", "a < b", "AT&T", "\"quoted\"", "'single'", "  spaced  out  "]
TEXT = st.lists(st.sampled_from(WORDS), min_size=0, max_size=4).map(" ".join)


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def entries(draw) -> str:
    """One <item> (the envelope decides later whether it becomes an Atom <entry>)."""
    parts = []
    title = draw(TEXT)
    if draw(st.booleans()):
        parts.append(f"<title>{esc(title)}</title>")
    link = draw(st.sampled_from([None, "https://news.example.org/a", "https://news.example.org/b", "/relative/c",
                                 "javascript:alert(1)", f"https://news.example.org/{draw(st.integers(0, 5))}"]))
    if link:
        parts.append(f"<link>{esc(link)}</link>")
    guid = draw(st.sampled_from([None, "g1", "g2", "urn:x:3", f"g{draw(st.integers(0, 9))}"]))
    if guid:
        parts.append(f"<guid isPermaLink=\"false\">{guid}</guid>")
    description = draw(st.sampled_from(["none", "plain", "html", "cdata", "cdata-tags"]))
    words = draw(TEXT)
    if description == "plain":
        parts.append(f"<description>{esc(words)}</description>")
    elif description == "html":
        parts.append(f"<description>&lt;p&gt;{esc(words)}&lt;/p&gt;</description>")
    elif description == "cdata":
        parts.append(f"<description><![CDATA[<p>{words.replace(']]>', '')}</p>]]></description>")
    elif description == "cdata-tags":  # entry tags inside CDATA: the scan must not take them for entries
        parts.append("<description><![CDATA[<item>not an entry</item> </entry> <entry>]]></description>")
    if draw(st.booleans()):
        day = draw(st.integers(1, 28))
        parts.append(f"<pubDate>Thu, {day:02d} Jan 2026 {draw(st.integers(0, 23)):02d}:00:00 GMT</pubDate>")
    extra = draw(st.sampled_from(["comment", "language", "category", "source", "broken", "xmlbase"])) \
        if draw(st.integers(0, 3)) == 0 else ""
    attrs = ""
    if extra == "comment":
        parts.insert(0, "<!-- </item><item> -->")
    elif extra == "language":
        parts.append("<language>fr</language>")
    elif extra == "category":
        parts.append(f"<category>{esc(draw(TEXT))}</category>")
    elif extra == "source":
        parts.append("<source url=\"https://reuters.example/\">Reuters</source>")
    elif extra == "broken":  # not well-formed: the whole feed becomes bozo
        parts.append("<description>AT&T & more</description>")
    elif extra == "xmlbase":
        attrs = ' xml:base="https://elsewhere.example.org/base/"'
    draw(st.randoms()).shuffle(parts)
    return f"<item{attrs}>{''.join(parts)}</item>"


@dataclass(frozen=True)
class Envelope:
    kind: str  # rss, atom, rdf
    encoding: str  # what the bytes are
    declared: str | None  # what the XML declaration says
    charset: str | None  # what the Content-Type header says
    title: str
    language: str | None
    between: str  # what sits between entries


ENVELOPES = st.builds(
    Envelope,
    kind=st.sampled_from(["rss", "rss", "atom", "rdf"]),
    encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "iso-8859-1", "windows-1252", "utf-16", "shift_jis"]),
    declared=st.sampled_from([None, None, "utf-8", "utf-8", "iso-8859-1", "windows-1252", "utf-16", "shift_jis"]),
    charset=st.sampled_from([None, None, "utf-8", "iso-8859-1"]),
    title=st.sampled_from(["Feed", "Feed", "Feed (renamed)"]),
    language=st.sampled_from([None, None, "en-us", "zh-cn"]),
    between=st.sampled_from(["", "", "", "\n  ", "\n  ", "<!-- between -->", "<title>late</title>"]),
)


def atom(item: str) -> str:
    """The same entry as Atom: <entry>, <id>, <link href>, <summary>."""
    out = item.replace("<item", "<entry", 1)
    out = out[::-1].replace(">meti/<", ">yrtne/<", 1)[::-1]
    out = out.replace("<guid isPermaLink=\"false\">", "<id>").replace("</guid>", "</id>")
    out = out.replace("<description>", "<summary>").replace("</description>", "</summary>")
    out = out.replace("<pubDate>", "<updated>").replace("</pubDate>", "</updated>")
    start, end = out.find("<link>"), out.find("</link>")
    if 0 <= start < end:
        out = f'{out[:start]}<link href="{out[start + 6:end]}"/>{out[end + 7:]}'
    return out


def render(envelope: Envelope, items: list[str]) -> tuple[bytes, dict[str, str]]:
    """The body and response headers of one version of the feed."""
    declaration = f' encoding="{envelope.declared}"' if envelope.declared else ""
    language = f"<language>{envelope.language}</language>" if envelope.language else ""
    body = envelope.between.join(items)
    if envelope.kind == "atom":
        body = envelope.between.join(atom(i) for i in items)
        lang = f' xml:lang="{envelope.language}"' if envelope.language else ""
        text = (f'<?xml version="1.0"{declaration}?><feed xmlns="http://www.w3.org/2005/Atom"{lang}>'
                f"<title>{envelope.title}</title><id>urn:feed</id>{body}</feed>")
    elif envelope.kind == "rdf":
        text = (f'<?xml version="1.0"{declaration}?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
                f' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<channel><title>{envelope.title}</title>{language}</channel>{body}</rdf:RDF>")
    else:
        text = (f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>{envelope.title}</title>'
                f"{language}{body}</channel></rss>")
    headers = {"content-type": "application/rss+xml" + (f"; charset={envelope.charset}" if envelope.charset else "")}
    return text.encode(envelope.encoding, errors="xmlcharrefreplace"), headers


@st.composite
def histories(draw) -> list[tuple[bytes, dict[str, str]]]:
    """A feed's versions: each a pick from a pool of entries (so entries recur, move, vanish and
    come back), under one envelope that now and then changes."""
    pool = draw(st.lists(entries(), min_size=1, max_size=8))
    envelope = draw(ENVELOPES)
    versions = []
    for _ in range(draw(st.integers(2, 6))):
        if draw(st.integers(0, 5)) == 0:
            envelope = draw(ENVELOPES)
        picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=draw(st.sampled_from([0, 1, 1, 2])), max_size=7))
        versions.append(render(envelope, [pool[i] for i in picks]))
    return versions


def parse(body: bytes, headers: dict[str, str], item_key: str, memory=None):
    """The result as comparable data (each observation with its content hash), or the error's
    message. An observation may arrive knowing its hash (the memory's, for an entry whose bytes
    did not change): it must be the hash of its content, computed afresh (``replace`` copies no hash)."""
    try:
        result = parse_feed(body, source="news", url=URL, headers=headers, item_key=item_key, memory=memory)
    except ParseError as error:
        return ("error", str(error)), None
    hashed = [(o, o.content_hash()) for o in result.observations]
    assert [h for _, h in hashed] == [replace(o).content_hash() for o in result.observations]
    return (hashed, result.warnings, result.skipped), result.memory


# --- the parse with memory equals the parse without ---------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), item_key=st.sampled_from(["auto", "auto", "guid", "link", "title"]))
def test_a_parse_with_the_memory_of_the_last_equals_a_full_parse(history, item_key):
    memory = None
    for body, headers in history:
        full, _ = parse(body, headers, item_key)
        incremental, memory = parse(body, headers, item_key, memory)
        assert incremental == full


def sliding_items(first: int, count: int = 50) -> list[str]:
    """bench/peer.py's feed: the newest `count` entries, one more each response."""
    return [f"<item><title>Entry {n}</title><link>https://news.example.org/{n}</link><guid>g{n}</guid>"
            f"<description>Export controls, entry {n}.</description></item>"
            for n in range(first + count - 1, first - 1, -1)]


def rss(items: list[str]) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Feed</title>'
            f"{''.join(items)}</channel></rss>").encode()


def sliding(first: int, count: int = 50) -> bytes:
    return rss(sliding_items(first, count))


@pytest.fixture
def feedparser_entries(monkeypatch):
    """How many entries each body handed to feedparser held (the real parser still parses)."""
    seen: list[int] = []
    real = feedparser.parse

    def counting(source, *args, **kwargs):
        parsed = real(source, *args, **kwargs)
        seen.append(len(parsed.entries))
        return parsed

    monkeypatch.setattr(feedparser, "parse", counting)
    return seen


def test_a_window_sliding_by_one_entry_hands_feedparser_one_entry(feedparser_entries):
    headers = {"content-type": "application/rss+xml"}
    _, memory = parse(sliding(0), headers, "auto")
    for first in (1, 2, 3):
        result, memory = parse(sliding(first), headers, "auto", memory)
        assert result == parse(sliding(first), headers, "auto")[0]
    assert feedparser_entries == [50, 1, 50, 1, 50, 1, 50]  # each incremental parse beside its full one
    feedparser_entries.clear()
    reordered = rss(sliding_items(3)[::-1][:40])
    assert parse(reordered, headers, "auto", memory)[0] == parse(reordered, headers, "auto")[0]
    assert feedparser_entries == [0, 40]  # nothing new: feedparser read the envelope alone


def test_an_unchanged_entry_arrives_knowing_its_content_hash_and_a_new_one_is_hashed_once(monkeypatch):
    """The memory keeps each entry's content hash: a window sliding by one entry hashes one
    observation (the new entry's), whoever asks for the hashes afterwards (the poll's lookup of
    the known items, the item events)."""
    import monitor.observation as observation

    headers = {"content-type": "application/rss+xml"}
    memory = parse_feed(sliding(0), source="news", url=URL, headers=headers).memory
    hashed: list[str] = []
    real = observation.hashlib.sha256

    def counting(data=b""):
        hashed.append(data.decode())
        return real(data)

    monkeypatch.setattr(observation.hashlib, "sha256", counting)
    result = parse_feed(sliding(1), source="news", url=URL, headers=headers, memory=memory)
    hashes = [o.content_hash() for o in result.observations] + [o.content_hash() for o in result.observations]
    assert len(hashed) == 1 and '"Entry 50"' in hashed[0]  # the new entry, once
    monkeypatch.setattr(observation.hashlib, "sha256", real)
    assert hashes[:50] == [replace(o).content_hash() for o in result.observations]
    # without a memory every entry is hashed (here, once each, for the memory the parse leaves)
    hashed.clear()
    monkeypatch.setattr(observation.hashlib, "sha256", counting)
    parse_feed(sliding(1), source="news", url=URL, headers=headers)
    assert len(hashed) == 50


def test_a_memory_holds_its_entries_in_fewer_bytes_than_the_feed_they_came_from():
    """A daemon keeps one memory for every feed it polls: as parsed objects (~1.1 KB an entry) a
    memory outweighed the feed's own bytes; packed, it is a fraction of them, and still exact.
    Measured as the growth from 10 to 40 memories kept (so the bounded caches a parse fills and
    what feedparser holds of its last parse count for nothing)."""
    headers = {"content-type": "application/rss+xml"}
    bodies = [sliding(100 * n) for n in range(40)]
    kept, held = [], {}
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for body in bodies:
            kept.append(parse_feed(body, source="news", url=URL, headers=headers).memory)
            if len(kept) in (10, 40):
                gc.collect()
                held[len(kept)] = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # half the feed's bytes, plus the 32-byte content hash a memory keeps of each of its 50 entries
    # (which spares hashing an unchanged entry again: its own test is below)
    assert (held[40] - held[10]) / 30 < len(bodies[0]) / 2 + 50 * 32, held
    result, _ = parse(sliding(1), headers, "auto", kept[0])
    assert result == parse(sliding(1), headers, "auto")[0]


@pytest.mark.parametrize("body", [
    b"<rss><channel><item><title>a</title></item><item/></channel></rss>",  # self-closing
    b"<rss><channel><item><title>a</title><item>b</item></item></channel></rss>",  # nested
    b"<rss><channel><item><title>a</title></channel></rss>",  # unclosed
    b"<rss><channel><item><title>a</title></item><!-- unterminated </channel></rss>",
    b"<rss><channel><item><![CDATA[ unterminated </item></channel></rss>",
    b'<!DOCTYPE rss [<!ENTITY e "<item>x</item>">]><rss><channel><item>&e;</item></channel></rss>',
    b"<rss><channel><item>a</item><title>between</title><item>b</item></channel></rss>",
    b'<feed xmlns:a="http://www.w3.org/2005/Atom"><a:entry><a:title>x</a:title></a:entry></feed>',
    b"<rss><channel><item>a</entry></channel></rss>",
])
def test_the_entry_scan_gives_up_rather_than_guess(body):
    assert entry_ranges(body) is None


def test_the_entry_scan_skips_comments_cdata_and_instructions():
    body = (b"<rss><channel><!-- <item> --><item><title><![CDATA[</item>]]></title></item>\n"
            b"<item><?pi </item> ?><title>b</title></item ></channel></rss>")
    ranges = entry_ranges(body)
    assert [body[a:b][-8:] for a, b in ranges] == [b"></item>", b"</item >"]
    assert [body[a:a + 6] for a, b in ranges] == [b"<item>", b"<item>"]


# --- the poller: incremental against full, event for event ---------------------------------------

START = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


class Ticks:
    """A clock that moves one minute a call: both pollers see the same instants."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def comparable(store) -> list[tuple]:
    """The log without what timing decides (durations)."""
    out = []
    for event in store.read():
        data = {k: v for k, v in event.data.items() if k != "duration_ms"}
        out.append((event.type, event.stream, event.event_id, data))
    return out


async def poll_versions(config, versions, server: LoopbackServer, *, keep_poller: bool, fail_at: int | None = None):
    """Serve each version and poll it; a fresh Poller each cycle unless `keep_poller`. With
    `fail_at`, the append of that cycle fails (the store refuses it), as a full disk would."""
    detector = detector_for(config)
    clock, rng = Ticks(), random.Random(16)  # shared by the pollers: the same retry jitter
    with open_store(config.state_path) as store:
        async with make_fetcher(config) as fetcher:
            poller = None
            for n, (body, headers) in enumerate(versions):
                server.route("/feed.xml", body=body, headers=headers)
                if poller is None or not keep_poller:
                    poller = Poller(config, store, fetcher, clock, rng=rng, detector=detector,
                                    alerts=make_alerts(config, detector))
                if n == fail_at:
                    with refused_appends():
                        await poller.cycle(force=True)
                await poller.cycle(force=True)
        return comparable(store)


_DETECTORS: dict = {}


def detector_for(config):
    """One detector for the module (building it takes a while; every config here has the same)."""
    if not _DETECTORS:
        _DETECTORS["one"] = make_detector(config)
    return _DETECTORS["one"]


class refused_appends:
    """The store's append raises for the cycle (a disk that refuses writes cannot be served)."""

    def __enter__(self):
        self.real = EventStore.append

        def append(store, batch, **kwargs):
            if any(e.type == "ItemDiscovered" or e.type == "ItemRevised" for e in batch):
                raise sqlite3.OperationalError("database or disk is full")
            return self.real(store, batch, **kwargs)

        EventStore.append = append
        return self

    def __exit__(self, *exc):
        EventStore.append = self.real


@pytest.fixture(scope="module")
def server():
    with LoopbackServer() as running:
        yield running


def log_of(versions, server, item_key: str, **options) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        extra = {} if item_key == "auto" else {"item_key": item_key}
        config = load_config(write_config(Path(tmp), feed_source("news", server.url_for("/feed.xml"), **extra)))
        return asyncio.run(poll_versions(config, versions, server, **options))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(history=histories(), item_key=st.sampled_from(["auto", "title"]))
def test_a_poller_keeping_its_memory_records_what_a_restarted_poller_records(server, history, item_key):
    assert log_of(history, server, item_key, keep_poller=True) == log_of(history, server, item_key, keep_poller=False)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(history=histories(), fail_at=st.integers(0, 5))
def test_a_refused_append_costs_the_memory_nothing(server, history, fail_at):
    """The refused cycle records a failure in both logs; the entries it could not record are
    recorded by the next cycle as a full parse would record them."""
    assert (log_of(history, server, "auto", keep_poller=True, fail_at=fail_at)
            == log_of(history, server, "auto", keep_poller=False, fail_at=fail_at))


def test_after_a_refused_append_the_next_poll_records_the_entries_it_lost(server):
    """The sliding window: v0 recorded, v1's append refused, v1 served again: its new entry is
    discovered then, as with no memory at all."""
    headers = {"content-type": "application/rss+xml"}
    versions = [(sliding(0, 5), headers), (sliding(1, 5), headers), (sliding(2, 5), headers)]
    log = log_of(versions, server, "auto", keep_poller=True, fail_at=1)
    discovered = [data["key"] for type, _, _, data in log if type == "ItemDiscovered"]
    assert sorted(discovered) == sorted(f"g{n}" for n in range(7))
    assert [type for type, *_ in log].count("SourceFailed") == 1
    assert log == log_of(versions, server, "auto", keep_poller=False, fail_at=1)


@pytest.mark.parametrize("attribute", ['xml:base="https://elsewhere.example.org/"', 'xmlns:x="urn:x"',
                                       'base="https://elsewhere.example.org/"'])
def test_an_entry_whose_base_or_namespaces_feedparser_carries_on_is_never_parsed_apart(attribute):
    """feedparser resolves the ids of the entries after an entry with xml:base against its base."""
    body = f"<rss><channel><item {attribute}><guid>g1</guid></item><item><guid>g2</guid></item></channel></rss>"
    assert entry_ranges(body.encode()) is None
