"""RSS and Atom feeds (Federal Register RSS, news search, White House, EUR-Lex) to observations.

feedparser gets the bytes as ``io.BytesIO`` (a ``bytes`` argument can be taken for a file path or
URL) with the response headers, so it sees the HTTP charset and resolves relative links against
the feed's own URL.
"""

from __future__ import annotations

import io
import re
import time
from collections import Counter
from typing import Any, Mapping
from urllib.parse import urljoin, urlsplit

import feedparser

from monitor.collectors.http import public_url
from monitor.collectors.parsing import (
    ParseError,
    ParseResult,
    clean_text,
    describe_html,
    detect_language,
    language_tag,
    parse_date,
    sha256_hex,
    short_key,
)
from monitor.observation import Observation

ITEM_KEYS = ("auto", "guid", "link", "title")
_PASSED_HEADERS = ("content-type", "content-location", "content-language")
_CHAR_REF = re.compile(rb"&#([xX][0-9a-fA-F]{1,8}|[0-9]{1,10});")
_PUBLISHER_SUFFIX = re.compile(r"^(?P<title>.+?)\s+[-–—|]\s+(?P<publisher>[^-–—|]{1,80})$")


def parse_feed(
    body: bytes,
    *,
    source: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    item_key: str = "auto",
    language: str | None = None,
) -> ParseResult:
    """Parse one RSS/Atom body. Raises only ParseError for bad input (ValueError for bad config).

    item_key: "auto" (guid, else link, else hash of title + date), "guid", "link", or "title"
    (normalised title + publisher: for news-search feeds whose links are opaque redirectors).
    """
    if item_key not in ITEM_KEYS:
        raise ValueError(f"item_key must be one of {', '.join(ITEM_KEYS)}, not {item_key!r}")
    body = bytes(body)
    if not body.strip():
        raise ParseError("not a feed: the body is empty")
    body = _CHAR_REF.sub(_safe_char_ref, body)
    sent = {k.lower(): str(v) for k, v in (headers or {}).items() if k.lower() in _PASSED_HEADERS}
    sent["content-type"] = _xml_content_type(sent.get("content-type"))
    # No content-location default: feedparser would then resolve every relative URI in every
    # element (a third of its parse time); entry links are made absolute in _draft instead.
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=sent)
    except Exception as exc:  # feedparser is third-party: whatever it raises is a bad body
        raise ParseError(f"not a feed: the feed parser failed ({type(exc).__name__})") from exc

    warnings: list[str] = []
    entries = list(parsed.get("entries") or [])
    if parsed.get("bozo"):
        problem = _one_line(parsed.get("bozo_exception"))
        if not entries:  # broken and nothing in it: a failing source, never a quiet "no change"
            _reject_empty(body, parsed, problem)
            raise ParseError(f"not a feed: not well-formed and no entries ({problem})")
        warnings.append(f"feed is not well-formed ({problem}); kept {len(entries)} entries")
    elif not entries:
        _reject_empty(body, parsed, None)
    if not entries:
        return ParseResult([], warnings)

    feed_language = language_tag((parsed.get("feed") or {}).get("language"))
    base = public_url(url)  # links resolve against the feed's URL without its API key
    drafts = [d for d in (_draft(e, base, feed_language, language) for e in entries) if d]
    if item_key == "title":  # news search: guids are as opaque as the links; keep them out of
        for draft in drafts:  # the content hash so a re-issued guid is not a "revision"
            draft["obs"]["fields"].pop("guid", None)
    skipped = len(entries) - len(drafts)
    if skipped:
        warnings.append(f"skipped {skipped} entries without title, link or summary")
    keys = _assign_keys(drafts, item_key, warnings)

    observations: list[Observation] = []
    seen: set[str] = set()
    duplicates = 0
    for draft, key in zip(drafts, keys):
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        observations.append(Observation(source=source, key=key, **draft["obs"]))
    if duplicates:
        warnings.append(f"dropped {duplicates} entries whose key repeats an earlier entry")
    return ParseResult(observations, warnings, skipped=skipped)


def _safe_char_ref(match: re.Match[bytes]) -> bytes:
    """"&#xD800;" (a lone surrogate) makes feedparser crash on the whole feed: make it U+FFFD."""
    ref = match.group(1)
    code = int(ref[1:], 16) if ref[:1] in (b"x", b"X") else int(ref)
    return match.group(0) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else b"&#xFFFD;"


def _xml_content_type(value: str | None) -> str:
    """Keep the charset, present the body as application/xml.

    feedparser follows RFC 3023: text/xml or text/html without a charset means us-ascii, and no
    Content-Type at all means iso-8859-1, so a UTF-8 feed from a sloppy server comes out as
    mojibake. As application/xml the order is HTTP charset, then the XML declaration, then UTF-8.
    """
    charset = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", value or "", re.IGNORECASE)
    return f"application/xml; charset={charset.group(1)}" if charset else "application/xml"


