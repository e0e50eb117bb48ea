"""The gazetteer: which countries, regions and companies a text names, with evidence.

The data ships as ``monitor/data/gazetteer.toml`` (its header documents the schema and the
decisions); ``[regions.*]`` and ``[companies.*]`` tables of ``sources.toml`` add entries or replace
them by slug. Pure: no I/O after ``load``.

Matching runs over ``normalize(text)`` (``monitor.detect.text``: per-character NFKC and
Traditional→Simplified, same length as the original, so offsets are offsets into the original),
lower-cased:

- every alias is normalised and lower-cased like the text, so Traditional, full-width and
  differently cased spellings meet; a case-sensitive alias (an acronym of at most 4 letters such
  as ``US``, ``AMD``, ``UAE``, or one listed under ``case_sensitive``) is then kept only where the
  text spells it exactly so ("us" is not the United States);
- Latin aliases need a boundary on each Latin side (no Latin letter or digit next to them), so
  "Intel" is not in "intelligence"; CJK aliases need none;
- all aliases are keys of one Aho-Corasick automaton (``ahocorasick-rs``), which reports every
  occurrence of every key in one pass over the text; boundaries, guards and case are then checked
  on those occurrences only;
- every place where an alias may start is tried (Latin: every word start; CJK: every character),
  the longest alias there wins, and an occurrence inside a longer one is dropped ("North Korea"
  → KP only; "超微电脑" → Supermicro only; "South China Sea" → nothing, a blocked
  phrase); so a wrong reading never hides a right one that overlaps it;
- guards (literal contexts before or after an alias: "中美" not followed by "国", since
  "其中美国" is "其中" + "美国") are checked where the alias occurs.
"""

from __future__ import annotations

import functools
import operator
import importlib.resources
import re
import tomllib
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from monitor.detect.literals import Literals
from monitor.detect.text import ItemText, lower_same_length as _lower, normalize

if TYPE_CHECKING:  # pragma: no cover
    from monitor.config import CompanyConfig, RegionConfig

__all__ = ["Company", "Country", "Gazetteer", "GazetteerError", "Match", "Region", "Tags"]

KINDS: tuple[str, ...] = ("country", "region", "company")

# A Latin alias must not touch another Latin letter or digit on its Latin sides.
_WORD = "0-9A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_WORD_CHAR = re.compile(f"[{_WORD}]")
# the same characters as a set: a membership test is several times cheaper than a regex match, and
# the scan tests the characters around every occurrence (all of them lie below U+0250)
_WORD_CHARS = frozenset(ch for ch in map(chr, range(0x250)) if _WORD_CHAR.match(ch))
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class GazetteerError(ValueError):
    """The gazetteer data (shipped or configured) cannot be used."""


@dataclass(frozen=True)
class Match:
    kind: str  # "country" | "region" | "company"
    slug: str  # ISO 3166 alpha-2 code for countries, the slug otherwise
    alias: str  # the alias as listed in the data
    field: str  # which field of the item ("title", "summary", ...)
    start: int  # offsets into the original text of that field
    end: int
    text: str  # the matched text, from the original: fields[field][start:end]


@dataclass(frozen=True)
class Tags:
    countries: tuple[str, ...]
    regions: tuple[str, ...]
    companies: tuple[str, ...]
    matches: tuple[Match, ...]


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    aliases: tuple[str, ...] = ()
    case_sensitive: tuple[str, ...] = ()


@dataclass(frozen=True)
class Region:
    slug: str
    name: str
    countries: frozenset[str]
    aliases: tuple[str, ...] = ()
    case_sensitive: tuple[str, ...] = ()
    implied_by_countries: bool = True


@dataclass(frozen=True)
class Company:
    slug: str
    name: str
    aliases: tuple[str, ...] = ()
    case_sensitive: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Compound:
    alias: str
    targets: tuple[tuple[str, str], ...]  # (kind, slug)
    case_sensitive: bool | None  # None: the automatic rule


@dataclass(frozen=True)
class _Guard:
    not_preceded_by: tuple[str, ...]
    not_followed_by: tuple[str, ...]


# --- helpers -------------------------------------------------------------------------------------


