"""The keyword compiler: each rule's ``keywords`` entries (``"a|b + c"``: terms that must all
appear, each a choice of phrases) compiled once into phrase patterns, and the matching of an
item's texts against every rule's entries (``KeywordIndex.matches``).

A phrase is matched on the lowered normalised text by a pattern that starts with a literal (which
the regex engine finds fast); its acronyms (words written in capitals) are then checked as written.
Before any pattern runs, a gate keeps only the entries whose first term can match: its whole
words and its Chinese phrases, every one found in one automaton pass over the text.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any, Iterable

from monitor.detect.catalog.records import CatalogError, Evidence, Rule
from monitor.detect.catalog.texts import Texts
from monitor.detect.literals import Literals
from monitor.detect.text import CJK, normalize

__all__ = ["FROM_CJK", "KeywordIndex", "keyword_entries"]

_LATIN_ALNUM = re.compile(r"[A-Za-z0-9]")
_TOKEN_SPLIT = re.compile(r"[\s\-\u2010-\u2015]+")
_SEPARATOR = r"[\s\-\u2010-\u2015]+"
_WORD = re.compile(r"[a-z0-9]+", re.ASCII)
FROM_CJK = re.compile("[^\x00-\u2e7f]")  # a character from the CJK blocks up (faster than CJK)
# the characters of a word of ``Texts.words``: ASCII that is neither punctuation nor a byte space
_TOKEN_CHARS = frozenset(c for c in map(chr, range(128))
                         if c not in string.punctuation and not c.encode().isspace())


@dataclass(frozen=True)
class _Alternative:
    """One phrase, matched on the lowered normalised text (a pattern that starts with a literal,
    which the regex engine finds fast); its acronyms are then checked as written."""

    needle: str  # must be a substring of the lowered text for the phrase to match
    word: bytes | None  # or faster: a whole [a-z0-9]+ word that must be among the text's words
    pattern: re.Pattern[str]
    acronyms: tuple[str, ...]


def keyword_entries(raw: Any) -> list[str]:
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


class KeywordIndex:
    """Every rule's keyword entries, compiled: phrases deduplicated across rules, and the gate
    on each entry's first term. Rules are added in catalog order (``add``), then ``seal`` builds
    the gate."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._position: dict[str, int] = {}
        # keyword alternatives, deduplicated; per rule: entries of terms of alternative indexes
        self._alternatives: list[_Alternative] = []
        self._alternative_index: dict[str, int] = {}
        self._keywords: dict[str, list[tuple[tuple[int, ...], ...]]] = {}
        self._gate_words: dict[bytes, list[tuple[int, int]]] = {}
        self._gate_needles: list[tuple[str, bool, tuple[int, int]]] = []

    def add(self, rule: Rule) -> None:
        """Compile ``rule``'s keywords; CatalogError names the rule and the entry that is bad."""
        self._position[rule.id] = len(self._ids)
        self._ids.append(rule.id)
        entries = []
        for position, entry in enumerate(rule.keywords):
            terms = []
            for alternatives in _split_entry(entry):
                indexes = []
                for phrase in alternatives:
                    if phrase not in self._alternative_index:
                        try:
                            compiled = _compile_alternative(phrase)
                        except ValueError as error:
                            raise CatalogError(
                                f'rule "{rule.id}": keywords #{position + 1}: {error}') from None
                        self._alternative_index[phrase] = len(self._alternatives)
                        self._alternatives.append(compiled)
                    indexes.append(self._alternative_index[phrase])
                terms.append(tuple(indexes))
            if terms:
                entries.append(tuple(terms))
        self._keywords[rule.id] = entries

    def seal(self) -> None:
        """The gate: the first term of every keyword entry, by whole word or by substring."""
        for rule_position, rule_id in enumerate(self._ids):
            for entry_position, entry in enumerate(self._keywords[rule_id]):
                ref = (rule_position, entry_position)
                for index in entry[0]:
                    alternative = self._alternatives[index]
                    if alternative.word is not None:
                        self._gate_words.setdefault(alternative.word, []).append(ref)
                    else:
                        self._gate_needles.append((alternative.needle, CJK.search(alternative.needle) is None, ref))
        self._needles = sorted({needle for needle, _plain, _ref in self._gate_needles})
        self._needle_refs: list[list[tuple[int, int]]] = [[] for _ in self._needles]
        for needle, _plain, ref in self._gate_needles:
            self._needle_refs[self._needles.index(needle)].append(ref)
        # Every whole word an alternative asks for and every needle of the gate, in one automaton
        # pass: splitting the text into its set of words cost more than the whole pass. A word
        # found counts where it is a whole token, as in ``Texts.words``. Pattern i is the word
        # self._literal_words[i] (bytes, or None) and the needle self._literal_needles[i] (index).
        words = {a.word.decode() for a in self._alternatives if a.word is not None}
        literals = sorted(words | set(self._needles))
        self._literal_words = [w.encode() if w in words else None for w in literals]
        self._literal_needles = [self._needles.index(w) if w in self._needles else None for w in literals]
        self._literal_automaton = Literals(literals) if literals else None

    def _present(self, joined: str) -> tuple[set[bytes], set[int]] | None:
        """The alternatives' words that are whole tokens of ``joined`` and the gate's needles in
        it; None when the automaton cannot read it (a lone surrogate) or there is none."""
        if self._literal_automaton is None:
            return None
        try:
            hits = self._literal_automaton.find(joined)
        except UnicodeEncodeError:
            return None
        words: set[bytes] = set()
        needles: set[int] = set()
        size = len(joined)
        literal_words, literal_needles = self._literal_words, self._literal_needles
        for index, start, end in hits:
            word = literal_words[index]
            if word is not None and (start == 0 or joined[start - 1] not in _TOKEN_CHARS) and (
                    end == size or joined[end] not in _TOKEN_CHARS):
                words.add(word)
            needle = literal_needles[index]
            if needle is not None:
                needles.add(needle)
        return words, needles

    def matches(self, texts: Texts, only: Iterable[str] | None = None
                ) -> dict[str, tuple[list[int], tuple[Evidence, ...]]]:
        """Rules with satisfied keyword entries: rule id -> (terms per satisfied entry, evidence)."""
        if not texts.normalized:
            return {}
        # Gate: an entry can match only if an alternative of its first term is present: a whole
        # word or a needle (Chinese), all found in one automaton pass; once per text (linking and
        # the further rules both ask).
        if texts.gate is not None and texts.gate[0] is self:
            entries, words = texts.gate[1], texts.gate[2]
        else:
            entries, words = self._gate(texts)
            texts.gate = (self, entries, words)
        if not entries:
            return {}
        return self._satisfied(texts, entries, words, only)

    def _gate(self, texts: Texts) -> tuple[set[tuple[int, int]], set[bytes] | set[str]]:
        joined = texts.joined
        present = self._present(joined)
        entries: set[tuple[int, int]] = set()
        if present is not None:
            words, needles = present
            for word in self._gate_words.keys() & words:
                entries.update(self._gate_words[word])
            for index in needles:
                entries.update(self._needle_refs[index])
        else:  # the words of the text, and each needle searched on its own
            words = texts.words
            plain = joined.isascii() or FROM_CJK.search(joined) is None  # no Chinese needle can match
            for word in self._gate_words.keys() & words:
                entries.update(self._gate_words[word])
            for needle, needle_plain, ref in self._gate_needles:
                if (needle_plain or not plain) and ref not in entries and needle in joined:
                    entries.add(ref)
        return entries, words

    def _satisfied(self, texts: Texts, entries: set[tuple[int, int]], words: set[bytes] | set[str],
                   only: Iterable[str] | None) -> dict[str, tuple[list[int], tuple[Evidence, ...]]]:
        joined = texts.joined
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
                        if (alternative.word in words) if alternative.word is not None \
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

    def _find(self, index: int, texts: Texts) -> Evidence | None:
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

