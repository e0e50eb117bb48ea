"""Search a regular expression only where it can start: at the literals its matches begin with.

``re`` tries a pattern such as ``\\b(?:rescind\\w*|repeal\\w*|...)\\b[^.;]{0,60}?\\b(?:rules?|...)``
at every position of the text. Most of our patterns begin every match with one of a few literal
words, so ``literal_starts`` reads them off the parsed pattern (``re._parser``; the standard
library's own parser, so the literals are what the engine compiles), and ``Starts`` finds every
occurrence of all of them, for many patterns at once, with one Aho-Corasick pass over the
lower-cased text. ``Starts.search(pattern, text)`` then tries ``pattern.match`` at those places
only, in order: the first that matches is the leftmost match, the one ``pattern.search`` returns
(every match starts at such a place, and ``match`` at a position is exactly the attempt ``search``
makes there; lookbehinds and ``\\b`` still see the text before it). A pattern with an alternative
that starts with anything but a literal (a class of many characters, ``\\d``, ``^\\W*``) is
searched whole, as before.

Case: the literals and the text are both lower-cased (offsets kept), which is a necessary
condition for a case-insensitive match and for a case-sensitive one alike. Unicode case-insensitive
matching also lets ``i`` match ``İ`` and ``ı``, ``s`` match ``ſ`` and ``k`` the Kelvin sign: the
text is folded so for the scan, and a Unicode case-insensitive pattern with a cased non-ASCII
literal (where more such pairs exist) is searched whole.
"""

from __future__ import annotations

import functools
import re
from re import _constants as C, _parser  # the stdlib's own parser of patterns
from typing import Iterable, Iterator

from monitor.detect.literals import Literals
from monitor.detect.text import lower_same_length

__all__ = ["Starts", "literal_starts"]

PREFIX = 4  # literal characters read per start: enough to be selective, few enough to stay small
_MAX_CLASS = 8  # a class of at most this many characters is a branch per character
_SURROGATE = re.compile("[\ud800-\udfff]")
# the non-ASCII characters that match an ASCII letter case-insensitively, to that letter
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
_FOLDED = ("\u0130", "\u0131", "\u017f", "\u212a")