def auto_case_sensitive(alias: str) -> bool:
    """Whether an alias matches only as written under the automatic rule: at most 4 Latin letters,
    with 2 or more capitals (US, U.S., UAE, AMD, TSMC, ROK) or a capital and a digit (G42, D:5)."""
    letters = [c for c in alias if c.isascii() and c.isalpha()]
    if not letters or len(letters) > 4:
        return False
    upper = sum(c.isupper() for c in letters)
    return upper >= 2 or (upper >= 1 and any(c.isdigit() for c in alias))


@dataclass(frozen=True)
class _Key:
    """What one matched key means.

    ``always``: targets of case-insensitive aliases. ``exact``: (spelling, target) of
    case-sensitive aliases, taken only when the text is spelt exactly so. A key whose targets are
    all rejected for their case leaves the place to the next shorter key that starts there.
    ``word_start`` / ``word_end``: the key starts / ends with a Latin letter or digit, so it needs a
    boundary on that side. ``guard``: the literal contexts in which it is not a mention.
    """

    always: tuple[tuple[str, str, str], ...]
    exact: tuple[tuple[str, tuple[str, str, str]], ...] = ()
    word_start: bool = False
    word_end: bool = False
    guard: _Guard | None = None
    preceded: tuple[str, ...] = ()  # each not_preceded_by context followed by the key itself


class _Scanner:
    """Every key, found in the lower-cased normalised text by one Aho-Corasick automaton.

    The automaton reports every occurrence of every key (overlapping ones too), in one pass in
    compiled code, where a trie-shaped regex had to be tried at every word start and at every CJK
    character. What a literal cannot say is checked on those occurrences only: the Latin
    boundaries, the guards and the case of case-sensitive aliases. At each start the longest key
    that passes wins (the keys found at one start are prefixes of one another, so a key rejected
    for its case leaves the place to the next shorter one), so a wrong reading never hides a right
    one that overlaps it; what an occurrence contains is left to the caller to drop.
    """

    def __init__(self, keys: Mapping[str, _Key], guards: Mapping[str, _Guard]):
        self.keys = dict(keys)
        self.guards = dict(guards)
        self._patterns = list(self.keys)
        self._infos = [self.keys[k] for k in self._patterns]
        # the targets of each key that needs no check (no boundary, guard or case: most CJK
        # keys), None for the others: the scan's common case is one list look-up
        self._plain = [None if info.word_start or info.word_end or info.guard is not None or info.exact
                       else info.always for info in self._infos]
        # and for the others what to check, as one tuple (the case rule's outcome worked out per
        # spelling once, not per occurrence)
        self._checks = [(info.word_start, info.word_end,
                         info.guard.not_followed_by or None if info.guard is not None else None,
                         info.preceded if info.guard is not None and info.guard.not_preceded_by else None,
                         _exact_targets(info) if info.exact else None, info.always) for info in self._infos]
        # ahocorasick_rs takes no empty pattern; an empty key (never made: aliases are stripped
        # and checked) could match nothing anyway.
        self._automaton = Literals(self._patterns) if self._patterns else None

    def scan(self, low: str, norm: str) -> list[tuple[int, int, tuple]]:
        """(start, end, targets) of the outermost occurrences, in text order: without those inside
        a longer one and without blocked phrases (no targets: they only hide what they contain);
        ``low`` is the lower-cased ``norm``."""
        if self._automaton is None:
            return []
        try:
            hits = self._automaton.find(low)
        except UnicodeEncodeError:
            # A lone surrogate cannot cross into Rust: scan a copy with U+FFFD in its place (same
            # length; neither is in any key nor a word character), check contexts on the original.
            hits = self._automaton.find(_SURROGATES.sub("\ufffd", low))
        if not hits:
            return []
        # the candidates at each start, longest first: the automaton reports each occurrence as it
        # reaches its end, so reversed the list runs by descending end, and a stable sort by start
        # keeps the longest first at each start
        hits.reverse()
        hits.sort(key=_START)
        plain, checks = self._plain, self._checks
        out: list[tuple[int, int, tuple]] = []
        append = out.append
        size = len(low)
        done = -1  # the start that already has its occurrence
        reach = -1  # the end of the occurrences kept so far: one ending there or before is inside
        for index, start, end in hits:
            if start == done:
                continue
            targets = plain[index]
            if targets is None:  # a key with a boundary, a guard or a case to check
                word_start, word_end, followed, preceded, exact, targets = checks[index]
                if word_start and start and low[start - 1] in _WORD_CHARS:
                    continue
                if word_end and end < size and low[end] in _WORD_CHARS:
                    continue
                # str.startswith / endswith take a tuple: each context set is one call
                if followed is not None and low.startswith(followed, end):
                    continue
                if preceded is not None and low.endswith(preceded, 0, end):
                    continue
                if exact is not None:
                    targets = exact.get(norm[start:end], targets)
                    if not targets:
                        continue  # rejected for its case ("U.S.a." is not "U.S.A."): a shorter key may start here
                # else the key's targets: () for a blocked phrase, which only hides what it contains
            done = start
            # Starts ascend and each has one occurrence, so one ending within the reach of those
            # before it lies inside an earlier, longer one.
            if end <= reach:
                continue
            reach = end
            if targets:
                append((start, end, targets))
        return out


