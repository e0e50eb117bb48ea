"""Shared helpers of the pure parsers: the result type, the one error, text, dates and language.

Nothing here does I/O or reads the clock: bytes and strings in, plain values out.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from html.parser import HTMLParser
from dataclasses import dataclass, field
from typing import Any
from datetime import date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


from monitor.observation import Observation


@dataclass(frozen=True)
class ParseResult:
    observations: list[Observation]
    warnings: list[str] = field(default_factory=list)
    next_url: str | None = None  # the next page to fetch, when the source pages its results
    total: int | None = None  # the source's own count of matching items, when it gives one
    skipped: int = 0  # entries left out, each named in a warning (all of them skipped: nothing usable)
    memory: Any = None  # what this parse leaves for the next of the same source (feeds: a FeedMemory)


class ParseError(Exception):
    """The body is not what the source should serve; the message is one line for the log."""

    reason = "parse_error"


# --- text -------------------------------------------------------------------------------------

_TAG_LIKE = re.compile(r"<\s*[A-Za-z!/?]")
# zero-width characters, soft hyphens and C0 controls: invisible, but they break matching
_INVISIBLE: dict[int, str | None] = dict.fromkeys(
    [*map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\x7f"), *range(0, 9), *range(14, 28)])
# C1 controls in text are nearly always Windows-1252 bytes read as Latin-1 (\x92 for an apostrophe):
# read them as Windows-1252; the five it leaves undefined are dropped. Left in, a CSI (\x9b) would
# reach terminals, and the entry could not be recorded (monitor.collectors.screen).
_INVISIBLE.update({code: bytes([code]).decode("cp1252", "ignore") or None for code in range(0x80, 0xA0)})
_SURROGATE = re.compile("[\ud800-\udfff]")  # unencodable: would break JSON and hashing


def clean_text(text: object) -> str:
    """Plain, normalised text from a title, summary or HTML fragment.

    Entities are unescaped until stable because feeds double-escape (the Federal Register RSS
    sends ``&amp;lt;p&amp;gt;``); tags are stripped with a real HTML parser (regexes trip on
    ``a < b``); NFKC turns full-width digits and punctuation into ASCII so that
    ``２０２４年第４６号`` and ``2024年第46号`` compare equal.
    """
    if text is None:
        return ""
    value = str(text)
    for _ in range(4):  # bounded: "&amp;amp;amp;..." must not loop for long
        unescaped = html.unescape(value)
        if unescaped == value:
            break
        value = unescaped
    if _TAG_LIKE.search(value):
        value = _TextOnly.extract(value)
    value = _SURROGATE.sub("\ufffd", unicodedata.normalize("NFKC", value).translate(_INVISIBLE))
    return " ".join(value.split())


class _TextOnly(HTMLParser):
    """The text of an HTML fragment, without script and style (several times faster than bs4)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)

    @classmethod
    def extract(cls, fragment: str) -> str:
        parser = cls()
        parser.feed(fragment)
        parser.close()
        return " ".join(parser.parts)


def short_key(value: str, limit: int = 200) -> str:
    """A key as given when short, else a readable prefix plus a hash of the whole."""
    if len(value) <= limit:
        return value
    return f"{value[:80]}#{sha256_hex(value)[:32]}"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_HTML_START = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
                         re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(rb"<html\b", re.IGNORECASE)
_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:rdf)\b", re.IGNORECASE)


def html_title(body: bytes) -> str | None:
    """The <title> of an HTML page ("" if it has none), or None if the body is not HTML."""
    head = body[:65536].lstrip(b"\xef\xbb\xbf")
    start = head[:4096]
    if not _HTML_START.match(start) and not (_HTML_TAG.search(start) and not _FEED_ROOT.search(start)):
        return None
    match = _HTML_TITLE.search(head)
    title = clean_text(match.group(1).decode("utf-8", "replace")) if match else ""
    return title[:100]


def describe_html(body: bytes) -> str | None:
    """"the body is an HTML page (<title>Access denied</title>)", or None for non-HTML."""
    title = html_title(body)
    if title is None:
        return None
    return f"the body is an HTML page (<title>{title}</title>)" if title else "the body is an HTML page"


# --- dates ------------------------------------------------------------------------------------

# Time zones the sources use, as fixed offsets for slim images without tzdata. China has had no
# daylight saving time since 1991, so +08:00 is exact for every date we meet.
_FIXED_ZONES = {
    "UTC": timezone.utc,
    "Etc/UTC": timezone.utc,
    "GMT": timezone.utc,
    "Asia/Shanghai": timezone(timedelta(hours=8)),
    "Asia/Chongqing": timezone(timedelta(hours=8)),
    "Asia/Hong_Kong": timezone(timedelta(hours=8)),
    "Asia/Macau": timezone(timedelta(hours=8)),
    "Asia/Taipei": timezone(timedelta(hours=8)),
    "PRC": timezone(timedelta(hours=8)),
}


def zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name in _FIXED_ZONES:
            return _FIXED_ZONES[name]
        raise ValueError(f"unknown time zone {name!r}") from None


