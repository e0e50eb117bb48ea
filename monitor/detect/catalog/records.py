"""The catalog's records: rules as data, and what linking returns (plain, JSON-serialisable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

__all__ = ["IDENTIFIER_KINDS", "CatalogError", "Evidence", "Link", "Rule"]

IDENTIFIER_KINDS = ("fr_documents", "citations", "rins", "dockets", "bills", "announcements")


class CatalogError(ValueError):
    """The catalog data or a [[rules]] entry cannot be used; the message names the rule and key."""


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    issuer: str | None
    jurisdiction: str | None
    kind: str | None
    identifiers: Mapping[str, tuple[str, ...]]  # keys: IDENTIFIER_KINDS; values as written
    keywords: tuple[str, ...]  # AND entries written "a + b"
    regions: tuple[str, ...]
    countries: tuple[str, ...]
    companies: tuple[str, ...]
    dates: Mapping[str, str]  # ISO dates
    title_zh: str | None = None
    topics: tuple[str, ...] = ()  # subject words for linking news by date and subject


@dataclass(frozen=True)
class Evidence:
    kind: str  # "identifier" | "keyword"
    name: str  # "fr_document", "correction_of", "citation", "rin", "docket", "bill", "announcement", "keyword"
    value: str  # as found
    field: str  # "fields.rins", "title", "summary", "url", ...
    start: int | None = None  # offsets into that field's text, when found in text
    end: int | None = None


@dataclass(frozen=True)
class Link:
    rule: str
    by: str  # "identifier" | "keyword"
    evidence: tuple[Evidence, ...]


_new = object.__new__
_set = object.__setattr__


def evidence(kind: str, name: str, value: str, field: str, start: int | None = None,
             end: int | None = None) -> Evidence:
    """``Evidence(...)``, built about three times as fast (a frozen dataclass sets each field
    through ``object.__setattr__``; this sets its ``__dict__`` at once); equal to ``Evidence(...)``.
    The scan makes one for every identifier an item mentions."""
    made = _new(Evidence)
    _set(made, "__dict__", {"kind": kind, "name": name, "value": value, "field": field, "start": start, "end": end})
    return made

