"""RSS and Atom feeds (Federal Register RSS, news search, White House, EUR-Lex) to observations.

feedparser gets the bytes as ``io.BytesIO`` (a ``bytes`` argument can be taken for a file path or
URL) with the response headers, so it sees the HTTP charset and resolves relative links against
the feed's own URL.

Incremental parsing: a feed that changed usually changed by an entry or two, yet feedparser costs
the same for every entry. So a parse can leave a ``FeedMemory`` (each entry's draft by the digest
of its bytes, and the digest of everything around the entries); given it, the next parse hands
feedparser only the new entries inside the very same envelope (so namespaces, xml:base, language
and encoding are exact) and takes the unchanged entries' drafts from the memory. Everything after
the drafts (keys, duplicates, warnings) runs over all entries as before, so the result equals a
full parse. Whenever the byte scan is not clean or anything differs, it is a full parse.

A daemon holds one memory for every feed it polls, so a memory keeps its drafts packed (marshal,
then zlib: one bytes object a feed, ~50 to 400 bytes an entry instead of ~1.1 KB of Python
objects); unpacking and packing them again cost ~0.2 ms a parse of 50 entries, feedparser ~0.1 ms
an entry. It also keeps each entry's content hash (32 bytes), which the observation of an
unchanged entry is given, so that nothing downstream hashes its content again.
"""

from __future__ import annotations

import codecs
import hashlib
import importlib.util
import io
import marshal
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Mapping, NamedTuple
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.api

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
# feedparser asks xml.sax for libxml2's driver first, an import that fails on every parse when it
# is not installed; without it, the parser is expat either way.
if importlib.util.find_spec("drv_libxml2") is None:
    feedparser.api.PREFERRED_XML_PARSERS = []
_PASSED_HEADERS = ("content-type", "content-location", "content-language")
_CHAR_REF = re.compile(rb"&#([xX][0-9a-fA-F]{1,8}|[0-9]{1,10});")
_PUBLISHER_SUFFIX = re.compile(r"^(?P<title>.+?)\s+[-–—|]\s+(?P<publisher>[^-–—|]{1,80})$")
# Markup the entry scan must see: comments, CDATA, processing instructions, declarations (all
# starting "<!" or "<?"), and start or end tags of item/entry.
_MARKUP = re.compile(rb"<(?:[!?]|(/?)(item|entry)([\s/>]))")
_PREFIXED_ENTRY = re.compile(rb"<[\w.-]+:(?:item|entry)[\s/>]")
_SECTION_END = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>"}
# feedparser carries a base URI (xml:base, or a plain base attribute) and a namespace declared
# inside one entry on to the entries after it: such an entry cannot be parsed apart from the rest.
_CARRIED_ON = re.compile(rb"xmlns|base\s*=")


@dataclass(frozen=True)
class FeedMemory:
    """What one parse of a feed leaves for the next: the digest of the feed's envelope (the bytes
    around its entries, and the request and settings that shaped the parse), what feedparser said
    of the whole feed, and each entry's draft (None: an entry without title, link or summary) by
    the digest of its bytes. Valid for any later body with the same envelope digest."""

    envelope: bytes
    encoding: str
    version: str
    feed_language: str | None
    digests: bytes  # the entries' digests, _DIGEST_SIZE bytes each, in document order
    packed: bytes  # their drafts, in the same order: _pack
    # The content hashes of their observations (sha256, 32 bytes each, in the same order; zeros: not
    # known). The item key is not part of the content, and keep_guid is the envelope's item_key.
    hashes: bytes = b""

    @classmethod
    def of(cls, envelope: bytes, encoding: str, version: str, feed_language: str | None,
           digests: list[bytes], drafts: list[_Draft | None]) -> FeedMemory:
        return cls(envelope, encoding, version, feed_language, b"".join(digests), _pack(drafts))

    def entries(self) -> dict[bytes, tuple[_Draft | None, bytes | None]]:
        """Each entry's (draft, content hash or None) by the digest of its bytes."""
        n, digests, hashes = _DIGEST_SIZE, self.digests, self.hashes
        return {digests[i * n:(i + 1) * n]: (draft, _known_hash(hashes[i * 32:(i + 1) * 32]))
                for i, draft in enumerate(_unpack(self.packed))}


_NO_HASH = bytes(32)


def _known_hash(digest: bytes) -> bytes | None:
    return digest if len(digest) == 32 and digest != _NO_HASH else None


def _pack(drafts: list[_Draft | None]) -> bytes:
    # marshal keeps str, None and tuples exactly as they are (a _Draft holds nothing else)
    return zlib.compress(marshal.dumps([None if d is None else tuple(d) for d in drafts]), 1)