_CN_DATE = re.compile(
    r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?"
    r"(?:\s*(\d{1,2})\s*[:时]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2}))?)?"
)
_NUM_DATE = re.compile(
    r"(?<!\d)(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)"
    r"(?:(?:T|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?)?",
    re.IGNORECASE,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})\s+{_MONTH},?\s+(\d{{4}})\b", re.IGNORECASE)
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}}),?\s+(\d{{4}})\b", re.IGNORECASE)
_MONTH_NAME = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.IGNORECASE)


def parse_date(text: object, *, tz: str = "UTC") -> str | None:
    """An ISO date ("2024-12-03") for date-only input, a UTC datetime ("...T08:00:00Z") otherwise.

    Understands RFC 822 (feeds), ISO 8601, "2024-12-03", "2024/12/3", "2024年12月03日" and
    full-width digits; the date may sit inside other text ("发布时间：[2024-12-03]"). A time
    without an offset is read in ``tz`` (Chinese pages: Asia/Shanghai). Calendar dates stay dates:
    turning "2025-01-15" into midnight UTC would shift it a day for US Eastern readers.
    """
    if text is None:
        return None
    value = unicodedata.normalize("NFKC", str(text)).strip()
    if not value or len(value) > 500:
        return None
    numeric = _NUM_DATE.match(value)
    if numeric:
        return _from_match(numeric, True, tz)
    if _MONTH_NAME.search(value):
        parsed = _rfc822(value) or _english_date(value)
        if parsed is not None:
            return parsed
    for pattern in (_NUM_DATE, _CN_DATE):
        match = pattern.search(value)
        if match:
            return _from_match(match, pattern is _NUM_DATE, tz)
    return None


def _rfc822(value: str) -> str | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:  # "-0000" means UTC with unknown local zone
        moment = moment.replace(tzinfo=timezone.utc)
    return _utc(moment)


def _english_date(value: str) -> str | None:
    """Date-only English forms: "15 Jan 2026", "January 15, 2026"."""
    for pattern, order in ((_DAY_MONTH_YEAR, (3, 2, 1)), (_MONTH_DAY_YEAR, (3, 1, 2))):
        match = pattern.search(value)
        if match:
            month = _MONTHS.index(match.group(order[1])[:3].lower()) + 1
            try:
                return date(int(match.group(order[0])), month, int(match.group(order[2]))).isoformat()
            except ValueError:
                return None
    return None


def _from_match(match: re.Match[str], numeric: bool, tz: str) -> str | None:
    if numeric:
        year, month, day = match.group(1), match.group(3), match.group(4)
        hour, minute, second, offset = match.group(5), match.group(6), match.group(7), match.group(8)
    else:
        year, month, day = match.group(1), match.group(2), match.group(3)
        hour, minute, second, offset = match.group(4), match.group(5), match.group(6), None
    try:
        day_value = date(int(year), int(month), int(day))
        if hour is None:
            return day_value.isoformat()
        moment = datetime(day_value.year, day_value.month, day_value.day,
                          int(hour), int(minute), int(second or 0))
    except ValueError:
        return None
    if offset is None:
        moment = moment.replace(tzinfo=zone(tz))
    elif offset.upper() in ("Z", "UTC", "GMT"):
        moment = moment.replace(tzinfo=timezone.utc)
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if delta >= timedelta(hours=24):
            return None
        moment = moment.replace(tzinfo=timezone(sign * delta))
    return _utc(moment)


def _utc(moment: datetime) -> str | None:
    try:
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError):
        return None


def iso_date(value: object) -> str | None:
    """A calendar date kept as "YYYY-MM-DD" (never a timestamp), or None."""
    if not isinstance(value, str):
        return None
    parsed = parse_date(value)
    return parsed[:10] if parsed else None


# --- language ---------------------------------------------------------------------------------

_CJK = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\U00020000-\U0002fa1f]")
_LATIN = re.compile("[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")  # any Unicode letter, ideographs included
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_LANGUAGE_SAMPLE = 4000  # characters: the opening of a text says which language it is in


def detect_language(text: object) -> str | None:
    """"zh" or "en" by the share of CJK ideographs among letters; None when unsure.

    One ideograph carries about as much as a short English word, so Chinese text full of Latin
    names ("美国商务部BIS发布AI Diffusion规则") still has a CJK share well above the threshold.
    """
    if not text:
        return None
    sample = str(text)[:_LANGUAGE_SAMPLE]
    if sample.isascii():  # the common case, counted in C: only Latin letters can be present
        encoded = sample.encode()
        latin = len(encoded) - len(encoded.translate(None, _ASCII_LETTERS))
        return "en" if latin >= 4 else None
    cjk, latin = len(_CJK.findall(sample)), len(_LATIN.findall(sample))
    letters = len(_LETTER.findall(sample))
    other = letters - cjk - latin
    if letters == 0:
        return None
    if other > 0.1 * letters:  # Japanese or Korean, or another script: not ours to call
        return None
    if cjk >= 2 and cjk >= 0.2 * letters:
        return "zh"
    if latin >= 4 and latin >= 0.5 * letters:  # "H20" or "AI" alone says nothing
        return "en"
    return None


def language_tag(value: object) -> str | None:
    """"en" / "zh" from a language tag such as "en-US", "zh-Hans-CN", "zh_TW"; else None."""
    if not isinstance(value, str):
        return None
    primary = re.split(r"[-_\s]", value.strip().lower(), maxsplit=1)[0]
    return primary if primary in ("en", "zh") else None
