"""Catalog data to ``Rule`` records: the shipped ``monitor/data/catalog.toml`` and rule entries
given as plain data (a ``sources.toml`` [[rules]] entry, validated by the configuration and
dumped to a dict by whoever read the configuration).

Plain data only: this module does not know the configuration's schema. It checks the shape a
``Rule`` needs (known keys, strings, lists of strings, dates) so that a bad shipped entry is one
clear ``CatalogError`` naming the file, the entry and the key; the finer checks of the values
(slugs, country codes) are the configuration's, and the tests hold the shipped catalog to them.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Mapping

from monitor.detect.catalog.keywords import keyword_entries
from monitor.detect.catalog.records import IDENTIFIER_KINDS, CatalogError, Rule

__all__ = ["default_rules", "rule_from_data", "rules_from_toml"]

_OPTIONAL_TEXT = ("issuer", "jurisdiction", "kind", "title_zh")
_LISTS = ("keywords", "topics", "regions", "countries", "companies")
_KEYS = frozenset(("id", "title", "identifiers", "dates", *_OPTIONAL_TEXT, *_LISTS))


def default_rules() -> list[Rule]:
    """The rules of the shipped ``monitor/data/catalog.toml``."""
    resource = importlib.resources.files("monitor").joinpath("data", "catalog.toml")
    return rules_from_toml(resource.read_text(encoding="utf-8"), label="monitor/data/catalog.toml")


def rules_from_toml(text: str, *, label: str = "catalog") -> list[Rule]:
    """Rules from a catalog document (``[[rules]]`` entries, see the package docstring)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{label}: {error}") from None
    entries = data.get("rules", [])
    if not isinstance(entries, list):
        raise CatalogError(f"{label}: rules: expected an array of tables ([[rules]])")
    rules = []
    for position, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise CatalogError(f"{label}: [[rules]] #{position}: expected a table")
        try:
            rules.append(rule_from_data(entry))
        except CatalogError as error:
            raise CatalogError(f"{label}: [[rules]] #{position} (id {entry.get('id')!r}): {error}") from None
    return rules


def rule_from_data(data: Mapping[str, Any]) -> Rule:
    """A ``Rule`` from one rule entry as plain data: ``id``, ``title``, optional ``issuer``,
    ``jurisdiction``, ``kind``, ``title_zh``, ``identifiers`` (kind -> list of values),
    ``keywords`` (strings, "a + b" for AND, or arrays of terms), ``topics``, ``regions``,
    ``countries``, ``companies`` (lists of strings) and ``dates`` (name -> date or ISO date)."""
    problems = _problems(data)
    if problems:
        raise CatalogError("; ".join(problems))
    identifiers = data.get("identifiers") or {}
    return Rule(
        id=data["id"],
        title=data["title"],
        issuer=data.get("issuer"),
        jurisdiction=data.get("jurisdiction"),
        kind=data.get("kind"),
        identifiers=MappingProxyType({kind: tuple(identifiers.get(kind) or ()) for kind in IDENTIFIER_KINDS}),
        keywords=tuple(keyword_entries(data.get("keywords"))),
        regions=tuple(data.get("regions") or ()),
        countries=tuple(data.get("countries") or ()),
        companies=tuple(data.get("companies") or ()),
        dates=MappingProxyType({name: _iso(value) for name, value in (data.get("dates") or {}).items()}),
        title_zh=data.get("title_zh"),
        topics=tuple(data.get("topics") or ()),
    )


def _problems(data: Mapping[str, Any]) -> list[str]:
    """What keeps ``data`` from being a rule, one "key: problem" each."""
    problems = [f"{key}: unknown key" for key in data if key not in _KEYS]
    for key in ("id", "title"):
        if not _text(data.get(key)):
            problems.append(f"{key}: required, a non-empty string")
    for key in _OPTIONAL_TEXT:
        if data.get(key) is not None and not isinstance(data[key], str):
            problems.append(f"{key}: expected a string")
    for key in _LISTS:
        value = data.get(key) or []
        if not isinstance(value, (list, tuple)):
            problems.append(f"{key}: expected an array")
            continue
        for index, one in enumerate(value):
            terms = one if key == "keywords" and isinstance(one, (list, tuple)) else [one]
            if not all(_text(term) for term in terms):
                problems.append(f"{key}.{index}: expected a non-empty string")
    identifiers = data.get("identifiers") or {}
    if not isinstance(identifiers, Mapping):
        problems.append("identifiers: expected a table")
    else:
        for kind, values in identifiers.items():
            if kind not in IDENTIFIER_KINDS:
                problems.append(f"identifiers.{kind}: unknown key")
            elif not isinstance(values, (list, tuple)) or not all(_text(v) for v in values):
                problems.append(f"identifiers.{kind}: expected an array of non-empty strings")
    dates = data.get("dates") or {}
    if not isinstance(dates, Mapping):
        problems.append("dates: expected a table")
    else:
        for name, value in dates.items():
            if _iso(value) is None:
                problems.append(f"dates.{name}: expected a date (YYYY-MM-DD)")
    return problems


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _iso(value: Any) -> str | None:
    """A date (a TOML date, a ``datetime.date``, or an ISO string) as YYYY-MM-DD; None if not one."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            return None
    return None
