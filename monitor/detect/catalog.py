"""The catalog of known rules, and linking an item to the one rule it is about.

Pure: the catalog is data (``monitor/data/catalog.toml`` plus ``[[rules]]`` entries of
``sources.toml``), compiled once at load; ``link(item)`` only reads the item.

An *item* is the plain dict recorded for an item: ``{"source", "key", "title", "url", "summary",
"language", "published", "updated", "fields": {...}}`` (``Observation.content()`` plus source and
key).

Identifiers
    ``identifiers_in(item)`` finds every identifier in the item, with evidence:

    - its own, structured ones: ``fields.document_number`` (also a document number in a
      federalregister.gov / govinfo.gov ``url`` or ``fields.guid``), ``fields.correction_of`` and
      ``fields.corrections``, ``fields.citation``, ``fields.docket_ids``, ``fields.rins``,
      ``fields.announcement_number`` (with ``fields.issuer``);
    - the ones its ``title`` and ``summary`` mention: FR document numbers (``2025-00636``, also
      ``C1-2025-00636``), citations (``90 FR 4544``, ``90 Fed. Reg. 4544``), RINs (``0694-AJ90``),
      dockets (``250107-0007`` with or without ``Docket No.``, ``BIS-2025-0001``), bills
      (``H.R. 8315``, ``H.R.8315``, ``HR 8315``, ``S. 1234``, ``H.Res. 12``), Chinese announcement
      numbers (``商务部公告2024年第46号``, ``商务部、海关总署公告2023年第23号``, Traditional
      ``號`` and full-width digits through ``normalize``) and English ones (``MOFCOM Announcement
      No. 46 of 2024``, ``Announcement [2024] No. 46``, ``Announcement 2023 No. 23``).

Linking (``link(item)``)
    1. Identifiers first, the item's own before the ones it mentions, and within each in this
       order of precedence: FR document number, ``correction_of``/``corrections`` (own only),
       citation, docket, bill, announcement, RIN. The first class that names a catalog rule
       decides. A RIN is last because one rulemaking's documents share it, and two catalog rules
       can share it (0694-AI94: the 2022 and the 2023 advanced-computing rules).
    2. When the deciding class names several rules (a shared RIN, or a news item that cites two
       rules' citations), the rule with the most support wins: how many distinct identifiers of
       the item (own or mentioned, any class) and keyword entries also point at it. Still tied:
       for a RIN the most recent rule (by ``dates.published``), for the others the rule named
       first (title before summary), then the most recent; the id breaks any remaining tie.
    3. Keywords only when no identifier names a catalog rule: the rule with the most satisfied
       keyword entries wins, then the one whose satisfied entries have the most terms (the most
       specific), then the most recent, then the id.
    4. Nothing: ``None``.

    Announcement numbers are per issuer: the first issuer before ``公告`` names the numbering
    series (``商务部 海关总署公告2023年第23号`` is MOFCOM's series, ``海关总署公告2023年第23号``
    is customs' own, a different document). A number written without an issuer
    (``2024年第46号``) matches when the item's ``fields.issuer`` or an issuer named anywhere in
    its title or summary (商务部, MOFCOM, Ministry of Commerce, ...) is the catalog entry's.
    Decrees (``商务部令2024年第1号``) are a different series and are never announcements.

Keywords (the TOML schema)
    ``keywords`` is a list; each entry is a phrase or an array of phrases that must ALL appear in
    the title or summary; ``"a + b"`` in a string means the same as ``["a", "b"]`` (the only AND
    form a ``sources.toml`` entry can write, its keywords being strings). Inside a phrase,
    ``"a|b"`` means either. Latin is matched case-insensitively on word boundaries, with spaces
    and hyphens interchangeable; a word written in capitals (``US``, ``AI``, ``HBM``, ``BIS``) must
    match in capitals; a trailing ``*`` on a Latin word matches any ending (``export*``). Chinese
    is matched after ``normalize`` on both sides (Traditional and full-width forms match).
    ``title_zh`` (catalog data only) is the Chinese title for display; it is not matched unless
    it is also a keyword.

Speed
    Regexes are compiled once per catalog. Per item: one ``normalize`` per text, two regex passes
    for Latin identifiers (each starts with a character class, so the engine scans in C), and a
    keyword gate (one set intersection of the text's words with the words of every entry's first
    term; substring search only for Chinese phrases, and only when the text has CJK characters)
    before any keyword regex runs; the title and summary come normalised from the detector
    (``ItemText``, shared with the gazetteer and the classifier). Linking by context tries each
    rule's topic pattern only where one of its topics starts (``monitor/detect/windows.py``).
"""

from __future__ import annotations

import importlib.resources
import re
from datetime import date, timedelta
import string
import tomllib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from pydantic import ValidationError

from monitor.config import RuleConfig
from monitor.detect.text import CJK, ItemText, normalize
from monitor.detect.windows import Starts

__all__ = [
    "IDENTIFIER_KINDS",
    "Catalog",
    "CatalogError",
    "Evidence",
    "Link",
    "Rule",
    "default_rules",
    "identifier_key",
    "rule_from_config",
    "rules_from_toml",
]

