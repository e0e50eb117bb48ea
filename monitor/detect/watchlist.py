"""Screening a watchlist (the counterparties a team deals with) against screening-list entities.

Pure: entries and entities in, matches out. Names are compared in a *match form*:

1. ``normalize`` (NFKC, Traditional -> Simplified: 華為 and 华为 are one name), case folded;
2. ``&`` read as ``and``; dots dropped inside abbreviations (``S.R.O.`` = ``sro``), every other
   punctuation mark a space;
3. corporate suffixes dropped wherever they stand (``Co., Ltd.``, ``Limited``, ``Inc``, ``LLC``,
   ``GmbH``, ``JSC``, ``OOO``, ...; ``股份有限公司``, ``有限责任公司``, ``有限公司``, ``集团``, ``公司``);
4. the words sorted, so word order does not count.

Each entry's name (and Chinese name) is scored against every name of every entity (the name, the
name without a trailing parenthesised part and that part, each alternate name) with rapidfuzz's ``fuzz.ratio`` on the
match forms (that is ``token_sort_ratio`` after the normalisation above), from 0 to 100; a score
at or above the threshold is a match, **provided the words correspond**: once the shared words
are set aside, every word left on either side must pair with a like word on the other
(``fuzz.ratio`` >= ``WORD_SIMILARITY``: a typo). A word standing where a different word stands
("Tianjin Photon Information Technology" against "Tianjin Phytium Information Technology", 90%
alike as strings) or a word only one name has ("Bel Huawei Technologies", "Semiconductor
Manufacturing International (Beijing) Corporation": other legal entities) is no match. Names
that differ only in spacing (``Hik Vision``, ``Hikvision``) match exactly. When the entry and the
listed party both name countries and share none, only an exact match form (score 100) matches.

Speed: candidates are found through an index of the first four characters of every word (two
for a Chinese run), so an entry is scored against the few hundred names that share a word start
with it, not against all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from monitor.detect.text import CJK, normalize

WORD_SIMILARITY = 80
PREFIX = 4
COMMON = 3000  # a word start shared by more names than this is not used to find candidates

_LATIN_SUFFIXES = frozenset("""
co company companies corp corporation inc incorporated ltd limited llc llp lp plc gmbh mbh ag kg sa sas sarl
srl spa bv nv ab as oy oyj aps sro jsc ojsc pjsc cjsc zao oao ooo pao pte pvt fze fzc fzco fzllc fz est
group holding holdings sdn bhd tic ve
""".split())
_ZH_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "集团", "公司")
_ABBREVIATION = re.compile(r"(?<=\w)\.(?=\w)|(?<=\b\w)\.")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_CJK_RUN = re.compile(f"(?:{CJK.pattern})+")


def words(name: str) -> list[str]:
    """The words of a name's match form, unsorted (suffixes dropped)."""
    text = normalize(name).casefold().replace("&", " and ")
    text = _ABBREVIATION.sub("", text)
    text = _PUNCTUATION.sub(" ", text)
    text = _CJK_RUN.sub(lambda m: f" {_strip_zh(m.group())} ", text)
    return [w for w in text.split() if w not in _LATIN_SUFFIXES]


def _strip_zh(run: str) -> str:
    changed = True
    while changed:
        changed = False
        for suffix in _ZH_SUFFIXES:
            if run.endswith(suffix) and len(run) > len(suffix):
                run, changed = run[: -len(suffix)], True
    return run


def match_form(name: str) -> str:
    return " ".join(sorted(set(words(name))))


def compact_form(name: str) -> str:
    return "".join(words(name))


_TRAILING = re.compile(r"^(.*\S)\s*\(([^()]+)\)[\s.,;]*$", re.DOTALL)


def variants(name: str) -> list[str]:
    """The name; for a name ending in a parenthesised part (``... Corporation (SMIC)``), also the
    name without it and the part itself. A part inside a name (``SMIC (Beijing) Corporation``) says
    which entity it is, and stays."""
    name = " ".join(name.split())
    match = _TRAILING.match(name)
    found = [name, match.group(1), match.group(2)] if match else [name]
    return list(dict.fromkeys(n.strip() for n in found if n.strip()))


def _starts(form: str) -> set[str]:
    return {w[:2] if CJK.match(w) else w[:PREFIX] for w in form.split()}


def words_correspond(a: str, b: str) -> bool:
    """Past their shared words, each word of either form pairs with a like word of the other."""
    from rapidfuzz import fuzz  # at first use: see Screener.screen
    shared = set(a.split()) & set(b.split())
    left = [w for w in a.split() if w not in shared]
    right = [w for w in b.split() if w not in shared]
    if len(left) != len(right):
        return False
    for word in left:
        score, best = max(((fuzz.ratio(word, o), o) for o in right), default=(0, None))
        if score < WORD_SIMILARITY:
            return False
        right.remove(best)
    return True