def _unpack(packed: bytes) -> list[_Draft | None]:
    return [None if d is None else _Draft(*d) for d in marshal.loads(zlib.decompress(packed))]


@dataclass(frozen=True)
class _Drafts:
    drafts: list[_Draft | None]  # one per entry, in document order
    warnings: list[str]
    memory: FeedMemory | None  # without its hashes: _result adds them
    hashes: list[bytes | None] | None = None  # one per entry: its content hash, when the memory had it


def parse_feed(
    body: bytes,
    *,
    source: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    item_key: str = "auto",
    language: str | None = None,
    memory: FeedMemory | None = None,
) -> ParseResult:
    """Parse one RSS/Atom body. Raises only ParseError for bad input (ValueError for bad config).

    item_key: "auto" (guid, else link, else hash of title + date), "guid", "link", or "title"
    (normalised title + publisher: for news-search feeds whose links are opaque redirectors).
    memory: what an earlier parse of this source left (``ParseResult.memory``): the result is the
    same with or without it, only cheaper when few entries changed.
    """
    if item_key not in ITEM_KEYS:
        raise ValueError(f"item_key must be one of {', '.join(ITEM_KEYS)}, not {item_key!r}")
    body = bytes(body)
    if not body.strip():
        raise ParseError("not a feed: the body is empty")
    body = _CHAR_REF.sub(_safe_char_ref, body)
    sent = {k.lower(): str(v) for k, v in (headers or {}).items() if k.lower() in _PASSED_HEADERS}
    sent["content-type"] = _xml_content_type(sent.get("content-type"))
    base = public_url(url)  # links resolve against the feed's URL without its API key
    spans = _entry_spans(body)
    envelope = _envelope_digest(body, spans, sent, base, item_key, language) if spans else None
    done = None
    if memory is not None and envelope == memory.envelope:
        done = _parse_new_entries(body, spans, sent, base, language, memory)
    if done is None:
        ranges = spans if spans and _apart(body, spans) else None
        done = _parse_all(body, ranges, envelope if ranges else None, sent, base, language)
    if not done.drafts:
        return ParseResult([], done.warnings)
    return _result(done, source, item_key)


def _parse_all(body: bytes, ranges: list[tuple[int, int]] | None, envelope: bytes | None, sent: dict[str, str],
               base: str, language: str | None) -> _Drafts:
    """feedparser over the whole body; a memory for the next parse when the entries scanned clean."""
    parsed = _feedparser(body, sent)
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
        return _Drafts([], warnings, None)

    feed_language = language_tag((parsed.get("feed") or {}).get("language"))
    drafts = [_draft(e, base, feed_language, language) for e in entries]
    memory = None
    encoding = _reusable_encoding(parsed)
    if envelope is not None and encoding and ranges and len(ranges) == len(entries) and not parsed.get("bozo"):
        memory = FeedMemory.of(envelope, encoding, parsed.get("version") or "", feed_language,
                               [_digest(body, r) for r in ranges], drafts)
    return _Drafts(drafts, warnings, memory)


def _parse_new_entries(body: bytes, ranges: list[tuple[int, int]], sent: dict[str, str], base: str,
                       language: str | None, memory: FeedMemory) -> _Drafts | None:
    """The drafts with feedparser reading only the entries the memory does not hold: the body with
    the known entries' bytes cut out. None (parse it all) unless feedparser saw that reduced feed
    exactly as it saw the one the memory came from."""
    digests = [_digest(body, r) for r in ranges]
    known = memory.entries()
    new = [r for r, d in zip(ranges, digests) if d not in known]
    # The known entries and the envelope passed _apart when the memory was made; the new ones must.
    if not all(_stands_apart(body[a:b]) for a, b in new):
        return None
    reduced = b"".join([body[:ranges[0][0]], *(body[a:b] for a, b in new), body[ranges[-1][1]:]])
    parsed = _feedparser(reduced, sent)
    entries = list(parsed.get("entries") or [])
    if (parsed.get("bozo") or len(entries) != len(new) or _reusable_encoding(parsed) != memory.encoding
            or (parsed.get("version") or "") != memory.version
            or language_tag((parsed.get("feed") or {}).get("language")) != memory.feed_language):
        return None
    fresh = dict(zip((d for d in digests if d not in known),
                     (_draft(e, base, memory.feed_language, language) for e in entries)))
    drafts = [known[d][0] if d in known else fresh[d] for d in digests]
    hashes = [known[d][1] if d in known else None for d in digests]
    kept = FeedMemory.of(memory.envelope, memory.encoding, memory.version, memory.feed_language, digests, drafts)
    return _Drafts(drafts, [], kept, hashes)