IDENTIFIER_KINDS = ("fr_documents", "citations", "rins", "dockets", "bills", "announcements")
# identifiers.<kind> -> Evidence.name
_NAME_OF_KIND = {"fr_documents": "fr_document", "citations": "citation", "rins": "rin",
                 "dockets": "docket", "bills": "bill", "announcements": "announcement"}

# Precedence of identifier classes (lower wins). Corrections are "own" only.
_RANK = {"fr_document": 0, "correction": 1, "citation": 2, "docket": 3, "bill": 4, "announcement": 5,
         "rin": 6}
_RIN_RANK = _RANK["rin"]


class CatalogError(ValueError):
    """The catalog data or a [[rules]] entry cannot be used; the message names the rule and key."""


# --- records -------------------------------------------------------------------------------------

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


# --- identifier syntax ---------------------------------------------------------------------------

_DASH = "[-\u2010-\u2015\u2212]"
_DOC_RE = re.compile(rf"(?:([A-Z]\d){_DASH})?(\d{{4}}){_DASH}(\d{{5}})", re.ASCII)
_CONFIG_DOC = re.compile(r"(?:[A-Z]\d-)?\d{2,4}-\d{4,5}|E\d-\d{3,5}", re.ASCII)
_CITATION_RE = re.compile(r"(\d{1,3})\s*(?:FR|Fed\.?\s*Reg\.?)\s*(\d{1,6})", re.ASCII)
_RIN_RE = re.compile(rf"(\d{{4}}){_DASH}([A-Z]{{2}}\d{{2}})", re.ASCII)
_DOCKET_PREFIX = re.compile(r"^\s*docket\s*(?:no\.?|number|id)?\s*[:#]?\s*", re.IGNORECASE)
_BILL_PREFIXES = {  # chamber letters (no dots or spaces, upper) -> canonical
    "HR": "H.R.", "HRES": "H.Res.", "HJRES": "H.J.Res.", "HCONRES": "H.Con.Res.",
    "S": "S.", "SRES": "S.Res.", "SJRES": "S.J.Res.", "SCONRES": "S.Con.Res.",
}
_BILL_CHAMBER = (
    r"H\.?\s?R|H\.?\s?J\.?\s?Res|H\.?\s?Con\.?\s?Res|H\.?\s?Res|"
    r"S\.?\s?J\.?\s?Res|S\.?\s?Con\.?\s?Res|S\.?\s?Res|S(?=\.)"
)
_BILL_RE = re.compile(rf"({_BILL_CHAMBER})\.?\s?(\d{{1,5}})", re.ASCII)

# Every Latin identifier of a text in two passes (on normalised text: full-width digits are ASCII).
# Each pattern starts by consuming one character of a class, so that the regex engine scans for
# that class in C, and checks the character before it with a lookbehind placed after it (a
# leading lookbehind would make the engine try the whole pattern at every position: 10x slower).
_END = rf"(?![A-Za-z0-9]|{_DASH}\d)"
_DIGIT_IDS = re.compile(
    r"\d(?<![A-Za-z0-9]\d)(?:"
    rf"(?<!{_DASH}\d)(?:\d{{3}}{_DASH}(?:(?P<doc>\d{{5}}){_END}|(?P<rin>[A-Z]{{2}}\d{{2}})(?![A-Za-z0-9]))"
    rf"|(?P<dkt>\d{{5}}{_DASH}\d{{4}}){_END})"
    r"|(?<!\.\d)(?P<cit>\d{0,2}\s*(?:FR|Fed\.\s*Reg\.)\s*\d{1,6})(?!\d)"
    r")",
    re.ASCII,
)
_CAPITAL_IDS = re.compile(
    r"[BCEHRSZ](?<![A-Za-z0-9][BCEHRSZ])(?:"
    rf"(?<![-.][A-Z])(?P<doc>\d{_DASH}\d{{4}}{_DASH}\d{{5}}){_END}"  # C1-2025-00636 (a correction)
    rf"|(?<![-.]B)(?P<dkt>IS-\d{{4}}-\d{{4,}}){_END}"  # BIS-2025-0001 (regulations.gov)
    r"|(?<!\.[HS])(?P<bill>(?:(?<=H)(?:\.?\s?R|\.?\s?J\.?\s?Res|\.?\s?Con\.?\s?Res|\.?\s?Res)"
    r"|(?<=S)(?:\.?\s?J\.?\s?Res|\.?\s?Con\.?\s?Res|\.?\s?Res|(?=\.)))\.?\s?\d{1,5})(?!\d)"
    r")",
    re.ASCII,
)
_ID_NAMES = {"doc": "fr_document", "cit": "citation", "rin": "rin", "dkt": "docket", "bill": "bill"}