_START = operator.itemgetter(1)


def _exact_targets(info: _Key) -> dict[str, tuple]:
    """The targets of a key with case-sensitive aliases, by the spelling found: the key's
    case-insensitive targets plus those spelt so (a target the key has both ways counts once);
    a spelling not listed has the case-insensitive targets only (none: rejected for its case)."""
    out = {}
    for spelling in {spelling for spelling, _target in info.exact}:
        exact = [t for sp, t in info.exact if sp == spelling and not any(a[:2] == t[:2] for a in info.always)]
        out[spelling] = tuple(sorted(info.always + tuple(exact))) if exact else info.always
    return out


_SURROGATES = re.compile("[\ud800-\udfff]")


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise GazetteerError(f"{where}: {key}: expected a list of non-empty strings")
    return tuple(value)


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GazetteerError(f"{where}: {key}: expected a non-empty string")
    return value


def _codes(value: Any, where: str, key: str) -> tuple[str, ...]:
    codes = _strings(value, where, key)
    bad = [c for c in codes if not _COUNTRY_CODE.fullmatch(c)]
    if bad:
        raise GazetteerError(f"{where}: {key}: not ISO 3166 alpha-2 codes: {', '.join(bad)}")
    return codes


def _check_keys(table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise GazetteerError(f"{where}: unknown key(s): {', '.join(unknown)}")


@functools.lru_cache(maxsize=1)
def _shipped_data() -> Mapping[str, Any]:
    resource = importlib.resources.files("monitor").joinpath("data/gazetteer.toml")
    return tomllib.loads(resource.read_text(encoding="utf-8"))


_new = object.__new__
_set = object.__setattr__


def _match(kind: str, slug: str, alias: str, field: str, start: int, end: int, text: str) -> Match:
    """``Match(...)``, built twice as fast (a frozen dataclass sets each field through
    ``object.__setattr__``; this sets its ``__dict__`` at once). Equal to ``Match(...)``."""
    match = _new(Match)
    _set(match, "__dict__", {"kind": kind, "slug": slug, "alias": alias, "field": field,
                             "start": start, "end": end, "text": text})
    return match


# --- the gazetteer -------------------------------------------------------------------------------


class Gazetteer:
    """Countries, regions and companies, and a matcher for their aliases."""

    def __init__(
        self,
        countries: Mapping[str, Country],
        regions: Mapping[str, Region],
        companies: Mapping[str, Company],
        compounds: Iterable[_Compound] = (),
        guards: Mapping[str, _Guard] | None = None,
        blocked: Iterable[str] = (),
    ):
        self._countries = dict(countries)
        self._regions = dict(regions)
        self._companies = dict(companies)
        self.countries: Mapping[str, Country] = MappingProxyType(self._countries)
        self.regions: Mapping[str, Region] = MappingProxyType(self._regions)
        self.companies: Mapping[str, Company] = MappingProxyType(self._companies)
        compounds = tuple(compounds)
        self._check_compounds(compounds)

        # Every alias, lower-cased, in one table: case-sensitive ones carry their exact spelling,
        # checked after the case-insensitive match. key -> [(kind, slug, alias, spelling | None)]
        table: dict[str, list[tuple[str, str, str, str | None]]] = {}

        def add(kind: str, slug: str, alias: str, sensitive: bool | None) -> None:
            norm = normalize(alias.strip())
            if not norm:
                return
            if sensitive is None:
                sensitive = auto_case_sensitive(norm)
            spelling = norm if sensitive else None
            targets = table.setdefault(_lower(norm), [])
            if not any(t[0] == kind and t[1] == slug and t[3] == spelling for t in targets):
                targets.append((kind, slug, alias, spelling))

        for kind, entries in (
            ("country", self._countries),
            ("region", self._regions),
            ("company", self._companies),
        ):
            for slug, entry in entries.items():
                for alias in entry.aliases:
                    add(kind, slug, alias, None)
                for alias in entry.case_sensitive:
                    add(kind, slug, alias, True)
                if entry.name not in entry.case_sensitive and entry.name not in entry.aliases:
                    add(kind, slug, entry.name, None)
        for compound in compounds:
            for kind, slug in compound.targets:
                add(kind, slug, compound.alias, compound.case_sensitive)
        for phrase in blocked:
            table.setdefault(_lower(normalize(phrase.strip())), [])

        # Guards apply to an alias's key, with contexts normalised and lower-cased alike.
        key_guards: dict[str, _Guard] = {}
        for alias, guard in (guards or {}).items():
            key_guards[_lower(normalize(alias.strip()))] = _Guard(
                tuple(_lower(normalize(p)) for p in guard.not_preceded_by),
                tuple(_lower(normalize(f)) for f in guard.not_followed_by),
            )

        keys: dict[str, _Key] = {}
        for key, targets in table.items():
            keys[key] = _Key(
                tuple(sorted((k, s, a) for k, s, a, sp in targets if sp is None)),
                tuple(sorted((sp, (k, s, a)) for k, s, a, sp in targets if sp is not None)),
                _WORD_CHAR.match(key) is not None,
                _WORD_CHAR.match(key[-1]) is not None,
                key_guards.get(key),
                tuple(p + key for p in key_guards[key].not_preceded_by) if key in key_guards else (),
            )
        self._scanner = _Scanner(keys, key_guards)

        # region derivation
        implied: dict[str, set[str]] = {}
        for slug, region in self._regions.items():
            if region.implied_by_countries:
                for code in region.countries:
                    implied.setdefault(code, set()).add(slug)
        self._implied_by_country = {c: frozenset(s) for c, s in implied.items()}
        self._super_regions = {
            slug: frozenset(
                other
                for other, o in self._regions.items()
                if other != slug and o.implied_by_countries and region.countries
                and region.countries <= o.countries
            )
            for slug, region in self._regions.items()
        }

    # --- construction ----------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        regions: Mapping[str, "RegionConfig"] | None = None,
        companies: Mapping[str, "CompanyConfig"] | None = None,
    ) -> "Gazetteer":
        """The shipped data plus the ``[regions.*]`` / ``[companies.*]`` tables of sources.toml.

        A configured slug that exists replaces that entry (a replaced region keeps its
        ``implied_by_countries``, which sources.toml cannot set; a new one is implied by its
        countries). Configured aliases follow the automatic case rule; the name is an alias too.
        """
        return cls.from_data(_shipped_data(), regions=regions, companies=companies)

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        *,
        regions: Mapping[str, "RegionConfig"] | None = None,
        companies: Mapping[str, "CompanyConfig"] | None = None,
        source: str = "gazetteer.toml",
    ) -> "Gazetteer":
        """A gazetteer from parsed data in the ``gazetteer.toml`` schema, plus configuration."""
        _check_keys(
            data, source, {"countries", "regions", "companies", "compounds", "guards", "block"}
        )
        countries: dict[str, Country] = {}
        for code, table in (data.get("countries") or {}).items():
            where = f"{source}: [countries.{code}]"
            if not _COUNTRY_CODE.fullmatch(code):
                raise GazetteerError(f"{where}: not an ISO 3166 alpha-2 code")
            _check_keys(table, where, {"name", "aliases", "case_sensitive"})
            countries[code] = Country(
                code,
                _text(table.get("name"), where, "name"),
                _strings(table.get("aliases"), where, "aliases"),
                _strings(table.get("case_sensitive"), where, "case_sensitive"),
            )
        region_entries: dict[str, Region] = {}
        for slug, table in (data.get("regions") or {}).items():
            where = f"{source}: [regions.{slug}]"
            if not _SLUG.fullmatch(slug):
                raise GazetteerError(f"{where}: invalid slug")
            _check_keys(
                table,
                where,
                {"name", "countries", "aliases", "case_sensitive", "implied_by_countries"},
            )
            implied = table.get("implied_by_countries", True)
            if not isinstance(implied, bool):
                raise GazetteerError(f"{where}: implied_by_countries: expected true or false")
            members = _codes(table.get("countries"), where, "countries")
            if not members:
                raise GazetteerError(f"{where}: countries: list at least one country")
            region_entries[slug] = Region(
                slug,
                _text(table.get("name"), where, "name"),
                frozenset(members),
                _strings(table.get("aliases"), where, "aliases"),
                _strings(table.get("case_sensitive"), where, "case_sensitive"),
                implied,
            )
        company_entries: dict[str, Company] = {}
        for slug, table in (data.get("companies") or {}).items():
            where = f"{source}: [companies.{slug}]"
            if not _SLUG.fullmatch(slug):
                raise GazetteerError(f"{where}: invalid slug")
            _check_keys(table, where, {"name", "aliases", "case_sensitive"})
            company_entries[slug] = Company(
                slug,
                _text(table.get("name"), where, "name"),
                _strings(table.get("aliases"), where, "aliases"),
                _strings(table.get("case_sensitive"), where, "case_sensitive"),
            )
        compounds = []
        for i, table in enumerate(data.get("compounds") or [], 1):
            where = f"{source}: [[compounds]] #{i}"
            _check_keys(
                table, where, {"alias", "countries", "regions", "companies", "case_sensitive"}
            )
            alias = _text(table.get("alias"), where, "alias")
            where = f"{where} ({alias!r})"
            targets = (
                [("country", c) for c in _codes(table.get("countries"), where, "countries")]
                + [("region", r) for r in _strings(table.get("regions"), where, "regions")]
                + [("company", c) for c in _strings(table.get("companies"), where, "companies")]
            )
            if not targets:
                raise GazetteerError(f"{where}: name at least one country, region or company")
            sensitive = table.get("case_sensitive")
            if sensitive is not None and not isinstance(sensitive, bool):
                raise GazetteerError(f"{where}: case_sensitive: expected true or false")
            compounds.append(_Compound(alias, tuple(targets), sensitive))
        guards: dict[str, _Guard] = {}
        for i, table in enumerate(data.get("guards") or [], 1):
            where = f"{source}: [[guards]] #{i}"
            _check_keys(table, where, {"alias", "not_preceded_by", "not_followed_by"})
            alias = _text(table.get("alias"), where, "alias")
            old = guards.get(alias, _Guard((), ()))
            before = _strings(table.get("not_preceded_by"), where, "not_preceded_by")
            after = _strings(table.get("not_followed_by"), where, "not_followed_by")
            guards[alias] = _Guard(old.not_preceded_by + before, old.not_followed_by + after)
        block = data.get("block") or {}
        _check_keys(block, f"{source}: [block]", {"phrases"})
        blocked = _strings(block.get("phrases"), f"{source}: [block]", "phrases")

        for slug, rc in (regions or {}).items():
            old_region = region_entries.get(slug)
            region_entries[slug] = Region(
                slug,
                rc.name,
                frozenset(c.upper() for c in rc.countries),
                tuple(rc.aliases),
                (),
                old_region.implied_by_countries if old_region is not None else True,
            )
        for slug, cc in (companies or {}).items():
            company_entries[slug] = Company(slug, cc.name, tuple(cc.aliases), ())
        try:
            return cls(countries, region_entries, company_entries, compounds, guards, blocked)
        except GazetteerError as exc:
            raise GazetteerError(f"{source}: {exc}") from None

    def _check_compounds(self, compounds: Iterable[_Compound]) -> None:
        known = {"country": self._countries, "region": self._regions, "company": self._companies}
        for compound in compounds:
            for kind, slug in compound.targets:
                if slug not in known[kind]:
                    raise GazetteerError(
                        f"[[compounds]] {compound.alias!r}: unknown {kind} {slug!r}"
                    )

    # --- queries ---------------------------------------------------------------------------------

    def name(self, kind: str, slug: str) -> str:
        """The display name ("Middle East", "Nvidia", "United Arab Emirates"); the slug if unknown."""
        tables = {"country": self._countries, "region": self._regions, "company": self._companies}
        table = tables.get(kind)
        if table is None:
            raise ValueError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
        entry = table.get(slug)
        return entry.name if entry is not None else slug

    def region_countries(self, slug: str) -> frozenset[str]:
        region = self._regions.get(slug)
        return region.countries if region is not None else frozenset()

    def find(self, fields: Mapping[str, str]) -> list[Match]:
        """Every alias occurrence in each field's text, in field order (as given), then by offset;
        an occurrence inside a longer one is dropped. Offsets are into the original text."""
        text = ItemText({field: value for field, value in fields.items() if value})
        return [
            _match(kind, slug, alias, field, start, end, original[start:end])
            for field, original in text.original.items()
            for start, end, targets in self._spans(text, field)
            for kind, slug, alias in targets
        ]

    def _spans(self, text: ItemText | str, field: str = "") -> list[tuple[int, int, tuple[tuple[str, str, str], ...]]]:
        """(start, end, targets) of every occurrence not inside a longer one, in text order."""
        if isinstance(text, str):
            text = ItemText({field: text})
        return self._scanner.scan(text.lowered(field), text.normalized[field])

    def breadth(self, kind: str, slug: str) -> tuple[bool, int]:
        """How broad a group is, narrower first: regions that hold the United States (the actor of
        most stories, seldom their subject) last, then by country count; companies are all alike."""
        region = self.regions.get(slug) if kind == "region" else None
        return (("US" in region.countries, len(region.countries)) if region is not None else (False, 0))

    def tag(
        self,
        fields: Mapping[str, str] | ItemText,
        *,
        extra_countries: Iterable[str] = (),
        extra_regions: Iterable[str] = (),
        extra_companies: Iterable[str] = (),
    ) -> Tags:
        """What the fields name, with evidence.

        ``fields`` are texts by field name, or an ``ItemText`` that already holds them normalised
        (the detector's: one normalisation an item, shared with the catalog and the classifier).
        ``matches`` are ``find``'s, de-duplicated: the first occurrence (in field order, then by
        offset) of each (kind, slug, alias). Regions are derived: a country tags every region that
        is ``implied_by_countries`` and contains it; a named region tags every such region that
        contains all its countries ("Gulf" → gulf + middle-east). The extras (e.g. a linked rule's
        own tags) are merged first and derive the same way.
        """
        text = fields if isinstance(fields, ItemText) else ItemText(
            {field: value for field, value in fields.items() if value})
        seen: set[tuple[str, str, str]] = set()
        matches: list[Match] = []
        for field, original in text.original.items():
            for start, end, targets in self._spans(text, field):
                for target in targets:
                    if target not in seen:
                        seen.add(target)
                        kind, slug, alias = target
                        matches.append(
                            _match(kind, slug, alias, field, start, end, original[start:end])
                        )
        return self._derive(matches, extra_countries, extra_regions, extra_companies)

    def retag(self, tags: Tags, *, extra_regions: Iterable[str] = ()) -> Tags:
        """``tag`` of the same text with other ``extra_regions``, from its matches (no new scan)."""
        return self._derive(list(tags.matches), (), extra_regions, ())

    def _derive(self, matches: list[Match], extra_countries: Iterable[str], extra_regions: Iterable[str],
                extra_companies: Iterable[str]) -> Tags:
        countries = set(extra_countries)
        named_regions = set(extra_regions)
        companies = set(extra_companies)
        for match in matches:
            if match.kind == "country":
                countries.add(match.slug)
            elif match.kind == "region":
                named_regions.add(match.slug)
            else:
                companies.add(match.slug)
        regions = set(named_regions)
        for code in countries:
            regions.update(self._implied_by_country.get(code, ()))
        for slug in named_regions:
            regions.update(self._super_regions.get(slug, ()))
        return Tags(
            tuple(sorted(countries)),
            tuple(sorted(regions)),
            tuple(sorted(companies)),
            tuple(matches),
        )