def _feedparser(body: bytes, sent: dict[str, str]) -> Any:
    # No content-location default: feedparser would then resolve every relative URI in every
    # element (a third of its parse time); entry links are made absolute in _draft instead.
    try:
        return feedparser.parse(io.BytesIO(body), response_headers=sent)
    except Exception as exc:  # feedparser is third-party: whatever it raises is a bad body
        raise ParseError(f"not a feed: the feed parser failed ({type(exc).__name__})") from exc


def _result(done: _Drafts, source: str, item_key: str) -> ParseResult:
    """Keys, duplicates and warnings over all the entries' drafts (remembered or fresh alike)."""
    warnings = list(done.warnings)
    kept = [i for i, d in enumerate(done.drafts) if d]
    drafts = [done.drafts[i] for i in kept]
    skipped = len(done.drafts) - len(drafts)
    if skipped:
        warnings.append(f"skipped {skipped} entries without title, link or summary")
    keys = _assign_keys(drafts, item_key, warnings)

    hashes = list(done.hashes or [None] * len(done.drafts))
    observations: list[Observation] = []
    seen: set[str] = set()
    duplicates = 0
    for i, key in zip(kept, keys):
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        # news search: guids are as opaque as the links; kept out of the content hash so that a
        # re-issued guid is not a "revision"
        obs = done.drafts[i].observation(source, key, keep_guid=item_key != "title")
        if hashes[i] is not None:  # the same bytes as an entry of the last parse: the same content
            obs.knowing_hash(hashes[i].hex())
        elif done.memory is not None:  # hashed here once, for the log and for the next parse
            hashes[i] = bytes.fromhex(obs.content_hash())
        observations.append(obs)
    if duplicates:
        warnings.append(f"dropped {duplicates} entries whose key repeats an earlier entry")
    memory = done.memory and replace(done.memory, hashes=b"".join(h or _NO_HASH for h in hashes))
    return ParseResult(observations, warnings, skipped=skipped, memory=memory)


# --- the entry scan of incremental parsing ----------------------------------------------------

def entry_ranges(body: bytes) -> list[tuple[int, int]] | None:
    """The byte ranges of the feed's ``<item>``/``<entry>`` elements, one contiguous run apart from
    whitespace; None when the scan is not sure (a prefixed, nested, self-closing or unclosed entry
    tag, a DOCTYPE, an unterminated comment or CDATA section, anything but whitespace between
    entries, an entry declaring a namespace or a base URI). Comments, CDATA and processing
    instructions are skipped whole, whatever they hold.
    """
    spans = _entry_spans(body)
    if not spans:
        return None if spans is None or _prefixed_entry(body) else []
    return spans if _apart(body, spans) else None


def _entry_spans(body: bytes) -> list[tuple[int, int]] | None:
    """entry_ranges without _apart: the byte structure alone."""
    ranges: list[tuple[int, int]] = []
    start, name, pos = -1, b"", 0
    search = _MARKUP.search
    while (found := search(body, pos)) is not None:
        closing, tag, after = found.groups()
        if tag is None:
            opener = next((o for o in _SECTION_END if body.startswith(o, found.start())), None)
            if opener is None:  # <!DOCTYPE ...> or another declaration: entities may live there
                return None
            end = body.find(_SECTION_END[opener], found.start() + len(opener))
            if end < 0:
                return None
            pos = end + len(_SECTION_END[opener])
            continue
        gt = found.end() - 1 if after == b">" else body.find(b">", found.end())
        if gt < 0:
            return None
        if not closing:
            if start >= 0 or body[gt - 1:gt] == b"/":  # nested or <item/>
                return None
            start, name = found.start(), tag
        else:
            if start < 0 or tag != name or after == b"/" or body[found.end():gt].strip():
                return None
            if ranges and body[ranges[-1][1]:start].strip():  # entries among other elements
                return None
            ranges.append((start, gt + 1))
            start = -1
        pos = gt + 1
    return ranges if start < 0 else None


def _apart(body: bytes, spans: list[tuple[int, int]]) -> bool:
    """Whether these entries can be parsed apart: none declares a namespace or a base URI, and no
    prefixed entry tag (which the scan does not take for an entry) is in the body around them."""
    return _stands_apart(body[spans[0][0]:spans[-1][1]]) and not _prefixed_entry(body[:spans[0][0]]) \
        and not _prefixed_entry(body[spans[-1][1]:])


def _stands_apart(entries: bytes) -> bool:
    return not _CARRIED_ON.search(entries) and not _prefixed_entry(entries)