# Chinese issuers (Simplified: text is normalised first) and English names, to canonical names.
_ISSUERS_ZH = {
    "商务部": "商务部", "海关总署": "海关总署", "国家发展改革委": "国家发展改革委",
    "国家发展和改革委员会": "国家发展改革委", "工业和信息化部": "工业和信息化部", "财政部": "财政部",
    "国务院关税税则委员会": "国务院关税税则委员会", "国家国防科技工业局": "国家国防科技工业局",
    "国家原子能机构": "国家原子能机构", "国家密码管理局": "国家密码管理局",
    "国家市场监督管理总局": "国家市场监督管理总局", "国家互联网信息办公室": "国家互联网信息办公室",
    "网络安全审查办公室": "网络安全审查办公室", "外交部": "外交部", "公安部": "公安部",
}
_ISSUERS_EN = {
    "mofcom": "商务部", "ministry of commerce": "商务部", "gacc": "海关总署",
    "general administration of customs": "海关总署", "china customs": "海关总署",
    "cac": "国家互联网信息办公室", "cyberspace administration of china": "国家互联网信息办公室",
}
_ZH_ISSUER = "(?:" + "|".join(map(re.escape, sorted(_ISSUERS_ZH, key=len, reverse=True))) + ")"
_EN_ISSUER = "(?:" + "|".join(map(re.escape, sorted(_ISSUERS_EN, key=len, reverse=True))) + ")"
_ANN_ZH = re.compile(
    rf"(?:(?P<issuers>{_ZH_ISSUER}(?:[\s、,/和与及]*{_ZH_ISSUER})*)\s*(?:联合)?(?:公告)?\s*[(\[【〔]?\s*)?"
    r"(?P<year>\d{4})\s*年\s*第\s*(?P<number>\d{1,4})\s*号"
)
_ANN_EN = re.compile(
    rf"(?:(?P<issuers>{_EN_ISSUER}(?:\s*(?:,|and|&|/)\s*{_EN_ISSUER})*)(?:'s)?\s*(?:joint\s+)?)?"
    r"announcement\s*(?:"
    r"no\.?\s*(?P<n1>\d{1,4})\s*(?:of\s*(?:the\s+year\s*)?|\[\s*|\(\s*|,\s*)(?P<y1>(?:19|20)\d{2})"
    r"|[\[(]?\s*(?P<y2>(?:19|20)\d{2})\s*[\])]?\s*no\.?\s*(?P<n2>\d{1,4}))",
    re.IGNORECASE | re.ASCII,
)
_ISSUER_ANYWHERE = re.compile(f"{_ZH_ISSUER}|(?<![A-Za-z]){_EN_ISSUER}(?![A-Za-z])", re.IGNORECASE)

_FR_URL_DOC = re.compile(r"/((?:[A-Z]\d-)?\d{4}-\d{5})(?=[/._]|$)", re.ASCII)
_FR_HOSTS = ("federalregister.gov", "govinfo.gov")


def identifier_key(name: str, value: str, issuer: str | None = None) -> str | None:
    """The canonical form of an identifier (as written in the catalog or in data), or None if
    ``value`` is not one: ``("citation", "90 Fed. Reg. 4544")`` -> ``"90 FR 4544"``;
    ``("announcement", "商務部公告２０２４年第４６號")`` -> ``"商务部:2024-46"``."""
    text = normalize(" ".join(str(value).split()))
    if name == "fr_document":
        match = _DOC_RE.fullmatch(text)
        if match:
            prefix, year, number = match.groups()
            return f"{prefix}-{year}-{number}" if prefix else f"{year}-{number}"
        return text.upper() if _CONFIG_DOC.fullmatch(text.upper()) else None
    if name == "citation":
        match = _CITATION_RE.fullmatch(text)
        return f"{int(match.group(1))} FR {int(match.group(2))}" if match else None
    if name == "rin":
        match = _RIN_RE.fullmatch(text.upper())
        return f"{match.group(1)}-{match.group(2)}" if match else None
    if name == "docket":
        text = _DOCKET_PREFIX.sub("", text).strip()
        return re.sub(_DASH, "-", text).upper() or None
    if name == "bill":
        match = _BILL_RE.fullmatch(text.replace("\u00a0", " "))
        return _bill_key(match.group(1), match.group(2)) if match else None
    if name == "announcement":
        found = _announcements(text)
        if len(found) != 1:
            return None
        year, number, named, _start, _end = found[0]
        return _announcement_key(named or issuer, year, number)
    raise ValueError(f"unknown identifier name {name!r}")


def _bill_key(chamber: str, number: str) -> str:
    letters = re.sub(r"[.\s]", "", chamber).upper()
    return f"{_BILL_PREFIXES[letters]} {int(number)}"


def _announcement_key(issuer: str | None, year: int, number: int) -> str:
    return f"{issuer or ''}:{year}-{number}"


def _announcements(norm: str) -> list[tuple[int, int, str | None, int, int]]:
    """(year, number, lead issuer or None, start, end) of every announcement number in ``norm``
    (normalised text). start/end cover the issuer too when it is named."""
    out = []
    if "年" in norm and "第" in norm:
        for match in _ANN_ZH.finditer(norm):
            issuers = match.group("issuers")
            start = match.start() if issuers else match.start("year")
            if not issuers and norm[:start].rstrip().endswith("令"):
                continue  # a decree: 商务部令2024年第1号
            lead = _ISSUERS_ZH[_ZH_LEAD.match(issuers).group()] if issuers else None
            out.append((int(match.group("year")), int(match.group("number")), lead, start, match.end()))
    if "nnouncement" in norm or "NNOUNCEMENT" in norm:
        for match in _ANN_EN.finditer(norm):
            issuers = match.group("issuers")
            lead = _ISSUERS_EN[_EN_LEAD.match(issuers).group().lower()] if issuers else None
            year = match.group("y1") or match.group("y2")
            number = match.group("n1") or match.group("n2")
            out.append((int(year), int(number), lead, match.start(), match.end()))
    return out


