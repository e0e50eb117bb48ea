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