def _prefixed_entry(part: bytes) -> bool:
    return (b":item" in part or b":entry" in part) and _PREFIXED_ENTRY.search(part) is not None


def _envelope_digest(body: bytes, ranges: list[tuple[int, int]], sent: dict[str, str], base: str,
                     item_key: str, language: str | None) -> bytes:
    """Everything around the entries that shapes their parse: the bytes before and after them, the
    headers feedparser is given, the URL links resolve against, and the source's settings."""
    digest = hashlib.blake2b(digest_size=16)
    settings = repr((sorted(sent.items()), base, item_key, language, feedparser.__version__))
    for part in (settings.encode(), body[:ranges[0][0]], body[ranges[-1][1]:]):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


_DIGEST_SIZE = 16


def _digest(body: bytes, span: tuple[int, int]) -> bytes:
    return hashlib.blake2b(body[span[0]:span[1]], digest_size=_DIGEST_SIZE).digest()


# Encodings in which a cut just before "<" is a cut between characters, whatever came before.
_STATELESS_ASCII = re.compile(r"utf-8|ascii|latin-1|iso8859-\d+|cp125\d|koi8-[ru]")


def _reusable_encoding(parsed: Any) -> str | None:
    """The encoding feedparser decoded with, if entry bytes can be cut out and kept apart in it."""
    try:
        name = codecs.lookup(str(parsed.get("encoding") or "")).name
    except LookupError:
        return None
    return name if _STATELESS_ASCII.fullmatch(name) else None


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


class _Draft(NamedTuple):
    """The observation's content for one entry, plus what the key is made from. Immutable; a
    FeedMemory holds one for every entry of every feed (packed)."""

    title: str
    url: str | None
    summary: str
    language: str | None
    published: str | None
    updated: str | None
    fields: tuple[tuple[str, Any], ...]  # lists as tuples
    guid: str | None
    link: str | None
    publisher: str | None

    @property
    def title_date(self) -> str:
        return f"{_norm(self.title)}\n{self.published or ''}"

    def observation(self, source: str, key: str, *, keep_guid: bool) -> Observation:
        fields = {name: list(value) if isinstance(value, tuple) else value for name, value in self.fields
                  if keep_guid or name != "guid"}
        return Observation(source=source, key=key, title=self.title, url=self.url, summary=self.summary,
                           language=self.language, published=self.published, updated=self.updated, fields=fields)


def _draft(entry: Any, url: str, feed_language: str | None, configured: str | None) -> _Draft | None:
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

    fields: list[tuple[str, Any]] = []
    if publisher:
        fields.append(("publisher", publisher))
    if guid:
        fields.append(("guid", guid))
    author = clean_text(entry.get("author"))
    if author:
        fields.append(("author", author))
    categories = _categories(entry)
    if categories:
        fields.append(("categories", tuple(categories)))
    return _Draft(title, link or _http_url(guid, url), summary, lang, published, updated, tuple(fields),
                  guid, link, publisher)


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


def _assign_keys(drafts: list[_Draft], mode: str, warnings: list[str]) -> list[str]:
    """One key per entry, stable across polls of the same content, never longer than ~200 chars."""
    if mode == "title":
        keys = []
        for draft in drafts:
            title, publisher = draft.title, draft.publisher
            if not publisher:  # no <source>: take the " - Publisher" suffix news search adds
                match = _PUBLISHER_SUFFIX.match(title)
                if match:
                    title, publisher = match.group("title"), match.group("publisher")
            keys.append("title:" + sha256_hex(f"{_norm(title)}\n{_norm(publisher or '')}")[:32])
        return keys

    order = {"auto": ("guid", "link"), "guid": ("guid", "link"), "link": ("link", "guid")}[mode]
    if mode == "auto":
        repeated = [g for g, n in Counter(d.guid for d in drafts if d.guid).items() if n > 1]
        if repeated:  # a CMS stamping one guid on every item: guids cannot tell items apart
            order = ("link",)
            warnings.append(f"{len(repeated)} guids repeat within the feed (e.g. {repeated[0][:80]!r}); "
                            "keyed every entry by link (or title + date) instead")
    keys, missing = [], 0
    for draft in drafts:
        if mode != "auto" and not getattr(draft, mode):
            missing += 1
        value = next((getattr(draft, name) for name in order if getattr(draft, name)), None)
        keys.append(short_key(value) if value else "sha256:" + sha256_hex(draft.title_date)[:32])
    if missing:
        warnings.append(f"{missing} entries have no {mode}; keyed them by "
                        f"{'guid' if mode == 'link' else 'link'} or title + date instead")
    return keys
