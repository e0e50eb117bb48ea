"""Every occurrence of many literals in a text, in one pass: an Aho-Corasick automaton
(``ahocorasick-rs``).

``Literals(patterns).find(text)`` is ``find_matches_as_indexes(text, overlapping=True)``: every
occurrence, overlapping ones too, as (pattern index, start, end) in characters. ASCII text is
searched as bytes by a second automaton, of the ASCII patterns only, in UTF-8: on ASCII text the
two read the same characters (a pattern with any other character cannot match), report the same
matches in the same order (the ASCII patterns keep their order; their indexes are mapped back to
the caller's), and bytes offsets are character offsets; the bytes search costs about half (the
``str`` one maps the byte offsets it finds back to characters). A lone surrogate cannot cross
into Rust: ``find`` then raises ``UnicodeEncodeError``, as the library does.

Memory: the bytes automaton, which searches most texts, is a DFA (the fastest to search); the
``str`` one, for non-ASCII text only, is a contiguous NFA. A DFA of the Chinese patterns is large
(each of their characters is three bytes, a state a row of transitions): for the daemon's
automata, two DFAs of every pattern held 11.5 MB, these two 1.8 MB.

``recent``: how many searched texts to keep with their occurrences. The classifier searches an
item's lead, then the first sentence of it: a text that starts a longer one searched just before
has exactly the occurrences of that one that end within it (the automaton's state at a position
depends only on the text before it), in the same order, and is not searched again.
"""

from __future__ import annotations

from typing import Sequence

import ahocorasick_rs

__all__ = ["Literals"]

_DFA = ahocorasick_rs.Implementation.DFA
_NFA = ahocorasick_rs.Implementation.ContiguousNFA


class Literals:
    def __init__(self, patterns: Sequence[str], recent: int = 0):
        if not patterns:
            raise ValueError("no literals to search for")
        self._text = ahocorasick_rs.AhoCorasick(list(patterns), implementation=_NFA)
        ascii_indexes = [i for i, p in enumerate(patterns) if p.isascii()]
        self._bytes = ahocorasick_rs.BytesAhoCorasick(
            [patterns[i].encode() for i in ascii_indexes], implementation=_DFA) if ascii_indexes else None
        # the caller's index of each ASCII pattern; None when they are the first ones, in order
        self._index = None if ascii_indexes == list(range(len(ascii_indexes))) else ascii_indexes
        self._keep = recent
        self._recent: list[tuple[str, tuple[tuple[int, int, int], ...]]] = []

    def find(self, text: str) -> list[tuple[int, int, int]]:
        if self._keep:
            size = len(text)
            for longer, kept in self._recent:
                if len(longer) > size and longer.startswith(text):
                    return [hit for hit in kept if hit[2] <= size]
        if text.isascii():
            if self._bytes is None:
                hits = []
            else:
                hits = self._bytes.find_matches_as_indexes(text.encode(), overlapping=True)
                if self._index is not None:
                    index = self._index
                    hits = [(index[i], start, end) for i, start, end in hits]
        else:
            hits = self._text.find_matches_as_indexes(text, overlapping=True)
        if self._keep:  # kept as a tuple: the caller may change the list it gets
            self._recent = [(text, tuple(hits)), *self._recent[:self._keep - 1]]
        return hits
