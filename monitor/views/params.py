"""The query parameters of the HTTP views, checked before anything is read or rendered.

A request names only parameters its endpoint takes, each once, with a value the monitor knows: a
region or company slug of the gazetteer, a kind of change, a severity, a limit in range. Anything
else is a ``BadRequest`` whose text says what was wrong (and, for a near miss, what was meant), so
a typo in a feed reader's subscription is a 400 to fix, not an empty feed that looks like "nothing
happened", and no value that was not checked ever reaches an output format.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Mapping
from urllib.parse import parse_qsl

from monitor.views.queries import SEVERITIES

MAX_QUERY = 2048  # characters: every legitimate query is far shorter


class BadRequest(ValueError):
    """A request the monitor will not answer; the text is the reason, safe to show."""


@dataclass(frozen=True)
class Vocabulary:
    """The values a filter may take (lowercase slugs)."""

    regions: frozenset[str]
    companies: frozenset[str]
    kinds: frozenset[str]


@dataclass(frozen=True)
class Filters:
    region: str | None = None
    company: str | None = None
    kinds: tuple[str, ...] = ()
    min_severity: str = "low"
    limit: int = 100
    given: dict[str, str] = field(default_factory=dict)  # the checked parameters, for a canonical URL


# The parameters each endpoint takes; an endpoint not listed takes none.
ENDPOINT_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "/changes.atom": ("region", "company", "kind", "min_severity", "limit"),
    "/deadlines.ics": ("region", "company"),
}
LIMIT_RANGE = (1, 1000)


def show(value: str) -> str:
    """A value as a reason may quote it: escaped (no control character reaches a response) and short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _suggest(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_of(name: str, value: str, known: frozenset[str], what: str) -> str:
    slug = value.strip().lower()
    if slug in known:
        return slug
    raise BadRequest(f"{name}: unknown {what} {show(value)}{_suggest(slug, known)}")


def parse(path: str, query: str, vocabulary: Vocabulary) -> Filters:
    """The checked filters of a request to ``path`` with the raw ``query`` string."""
    values = _pairs(path, query, ENDPOINT_PARAMETERS.get(path, ()))
    given: dict[str, str] = {}
    region = company = None
    if values.get("region", "").strip():
        region = given["region"] = _one_of("region", values["region"], vocabulary.regions, "region")
    if values.get("company", "").strip():
        company = given["company"] = _one_of("company", values["company"], vocabulary.companies, "company")
    kinds = tuple(dict.fromkeys(_one_of("kind", k, vocabulary.kinds, "kind")
                                for k in values.get("kind", "").split(",") if k.strip()))
    if kinds:
        given["kind"] = ",".join(kinds)
    severity = values.get("min_severity", "").strip().lower() or "low"
    if severity not in SEVERITIES:
        raise BadRequest(f"min_severity must be one of {', '.join(SEVERITIES)}, not {show(values['min_severity'])}")
    if severity != "low":
        given["min_severity"] = severity
    limit = 100
    if values.get("limit", "").strip():
        text = values["limit"].strip()
        low, high = LIMIT_RANGE
        if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            raise BadRequest(f"limit must be a whole number from {low} to {high}, not {show(values['limit'])}")
        limit = int(text)
        given["limit"] = str(limit)
    return Filters(region, company, kinds, severity, limit, given)


# --- the console's filters -------------------------------------------------------------------------

CONSOLE_PARAMETERS = ("region", "country", "company", "kind", "severity", "status", "source", "language", "from",
                      "to", "q", "limit", "before")
CONSOLE_PATHS = ("/", "/api/changes", "/api/incidents")
CONSOLE_LIMIT = 50
MAX_TEXT_QUERY = 200


@dataclass(frozen=True)
class ConsoleVocabulary:
    """Everything a console filter may name (lowercase, except ISO country codes, kept upper)."""

    regions: frozenset[str]
    companies: frozenset[str]
    countries: frozenset[str]
    kinds: frozenset[str]
    severities: frozenset[str]
    statuses: frozenset[str]
    sources: frozenset[str]
    languages: frozenset[str]


@dataclass(frozen=True)
class ConsoleQuery:
    browse: "object"  # monitor.projections.browse.Browse
    limit: int = CONSOLE_LIMIT
    before: int | None = None
    given: dict[str, str] = field(default_factory=dict)  # canonical parameters, for links that keep the view


def _pairs(path: str, query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    if len(query) > MAX_QUERY:
        raise BadRequest(f"the query string is longer than {MAX_QUERY} characters")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict", max_num_fields=50)
    except UnicodeDecodeError:
        raise BadRequest("the query string is not UTF-8 once percent-decoded") from None
    except ValueError:
        raise BadRequest("too many query parameters") from None
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
            raise BadRequest(f"unknown parameter {show(name)} for {path}{_suggest(name, allowed)}; {takes}")
        if name in values:
            raise BadRequest(f"{name} is given more than once (several values are separated by commas: a,b)")
        values[name] = value
    return values


def _many(name: str, value: str, known: frozenset[str], what: str, *, upper: bool = False) -> tuple[str, ...]:
    out = []
    for part in value.split(","):
        slug = part.strip().upper() if upper else part.strip().lower()
        if not slug:
            continue
        if slug not in known:
            raise BadRequest(f"{name}: unknown {what} {show(part.strip())}{_suggest(slug, known)}")
        out.append(slug)
    return tuple(dict.fromkeys(out))


def _day(name: str, value: str) -> str | None:
    from datetime import date

    text = value.strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise BadRequest(f"{name} must be a date as YYYY-MM-DD, not {show(value)}") from None


def _whole(name: str, value: str, low: int, high: int) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {show(value)}")
    return int(text)


def parse_console(path: str, query: str, vocabulary: ConsoleVocabulary) -> ConsoleQuery:
    """The checked filters of a console page or ``/api/`` list; anything unknown is a BadRequest."""
    from monitor.projections.browse import Browse

    values = _pairs(path, query, CONSOLE_PARAMETERS)
    given: dict[str, str] = {}
    lists = {}
    for name, known, what, upper in (("region", vocabulary.regions, "region", False),
                                     ("country", vocabulary.countries, "country code", True),
                                     ("company", vocabulary.companies, "company", False),
                                     ("kind", vocabulary.kinds, "kind", False),
                                     ("severity", vocabulary.severities, "severity", False),
                                     ("status", vocabulary.statuses, "incident status", False),
                                     ("source", vocabulary.sources, "source", False),
                                     ("language", vocabulary.languages, "language", False)):
        lists[name] = _many(name, values.get(name, ""), known, what, upper=upper)
        if lists[name]:
            given[name] = ",".join(lists[name])
    date_from, date_to = _day("from", values.get("from", "")), _day("to", values.get("to", ""))
    if date_from and date_to and date_from > date_to:
        raise BadRequest(f"from ({date_from}) is after to ({date_to})")
    for name, day in (("from", date_from), ("to", date_to)):
        if day:
            given[name] = day
    text = " ".join(values.get("q", "").split())
    if len(text) > MAX_TEXT_QUERY:
        raise BadRequest(f"q is longer than {MAX_TEXT_QUERY} characters")
    if any(not ch.isprintable() for ch in text):
        raise BadRequest("q contains a control character")
    if text:
        given["q"] = text
    limit = _whole("limit", values.get("limit", ""), *LIMIT_RANGE)
    if limit is not None:
        given["limit"] = str(limit)
    before = _whole("before", values.get("before", ""), 1, 1 << 62)
    browse = Browse(regions=lists["region"], countries=lists["country"], companies=lists["company"],
                    kinds=lists["kind"], severities=lists["severity"], statuses=lists["status"],
                    sources=lists["source"], languages=lists["language"], date_from=date_from, date_to=date_to,
                    text=text or None)
    return ConsoleQuery(browse, limit or CONSOLE_LIMIT, before, given)


def parse_none(path: str, query: str, allowed: tuple[str, ...] = ()) -> dict[str, str]:
    """A page that takes no parameters (or only ``allowed`` free ones): refuses anything else."""
    return _pairs(path, query, allowed)
