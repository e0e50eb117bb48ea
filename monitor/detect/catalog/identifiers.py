"""Identifier grammars: FR document numbers, citations, RINs, dockets, bills and announcement
numbers, as written in data and in text, to one canonical key each; and the scan of one item
for every identifier it carries or mentions (``scan``), with evidence.

Every Latin identifier of a text is found in two regex passes (on normalised text: full-width
digits are ASCII); announcement numbers by their own patterns, only when the text has their
marker characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping  # isinstance against typing.Mapping takes twice as long
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from monitor.detect.catalog.issuers import EN_ISSUER, ZH_ISSUER, ISSUER_ANYWHERE, ISSUERS_EN, ISSUERS_ZH
from monitor.detect.catalog.records import Evidence, evidence
from monitor.detect.text import normalize

if TYPE_CHECKING:
    from monitor.detect.catalog.texts import Texts

__all__ = [
    "ISSUERS_EN", "ISSUERS_ZH", "ISSUER_ANYWHERE", "NAME_OF_KIND", "RANK", "RIN_RANK", "Found",
    "announcement_key", "announcements", "identifier_key", "scan",
]

# identifiers.<kind> -> Evidence.name
NAME_OF_KIND = {"fr_documents": "fr_document", "citations": "citation", "rins": "rin",
                 "dockets": "docket", "bills": "bill", "announcements": "announcement"}

# Precedence of identifier classes (lower wins). Corrections are "own" only.
RANK = {"fr_document": 0, "correction": 1, "citation": 2, "docket": 3, "bill": 4, "announcement": 5,
         "rin": 6}
RIN_RANK = RANK["rin"]


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
_BILL_ID = (
    r"(?<!\.[HS])(?P<bill>(?:(?<=H)(?:\.?\s?R|\.?\s?J\.?\s?Res|\.?\s?Con\.?\s?Res|\.?\s?Res)"
    r"|(?<=S)(?:\.?\s?J\.?\s?Res|\.?\s?Con\.?\s?Res|\.?\s?Res|(?=\.)))\.?\s?\d{1,5})(?!\d)"
)
_CAPITAL_IDS = re.compile(
    r"[BCEHRSZ](?<![A-Za-z0-9][BCEHRSZ])(?:"
    rf"(?<![-.][A-Z])(?P<doc>\d{_DASH}\d{{4}}{_DASH}\d{{5}}){_END}"  # C1-2025-00636 (a correction)
    rf"|(?<![-.]B)(?P<dkt>IS-\d{{4}}-\d{{4,}}){_END}"  # BIS-2025-0001 (regulations.gov)
    rf"|{_BILL_ID}"
    r")",
    re.ASCII,
)
# _CAPITAL_IDS on a text where no digit is followed by a dash: its documents and dockets need one,
# so only bills can match, and a bill starts with H or S (a third of the capitals tried).
_BILL_IDS = re.compile(rf"[HS](?<![A-Za-z0-9][HS])(?:{_BILL_ID})", re.ASCII)
_DASHES = ("-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212")  # _DASH's characters


def _may_hold_digit_id(text: str) -> bool:
    """False when ``_DIGIT_IDS`` cannot match ``text``, nor ``_CAPITAL_IDS`` but for bills: each
    of their other matches has a digit right before a dash (documents, RINs, dockets) or is a
    citation, which holds "FR" or "Fed.". The regex engine pays for every digit of the text (a
    2 KB text has seventy); this looks at the dashes only, which ``str.find`` finds at memory
    speed."""
    if "FR" in text or "Fed." in text:
        return True
    for dash in (_DASHES[:1] if text.isascii() else _DASHES):  # the others are not ASCII
        at = text.find(dash, 1)
        while at != -1:
            if "0" <= text[at - 1] <= "9":
                return True
            at = text.find(dash, at + 1)
    return False


_H_R = re.compile(r"H\.?\s?R", re.ASCII)  # starts with a literal: the engine finds each H in C


def _may_hold_bill(text: str) -> bool:
    """False when ``_BILL_IDS`` cannot match ``text``: a bill's chamber holds "Res" (the
    resolutions), or is H.R in one of its spellings, or is an S followed by a dot with neither a
    letter, a digit nor a dot before it ("U.S." is not a bill). ``_BILL_IDS`` tries every H and S
    of the text; this looks for literals, which ``str.find`` finds at memory speed."""
    if "Res" in text or _H_R.search(text) is not None:
        return True
    at = text.find("S.")
    while at != -1:
        if at == 0 or not (text[at - 1].isascii() and (text[at - 1].isalnum() or text[at - 1] == ".")):
            return True
        at = text.find("S.", at + 1)
    return False


_ID_NAMES = {"doc": "fr_document", "cit": "citation", "rin": "rin", "dkt": "docket", "bill": "bill"}


_ANN_ZH_NUMBER = r"(?P<year>\d{4})\s*年\s*第\s*(?P<number>\d{1,4})\s*号"
_ANN_ZH_BODY = (
    rf"(?:(?P<issuers>{ZH_ISSUER}(?:[\s、,/和与及]*{ZH_ISSUER})*)\s*(?:联合)?(?:公告)?\s*[(\[【〔]?\s*)?"
    + _ANN_ZH_NUMBER
)
# A match starts with an issuer's first character or with the year's first digit: the lookahead
# makes every other position one class test instead of a test of each issuer (a list of notices,
# searched whole, 48 -> 30 µs for 2 KB). It changes no match (tests/test_catalog.py).
_ANN_ZH = re.compile(rf"(?=[{re.escape(''.join(sorted({name[0] for name in ISSUERS_ZH})))}\d])" + _ANN_ZH_BODY)
_ANN_EN_NUMBER = (
    r"announcement\s*(?:"
    r"no\.?\s*(?P<n1>\d{1,4})\s*(?:of\s*(?:the\s+year\s*)?|\[\s*|\(\s*|,\s*)(?P<y1>(?:19|20)\d{2})"
    r"|[\[(]?\s*(?P<y2>(?:19|20)\d{2})\s*[\])]?\s*no\.?\s*(?P<n2>\d{1,4}))"
)
_ANN_EN = re.compile(
    rf"(?:(?P<issuers>{EN_ISSUER}(?:\s*(?:,|and|&|/)\s*{EN_ISSUER})*)(?:'s)?\s*(?:joint\s+)?)?"
    + _ANN_EN_NUMBER,
    re.IGNORECASE | re.ASCII,
)
# Each of the two patterns opens with an optional issuer, so the engine tries it at every position
# of the text; every match holds a match of its number part, which starts with a digit or a word
# (fast to find). A text without the number part has no match: the whole pattern is not tried.
_ANN_ZH_GATE = re.compile(_ANN_ZH_NUMBER)
_ANN_EN_GATE = re.compile(_ANN_EN_NUMBER, re.IGNORECASE | re.ASCII)
# Every character the optional issuer part of _ANN_ZH can consume (besides whitespace, \s).
_ANN_ZH_PREFIX_CHARS = frozenset("".join(ISSUERS_ZH) + "、,/和与及" + "联合公告" + "([【〔")


def _zh_announcement_matches(norm: str) -> Iterator[re.Match[str]]:
    """``_ANN_ZH.finditer(norm)``, without trying the pattern at every position: a match ends
    with a number part (``_ANN_ZH_GATE``) and starts no earlier than the run of issuer-part
    characters right before it, so each search starts there. (The pattern has no lookbehind or
    anchor: a search from a position finds what ``finditer`` finds from there.)"""
    pos = 0
    while True:
        number = _ANN_ZH_GATE.search(norm, pos)
        if number is None:
            return
        start = number.start()
        while start > pos and (norm[start - 1] in _ANN_ZH_PREFIX_CHARS or norm[start - 1].isspace()):
            start -= 1
        match = _ANN_ZH.search(norm, start)
        if match is None:  # cannot happen: the pattern matches where its number part does
            return
        yield match
        pos = match.end()

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
        found = announcements(text)
        if len(found) != 1:
            return None
        year, number, named, _start, _end = found[0]
        return announcement_key(named or issuer, year, number)
    raise ValueError(f"unknown identifier name {name!r}")


def _bill_key(chamber: str, number: str) -> str:
    letters = re.sub(r"[.\s]", "", chamber).upper()
    return f"{_BILL_PREFIXES[letters]} {int(number)}"


def _after_decree(norm: str, start: int) -> bool:
    """``norm[:start].rstrip().endswith("令")``, without copying the text before ``start``."""
    at = start
    while at > 0 and norm[at - 1].isspace():
        at -= 1
    return at > 0 and norm[at - 1] == "令"


def announcement_key(issuer: str | None, year: int, number: int) -> str:
    return f"{issuer or ''}:{year}-{number}"


def announcements(norm: str) -> list[tuple[int, int, str | None, int, int]]:
    """(year, number, lead issuer or None, start, end) of every announcement number in ``norm``
    (normalised text). start/end cover the issuer too when it is named."""
    out = []
    if "年" in norm and "第" in norm:
        # Windowed, each number costs a few µs more and the rest of the text less: it pays off
        # unless numbers are dense (a list of notices). Both find the same.
        dense = norm.count("年") * 50 > len(norm)
        for match in (_ANN_ZH.finditer(norm) if dense else _zh_announcement_matches(norm)):
            issuers = match.group("issuers")
            start = match.start() if issuers else match.start("year")
            if not issuers and _after_decree(norm, start):
                continue  # a decree: 商务部令2024年第1号
            lead = ISSUERS_ZH[_ZH_LEAD.match(issuers).group()] if issuers else None
            out.append((int(match.group("year")), int(match.group("number")), lead, start, match.end()))
    if ("nnouncement" in norm or "NNOUNCEMENT" in norm) and _ANN_EN_GATE.search(norm) is not None:
        for match in _ANN_EN.finditer(norm):
            issuers = match.group("issuers")
            lead = ISSUERS_EN[_EN_LEAD.match(issuers).group().lower()] if issuers else None
            year = match.group("y1") or match.group("y2")
            number = match.group("n1") or match.group("n2")
            out.append((int(year), int(number), lead, match.start(), match.end()))
    return out


_ZH_LEAD = re.compile(ZH_ISSUER)
_EN_LEAD = re.compile(EN_ISSUER, re.IGNORECASE)


# --- the scan of one item ------------------------------------------------------------------------

@dataclass
class Found:
    own: bool
    rank: int
    name: str  # Evidence.name
    key: str  # canonical identifier (announcements: "issuer:year-number", issuer may be empty)
    evidence: Evidence
    order: int  # position among the item's identifiers (title before summary, then offset)
    year_number: tuple[int, int] | None = None  # announcements


def scan(item: Mapping[str, Any], texts: Texts) -> list[Found]:
    """Every identifier of ``item``: its own (structured fields, URL) first, then those its title
    and summary mention, each once; ``texts``: the item's ``Texts``."""
    found: list[Found] = []
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
        found_evidence = evidence("identifier", name, value, where, start, end)
        found.append(Found(own, rank, name, key, found_evidence, len(found), year_number))

    fields = item.get("fields")
    fields = fields if isinstance(fields, Mapping) else {}
    for value in _strings(fields.get("document_number")):
        add(True, "fr_document", RANK["fr_document"], identifier_key("fr_document", value),
            value, "fields.document_number")
    for where, value in (("url", item.get("url")), ("fields.guid", fields.get("guid"))):
        if isinstance(value, str) and value:
            number = _document_in_url(value)
            if number:
                add(True, "fr_document", RANK["fr_document"], number, number, where)
    for name in ("correction_of", "corrections"):
        for value in _strings(fields.get(name)):
            add(True, name, RANK["correction"], identifier_key("fr_document", value), value,
                f"fields.{name}")
    for value in _strings(fields.get("citation")):
        add(True, "citation", RANK["citation"], identifier_key("citation", value), value,
            "fields.citation")
    for value in _strings(fields.get("docket_ids")):
        add(True, "docket", RANK["docket"], identifier_key("docket", value), value,
            "fields.docket_ids")
    own_issuer = _issuer(fields.get("issuer"))
    for value in _strings(fields.get("announcement_number")):
        for year, number, lead, _s, _e in announcements(normalize(value)):
            issuer = lead or own_issuer
            add(True, "announcement", RANK["announcement"], announcement_key(issuer, year, number),
                value, "fields.announcement_number", year_number=(year, number))
    for value in _strings(fields.get("rins")):
        add(True, "rin", RANK["rin"], identifier_key("rin", value), value, "fields.rins")

    for (where, norm), (_w, original) in zip(texts.normalized, texts.original):
        hits: list[tuple[int, int, str, str | None, tuple[int, int] | None]] = []
        if _may_hold_digit_id(norm):
            patterns: tuple[re.Pattern[str], ...] = (_DIGIT_IDS, _CAPITAL_IDS)
        else:
            patterns = (_BILL_IDS,) if _may_hold_bill(norm) else ()
        for pattern in patterns:
            for match in pattern.finditer(norm):
                name = _ID_NAMES[match.lastgroup]  # type: ignore[index]
                hits.append((*match.span(), name, identifier_key(name, match.group()), None))
        for year, number, lead, start, end in announcements(norm):
            hits.append((start, end, "announcement", announcement_key(lead or own_issuer, year, number),
                         (year, number)))
        if len(hits) > 1:
            hits.sort(key=lambda hit: hit[0])
        for start, end, name, key, year_number in hits:
            add(False, name, RANK[name], key, original[start:end], where, start, end, year_number)
    return found


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
    return ISSUERS_ZH.get(name) or ISSUERS_EN.get(name.lower()) or name


def _document_in_url(url: str) -> str | None:
    """The FR document number in a federalregister.gov or govinfo.gov URL."""
    lowered = url.lower()
    if not any(h in lowered for h in _FR_HOSTS):
        return None  # the host, lower-cased, is part of the URL lower-cased: not one of ours (fast)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not any(host == h or host.endswith("." + h) for h in _FR_HOSTS):
        return None
    match = _FR_URL_DOC.search(parts.path)
    return match.group(1) if match else None