def _reject_empty(body: bytes, parsed: Any, problem: str | None) -> None:
    """Zero entries: fine for a real (empty) feed, an error for anything else."""
    page = describe_html(body)
    if page:
        raise ParseError(f"not a feed: {page}")
    if body.lstrip()[:1] in (b"{", b"["):
        raise ParseError("not a feed: the body looks like JSON")
    if not parsed.get("version") and problem:
        raise ParseError(f"not a feed: {problem}")
    if not parsed.get("version"):
        raise ParseError("not a feed: no RSS or Atom elements found")


def _one_line(exc: object) -> str:
    text = " ".join(str(exc or "unknown error").split())
    return f"{type(exc).__name__}: {text}"[:200] if exc is not None else "unknown error"


def _draft(entry: Any, url: str, feed_language: str | None, configured: str | None) -> dict | None:
    """The observation's content for one entry, plus what the key is made from."""
    title = clean_text(entry.get("title"))
    summary = clean_text(_summary(entry))
    link = _http_url(entry.get("link"), url)
    guid = _text(entry.get("id"))
    if not (title or link or summary):
        return None

    source_el = entry.get("source") or {}
    publisher = clean_text(source_el.get("title") if hasattr(source_el, "get") else None)
    publisher = publisher or clean_text(entry.get("publisher"))
    if publisher and title.endswith(publisher):  # Google News: "Headline - Reuters"
        stripped = _PUBLISHER_SUFFIX.match(title)
        if stripped and stripped.group("publisher").strip() == publisher:
            title = stripped.group("title")
    title = title or summary[:120] or link or ""

    lang = feed_language or detect_language(f"{title} {summary}") or configured
    tz = "Asia/Shanghai" if lang == "zh" else "UTC"
    published = _entry_date(entry, "published", tz) or _entry_date(entry, "updated", tz)
    updated = _entry_date(entry, "updated", tz)
    if updated == published:
        updated = None

    fields: dict[str, Any] = {}
    if publisher:
        fields["publisher"] = publisher
    if guid:
        fields["guid"] = guid
    author = clean_text(entry.get("author"))
    if author:
        fields["author"] = author
    categories = _categories(entry)
    if categories:
        fields["categories"] = categories
    return {
        "obs": {
            "title": title,
            "url": link or _http_url(guid, url),
            "summary": summary,
            "language": lang,
            "published": published,
            "updated": updated,
            "fields": fields,
        },
        "guid": guid,
        "link": link,
        "publisher": publisher,
        "title_date": f"{_norm(title)}\n{published or ''}",
    }


def _summary(entry: Any) -> Any:
    if entry.get("summary"):
        return entry.get("summary")
    for content in entry.get("content") or []:
        if hasattr(content, "get") and content.get("value"):
            return content.get("value")
    return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def _http_url(value: Any, base: str) -> str | None:
    """An absolute http(s) URL or None (drops javascript:, mailto:, tag: ids, junk); secret-looking
    query values are removed, should the feed echo our key in its links."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        absolute = urljoin(base, value.strip())
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return public_url(absolute)


def _entry_date(entry: Any, name: str, tz: str) -> str | None:
    # dict.get: FeedParserDict.get("updated") falls back to "published" (with a warning)
    parsed = parse_date(dict.get(entry, name), tz=tz)
    if parsed:
        return parsed
    struct = dict.get(entry, f"{name}_parsed")  # feedparser knows more exotic formats; in UTC
    if isinstance(struct, time.struct_time):
        try:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", struct)
        except (ValueError, OverflowError):
            return None
    return None


def _categories(entry: Any) -> list[str]:
    found: list[str] = []
    for tag in entry.get("tags") or []:
        term = clean_text(tag.get("term") or tag.get("label")) if hasattr(tag, "get") else ""
        if term and term not in found:
            found.append(term)
    return found


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _assign_keys(drafts: list[dict], mode: str, warnings: list[str]) -> list[str]:
    """One key per entry, stable across polls of the same content, never longer than ~200 chars."""
    if mode == "title":
        keys = []
        for draft in drafts:
            title, publisher = draft["obs"]["title"], draft["publisher"]
            if not publisher:  # no <source>: take the " - Publisher" suffix news search adds
                match = _PUBLISHER_SUFFIX.match(title)
                if match:
                    title, publisher = match.group("title"), match.group("publisher")
            keys.append("title:" + sha256_hex(f"{_norm(title)}\n{_norm(publisher or '')}")[:32])
        return keys

    order = {"auto": ("guid", "link"), "guid": ("guid", "link"), "link": ("link", "guid")}[mode]
    if mode == "auto":
        repeated = [g for g, n in Counter(d["guid"] for d in drafts if d["guid"]).items() if n > 1]
        if repeated:  # a CMS stamping one guid on every item: guids cannot tell items apart
            order = ("link",)
            warnings.append(f"{len(repeated)} guids repeat within the feed (e.g. {repeated[0][:80]!r}); "
                            "keyed every entry by link (or title + date) instead")
    keys, missing = [], 0
    for draft in drafts:
        if mode != "auto" and not draft[mode]:
            missing += 1
        value = next((draft[name] for name in order if draft[name]), None)
        keys.append(short_key(value) if value else "sha256:" + sha256_hex(draft["title_date"])[:32])
    if missing:
        warnings.append(f"{missing} entries have no {mode}; keyed them by "
                        f"{'guid' if mode == 'link' else 'link'} or title + date instead")
    return keys