@dataclass(frozen=True)
class Entry:
    name: str
    name_zh: str | None = None
    country: str | None = None
    ref: str | None = None

    @property
    def reference(self) -> str:
        return self.ref or self.name


@dataclass(frozen=True)
class Candidate:
    """One name of one listed entity."""

    form: str
    compact: str
    key: str  # the entity key
    source: str
    name: str  # the entity's name as published
    matched: str  # the name that matched (the name itself or an alternate name)
    matched_on: str  # "name", "alternate name", "Chinese name"
    list: str
    countries: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    ref: str
    entry_name: str  # the watchlist's name (or Chinese name) that matched
    entry_country: str | None
    score: float
    candidate: Candidate

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {"ref": self.ref, "entry_name": self.entry_name, "entry_country": self.entry_country,
                "score": round(self.score, 1), "entity": c.key, "source": c.source, "listed_name": c.name,
                "matched_name": c.matched, "matched_on": c.matched_on, "list": c.list, "countries": list(c.countries)}


class Screener:
    """Entities indexed for screening; ``screen`` finds the matches of one entry."""

    def __init__(self, entities: Iterable[Mapping[str, Any]], *, threshold: float = 90,
                 ignore: Sequence[Any] = (), lists: Sequence[str] = ()):
        """``entities``: dicts with ``key``, ``source``, ``list``, ``name``, ``alt_names``,
        ``countries`` (what ``monitor.detect.screening.party`` gives)."""
        self.threshold = threshold
        wanted = {code.upper() for code in lists}
        self._ignore_all: set[str] = set()
        self._ignore_pair: set[tuple[str, str]] = set()
        for rule in ignore:
            entity = rule if isinstance(rule, str) else rule.entity
            ref = None if isinstance(rule, str) else rule.ref
            for value in {entity, " ".join(normalize(entity).casefold().split())}:
                (self._ignore_all.add(value) if ref is None else self._ignore_pair.add((ref, value)))
        self.candidates: list[Candidate] = []
        self._index: dict[str, list[int]] = {}
        for entity in entities:
            if wanted and entity["list"] not in wanted:
                continue
            name = entity["name"]
            own = variants(name)
            for one in dict.fromkeys([*own, *(v for alt in entity.get("alt_names", ()) for v in variants(alt))]):
                form = match_form(one)
                if not form:
                    continue
                on = "Chinese name" if CJK.search(one) else "name" if one in own else "alternate name"
                self.candidates.append(Candidate(form, compact_form(one), entity["key"], entity.get("source", ""),
                                                 name, one, on, entity["list"], tuple(entity.get("countries") or ())))
        for number, candidate in enumerate(self.candidates):
            for start in _starts(candidate.form) | _starts(candidate.compact):
                self._index.setdefault(start, []).append(number)

    def _ignored(self, entry: Entry, candidate: Candidate) -> bool:
        names = {candidate.key, " ".join(normalize(candidate.name).casefold().split())}
        return bool(names & self._ignore_all) or any((entry.reference, n) in self._ignore_pair for n in names)

    def screen(self, entry: Entry) -> list[Match]:
        """The best match per listed entity, best first."""
        # rapidfuzz is imported when a name is first screened, not with this module: a daemon that
        # polls and detects but screens nothing does not hold its ~4 MB.
        from rapidfuzz import fuzz
        best: dict[str, Match] = {}
        for query in dict.fromkeys(v for n in (entry.name, entry.name_zh) if n for v in variants(n)):
            form, compact = match_form(query), compact_form(query)
            if not form:
                continue
            postings = [self._index[s] for s in _starts(form) if s in self._index]
            postings += [self._index[s] for s in _starts(compact) if s in self._index]
            usable = [p for p in postings if len(p) <= COMMON] or sorted(postings, key=len)[:1]
            seen = {n for p in usable for n in p}
            for number in seen:
                candidate = self.candidates[number]
                if compact == candidate.compact:
                    score = 100.0
                else:
                    score = fuzz.ratio(form, candidate.form, score_cutoff=self.threshold)
                    if not score or not words_correspond(form, candidate.form):
                        continue
                if entry.country and candidate.countries and entry.country not in candidate.countries and score < 100:
                    continue
                if self._ignored(entry, candidate):
                    continue
                if candidate.key not in best or score > best[candidate.key].score:
                    best[candidate.key] = Match(entry.reference, query, entry.country, score, candidate)
        return sorted(best.values(), key=lambda m: (-m.score, m.candidate.key))

    def screen_all(self, entries: Iterable[Entry]) -> list[Match]:
        return [match for entry in entries for match in self.screen(entry)]
