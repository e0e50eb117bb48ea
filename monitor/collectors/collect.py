"""One poll of one source: fetch politely, parse, and say what happened. Never raises.

A collection starts from what the log remembers about the source (its validators and the hash of
its last body), so a 304 or a byte-identical 200 parses nothing. The Federal Register search is
walked page by page through ``next_page_url``, up to ``max_pages``, and stops when the API repeats
a page (its silent clamp). Collectors never touch the database: the outcome is plain data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from monitor.collectors.federal_register import DEFAULT_FIELDS, parse_federal_register
from monitor.collectors.feed import parse_feed
from monitor.collectors.http import Fetcher, FetchError, Response, Validators, redact_url
from monitor.collectors.parsing import ParseError, ParseResult
from monitor.collectors.screen import safe_line, screen
from monitor.collectors.screening_list import ScreeningParse, parse_screening_list
from monitor.detect.changes import SourceInfo
from monitor.observation import Observation


@dataclass(frozen=True)
class SourceMemory:
    """What the log remembers about a source for its next request."""

    validators: Validators = Validators()
    body_sha256: str | None = None
    # What the parse of the last recorded body left (a FeedMemory): held in process, never logged.
    parsed: object | None = None


@dataclass
class PollOutcome:
    source: str
    url: str  # as requested (redacted), after {year} expansion
    ok: bool = True
    status: int | None = None
    not_modified: bool = False  # 304
    unchanged: bool = False  # 200 with the very bytes of the last body
    bytes: int = 0
    pages: int = 0
    duration: float = 0.0
    validators: Validators = Validators()
    body_sha256: str | None = None
    observations: list[Observation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # entries the parsers or the screen left out (each with a warning)
    reason: str | None = None  # failure class: timeout, connect, dns, http_status, too_large, parse_error, ...
    message: str | None = None
    retry_after: float | None = None
    screening: ScreeningParse | None = None  # a screening list's records (None: nothing was parsed)
    parse_memory: object | None = None  # what this parse leaves for the next (SourceMemory.parsed)

    def fail(self, reason: str, message: str, status: int | None = None, retry_after: float | None = None) -> "PollOutcome":
        self.ok, self.reason, self.message, self.status, self.retry_after = False, reason, message, status, retry_after
        return self


def source_url(template: str, year: int) -> str:
    """Expand ``{year}`` (MOFCOM files its notices under the year)."""
    return template.replace("{year}", str(year))


async def collect(source, fetcher: Fetcher, memory: SourceMemory, *, year: int) -> PollOutcome:
    url = source_url(source.url, year)
    outcome = PollOutcome(source.id, redact_url(url))
    began = fetcher.clock()  # the fetcher's monotonic clock: a poll is timed as its requests are
    try:
        await KINDS[source.kind].collect(source, url, fetcher, memory, outcome)
    except FetchError as exc:  # its message already carries the API's own error text
        outcome.fail(exc.reason, exc.message, exc.status, exc.retry_after)
    except ParseError as exc:
        outcome.fail(ParseError.reason, str(exc), outcome.status)
    except Exception as exc:  # a bug must cost one source one poll, never the cycle
        outcome.fail("internal", f"{exc.__class__.__name__}: {exc}"[:300], outcome.status)
    if outcome.ok and outcome.skipped and not outcome.observations and outcome.screening is None:
        # Entries were there but none could be used: a broken source, not a quiet one.
        why = next((w for w in reversed(outcome.warnings) if w.startswith("skipped")), "")
        outcome.fail(ParseError.reason, f"no entry could be used ({outcome.skipped} skipped; {why})", outcome.status)
    if outcome.message is not None:  # it may quote the body: one printable line, whatever was sent
        outcome.message = safe_line(outcome.message)
    outcome.duration = fetcher.clock() - began
    return outcome


async def _fetch_first(url: str, fetcher: Fetcher, memory: SourceMemory, outcome: PollOutcome,
                       max_bytes: int, params: list[tuple[str, str]] | None = None) -> Response | None:
    """The first request of a poll: conditional; None when there is nothing new to parse."""
    response = await fetcher.get(url, params=params, validators=memory.validators, max_bytes=max_bytes)
    outcome.status, outcome.pages, outcome.bytes = response.status, 1, len(response.body)
    outcome.validators = response.validators
    if response.not_modified:
        outcome.not_modified = True
        return None
    outcome.body_sha256 = hashlib.sha256(response.body).hexdigest()
    if outcome.body_sha256 == memory.body_sha256:
        outcome.unchanged = True
        return None
    return response


async def _feed(source, url: str, fetcher: Fetcher, memory: SourceMemory, outcome: PollOutcome) -> None:
    response = await _fetch_first(url, fetcher, memory, outcome, source.max_bytes)
    if response is not None:
        result = parse_feed(response.body, source=source.id, url=response.url, headers=response.headers,
                            item_key=source.item_key, language=source.language, memory=memory.parsed)
        _take(outcome, result)
        outcome.parse_memory = result.memory


async def _html_list(source, url: str, fetcher: Fetcher, memory: SourceMemory, outcome: PollOutcome) -> None:
    response = await _fetch_first(url, fetcher, memory, outcome, source.max_bytes)
    if response is not None:
        # Imported by the first poll of an `html_list` source: soupsieve and bs4 cost megabytes a
        # daemon without such sources never needs.
        from monitor.collectors.html_list import parse_html_list

        _take(outcome, parse_html_list(response.body, source=source.id, url=response.url, headers=response.headers,
                                       item=source.item, link=source.link, title=source.title, date=source.date,
                                       encoding=source.encoding, issuer=source.issuer, language=source.language))


async def _screening_list(source, url: str, fetcher: Fetcher, memory: SourceMemory, outcome: PollOutcome) -> None:
    """The whole bulk file (streamed, capped by ``max_bytes``); parsed only when its bytes changed."""
    response = await _fetch_first(url, fetcher, memory, outcome, source.max_bytes)
    if response is None:
        return
    parsed = parse_screening_list(response.body, headers=response.headers, format=source.format, lists=source.lists)
    outcome.screening = parsed
    outcome.skipped += parsed.skipped
    outcome.warnings.extend(safe_line(w) for w in parsed.warnings)


def _search_params(source, url: str) -> list[tuple[str, str]] | None:
    """``fields[]`` for document searches (other endpoints refuse document field names)."""
    parts = urlsplit(url)
    if not parts.path.endswith("/documents.json") or any(k == "fields[]" for k, _ in parse_qsl(parts.query)):
        return None
    return [("fields[]", name) for name in (source.fields or DEFAULT_FIELDS)]


async def _federal_register(source, url: str, fetcher: Fetcher, memory: SourceMemory, outcome: PollOutcome) -> None:
    response = await _fetch_first(url, fetcher, memory, outcome, source.max_bytes, _search_params(source, url))
    if response is None:
        return
    result = parse_federal_register(response.body, source=source.id, url=response.url)
    _take(outcome, result)
    seen_keys = {o.key for o in result.observations}
    seen_urls = {response.url}
    while result.next_url and outcome.pages < source.max_pages:
        if result.next_url in seen_urls:
            outcome.warnings.append(f"next_page_url repeats {redact_url(result.next_url)}: stopped")
            break
        seen_urls.add(result.next_url)
        page = await fetcher.get(result.next_url, max_bytes=source.max_bytes)
        outcome.pages += 1
        outcome.bytes += len(page.body)
        result = parse_federal_register(page.body, source=source.id, url=page.url)
        keys = {o.key for o in result.observations}
        if keys and keys <= seen_keys:  # the API's silent clamp answers page 1 again
            outcome.warnings.append(f"page {outcome.pages} repeats earlier results (API clamp): stopped")
            break
        seen_keys |= keys
        _take(outcome, result)


def _take(outcome: PollOutcome, result: ParseResult) -> None:
    kept, skipped = screen(result.observations)
    outcome.observations.extend(kept)
    outcome.warnings.extend(safe_line(w) for w in [*result.warnings, *skipped])
    outcome.skipped += result.skipped + len(skipped)


# --- the registry: one collector per source kind ---------------------------------------------------

@dataclass(frozen=True)
class SourceKind:
    """What a kind of source is: how it is collected, and what its items are."""

    collect: Callable[..., Awaitable[None]]  # (source, url, fetcher, memory, outcome): fills the outcome
    official: bool  # the publisher's own channel (a feed is official only with a `jurisdiction`)
    structured: bool = False  # items carry the publisher's fields: kind and dates are read from them
    rekeys_by_link: bool = False  # guids may be reissued: a known link keeps its item (identity.rekey_unstable)


KINDS: dict[str, SourceKind] = {
    "federal_register": SourceKind(_federal_register, official=True, structured=True),
    "feed": SourceKind(_feed, official=False, rekeys_by_link=True),
    "html_list": SourceKind(_html_list, official=True),
    "screening_list": SourceKind(_screening_list, official=True),
}


def source_info(source) -> SourceInfo:
    """What detection needs to know of a configured source."""
    kind = KINDS[source.kind]
    return SourceInfo(source.id, source.kind, kind.official or bool(getattr(source, "jurisdiction", None)),
                      structured=kind.structured)