_ZH_LEAD = re.compile(_ZH_ISSUER)
_EN_LEAD = re.compile(_EN_ISSUER, re.IGNORECASE)


# --- keywords ------------------------------------------------------------------------------------

_LATIN_ALNUM = re.compile(r"[A-Za-z0-9]")
_TOKEN_SPLIT = re.compile(r"[\s\-\u2010-\u2015]+")
_SEPARATOR = r"[\s\-\u2010-\u2015]+"
_WORD = re.compile(r"[a-z0-9]+", re.ASCII)
# News of a kind is linked by context only to a rule of the same family.
_CONTEXT_FAMILY = {"entity_list": "entity_list", "countermeasure": "countermeasure", "license_policy": "license_policy",
                   "legislation": "legislation", "license_slowdown": "license_policy"}
_FROM_CJK = re.compile("[^\x00-\u2e7f]")  # a character from the CJK blocks up (faster than CJK)
# ASCII punctuation (and "?", which stands for every non-ASCII character) to spaces, on bytes.
_PUNCTUATION_TO_SPACE = bytes.maketrans(string.punctuation.encode(), b" " * len(string.punctuation))


@dataclass(frozen=True)
class _Alternative:
    """One phrase, matched on the lowered normalised text (a pattern that starts with a literal,
    which the regex engine finds fast); its acronyms are then checked as written."""

    needle: str  # must be a substring of the lowered text for the phrase to match
    word: bytes | None  # or faster: a whole [a-z0-9]+ word that must be among the text's words
    pattern: re.Pattern[str]
    acronyms: tuple[str, ...]


def _keyword_entries(raw: Any) -> list[str]:
    """Keyword entries as strings ("a + b" for AND); arrays in the TOML data are joined."""
    out = []
    for entry in raw or ():
        if isinstance(entry, (list, tuple)):
            out.append(" + ".join(str(term) for term in entry))
        else:
            out.append(entry)
    return out


def _split_entry(entry: str) -> list[list[str]]:
    """"a|b + c" -> [["a", "b"], ["c"]]: terms that must all appear, each a list of alternatives."""
    terms = []
    for term in entry.split(" + "):
        alternatives = [normalize(a.strip()) for a in term.split("|") if a.strip()]
        if alternatives:
            terms.append(alternatives)
    return terms


def _compile_alternative(phrase: str) -> _Alternative:
    tokens = [t for t in _TOKEN_SPLIT.split(phrase) if t]
    if not tokens or tokens == ["*"]:
        raise ValueError(f"empty keyword {phrase!r}")
    parts, bases, acronyms = [], [], []
    for token in tokens:
        prefix = len(token) > 1 and token.endswith("*") and _LATIN_ALNUM.fullmatch(token[-2]) is not None
        base = token[:-1] if prefix else token
        letters = [c for c in base if c.isascii() and c.isalpha()]
        if len(letters) >= 2 and all(c.isupper() for c in letters):
            acronyms.append(base)  # "US" is not "us"
        lowered = base.lower()
        if len(parts) == 0 and _LATIN_ALNUM.fullmatch(lowered[0]):
            # the word boundary before the phrase, checked after its first character
            first = re.escape(lowered[0])
            piece = first + f"(?<![a-z0-9]{first})" + re.escape(lowered[1:])
        else:
            piece = re.escape(lowered)
        if prefix:
            piece += "[a-z0-9]*"
        parts.append(piece)
        bases.append(lowered)
    pattern = _SEPARATOR.join(parts)
    if _LATIN_ALNUM.fullmatch(bases[-1][-1]):
        pattern += r"(?![a-z0-9])"
    needle = max(bases, key=len)
    words = [base for base, token in zip(bases, tokens) if _WORD.fullmatch(base) and not token.endswith("*")]
    word = max(words, key=len).encode() if words else None
    return _Alternative(needle, word, re.compile(pattern, re.ASCII), tuple(acronyms))


# --- the scan of one item ------------------------------------------------------------------------

@dataclass
class _Found:
    own: bool
    rank: int
    name: str  # Evidence.name
    key: str  # canonical identifier (announcements: "issuer:year-number", issuer may be empty)
    evidence: Evidence
    order: int  # position among the item's identifiers (title before summary, then offset)
    year_number: tuple[int, int] | None = None  # announcements


