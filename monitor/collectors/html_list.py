"""Notice list pages (MOFCOM announcements and the like) to observations, by CSS selectors.

Chinese government pages bring three troubles: old pages are GB2312/GBK and sometimes declare the
wrong charset; list rows truncate titles ("关于加强相关两用物项对美国出...") and keep the full title
in the link's title attribute; and one announcement is published under several URL families, so
items that carry an announcement number (``2024年第46号``) are keyed by issuer, year and number.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any, Mapping
from urllib.parse import urldefrag, urljoin, urlsplit

import soupsieve
from bs4 import BeautifulSoup, Tag
from bs4.exceptions import ParserRejectedMarkup

from monitor.collectors.http import public_url
from monitor.collectors.parsing import (
    ParseError,
    ParseResult,
    clean_text,
    detect_language,
    html_title,
    language_tag,
    parse_date,
    short_key,
)
from monitor.observation import Observation

# "2024年第46号", "公告2023年第23号", Traditional "2024年第46號"; not decrees ("商务部令2024年第1号"),
# which are numbered in a different series.
_NUMBER = re.compile(r"(?<![\d令])(?<!令\s)(\d{4})\s*年\s*第\s*(\d{1,4})\s*[号號]")
# Issuers named just before "公告" ("商务部 海关总署公告2023年第23号"), to tell a customs announcement
# listed on a MOFCOM page from MOFCOM's own announcement with the same number. Traditional
# spellings map to Simplified so both scripts give one key.
_KNOWN_ISSUERS = {
    "商务部": "商务部", "商務部": "商务部", "海关总署": "海关总署", "海關總署": "海关总署",
    "国家发展改革委": "国家发展改革委", "国家发展和改革委员会": "国家发展改革委",
    "工业和信息化部": "工业和信息化部", "财政部": "财政部", "国务院关税税则委员会": "国务院关税税则委员会",
    "国家国防科技工业局": "国家国防科技工业局", "国家原子能机构": "国家原子能机构",
    "国家密码管理局": "国家密码管理局", "国家市场监督管理总局": "国家市场监督管理总局",
}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_CHINESE_CHARSETS = {"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "ms936", "euc-cn", "csgb2312",
                     "gb_2312-80", "iso-ir-58", "chinese", "windows-936"}


def parse_html_list(
    body: bytes,
    *,
    source: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    item: str,
    link: str = "a",
    title: str | None = None,
    date: str | None = None,
    encoding: str | None = None,
    issuer: str | None = None,
    language: str | None = None,
) -> ParseResult:
    """Parse a list page: one observation per ``item`` element (CSS selectors, html.parser).

    title None takes the link's title attribute (the untruncated title on Chinese government
    sites), else the link's text. Dates come from the ``date`` element, else from a date pattern
    anywhere in the item. Raises ParseError when a non-empty page has no matching item.
    """
    for selector in (item, link, title, date):
        _check_selector(selector)
    warnings: list[str] = []
    body = bytes(body)
    text = _unwrap_envelope(body)  # MOFCOM's list API wraps the rendered list in JSON
    if text is None:
        text = decode_html(body, headers=headers, encoding=encoding, language=language, warnings=warnings)
    if not text.strip():
        return ParseResult([], warnings + ["the page is empty"])

    if "<" not in text:  # no markup at all (and bs4 would warn that it looks like a URL)
        raise ParseError(f"no items matched selector {item!r}: the body has no HTML tags")
    # the XML declaration has served for the charset; left in, bs4 warns about XHTML fragments
    try:
        soup = BeautifulSoup(_XML_DECLARATION.sub("", text, count=1), "html.parser")
    except ParserRejectedMarkup:  # html.parser gives up on some broken markup ("<![" and a NUL)
        raise ParseError("the page is not HTML the parser can read (its markup is broken)") from None
    base = public_url(url)  # links resolve against the page's URL without its API key
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag):
        try:
            base = urljoin(base, str(base_tag["href"]).strip())
        except ValueError:  # "<base href=a://[>": keep the page URL
            warnings.append(f"ignored a malformed <base href>: {str(base_tag['href'])[:80]!r}")
    page_language = _page_language(soup)
    elements = soup.select(item)
    if not elements:
        page = html_title(text.encode("utf-8", "replace"))
        suffix = f" (<title>{page}</title>)" if page else ""
        raise ParseError(f"no items matched selector {item!r}{suffix}")

    merged: dict[str, dict[str, Any]] = {}
    skipped = 0
    for index, element in enumerate(elements, 1):
        noted = len(warnings)
        row = _row(element, index, base, link, title, date, issuer, language, page_language, warnings)
        if row is None:
            skipped += len(warnings) > noted  # an empty separator row is skipped without a word
            continue
        first = merged.get(row["key"])
        if first is None:
            merged[row["key"]] = row
            continue
        # the same announcement again, under another URL: one item, the others remembered
        if row["url"] != first["url"] and row["url"] not in first["alternate_urls"]:
            first["alternate_urls"].append(row["url"])
        first["published"] = first["published"] or row["published"]

    observations = [_observation(source, row) for row in merged.values()]
    return ParseResult(observations, warnings, skipped=skipped)


# --- decoding ----------------------------------------------------------------------------------

def decode_html(
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    encoding: str | None = None,
    language: str | None = None,
    warnings: list[str] | None = None,
) -> str:
    """Bytes to text: explicit encoding > BOM > HTTP charset > <meta> charset > UTF-8.

    Declarations lie: a page that says gb2312 but is valid UTF-8 is read as UTF-8 (GBK text is
    practically never valid UTF-8), and a page whose declared charset fails is tried with the
    other declarations, then GB18030 for Chinese sources, before decoding with replacement.
    """
    notes = warnings if warnings is not None else []
    if encoding:
        charset = _charset(encoding)
        if charset is None:
            raise ValueError(f"unknown encoding {encoding!r}")
        return _decode_replacing(body, charset, notes)

    for bom, charset in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
                         (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return _decode_replacing(body, "utf-8-sig" if charset == "utf-8" else charset, notes)

    declared: list[str] = []
    for name in (_header_charset(headers), *_sniffed_charsets(body[:4096])):
        charset = _charset(name) if name else None
        if name and charset is None:
            notes.append(f"ignored unknown charset {name!r}")
        if charset and charset not in declared:
            declared.append(charset)

    if declared and declared[0] != "utf-8" and not body.isascii() and _decodes(body, "utf-8"):
        notes.append(f"the page declares {declared[0]} but is valid UTF-8; decoded as UTF-8")
        return body.decode("utf-8")
    candidates = declared or ["utf-8"]
    if language == "zh" and "gb18030" not in candidates:
        candidates = [*candidates, "gb18030"]
    for charset in candidates:
        if _decodes(body, charset):
            if charset != candidates[0]:
                notes.append(f"the page does not decode as {candidates[0]}; decoded as {charset}")
            return body.decode(charset)
    return _decode_replacing(body, candidates[0], notes)


def _charset(name: str) -> str | None:
    name = name.strip().strip("\"'").lower()
    if name in _CHINESE_CHARSETS:
        return "gb18030"  # a superset: pages labelled gb2312 use GBK characters all the time
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _header_charset(headers: Mapping[str, str] | None) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == "content-type":
            match = _HTTP_CHARSET.search(str(value))
            return match.group(1) if match else None
    return None


def _sniffed_charsets(head: bytes) -> list[str]:
    found = [m.group(1).decode("ascii") for m in _META_CHARSET.finditer(head)]
    xml = _XML_ENCODING.match(head)
    return ([xml.group(1).decode("ascii")] if xml else []) + found


def _decodes(body: bytes, charset: str) -> bool:
    try:
        body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _decode_replacing(body: bytes, charset: str, notes: list[str]) -> str:
    text = body.decode(charset, errors="replace")
    replaced = text.count("\ufffd") - body.count("\ufffd".encode())  # literal U+FFFD in UTF-8 pages
    if replaced > 0:
        notes.append(f"{replaced} undecodable byte sequences replaced decoding as {charset}")
    return text


def _unwrap_envelope(body: bytes) -> str | None:
    """The HTML inside {"code":"200","success":true,"data":{"html":"..."}}: the JPaaS CMS that
    serves MOFCOM's (and other ministries') lists renders them through such an API."""
    if not body.lstrip()[:1] == b"{":
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    inner = data.get("data") if isinstance(data, dict) else None
    html = inner.get("html") if isinstance(inner, dict) else None
    if not isinstance(html, str):
        return None
    return re.sub("[\ud800-\udfff]", "\ufffd", html)  # a JSON "\ud800" escape is no character


def _check_selector(selector: str | None) -> None:
    if selector is None:
        return
    try:
        soupsieve.compile(selector)
    except (soupsieve.SelectorSyntaxError, TypeError) as exc:
        raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from None


# --- rows --------------------------------------------------------------------------------------

def _row(element: Tag, index: int, base: str, link: str, title: str | None, date: str | None,
         issuer: str | None, language: str | None, page_language: str | None,
         warnings: list[str]) -> dict[str, Any] | None:
    text = clean_text(element.get_text(" "))
    anchor = element if soupsieve.match(link, element) else element.select_one(link)
    href = _href(anchor, base) if anchor is not None else None
    if href is None:
        if text:  # empty separator rows (<li class="listline"></li>) are not worth a warning
            warnings.append(f"skipped item {index}: no link matching {link!r} ({text[:60]!r})")
        return None

    heading = _title(element, anchor, title)
    if not heading:
        warnings.append(f"skipped item {index}: no title ({href})")
        return None

    lang = page_language or detect_language(heading) or language
    tz = "Asia/Shanghai" if "zh" in (lang, language) else "UTC"  # Chinese pages give Beijing time
    published = _date(element, anchor, date, text, tz)

    number = _announcement(heading) or _announcement(text)
    who = _KNOWN_ISSUERS.get(issuer, issuer) if issuer else None
    key = short_key(href)
    if number:
        year, num, named = number
        if named and who not in named:  # "海关总署公告…" on a MOFCOM page: customs' own series
            who = named[0]
        key = f"announcement:{who or ''}:{year}-{num}"
    return {
        "key": key,
        "url": href,
        "title": heading,
        "language": lang,
        "published": published,
        "announcement_number": f"{number[0]}年第{number[1]}号" if number else None,
        "issuer": who,
        "alternate_urls": [],
    }


def _href(anchor: Tag, base: str) -> str | None:
    raw = anchor.get("href")
    if not isinstance(raw, str) or not raw.strip() or raw.strip().startswith("#"):
        return None  # "#": a link to the page itself, not an item
    try:
        absolute, _fragment = urldefrag(urljoin(base, raw.strip()))
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None  # "javascript:void(0)", "#", mailto:
    return public_url(absolute)  # should the page echo our key in its links


def _title(element: Tag, anchor: Tag, selector: str | None) -> str:
    if selector:
        found = element.select_one(selector)
        if found is None:
            return ""
        return clean_text(found.get("title")) or clean_text(found.get_text(" "))
    return clean_text(anchor.get("title")) or clean_text(anchor.get_text(" "))


def _date(element: Tag, anchor: Tag, selector: str | None, text: str, tz: str) -> str | None:
    if selector:
        found = element.select_one(selector)
        if found is not None:
            parsed = parse_date(found.get("datetime") or found.get_text(" "), tz=tz)
            if parsed:
                return parsed
    # no date element: the date sits somewhere in the row, or in the link's title attribute
    return parse_date(text, tz=tz) or parse_date(anchor.get("title"), tz=tz)


def _announcement(text: str) -> tuple[int, int, list[str]] | None:
    """(year, number, issuers named right before "公告") of the first announcement number."""
    match = _NUMBER.search(text)
    if not match:
        return None
    prefix = text[max(0, match.start() - 30):match.start()].rstrip()
    named: list[str] = []
    if prefix.endswith("公告"):
        for name, canonical in _KNOWN_ISSUERS.items():
            if name in prefix and canonical not in named:
                named.append(canonical)
    return int(match.group(1)), int(match.group(2)), named


def _page_language(soup: BeautifulSoup) -> str | None:
    html = soup.find("html")
    return language_tag(html.get("lang")) if isinstance(html, Tag) else None


def _observation(source: str, row: dict[str, Any]) -> Observation:
    fields: dict[str, Any] = {}
    if row["announcement_number"]:
        fields["announcement_number"] = row["announcement_number"]
    if row["issuer"]:
        fields["issuer"] = row["issuer"]
    if row["alternate_urls"]:
        fields["alternate_urls"] = sorted(row["alternate_urls"])  # page order may shift between polls
    return Observation(
        source=source,
        key=row["key"],
        title=row["title"],
        url=row["url"],
        language=row["language"],
        published=row["published"],
        fields=fields,
    )
