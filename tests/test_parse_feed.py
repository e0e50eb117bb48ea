"""parse_feed: RSS/Atom bytes in, observations out; nothing but ParseError for bad bodies."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.collectors.feed import parse_feed
from monitor.collectors.parsing import ParseError, ParseResult, clean_text, detect_language, parse_date

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "federal-register"
FIXTURES = Path(__file__).parent / "fixtures"
XML = {"content-type": "application/rss+xml; charset=utf-8"}
FEED_URL = "https://example.org/feeds/news.xml"


def parse(body: bytes, **kwargs):
    kwargs.setdefault("source", "test")
    kwargs.setdefault("url", FEED_URL)
    return parse_feed(body, **kwargs)


def rss(items: str, channel: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
            f"{channel}{items}</channel></rss>").encode()


# --- the shared Federal Register RSS ----------------------------------------------------------

def test_federal_register_rss_fixture():
    result = parse((SHARED / "fr_bis_documents.rss").read_bytes(), source="fr-rss",
                   url="https://www.federalregister.gov/api/v1/documents.rss", headers=XML)
    assert result.warnings == []
    [obs] = result.observations
    url = ("https://www.federalregister.gov/documents/2026/01/15/2026-00789/"
           "revision-to-license-review-policy-for-advanced-computing-commodities")
    assert obs.source == "fr-rss"
    assert obs.key == url  # guid = html_url on the Federal Register
    assert obs.url == url
    assert obs.title == "Revision to License Review Policy for Advanced Computing Commodities"
    assert obs.summary.startswith("[PARAPHRASED] BIS moves license review")
    assert "<" not in obs.summary and "&" not in obs.summary
    assert obs.language == "en"
    assert obs.published == "2026-01-15T00:00:00Z"
    assert obs.fields["categories"] == ["Exports"]
    assert obs.fields["author"] == "Commerce Department, Industry and Security Bureau"


def test_double_escaped_descriptions_come_out_clean():
    result = parse((FIXTURES / "fr_double_escaped.rss").read_bytes(), headers=XML)
    [obs] = result.observations
    assert obs.summary == ("[PARAPHRASED] BIS revises the EAR\u2019s controls on advanced computing "
                           "integrated circuits & adds a control on AI model weights (ECCN 4E091) .")
    for junk in ("&lt;", "&amp;", "<p>", "<em>", "&#8217;"):
        assert junk not in obs.summary
    assert obs.fields["categories"] == ["Exports", "Reporting and recordkeeping requirements"]


def test_same_body_parsed_twice_gives_identical_observations():
    body = (FIXTURES / "fr_double_escaped.rss").read_bytes()
    first, second = parse(body, headers=XML), parse(body, headers=XML)
    assert first == second
    assert [o.content_hash() for o in first.observations] == [o.content_hash() for o in second.observations]


# --- news search feeds -------------------------------------------------------------------------

def test_news_search_auto_keys_by_guid_and_strips_publisher_suffix():
    result = parse((FIXTURES / "news_search_en.rss").read_bytes(), headers=XML)
    assert result.warnings == []
    first, second, third = result.observations
    assert first.key.startswith("CBMiWmh0dHBz")
    assert first.title == "US slows licences for Nvidia, AMD AI chip exports to Middle East"
    assert second.title == first.title
    assert first.fields["publisher"] == "Bloomberg" and second.fields["publisher"] == "Reuters"
    assert third.title == "House panel advances ENFORCE Act (H.R. 8315) on AI model exports"
    assert first.published == "2024-05-30T15:12:00Z"
    assert first.language == "en"  # <language>en-US</language>
    assert "<a" not in first.summary and "\xa0" not in first.summary


def test_news_search_title_keys_ignore_opaque_links_and_guids():
    body = (FIXTURES / "news_search_en.rss").read_bytes()
    keys = [o.key for o in parse(body, headers=XML, item_key="title").observations]
    assert all(k.startswith("title:") and len(k) <= 64 for k in keys)
    assert len(set(keys)) == 3  # same headline, different publisher: two items
    # the next poll hands out new redirector links and guids for the same stories
    reissued = body.replace(b"CBMi", b"CBMj")
    again = parse(reissued, headers=XML, item_key="title").observations
    assert [o.key for o in again] == keys
    assert all("guid" not in o.fields for o in again)


def test_title_key_takes_publisher_from_suffix_when_there_is_no_source_element():
    items = ("<item><title>Nvidia H20 curbs - Reuters</title><link>https://r.example/1</link></item>"
             "<item><title>Nvidia H20 curbs - Bloomberg</title><link>https://r.example/2</link></item>")
    again = items.replace("https://r.example/", "https://r.example/x")
    first = parse(rss(items), item_key="title").observations
    second = parse(rss(again), item_key="title").observations
    assert first[0].key != first[1].key
    assert [o.key for o in first] == [o.key for o in second]
    assert first[0].title == "Nvidia H20 curbs - Reuters"  # only a <source> proves the suffix


def test_chinese_news_search_feed():
    result = parse((FIXTURES / "news_search_zh.rss").read_bytes(), headers=XML)
    simplified, traditional = result.observations
    assert simplified.title == "商务部公告2024年第46号:加强相关两用物项对美国出口管制"  # NFKC: full-width colon
    assert simplified.fields["publisher"] == "新华网"
    assert simplified.language == "zh"
    assert traditional.title == "美國商務部收緊對華AI晶片出口 輝達H20受影響"
    assert traditional.fields["publisher"] == "中央社"
    assert traditional.published == "2024-12-03T02:05:00Z"


# --- keys --------------------------------------------------------------------------------------

def test_duplicate_guids_fall_back_to_links_for_the_whole_feed():
    items = ('<item><title>A</title><link>https://x.example/a</link><guid isPermaLink="false">1</guid></item>'
             '<item><title>B</title><link>https://x.example/b</link><guid isPermaLink="false">1</guid></item>'
             '<item><title>C</title><link>https://x.example/c</link><guid isPermaLink="false">2</guid></item>')
    result = parse(rss(items))
    assert [o.key for o in result.observations] == ["https://x.example/a", "https://x.example/b",
                                                    "https://x.example/c"]
    assert any("guids repeat" in w for w in result.warnings)


def test_missing_guid_and_link_keys_by_title_and_date_stably():
    item = "<item><title>Notice of {t}</title><pubDate>Tue, 03 Dec 2024 10:00:00 +0800</pubDate></item>"
    one = parse(rss(item.format(t="X"))).observations[0]
    assert one.key.startswith("sha256:") and one.url is None
    assert one.published == "2024-12-03T02:00:00Z"
    assert parse(rss(item.format(t="X"))).observations[0].key == one.key
    assert parse(rss(item.format(t=" x  "))).observations[0].key == one.key  # normalised title
    assert parse(rss(item.format(t="Y"))).observations[0].key != one.key


def test_forced_item_keys():
    items = ('<item><title>A</title><link>https://x.example/a</link><guid isPermaLink="false">g-a</guid></item>'
             '<item><title>B</title><link>https://x.example/b</link></item>')
    assert [o.key for o in parse(rss(items), item_key="link").observations] == [
        "https://x.example/a", "https://x.example/b"]
    result = parse(rss(items), item_key="guid")
    assert [o.key for o in result.observations] == ["g-a", "https://x.example/b"]
    assert any("no guid" in w for w in result.warnings)
    with pytest.raises(ValueError):
        parse(rss(items), item_key="url")


def test_long_keys_are_hashed_but_stable():
    guid = "urn:x:" + "a" * 500
    item = f'<item><title>A</title><guid isPermaLink="false">{guid}</guid></item>'
    key = parse(rss(item)).observations[0].key
    assert len(key) <= 120 and key.startswith("urn:x:aaa")
    assert parse(rss(item)).observations[0].key == key
    assert parse(rss(item.replace("aaa<", "aab<"))).observations[0].key != key


def test_relative_links_resolve_against_the_feed_url():
    result = parse(rss("<item><title>A</title><link>../notices/1.html</link></item>"))
    assert result.observations[0].url == "https://example.org/notices/1.html"
    assert result.observations[0].key == "https://example.org/notices/1.html"


def test_non_http_links_are_dropped():
    obs = parse(rss("<item><title>A</title><link>javascript:alert(1)</link></item>")).observations[0]
    assert obs.url is None


# --- charsets and languages --------------------------------------------------------------------

def test_gb2312_declared_feed():
    body = ('<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><item>'
            "<title>关于对镓、锗相关物项实施出口管制的公告</title><link>http://www.mofcom.gov.cn/a.html</link>"
            "<pubDate>2023-07-03 16:00</pubDate></item></channel></rss>").encode("gbk")
    obs = parse(body, headers={"Content-Type": "text/xml"}).observations[0]
    assert obs.title == "关于对镓、锗相关物项实施出口管制的公告"
    assert obs.language == "zh"
    assert obs.published == "2023-07-03T08:00:00Z"  # a Chinese feed's local time is Asia/Shanghai


def test_http_charset_is_used_when_the_body_declares_none():
    body = '<rss version="2.0"><channel><item><title>两用物项出口管制</title></item></channel></rss>'
    obs = parse(body.encode("gbk"), headers={"content-type": "application/rss+xml; charset=GBK"})
    assert obs.observations[0].title == "两用物项出口管制"


@pytest.mark.parametrize("headers", [None, {}, {"Content-Type": "text/xml"}, {"content-type": "text/html"}])
def test_undeclared_utf8_is_not_mojibake(headers):
    body = '<rss version="2.0"><channel><item><title>出口管制 — “AI”</title></item></channel></rss>'
    result = parse(body.encode(), headers=headers)
    assert result.observations[0].title == "出口管制 — \u201cAI\u201d"


def test_language_priority_feed_element_then_text_then_configured():
    item = "<item><title>{}</title><link>https://x.example/{}</link></item>"
    english_feed = rss(item.format("商务部公告", 1), channel="<language>en-us</language>")
    assert parse(english_feed).observations[0].language == "en"
    assert parse(rss(item.format("商务部公告", 1))).observations[0].language == "zh"
    assert parse(rss(item.format("H20", 1)), language="zh").observations[0].language == "zh"
    assert parse(rss(item.format("2024", 1))).observations[0].language is None


def test_atom_feed():
    body = b"""<?xml version="1.0" encoding="utf-8"?>
    <feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
      <title>Presidential Actions</title>
      <link href="https://www.whitehouse.gov/presidential-actions/"/>
      <updated>2025-01-13T20:00:00-05:00</updated>
      <entry>
        <title type="html">Executive Order on &lt;b&gt;Advancing&lt;/b&gt; AI Infrastructure</title>
        <link rel="alternate" href="/presidential-actions/2025/01/ai-infrastructure/"/>
        <id>https://www.whitehouse.gov/?p=12345</id>
        <published>2025-01-14T09:00:00-05:00</published>
        <updated>2025-01-14T10:30:00-05:00</updated>
        <category term="Executive Orders"/>
        <content type="html">&lt;p&gt;By the authority vested in me&amp;hellip;&lt;/p&gt;</content>
      </entry>
    </feed>"""
    result = parse(body, url="https://www.whitehouse.gov/presidential-actions/feed/",
                   headers={"content-type": "application/atom+xml"})
    [obs] = result.observations
    assert obs.key == "https://www.whitehouse.gov/?p=12345"
    assert obs.url == "https://www.whitehouse.gov/presidential-actions/2025/01/ai-infrastructure/"
    assert obs.title == "Executive Order on Advancing AI Infrastructure"
    assert obs.summary == "By the authority vested in me..."
    assert obs.published == "2025-01-14T14:00:00Z"
    assert obs.updated == "2025-01-14T15:30:00Z"
    assert obs.fields["categories"] == ["Executive Orders"]


# --- bodies that are not feeds -----------------------------------------------------------------

def test_html_page_is_a_parse_error_naming_it():
    page = b"<!DOCTYPE html><html><head><title>Access denied</title></head><body>blocked</body></html>"
    with pytest.raises(ParseError) as caught:
        parse(page, headers={"content-type": "text/html"})
    assert str(caught.value) == "not a feed: the body is an HTML page (<title>Access denied</title>)"
    assert caught.value.reason == "parse_error"


@pytest.mark.parametrize("body, words", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b'{"status": 404}', "JSON"),
    (b"just some text", "not a feed"),
    (b"\x00\xff\xfe garbage", "not a feed"),
])
def test_non_feeds_are_parse_errors(body, words):
    with pytest.raises(ParseError, match=words):
        parse(body)


@pytest.mark.parametrize("body", [
    rss(""),
    b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Empty</title></feed>',
    b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    b'xmlns="http://purl.org/rss/1.0/"><channel><title>x</title></channel></rdf:RDF>',
])
def test_valid_empty_feeds_are_empty_results(body):
    result = parse(body)
    assert result.observations == [] and result.next_url is None


def test_broken_xml_with_entries_is_a_warning_not_an_error():
    body = b'<rss version="2.0"><channel><item><title>A &amp B</title><link>https://x.example/a</link></item>'
    result = parse(body)
    assert [o.title for o in result.observations] == ["A & B"]
    assert any("not well-formed" in w for w in result.warnings)


def test_a_lone_surrogate_reference_does_not_sink_the_feed():
    body = rss('<item><title>Export &#xD800;controls</title><guid isPermaLink="false">g&#55296;1</guid></item>')
    [obs] = parse(body).observations
    assert obs.title == "Export \ufffdcontrols"
    obs.content_hash()


# --- properties ----------------------------------------------------------------------------------

FRAGMENTS = st.sampled_from([
    "<rss version='2.0'>", "<channel>", "</channel>", "</rss>", "<item>", "</item>", "<entry>",
    "</entry>", "<feed xmlns='http://www.w3.org/2005/Atom'>", "</feed>", "<title>", "</title>",
    "<link>", "</link>", "<link href='/x'/>", "<guid>", "</guid>", "<pubDate>", "</pubDate>",
    "Tue, 03 Dec 2024 10:00:00 GMT", "2024年12月03日", "&amp;lt;p&amp;gt;", "&bogus;", "&#xD800;",
    "<![CDATA[", "]]>", "<!DOCTYPE rss [<!ENTITY e 'x'>]>", "&e;", "<?xml version='1.0' encoding='gb2312'?>",
    "<source url='x'>", "</source>", "<category>", "</category>", "商务部", "\x00", "\ufffd", " - Reuters",
    "<html><title>", "javascript:x", "http://[::1", "<description>", "</description>", "<",
])


def _check(result):
    assert isinstance(result, ParseResult)
    for obs in result.observations:
        assert obs.key and len(obs.key) <= 200
        assert isinstance(obs.title, str)
        obs.content_hash()  # fields must stay JSON-serialisable


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from(["auto", "guid", "link", "title"]))
def test_arbitrary_bytes_give_a_result_or_a_parse_error(body, mode):
    try:
        _check(parse(body, item_key=mode))
    except ParseError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAGMENTS, max_size=40), st.sampled_from(["auto", "guid", "link", "title"]),
       st.sampled_from([None, {"content-type": "text/html"}, {"content-type": "text/xml; charset=gb2312"}]))
def test_broken_xml_fragments_give_a_result_or_a_parse_error(parts, mode, headers):
    try:
        _check(parse("".join(parts).encode("utf-8", "surrogatepass"), item_key=mode, headers=headers))
    except ParseError:
        pass


# --- the shared helpers, English side --------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Thu, 15 Jan 2026 00:00:00 GMT", "2026-01-15T00:00:00Z"),
    ("Tue, 03 Dec 2024 16:00:00 +0800", "2024-12-03T08:00:00Z"),
    ("2025-01-10T16:15:00Z", "2025-01-10T16:15:00Z"),
    ("2025-01-10T16:15:00.000-05:00", "2025-01-10T21:15:00Z"),
    ("2024-01-29 09:00:00 -0500", "2024-01-29T14:00:00Z"),
    ("2025-01-15", "2025-01-15"),  # a calendar date stays a date
    ("January 15, 2026", "2026-01-15"),
    ("15 Jan 2026", "2026-01-15"),
    ("2024-02-30", None),
    ("no date here", None),
    ("", None),
    (None, None),
])
def test_parse_date(text, expected):
    assert parse_date(text) == expected


def test_clean_text():
    assert clean_text("&amp;lt;p&amp;gt;Hello &amp;amp; welcome&amp;lt;/p&amp;gt;") == "Hello & welcome"
    assert clean_text("<p>a < b</p>\n\n  c&nbsp;d") == "a < b c d"
    assert clean_text("<script>x()</script>text") == "text"
    assert clean_text(None) == ""


def test_detect_language():
    assert detect_language("Framework for Artificial Intelligence Diffusion") == "en"
    assert detect_language("美国商务部BIS发布AI Diffusion规则，Nvidia和AMD受影响") == "zh"
    assert detect_language("Nvidia (英伟达) shares fell after the new rules") == "en"
    assert detect_language("2024-12-03") is None
    assert detect_language("") is None