def literal_starts(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Lower-cased literals one of which every match of ``pattern`` starts with; None when some
    match may start otherwise, or when a start would be too short to be selective (one ASCII
    character: every word would be a candidate)."""
    starts = _prefixes(list(_parser.parse(pattern.pattern, pattern.flags)), 0, "")
    if any(not s or (s.isascii() and len(s) < 2) for s in starts):
        return None
    if pattern.flags & re.IGNORECASE and not pattern.flags & re.ASCII and any(
            not c.isascii() and c.lower() != c.upper() for s in starts for c in s):
        return None
    return frozenset(starts)


def _prefixes(items: list, i: int, prefix: str) -> set[str]:
    """The literal prefixes (up to PREFIX characters) of the matches of ``items[i:]``, each after
    ``prefix``. A prefix ends early where the pattern stops being a literal."""
    if len(prefix) >= PREFIX or i == len(items):
        return {prefix}
    op, av = items[i]
    if op is C.LITERAL:
        return _prefixes(items, i + 1, prefix + chr(av).lower())
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):  # zero-width: \b, lookarounds
        return _prefixes(items, i + 1, prefix)
    if op is C.SUBPATTERN:
        return _prefixes(list(av[-1]) + items[i + 1:], 0, prefix)
    if op is C.BRANCH:
        out: set[str] = set()
        for branch in av[1]:
            out |= _prefixes(list(branch) + items[i + 1:], 0, prefix)
        return out
    if op is C.IN:
        chars = _class_chars(av)
        if chars is None:
            return {prefix}
        out = set()
        for ch in chars:
            out |= _prefixes(items, i + 1, prefix + ch)
        return out
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _high, sub = av
        # once or more: the match starts with the repeated part's (then the prefix stops);
        # possibly never: with what follows
        out = _prefixes(list(sub), 0, prefix)
        if low == 0:
            out |= _prefixes(items, i + 1, prefix)
        return out
    return {prefix}  # any character, \d, \s, a negated or large class: the literal ends here


def _class_chars(av: list) -> list[str] | None:
    chars: list[str] = []
    for op, value in av:
        if op is C.LITERAL:
            chars.append(chr(value).lower())
        elif op is C.RANGE and value[1] - value[0] < _MAX_CLASS:
            chars.extend(chr(c).lower() for c in range(value[0], value[1] + 1))
        else:
            return None
    unique = sorted(set(chars))
    return unique if len(unique) <= _MAX_CLASS else None


class Starts:
    """Where each of several patterns may start in a text, found in one pass for all of them."""

    def __init__(self, patterns: Iterable[re.Pattern[str]]):
        # slots by the pattern's id: hashing a compiled pattern hashes its whole compiled code (µs
        # for the big ones), on every search; the patterns are kept, so their ids stay theirs
        self._slot: dict[int, int] = {}
        self._patterns: list[re.Pattern[str]] = []
        slots_of: dict[str, set[int]] = {}
        for pattern in patterns:
            if id(pattern) in self._slot:
                continue
            starts = literal_starts(pattern)
            if starts is None:
                continue  # searched whole
            slot = self._slot[id(pattern)] = len(self._slot)
            self._patterns.append(pattern)
            for literal in starts:
                slots_of.setdefault(literal, set()).add(slot)
        self._literals = sorted(slots_of)
        # slot -> the indexes of its literals (a query intersects them with the literals found)
        literals_of: dict[int, set[int]] = {}
        for index, literal in enumerate(self._literals):
            for slot in slots_of[literal]:
                literals_of.setdefault(slot, set()).add(index)
        self._literals_of = {slot: frozenset(indexes) for slot, indexes in literals_of.items()}
        self._automaton = Literals(self._literals, recent=3) if self._literals else None
        # the places of the last few texts (an item's title and lead are searched by a dozen patterns)
        self.places = functools.lru_cache(maxsize=16)(self._places)

    def _places(self, text: str) -> _Places:
        """Where each slot's literals start in ``text`` (worked out per slot when asked)."""
        low = lower_same_length(text)
        if not low.isascii() and any(c in low for c in _FOLDED):
            low = low.translate(_FOLD)  # slow on non-ASCII text: only when there is one to fold
        return _Places(self._find(low), self._literals_of)

    def _find(self, low: str) -> list[tuple[int, int, int]]:
        try:
            return self._automaton.find(low)
        except UnicodeEncodeError:  # a lone surrogate cannot cross into Rust; no literal holds one
            return self._automaton.find(_SURROGATE.sub("\ufffd", low))

    def search(self, pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
        """``pattern.search(text)``, tried only where a match can start."""
        slot = self._slot.get(id(pattern))
        if slot is None or self._automaton is None:
            return pattern.search(text)
        match = pattern.match
        for offset in self.places(text).get(slot, ()):
            found = match(text, offset)
            if found is not None:
                return found
        return None

    def finditer(self, pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
        """``pattern.finditer(text)``, tried only where a match can start: each match is the first
        at or after the end of the one before (a pattern here never matches the empty string: its
        every start is a literal)."""
        slot = self._slot.get(id(pattern))
        if slot is None or self._automaton is None:
            yield from pattern.finditer(text)
            return
        match = pattern.match
        end = 0
        for offset in self.places(text).get(slot, ()):
            if offset >= end:
                found = match(text, offset)
                if found is not None:
                    end = found.end()
                    yield found


class _Places:
    """The literals found in one text, by literal; ``get(slot)``: the offsets where one of the
    slot's literals starts, ascending, worked out on first asking (a text is searched for a few
    of the many patterns, so most slots are never asked for)."""

    __slots__ = ("_by_literal", "_literals_of", "_offsets")

    def __init__(self, hits: list[tuple[int, int, int]], literals_of: dict[int, frozenset[int]]):
        by_literal: dict[int, list[int]] = {}
        for index, start, _end in hits:
            starts = by_literal.get(index)
            if starts is None:
                by_literal[index] = [start]
            else:
                starts.append(start)
        self._by_literal = by_literal
        self._literals_of = literals_of
        self._offsets: dict[int, list[int]] = {}

    def get(self, slot: int, default: list[int] | tuple[()] = ()) -> list[int] | tuple[()]:
        offsets = self._offsets.get(slot)
        if offsets is None:
            found = self._literals_of.get(slot, frozenset()).intersection(self._by_literal)
            if len(found) == 1:
                offsets = sorted(set(self._by_literal[next(iter(found))]))
            else:
                unique: set[int] = set()
                for index in found:
                    unique.update(self._by_literal[index])
                offsets = sorted(unique)
            self._offsets[slot] = offsets
        return offsets if offsets else default

