"""Linking an item to the one known rule it is about: by identifier, by keyword, or (news that
names neither) by context; the precedence and tie-breaks are in the package docstring.

Pure: the ``Catalog`` is compiled once from ``Rule`` records; ``link``/``analyse`` only read the
item.
"""

from __future__ import annotations

import bisect
import re
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

from monitor.detect.catalog.identifiers import NAME_OF_KIND, RIN_RANK, Found, announcements, identifier_key, scan
from monitor.detect.catalog.keywords import FROM_CJK, KeywordIndex
from monitor.detect.catalog.loading import default_rules, rule_from_data
from monitor.detect.catalog.records import IDENTIFIER_KINDS, CatalogError, Evidence, Link, Rule
from monitor.detect.catalog.records import evidence as evidence_of
from monitor.detect.catalog.texts import Texts
from monitor.detect.text import ItemText, normalize
from monitor.detect.windows import Starts

__all__ = ["Catalog"]

# News of a kind is linked by context only to a rule of the same family.
_CONTEXT_FAMILY = {"entity_list": "entity_list", "countermeasure": "countermeasure", "license_policy": "license_policy",
                   "legislation": "legislation", "license_slowdown": "license_policy"}


class Catalog:
    """Known rules, compiled for matching. Build with ``Catalog.load()``."""

    def __init__(self, rules: Iterable[Rule]):
        by_id: dict[str, Rule] = {}
        for rule in rules:
            by_id[rule.id] = rule  # a later rule with the same id replaces the earlier one
        self.rules: Mapping[str, Rule] = MappingProxyType(by_id)
        self._recency = {rid: _recency(rule) for rid, rule in by_id.items()}
        # (Evidence.name, key) -> rule ids; announcements: (year, number) -> [(issuer, rule id)]
        self._index: dict[tuple[str, str], tuple[str, ...]] = {}
        self._announcements: dict[tuple[int, int], list[tuple[str | None, str]]] = {}
        self._keywords = KeywordIndex()
        self._topic_patterns: dict[str, re.Pattern[str]] = {}
        for rule in by_id.values():
            if rule.topics:
                self._topic_pattern(rule)
        # every rule's topics in one automaton: a rule's pattern is tried only where one starts
        self._topic_starts = Starts(self._topic_patterns.values())
        # each rule's dates, parsed once (linking by context compares them with every news item's)
        self._days = {rid: sorted(date.fromisoformat(d) for d in rule.dates.values()) for rid, rule in by_id.items()}
        # a week before each rule's first date to two weeks after its last (``link_in_context``)
        self._context_spans = {rid: (days[0] - timedelta(days=7), days[-1] + timedelta(days=14))
                               for rid, days in self._days.items() if days}
        # each date as a window of day numbers, a week before to two weeks after (``also_about``)
        self._windows = [(rid, [(d.toordinal() - 7, d.toordinal() + 14) for d in days])
                         for rid, days in self._days.items() if days]
        # the windows' bounds cut the days into spans, each with the rules whose windows cover it:
        # an item's day finds its rules by one bisection (testing every window cost ~5 µs an item)
        self._span_starts = sorted({b for _rid, windows in self._windows for low, high in windows for b in (low, high + 1)})
        self._span_rules = [tuple(rid for rid, windows in self._windows if any(low <= b <= high for low, high in windows))
                            for b in self._span_starts]
        for rule in by_id.values():
            for kind in IDENTIFIER_KINDS:
                for value in rule.identifiers.get(kind, ()):
                    self._add_identifier(rule, kind, value)
            self._keywords.add(rule)
        self._keywords.seal()

    def _add_identifier(self, rule: Rule, kind: str, value: str) -> None:
        name = NAME_OF_KIND[kind]
        if name == "announcement":
            text = normalize(" ".join(value.split()))
            found = announcements(text)
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
    def load(cls, extra: Sequence[Rule | Mapping[str, Any]] = (), *, defaults: bool = True) -> Catalog:
        """The shipped catalog plus ``extra``, the [[rules]] of sources.toml as plain data (the
        configuration's rule entries dumped to dicts, at the edge that reads the configuration)
        or as ``Rule`` records: an extra rule with the id of a shipped one replaces it whole;
        others are added."""
        rules = list(default_rules()) if defaults else []
        rules += [one if isinstance(one, Rule) else rule_from_data(one) for one in extra]
        return cls(rules)

    # --- identifiers ---------------------------------------------------------------------------

    def identifiers_in(self, item: Mapping[str, Any]) -> list[Evidence]:
        """Every identifier in the item's structured fields and in its title and summary."""
        return [found.evidence for found in scan(item, Texts(item))]

    def _rules_for(self, found: Found, texts: Texts) -> tuple[str, ...]:
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
        texts = Texts.of(item, text)
        found = scan(item, texts)
        keys = tuple({"name": one.name, "key": one.key, "own": one.own} for one in found)
        return self._link(found, texts), keys

    def _link(self, found: list[Found], texts: Texts) -> Link | None:
        matches: list[tuple[Found, tuple[str, ...]]] = []
        for one in found:
            rules = self._rules_for(one, texts)
            if rules:
                matches.append((one, rules))
        if matches:
            return self._link_by_identifier(matches, texts)
        satisfied = self._keywords.matches(texts)
        if not satisfied:
            return None
        best = min(satisfied, key=lambda rid: (-len(satisfied[rid][0]), -sum(satisfied[rid][0]),
                                              _neg(self._recency[rid]), rid))
        return Link(best, "keyword", satisfied[best][1])

    def _dated_near(self, day: int) -> tuple[str, ...]:
        """The rules one of whose dates ``day`` (a day number) is near: a week before to two weeks after."""
        span = bisect.bisect_right(self._span_starts, day) - 1
        return self._span_rules[span] if span >= 0 else ()

    def also_about(self, item: Mapping[str, Any], text: ItemText | None, primary: str | None) -> list[Link]:
        """Other known rules a news item reports as events of their own: a rule other than the
        primary whose keyword entries the item satisfies, and on one of whose dates the item falls
        (a week before to two weeks after it). The date test is what keeps background apart: news
        of the December 2024 package names the October 2023 rules it builds on, but it is not a
        report of them. Strongest first (most satisfied entries, then the most terms, then the id)."""
        published = str(item.get("published") or "")[:10]
        try:
            when = date.fromisoformat(published)
        except ValueError:
            return []
        dated = [rid for rid in self._dated_near(when.toordinal()) if rid != primary]
        if not dated:  # most items: no other known rule has a date near theirs, nothing to match
            return []
        satisfied = self._keywords.matches(Texts.of(item, text), dated)
        near = list(satisfied)
        near.sort(key=lambda rid: (-len(satisfied[rid][0]), -sum(satisfied[rid][0]), rid))
        return [Link(rid, "keyword", satisfied[rid][1]) for rid in near]

    def link_in_context(self, item: Mapping[str, Any], countries: Iterable[str], kind: str,
                        text: ItemText | None = None) -> Link | None:
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
        joined: str | None = None  # made when a rule passes the cheap tests (most calls: none does)
        best: tuple[tuple[int, int], str, list[str]] | None = None
        for rule in self.rules.values():
            if not rule.topics or not rule.dates or rule.jurisdiction not in named:
                continue
            if _CONTEXT_FAMILY.get(kind, "rule") != _CONTEXT_FAMILY.get(rule.kind or "", "rule"):
                continue
            first, last = self._context_spans[rule.id]
            if not first <= when <= last:
                continue
            days = self._days[rule.id]
            if joined is None:
                joined = _joined(item, text)
            hits = [m.group(0) for m in self._topic_starts.finditer(self._topic_pattern(rule), joined)]
            if hits:
                score = (len({h.lower() for h in hits}), -min(abs((when - d).days) for d in days))
                if best is None or score > best[0]:
                    best = (score, rule.id, hits)
        if best is None:
            return None
        _score, rule_id, hits = best
        # one entry per distinct topic named, in order (deduplicated as strings: cheaper than as Evidence)
        evidence = tuple(evidence_of("context", "topic", hit, "text") for hit in dict.fromkeys(hits))
        return Link(rule_id, "context", evidence + (Evidence("context", "date", published, "published"),))

    def _topic_pattern(self, rule: Rule) -> re.Pattern[str]:
        pattern = self._topic_patterns.get(rule.id)
        if pattern is None:
            terms = sorted((normalize(t) for t in rule.topics), key=len, reverse=True)
            pattern = re.compile("|".join(
                re.escape(t) if FROM_CJK.search(t) else rf"(?<![A-Za-z0-9]){re.escape(t)}(?![A-Za-z0-9])"
                for t in terms), re.IGNORECASE)
            self._topic_patterns[rule.id] = pattern
        return pattern

    def _link_by_identifier(self, matches: list[tuple[Found, tuple[str, ...]]], texts: Texts) -> Link:
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
            satisfied = self._keywords.matches(texts, candidates)
            for rid, (entries, _evidence) in satisfied.items():
                support[rid] += len(entries)
            first = {rid: min(one.order for one, rules in deciding if rid in rules) for rid in candidates}
            if group[1] == RIN_RANK:
                order = lambda rid: (-support[rid], _neg(self._recency[rid]), rid)  # noqa: E731
            else:
                order = lambda rid: (-support[rid], first[rid], _neg(self._recency[rid]), rid)  # noqa: E731
            chosen = min(candidates, key=order)
            if chosen in satisfied:
                keyword_evidence = satisfied[chosen][1]
        evidence = [one.evidence for one, rules in deciding if chosen in rules]
        deciding_evidence = set(evidence)  # a list membership test per match was quadratic
        evidence += [one.evidence for one, rules in matches
                     if chosen in rules and one.evidence not in deciding_evidence]
        return Link(chosen, "identifier", tuple(evidence) + keyword_evidence)



def _joined(item: Mapping[str, Any], text: ItemText | None) -> str:
    """``normalize`` of the title and summary on two lines: from ``text`` (``ItemText.of(item)``),
    normalised already, when it holds them (a newline is not an ideograph: the conversion does
    not read across it, see ``monitor.detect.text.normalized_cut``)."""
    title, summary = item.get("title") or "", item.get("summary") or ""
    if text is None or not (isinstance(title, str) and isinstance(summary, str)):
        return normalize(f"{title}\n{summary}")
    return f"{text.normalized.get('title', '')}\n{text.normalized.get('summary', '')}"


def _recency(rule: Rule) -> str:
    """The rule's date for "most recent": published, else its earliest known date."""
    if "published" in rule.dates:
        return rule.dates["published"]
    return min(rule.dates.values(), default="")


def _neg(iso: str) -> tuple[int, tuple[int, ...]]:
    """A sort key that puts later ISO dates first and undated rules last."""
    return (0, tuple(-ord(c) for c in iso)) if iso else (1, ())
