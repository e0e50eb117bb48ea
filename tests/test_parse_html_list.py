"""parse_html_list: notice list pages (MOFCOM and the like) by CSS selectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.collectors.html_list import decode_html, parse_html_list
from monitor.collectors.parsing import ParseError, ParseResult, clean_text, detect_language, parse_date

FIXTURES = Path(__file__).parent / "fixtures"
MOFCOM_URL = "https://www.mofcom.gov.cn/zcfb/blgg/gg/index.html"
MOFCOM = {"item": "ul.txtList_01 li", "link": "a", "date": "span"}  # the default configuration
ART = "https://www.mofcom.gov.cn/zcfb/blgg/gg"


def mofcom_page() -> bytes:
    return (FIXTURES / "mofcom_gg_list_gbk.html").read_bytes()


def parse(body: bytes, **kwargs) -> ParseResult:
    kwargs.setdefault("source", "mofcom-gg")
    kwargs.setdefault("url", MOFCOM_URL)
    for name, value in MOFCOM.items():
        kwargs.setdefault(name, value)
    return parse_html_list(body, **kwargs)


def page(rows: str, head: str = '<meta charset="utf-8">') -> str:
    return f"<html><head>{head}<title>列表</title></head><body><ul class=\"txtList_01\">{rows}</ul></body></html>"


# --- the MOFCOM-like GBK fixture ---------------------------------------------------------------

def test_mofcom_fixture_is_gbk_and_declares_gb2312():
    body = mofcom_page()
    assert b'charset=gb2312' in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_mofcom_list_page():
    result = parse(mofcom_page(), issuer="商务部")
    assert result.warnings == []  # the empty separator row is skipped quietly
    by_key = {o.key: o for o in result.observations}
    assert list(by_key) == [
        "announcement:商务部:2025-72",  # its title also cites 2024年第46号: the first number counts
        "announcement:商务部:2025-1",
        "announcement:商务部:2024-46",
        f"{ART}/art/2024/art_5c1d2e3f4a5b4c6d8e9f0a1b2c3d4e5f.html",  # "./art/..." resolved
        "announcement:商务部:2023-23",
        "announcement:商务部:2023-22",
    ]
    us_ban = by_key["announcement:商务部:2024-46"]
    assert us_ban.title == "商务部公告2024年第46号 关于加强相关两用物项对美国出口管制的公告"
    assert us_ban.url == f"{ART}/2024/art/2024/art_0a4f7c2e9b1d4e6f8a3c5b7d9e1f2a4c.html"
    assert us_ban.published == "2024-12-03"
    assert us_ban.language == "zh"
    assert us_ban.fields == {
        "announcement_number": "2024年第46号",
        "issuer": "商务部",
        "alternate_urls": ["https://www.mofcom.gov.cn/zcfb/zc/art/2024/art_7d3e9a1b5c2f4e8d9b6a0c1e2f3a4b5c.html"],
    }
    gallium = by_key["announcement:商务部:2023-23"]
    # the row's text is cut short ("...实施出口…"); the title attribute has it whole
    assert gallium.title == "商务部 海关总署公告2023年第23号 关于对镓、锗相关物项实施出口管制的公告"
    assert gallium.published == "2023-07-03"
    assert by_key["announcement:商务部:2025-72"].published == "2025-11-09"  # "[2025-11-09]"
    assert by_key["announcement:商务部:2025-72"].fields["announcement_number"] == "2025年第72号"
    assert "alternate_urls" not in by_key["announcement:商务部:2025-72"].fields


def test_mofcom_sidebar_and_navigation_are_not_items():
    urls = {o.url for o in parse(mofcom_page()).observations}
    assert not any("/ztxx/" in u or u.endswith("/zcfb/") for u in urls)


def test_without_a_configured_issuer_the_title_names_it():
    keys = [o.key for o in parse(mofcom_page()).observations]
    assert "announcement:商务部:2024-46" in keys and len(keys) == 6
    rows = '<li><a href="/a/1.html">公告2024年第46号</a></li><li><a href="/a/2.html">公告2024年第46号</a></li>'
    [obs] = parse(page(rows).encode()).observations
    assert obs.key == "announcement::2024-46"
    assert "issuer" not in obs.fields


def test_mofcom_reparse_is_stable():
    first = parse(mofcom_page(), issuer="商务部").observations
    again = parse(mofcom_page(), issuer="商务部").observations
    assert [o.content_hash() for o in first] == [o.content_hash() for o in again]


@pytest.mark.parametrize("kwargs", [
    {"headers": {"Content-Type": "text/html; charset=GBK"}},
    {"headers": {"content-type": "text/html"}},
    {"encoding": "gb2312"},
    {"encoding": "GB18030"},
])
def test_mofcom_charset_sources_agree(kwargs):
    result = parse(mofcom_page(), issuer="商务部", **kwargs)
    assert result.warnings == []
    assert result.observations[2].title == "商务部公告2024年第46号 关于加强相关两用物项对美国出口管制的公告"


def test_wrong_http_charset_falls_back_to_the_page_declaration():
    result = parse(mofcom_page(), headers={"content-type": "text/html; charset=UTF-8"}, issuer="商务部")
    assert result.observations[2].title.startswith("商务部公告2024年第46号")
    assert any("decoded as gb18030" in w for w in result.warnings)


# --- charsets ------------------------------------------------------------------------------------

def test_utf8_page():
    body = page('<li><a href="/a/1.html">商务部公告2024年第46号 关于加强相关两用物项对美国出口管制的公告</a>'
                "<span>2024-12-03</span></li>").encode()
    [obs] = parse(body, issuer="商务部").observations
    assert obs.key == "announcement:商务部:2024-46"
    assert obs.url == "https://www.mofcom.gov.cn/a/1.html"
    assert obs.title.endswith("出口管制的公告")


def test_page_declaring_gb2312_but_sent_as_utf8():
    body = page('<li><a href="/a/1.html">关于对镓、锗相关物项实施出口管制的公告</a><span>2023-07-03</span></li>',
                head='<meta http-equiv="Content-Type" content="text/html; charset=gb2312">').encode("utf-8")
    result = parse(body)
    assert result.observations[0].title == "关于对镓、锗相关物项实施出口管制的公告"
    assert any("valid UTF-8" in w for w in result.warnings)


def test_page_declaring_utf8_but_sent_as_gbk():
    body = page('<li><a href="/a/1.html">关于对镓、锗相关物项实施出口管制的公告</a><span>2023-07-03</span></li>')
    gbk = body.encode("gbk")
    chinese_source = parse(gbk, language="zh")
    assert chinese_source.observations[0].title == "关于对镓、锗相关物项实施出口管制的公告"
    assert any("decoded as gb18030" in w for w in chinese_source.warnings)
    unknown = parse(gbk)  # no hint that the source is Chinese: replacement characters, and a warning
    assert "\ufffd" in unknown.observations[0].title
    assert any("undecodable" in w for w in unknown.warnings)


def test_explicit_encoding_wins_and_reports_replacements():
    text = decode_html("出口管制".encode("gbk"), encoding="utf-8", warnings=(notes := []))
    assert "\ufffd" in text and notes
    with pytest.raises(ValueError):
        decode_html(b"x", encoding="no-such-charset")


def test_json_envelope_of_the_list_api():
    html = ('<ul class="txtList_01"><li><a href="/zcfb/blgg/gg/2025/art/2025/art_1.html" '
            'title="商务部公告2025年第72号 关于暂停实施商务部公告2024年第46号第二款的公告">商务部公告2025年第72号…</a>'
            '<span>[2025-11-09]</span></li></ul><div class="pagination" rows="1" count="1" pageNo="1"></div>')
    body = json.dumps({"code": "200", "success": True, "data": {"html": html}}, ensure_ascii=False).encode()
    [obs] = parse(body, issuer="商务部").observations
    assert obs.key == "announcement:商务部:2025-72"
    assert obs.published == "2025-11-09"
    assert obs.url == "https://www.mofcom.gov.cn/zcfb/blgg/gg/2025/art/2025/art_1.html"


# --- Chinese text ---------------------------------------------------------------------------------

def test_traditional_chinese_and_full_width_digits():
    rows = ('<li><a href="/tw/1.html">商務部公告２０２４年第４６號 關於加強相關兩用物項對美國出口管制的公告</a>'
            "<span>２０２４年１２月０３日</span></li>")
    [obs] = parse(page(rows).encode("utf-8"), issuer="商务部").observations
    assert obs.key == "announcement:商务部:2024-46"  # the same key as the Simplified listing
    assert obs.fields["announcement_number"] == "2024年第46号"
    assert obs.title == "商務部公告2024年第46號 關於加強相關兩用物項對美國出口管制的公告"
    assert obs.published == "2024-12-03"
    assert obs.language == "zh"


def test_big5_page_with_meta_charset():
    rows = '<li><a href="/tw/2.html">美國商務部擴大對華晶片出口管制</a><span>2024/12/3</span></li>'
    body = page(rows, head='<meta http-equiv="Content-Type" content="text/html; charset=big5">').encode("big5")
    [obs] = parse(body).observations
    assert obs.title == "美國商務部擴大對華晶片出口管制"
    assert obs.published == "2024-12-03"


def test_date_found_in_the_row_text_when_there_is_no_date_selector():
    rows = ('<li><a href="/a/1.html">关于两用物项出口管制的公告</a> 发布时间：2024年12月3日</li>'
            '<li><a href="/a/2.html">关于出口许可证管理的通知</a> <em>2024-12-03 15:30</em></li>')
    first, second = parse(page(rows).encode(), date=None).observations
    assert first.published == "2024-12-03"
    assert second.published == "2024-12-03T07:30:00Z"  # Beijing time, stored in UTC


def test_date_selector_without_a_match_falls_back_to_the_row():
    rows = '<li><a href="/a/1.html">关于出口管制的公告</a><i>2024-12-03</i></li>'
    assert parse(page(rows).encode(), date="span.date").observations[0].published == "2024-12-03"


def test_title_selector():
    rows = '<li><a href="/a/1.html">详情</a><p class="t">商务部公告2024年第46号</p></li>'
    [obs] = parse(page(rows).encode(), title="p.t", issuer="商务部").observations
    assert obs.title == "商务部公告2024年第46号"


def test_decrees_are_not_announcements():
    rows = '<li><a href="/bl/1.html">商务部令2024年第1号 关于废止部分规章的决定</a><span>2024-01-05</span></li>'
    [obs] = parse(page(rows).encode(), issuer="商务部").observations
    assert obs.key == "https://www.mofcom.gov.cn/bl/1.html"
    assert "announcement_number" not in obs.fields


def test_another_issuers_announcement_keeps_its_own_series():
    rows = ('<li><a href="/a/1.html">海关总署公告2024年第10号 关于两用物项出口申报的公告</a><span>2024-01-05</span></li>'
            '<li><a href="/a/2.html">商务部公告2024年第10号 关于出口许可证的公告</a><span>2024-01-05</span></li>')
    customs, mofcom = parse(page(rows).encode(), issuer="商务部").observations
    assert customs.key == "announcement:海关总署:2024-10" and customs.fields["issuer"] == "海关总署"
    assert mofcom.key == "announcement:商务部:2024-10"


# --- links and skipped rows -----------------------------------------------------------------------

def test_relative_links_resolve_against_the_page_url():
    rows = ('<li><a href="../bl/1.html">一</a></li><li><a href="2.html#top">二</a></li>'
            '<li><a href="/abs/3.html">三</a></li><li><a href="//cdn.example.cn/4.html">四</a></li>')
    urls = [o.url for o in parse(page(rows).encode(), date=None).observations]
    assert urls == ["https://www.mofcom.gov.cn/zcfb/blgg/bl/1.html",
                    "https://www.mofcom.gov.cn/zcfb/blgg/gg/2.html",
                    "https://www.mofcom.gov.cn/abs/3.html",
                    "https://cdn.example.cn/4.html"]


def test_base_href_is_honoured():
    body = ('<html><head><base href="http://old.mofcom.gov.cn/article/"></head><body><ul class="txtList_01">'
            '<li><a href="b/1.shtml">一</a></li></ul></body></html>').encode()
    assert parse(body).observations[0].url == "http://old.mofcom.gov.cn/article/b/1.shtml"


def test_rows_without_link_or_title_are_skipped_with_warnings():
    rows = ('<li><a href="/a/1.html">有效条目</a></li>'
            '<li><span>没有链接 2024-12-03</span></li>'
            '<li><a href="javascript:void(0)">脚本链接</a></li>'
            '<li><a href="#">本页</a></li>'
            '<li><a href="/a/2.html">  </a></li>'
            '<li class="listline"></li>')
    result = parse(page(rows).encode(), date=None)
    assert [o.title for o in result.observations] == ["有效条目"]
    assert len(result.warnings) == 4


def test_same_url_twice_is_one_item_without_alternates():
    rows = '<li><a href="/a/1.html">一</a></li><li><a href="/a/1.html#x">一</a></li>'
    [obs] = parse(page(rows).encode()).observations
    assert "alternate_urls" not in obs.fields


def test_no_matching_item_is_a_parse_error():
    body = b"<html><head><title>\xe8\xae\xbf\xe9\x97\xae\xe5\x8f\x97\xe9\x99\x90</title></head><body><p>x</p></body></html>"
    with pytest.raises(ParseError) as caught:
        parse(body, item="ul.x li")
    assert str(caught.value).startswith("no items matched selector 'ul.x li'")
    assert "访问受限" in str(caught.value)


def test_empty_page_is_an_empty_result():
    result = parse(b"  \n ")
    assert result.observations == [] and result.warnings


def test_invalid_selector_is_a_configuration_error():
    with pytest.raises(ValueError, match="invalid CSS selector"):
        parse(b"<ul></ul>", item="ul[")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=1500),
                 st.lists(st.sampled_from(['<ul class="txtList_01">', "<li>", "</li>", "<a href='", "'>",
                                           "</a>", "<span>", "</span>", "2024-12-03", "２０２４年第４６号",
                                           "商务部公告", "javascript:", "http://[::1", "&amp;", "<base href='",
                                           '{"data":{"html":"', '"}}', "\x00", "\ufffd", "<meta charset='big5'>"]),
                          max_size=30).map(lambda parts: "".join(parts).encode("utf-8"))))
def test_arbitrary_bytes_give_a_result_or_a_parse_error(body):
    try:
        result = parse(body, language="zh")
    except ParseError:
        return
    for obs in result.observations:
        assert obs.key and obs.url.startswith("http")
        obs.content_hash()


# --- the shared helpers, Chinese side ---------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2024年12月03日", "2024-12-03"),
    ("２０２４年１２月０３日", "2024-12-03"),
    ("2024年12月3日 15:30", "2024-12-03T07:30:00Z"),
    ("2024/12/3", "2024-12-03"),
    ("[2024-12-03]", "2024-12-03"),
    ("发布时间：2024-12-03 15:30:10", "2024-12-03T07:30:10Z"),
    ("2024年第46号", None),
])
def test_parse_date_chinese(text, expected):
    assert parse_date(text, tz="Asia/Shanghai") == expected


def test_parse_date_without_tzdata_falls_back_to_fixed_beijing_time(monkeypatch):
    import zoneinfo

    from monitor.collectors import parsing

    def missing(name):
        raise zoneinfo.ZoneInfoNotFoundError(name)

    monkeypatch.setattr(parsing, "ZoneInfo", missing)
    assert parse_date("2024-12-03 15:30", tz="Asia/Shanghai") == "2024-12-03T07:30:00Z"
    assert parse_date("2024-12-03 15:30", tz="UTC") == "2024-12-03T15:30:00Z"


def test_parse_date_rejects_unknown_zones():
    with pytest.raises(ValueError):
        parse_date("2024-12-03 15:30", tz="Mars/Olympus")


def test_detect_language_chinese():
    assert detect_language("关于对镓、锗相关物项实施出口管制的公告") == "zh"
    assert detect_language("美國商務部收緊對華AI晶片出口 輝達H20受影響") == "zh"
    assert detect_language("日本の輸出管理についてのお知らせです") is None


def test_clean_text_normalises_full_width_forms():
    assert clean_text("商务部公告２０２４年第４６号（摘要）\u3000 ") == "商务部公告2024年第46号(摘要)"


def test_markup_the_html_parser_rejects_is_a_parse_error():
    """Found by the arbitrary-bytes property: html.parser rejects "<![" followed by a NUL."""
    from monitor.collectors.html_list import parse_html_list
    from monitor.collectors.parsing import ParseError

    with pytest.raises(ParseError, match="markup is broken"):
        parse_html_list(b"<![\x00", source="mofcom", url="https://www.mofcom.gov.cn/", headers={},
                        item="li", link="a")