class _Texts:
    """An item's title and summary, normalised once (same length: offsets are the original's):
    the detector's ``ItemText``, shared with the gazetteer and the classifier, when it has one."""

    __slots__ = ("text", "original", "normalized", "_lowered", "_joined", "_words", "_issuers")

    def __init__(self, item: Mapping[str, Any], text: ItemText | None = None):
        self.text = text if text is not None else ItemText.of(item)
        self.original: list[tuple[str, str]] = list(self.text.original.items())
        self.normalized: list[tuple[str, str]] = list(self.text.normalized.items())
        self._lowered: list[str] | None = None
        self._joined: str | None = None
        self._words: set[bytes] | None = None
        self._issuers: set[str] | None = None

    @property
    def lowered(self) -> list[str]:
        """The normalised texts, lowercased (same order and offsets as ``normalized``)."""
        if self._lowered is None:
            self._lowered = [self.text.lowered(name) for name, _text in self.normalized]
        return self._lowered

    @property
    def joined(self) -> str:
        if self._joined is None:
            self._joined = "\n".join(self.lowered)
        return self._joined

    @property
    def words(self) -> set[bytes]:
        """The [a-z0-9]+ words of the lowered texts (as bytes: ASCII, one byte per character)."""
        if self._words is None:
            # encode(..., "replace") makes every non-ASCII character one "?", then a separator
            data = self.joined.encode("ascii", "replace").translate(_PUNCTUATION_TO_SPACE)
            self._words = set(data.split())
        return self._words

    def issuers(self) -> set[str]:
        """Canonical issuers named anywhere in the title or summary."""
        if self._issuers is None:
            found: set[str] = set()
            for _name, text in self.normalized:
                for match in _ISSUER_ANYWHERE.finditer(text):
                    name = match.group()
                    found.add(_ISSUERS_ZH.get(name) or _ISSUERS_EN[name.lower()])
            self._issuers = found
        return self._issuers


# --- the catalog ---------------------------------------------------------------------------------

