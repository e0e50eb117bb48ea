"""Every occurrence of many literals in a text, in one pass: an Aho-Corasick automaton
(``ahocorasick-rs``, built as a DFA: the fastest of its automata to search).

``Literals(patterns).find(text)`` is ``find_matches_as_indexes(text, overlapping=True)``: every
occurrence, overlapping ones too, as (pattern index, start, end) in characters. ASCII text is
searched as bytes by a second automaton of the same patterns in UTF-8: on ASCII the two read the
same characters (a pattern with any other character matches neither), report the same matches in
the same order, and bytes offsets are character offsets; the bytes search costs about half (the
``str`` one maps the byte offsets it finds back to characters). A lone surrogate cannot cross
into Rust: ``find`` then raises ``UnicodeEncodeError``, as the library does.

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


class Literals:
    def __init__(self, patterns: Sequence[str], recent: int = 0):
        if not patterns:
            raise ValueError("no literals to search for")
        self._text = ahocorasick_rs.AhoCorasick(list(patterns), implementation=_DFA)
        self._bytes = ahocorasick_rs.BytesAhoCorasick([p.encode() for p in patterns], implementation=_DFA)
        self._keep = recent
        self._recent: list[tuple[str, tuple[tuple[int, int, int], ...]]] = []

    def find(self, text: str) -> list[tuple[int, int, int]]:
        if self._keep:
            size = len(text)
            for longer, kept in self._recent:
                if len(longer) > size and longer.startswith(text):
                    return [hit for hit in kept if hit[2] <= size]
        if text.isascii():
            hits = self._bytes.find_matches_as_indexes(text.encode(), overlapping=True)
        else:
            hits = self._text.find_matches_as_indexes(text, overlapping=True)
        if self._keep:  # kept as a tuple: the caller may change the list it gets
            self._recent = [(text, tuple(hits)), *self._recent[:self._keep - 1]]
        return hits