class Catalog:
    """Known rules, compiled for matching. Build with ``Catalog.load()``."""

    def __init__(self, rules: Iterable[Rule]):
        by_id: dict[str, Rule] = {}
        for rule in rules:
            by_id[rule.id] = rule  # a later rule with the same id replaces the earlier one
        self.rules: Mapping[str, Rule] = MappingProxyType(by_id)
        self._recency = {rid: _recency(rule) for rid, rule in by_id.items()}
        self._position = {rid: index for index, rid in enumerate(by_id)}
        self._ids = list(by_id)
        # (Evidence.name, key) -> rule ids; announcements: (year, number) -> [(issuer, rule id)]
        self._index: dict[tuple[str, str], tuple[str, ...]] = {}
        self._announcements: dict[tuple[int, int], list[tuple[str | None, str]]] = {}
        # keyword alternatives, deduplicated; per rule: entries of terms of alternative indexes
        self._alternatives: list[_Alternative] = []
        self._keywords: dict[str, list[tuple[tuple[int, ...], ...]]] = {}
        self._topic_patterns: dict[str, re.Pattern[str]] = {}
        for rule in by_id.values():
            if rule.topics:
                self._topic_pattern(rule)
        # every rule's topics in one automaton: a rule's pattern is tried only where one starts
        self._topic_starts = Starts(self._topic_patterns.values())
        # each rule's dates, parsed once (linking by context compares them with every news item's)
        self._days = {rid: sorted(date.fromisoformat(d) for d in rule.dates.values()) for rid, rule in by_id.items()}
        alternative_index: dict[str, int] = {}
        for rule in by_id.values():
            for kind in IDENTIFIER_KINDS:
                for value in rule.identifiers.get(kind, ()):
                    self._add_identifier(rule, kind, value)
            entries = []
            for position, entry in enumerate(rule.keywords):
                terms = []
                for alternatives in _split_entry(entry):
                    indexes = []
                    for phrase in alternatives:
                        if phrase not in alternative_index:
                            try:
                                compiled = _compile_alternative(phrase)
                            except ValueError as error:
                                raise CatalogError(
                                    f'rule "{rule.id}": keywords #{position + 1}: {error}') from None
                            alternative_index[phrase] = len(self._alternatives)
                            self._alternatives.append(compiled)
                        indexes.append(alternative_index[phrase])
                    terms.append(tuple(indexes))
                if terms:
                    entries.append(tuple(terms))
            self._keywords[rule.id] = entries
        # the first term of every keyword entry, by whole word or by substring
        self._gate_words: dict[bytes, list[tuple[int, int]]] = {}
        self._gate_needles: list[tuple[str, bool, tuple[int, int]]] = []
        for rule_position, rule_id in enumerate(self._ids):
            for entry_position, entry in enumerate(self._keywords[rule_id]):
                ref = (rule_position, entry_position)
                for index in entry[0]:
                    alternative = self._alternatives[index]
                    if alternative.word is not None:
                        self._gate_words.setdefault(alternative.word, []).append(ref)
                    else:
                        self._gate_needles.append((alternative.needle, CJK.search(alternative.needle) is None, ref))

    def _add_identifier(self, rule: Rule, kind: str, value: str) -> None:
        name = _NAME_OF_KIND[kind]
        if name == "announcement":
            text = normalize(" ".join(value.split()))
            found = _announcements(text)
            if len(found) != 1:
                raise CatalogError(f'rule "{rule.id}": identifiers.{kind}: {value!r} is not one '
                                   "announcement number (e.g. 商务部公告2024年第46号)")
            year, number, issuer, _s, _e = found[0]
            entries = self._announcements.setdefault((year, number), [])
            if (issuer, rule.id) not in entries:
                entries.append((issuer, rule.id))
            return
        key = identifier_key(name, value)
        if key is None:
            examples = {"fr_document": "2025-00636", "citation": "90 FR 4544", "rin": "0694-AJ90",
                        "docket": "250107-0007", "bill": "H.R. 8315"}
            raise CatalogError(f'rule "{rule.id}": identifiers.{kind}: {value!r} is not a valid '
                               f"{name.replace('_', ' ')} (e.g. {examples[name]})")
        ids = self._index.get((name, key), ())
        if rule.id not in ids:
            self._index[(name, key)] = (*ids, rule.id)

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, extra: Sequence[RuleConfig] = (), *, defaults: bool = True) -> Catalog:
        """The shipped catalog plus ``extra`` (the [[rules]] of sources.toml): an extra rule with
        the id of a shipped one replaces it whole; others are added."""
        rules = list(default_rules()) if defaults else []
        rules += [rule_from_config(config) for config in extra]
        return cls(rules)

    # --- identifiers ---------------------------------------------------------------------------

    def identifiers_in(self, item: Mapping[str, Any]) -> list[Evidence]:
        """Every identifier in the item's structured fields and in its title and summary."""
        return [found.evidence for found in self._scan(item, _Texts(item))]

    def _scan(self, item: Mapping[str, Any], texts: _Texts) -> list[_Found]:
        found: list[_Found] = []
        seen: set[tuple[str, str, str, int | None]] = set()

        def add(own: bool, name: str, rank: int, key: str | None, value: str, where: str,
                start: int | None = None, end: int | None = None,
                year_number: tuple[int, int] | None = None) -> None:
            if key is None:
                return
            marker = (name, value, where, start)
            if marker in seen:
                return
            seen.add(marker)
            evidence = Evidence("identifier", name, value, where, start, end)
            found.append(_Found(own, rank, name, key, evidence, len(found), year_number))

        fields = item.get("fields")
        fields = fields if isinstance(fields, Mapping) else {}
        for value in _strings(fields.get("document_number")):
            add(True, "fr_document", _RANK["fr_document"], identifier_key("fr_document", value),
                value, "fields.document_number")
        for where, value in (("url", item.get("url")), ("fields.guid", fields.get("guid"))):
            if isinstance(value, str) and value:
                number = _document_in_url(value)
                if number:
                    add(True, "fr_document", _RANK["fr_document"], number, number, where)
        for name in ("correction_of", "corrections"):
            for value in _strings(fields.get(name)):
                add(True, name, _RANK["correction"], identifier_key("fr_document", value), value,
                    f"fields.{name}")
        for value in _strings(fields.get("citation")):
            add(True, "citation", _RANK["citation"], identifier_key("citation", value), value,
                "fields.citation")
        for value in _strings(fields.get("docket_ids")):
            add(True, "docket", _RANK["docket"], identifier_key("docket", value), value,
                "fields.docket_ids")
        own_issuer = _issuer(fields.get("issuer"))
        for value in _strings(fields.get("announcement_number")):
            for year, number, lead, _s, _e in _announcements(normalize(value)):
                issuer = lead or own_issuer
                add(True, "announcement", _RANK["announcement"], _announcement_key(issuer, year, number),
                    value, "fields.announcement_number", year_number=(year, number))
        for value in _strings(fields.get("rins")):
            add(True, "rin", _RANK["rin"], identifier_key("rin", value), value, "fields.rins")

        for (where, norm), (_w, original) in zip(texts.normalized, texts.original):
            hits: list[tuple[int, int, str, str | None, tuple[int, int] | None]] = []
            for pattern in (_DIGIT_IDS, _CAPITAL_IDS):
                for match in pattern.finditer(norm):
                    name = _ID_NAMES[match.lastgroup]  # type: ignore[index]
                    hits.append((*match.span(), name, identifier_key(name, match.group()), None))
            for year, number, lead, start, end in _announcements(norm):
                hits.append((start, end, "announcement", _announcement_key(lead or own_issuer, year, number),
                             (year, number)))
            if len(hits) > 1:
                hits.sort(key=lambda hit: hit[0])
            for start, end, name, key, year_number in hits:
                add(False, name, _RANK[name], key, original[start:end], where, start, end, year_number)
        return found

    def _rules_for(self, found: _Found, texts: _Texts) -> tuple[str, ...]:
        if found.name == "announcement":
            year, number = found.year_number  # type: ignore[misc]
            issuer = found.key.split(":", 1)[0] or None
            out = []
            for catalog_issuer, rule_id in self._announcements.get((year, number), ()):
                if catalog_issuer is None or catalog_issuer == issuer or (
                        issuer is None and catalog_issuer in texts.issuers()):
                    out.append(rule_id)
            return tuple(out)
        name = "fr_document" if found.name in ("correction_of", "corrections") else found.name
        rules = self._index.get((name, found.key), ())
        if not rules and name == "fr_document" and found.key[:1].isalpha() and found.key[2:3] == "-":
            rules = self._index.get((name, found.key[3:]), ())  # C1-2025-00636 corrects 2025-00636
        return rules

    # --- linking -------------------------------------------------------------------------------

    def link(self, item: Mapping[str, Any]) -> Link | None:
        """The one known rule the item is about, with the evidence; None when none is named."""
        return self.analyse(item)[0]

    def analyse(self, item: Mapping[str, Any], text: ItemText | None = None
                ) -> tuple[Link | None, tuple[dict[str, Any], ...]]:
        """``link(item)`` and every identifier of the item as ``{"name", "key", "own"}`` (one scan);
        ``text``: the item's title and summary already normalised (``ItemText.of(item)``)."""
        texts = _Texts(item, text)
        found = self._scan(item, texts)
        keys = tuple({"name": one.name, "key": one.key, "own": one.own} for one in found)
        return self._link(found, texts), keys

    def _link(self, found: list[_Found], texts: _Texts) -> Link | None:
        matches: list[tuple[_Found, tuple[str, ...]]] = []
        for one in found:
            rules = self._rules_for(one, texts)
            if rules:
                matches.append((one, rules))
        if matches:
            return self._link_by_identifier(matches, texts)
        satisfied = self._keyword_matches(texts)
        if not satisfied:
            return None
        best = min(satisfied, key=lambda rid: (-len(satisfied[rid][0]), -sum(satisfied[rid][0]),
                                              _neg(self._recency[rid]), rid))
        return Link(best, "keyword", satisfied[best][1])

    def link_in_context(self, item: Mapping[str, Any], countries: Iterable[str], kind: str) -> Link | None:
        """The rule a news item is about when it names none: a rule of a country the item names,
        whose dates the item's own date falls among (a week before the first to two weeks after
        the last), and one of whose topics the item names; most topics named wins, then the rule
        nearest in time. Only for items that state a change (the caller decides), and only to a
        rule of a matching kind: Entity List news to an Entity List rule, and so on."""
        published = str(item.get("published") or "")[:10]
        try:
            when = date.fromisoformat(published)
        except ValueError:
            return None
        named = set(countries)
        text = normalize(f"{item.get('title') or ''}\n{item.get('summary') or ''}")
        best: tuple[tuple[int, int], str, list[str]] | None = None
        for rule in self.rules.values():
            if not rule.topics or not rule.dates or rule.jurisdiction not in named:
                continue
            if _CONTEXT_FAMILY.get(kind, "rule") != _CONTEXT_FAMILY.get(rule.kind or "", "rule"):
                continue
            days = self._days[rule.id]
            if not (days[0] - timedelta(days=7) <= when <= days[-1] + timedelta(days=14)):
                continue
            hits = [m.group(0) for m in self._topic_starts.finditer(self._topic_pattern(rule), text)]
            if hits:
                score = (len({h.lower() for h in hits}), -min(abs((when - d).days) for d in days))
                if best is None or score > best[0]:
                    best = (score, rule.id, hits)
        if best is None:
            return None
        _score, rule_id, hits = best
        evidence = tuple(dict.fromkeys(Evidence("context", "topic", hit, "text") for hit in hits))
        return Link(rule_id, "context", evidence + (Evidence("context", "date", published, "published"),))

    def _topic_pattern(self, rule: Rule) -> re.Pattern[str]:
        pattern = self._topic_patterns.get(rule.id)
        if pattern is None:
            terms = sorted((normalize(t) for t in rule.topics), key=len, reverse=True)
            pattern = re.compile("|".join(
                re.escape(t) if _FROM_CJK.search(t) else rf"(?<![A-Za-z0-9]){re.escape(t)}(?![A-Za-z0-9])"
                for t in terms), re.IGNORECASE)
            self._topic_patterns[rule.id] = pattern
        return pattern

    def _link_by_identifier(self, matches: list[tuple[_Found, tuple[str, ...]]], texts: _Texts) -> Link:
        group = min((not one.own, one.rank) for one, _rules in matches)
        deciding = [(one, rules) for one, rules in matches if (not one.own, one.rank) == group]
        candidates: list[str] = []
        for _one, rules in deciding:
            candidates += [rid for rid in rules if rid not in candidates]
        keyword_evidence: tuple[Evidence, ...] = ()
        if len(candidates) == 1:
            chosen = candidates[0]
        else:
            support = {rid: len({(one.name, one.key) for one, rules in matches if rid in rules})
                       for rid in candidates}
            satisfied = self._keyword_matches(texts, candidates)
            for rid, (entries, _evidence) in satisfied.items():
                support[rid] += len(entries)
            first = {rid: min(one.order for one, rules in deciding if rid in rules) for rid in candidates}
            if group[1] == _RIN_RANK:
                order = lambda rid: (-support[rid], _neg(self._recency[rid]), rid)  # noqa: E731
            else:
                order = lambda rid: (-support[rid], first[rid], _neg(self._recency[rid]), rid)  # noqa: E731
            chosen = min(candidates, key=order)
            if chosen in satisfied:
                keyword_evidence = satisfied[chosen][1]
        evidence = [one.evidence for one, rules in deciding if chosen in rules]
        evidence += [one.evidence for one, rules in matches
                     if chosen in rules and one.evidence not in evidence]
        return Link(chosen, "identifier", tuple(evidence) + keyword_evidence)

    def _keyword_matches(self, texts: _Texts, only: Iterable[str] | None = None
                         ) -> dict[str, tuple[list[int], tuple[Evidence, ...]]]:
        """Rules with satisfied keyword entries: rule id -> (terms per satisfied entry, evidence)."""
        if not texts.normalized:
            return {}
        # Gate: an entry can match only if an alternative of its first term is present; whole
        # words are found by one set intersection, the rest (Chinese) by substring search.
        joined = texts.joined
        plain = joined.isascii() or _FROM_CJK.search(joined) is None  # no Chinese needle can match
        entries: set[tuple[int, int]] = set()
        for word in self._gate_words.keys() & texts.words:
            entries.update(self._gate_words[word])
        for needle, needle_plain, ref in self._gate_needles:
            if (needle_plain or not plain) and ref not in entries and needle in joined:
                entries.add(ref)
        if not entries:
            return {}
        wanted = None if only is None else {self._position[rid] for rid in only if rid in self._position}
        matched: dict[int, Evidence | None] = {}
        out: dict[str, tuple[list[int], tuple[Evidence, ...]]] = {}
        for rule_position, entry_position in sorted(entries):
            if wanted is not None and rule_position not in wanted:
                continue
            rule_id = self._ids[rule_position]
            entry = self._keywords[rule_id][entry_position]
            found_terms = []
            for term in entry:
                hit = None
                for index in term:
                    if index not in matched:
                        alternative = self._alternatives[index]
                        if (alternative.word in texts.words) if alternative.word is not None \
                                else (alternative.needle in joined):
                            matched[index] = self._find(index, texts)
                        else:
                            matched[index] = None
                    hit = matched[index]
                    if hit is not None:
                        break
                if hit is None:
                    break
                found_terms.append(hit)
            else:
                sizes, evidence = out.setdefault(rule_id, ([], ()))
                sizes.append(len(entry))
                out[rule_id] = (sizes, evidence + tuple(e for e in found_terms if e not in evidence))
        return out

    def _find(self, index: int, texts: _Texts) -> Evidence | None:
        alternative = self._alternatives[index]
        for (where, norm), (_w, original), lowered in zip(texts.normalized, texts.original, texts.lowered):
            for match in alternative.pattern.finditer(lowered):
                start, end = match.span()
                if alternative.acronyms:
                    written = norm[start:end]
                    if not all(acronym in written for acronym in alternative.acronyms):
                        continue
                return Evidence("keyword", "keyword", original[start:end], where, start, end)
        return None


# --- data ----------------------------------------------------------------------------------------

def default_rules() -> list[Rule]:
    """The rules of the shipped ``monitor/data/catalog.toml``."""
    resource = importlib.resources.files("monitor").joinpath("data", "catalog.toml")
    return rules_from_toml(resource.read_text(encoding="utf-8"), label="monitor/data/catalog.toml")


def rules_from_toml(text: str, *, label: str = "catalog") -> list[Rule]:
    """Rules from a catalog document (``[[rules]]`` entries, see the module docstring)."""
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
        entry = dict(entry)
        title_zh = entry.pop("title_zh", None)
        entry["keywords"] = _keyword_entries(entry.get("keywords"))
        try:
            config = RuleConfig.model_validate(entry)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, detail['loc']))}: {detail['msg']}" for detail in error.errors())
            raise CatalogError(f"{label}: [[rules]] #{position} (id {entry.get('id')!r}): {problems}") from None
        rules.append(rule_from_config(config, title_zh=title_zh))
    return rules


def rule_from_config(config: RuleConfig, *, title_zh: str | None = None) -> Rule:
    identifiers = config.identifiers
    return Rule(
        id=config.id,
        title=config.title,
        issuer=config.issuer,
        jurisdiction=config.jurisdiction,
        kind=config.kind,
        identifiers=MappingProxyType({kind: tuple(getattr(identifiers, kind)) for kind in IDENTIFIER_KINDS}),
        keywords=tuple(_keyword_entries(config.keywords)),
        regions=tuple(config.regions),
        countries=tuple(config.countries),
        companies=tuple(config.companies),
        dates=MappingProxyType({name: value.isoformat() for name, value in config.dates.items()}),
        title_zh=title_zh,
        topics=tuple(config.topics),
    )


# --- helpers -------------------------------------------------------------------------------------

def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _issuer(value: Any) -> str | None:
    """A source's issuer ("商务部", "商務部", "MOFCOM") as a canonical name."""
    if not isinstance(value, str) or not value.strip():
        return None
    name = normalize(" ".join(value.split()))
    return _ISSUERS_ZH.get(name) or _ISSUERS_EN.get(name.lower()) or name


def _document_in_url(url: str) -> str | None:
    """The FR document number in a federalregister.gov or govinfo.gov URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not any(host == h or host.endswith("." + h) for h in _FR_HOSTS):
        return None
    match = _FR_URL_DOC.search(parts.path)
    return match.group(1) if match else None


def _recency(rule: Rule) -> str:
    """The rule's date for "most recent": published, else its earliest known date."""
    if "published" in rule.dates:
        return rule.dates["published"]
    return min(rule.dates.values(), default="")


def _neg(iso: str) -> tuple[int, tuple[int, ...]]:
    """A sort key that puts later ISO dates first and undated rules last."""
    return (0, tuple(-ord(c) for c in iso)) if iso else (1, ())
