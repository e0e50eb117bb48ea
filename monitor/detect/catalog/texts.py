"""An item's title and summary as the catalog reads them: normalised once (the detector's
``ItemText``), lowered, joined, split into words, and the issuers they name, each made on
first use."""

from __future__ import annotations

import string
from typing import Any, Mapping

from monitor.detect.catalog.issuers import ISSUER_ANYWHERE, issuer_of
from monitor.detect.text import ItemText
from monitor.detect.windows import Starts

__all__ = ["Texts"]

# The issuer pattern tried only where an issuer's name starts (one automaton pass finds the places):
# searched whole, its English branch's leading lookbehind is tried at every position, ~70 µs a 2 KB text.
_ISSUER_STARTS = Starts([ISSUER_ANYWHERE])
# ASCII punctuation (and "?", which stands for every non-ASCII character) to spaces, on bytes.
_PUNCTUATION_TO_SPACE = bytes.maketrans(string.punctuation.encode(), b" " * len(string.punctuation))


class Texts:
    """An item's title and summary, normalised once (same length: offsets are the original's):
    the detector's ``ItemText``, shared with the gazetteer and the classifier, when it has one."""

    __slots__ = ("text", "original", "normalized", "_lowered", "_joined", "_words", "_issuers", "gate")

    @classmethod
    def of(cls, item: Mapping[str, Any], text: ItemText | None = None) -> Texts:
        """The texts of an item; for a detector's ``ItemText``, the one built at its first read."""
        if text is None:
            return cls(item)
        texts = text.views.get("catalog")
        if texts is None:
            texts = text.views["catalog"] = cls(item, text)
        return texts

    def __init__(self, item: Mapping[str, Any], text: ItemText | None = None):
        self.text = text if text is not None else ItemText.of(item)
        self.original: list[tuple[str, str]] = list(self.text.original.items())
        self.normalized: list[tuple[str, str]] = list(self.text.normalized.items())
        self._lowered: list[str] | None = None
        self._joined: str | None = None
        self._words: set[bytes] | None = None
        self._issuers: set[str] | None = None
        # (keyword index, entries its gate let through, the words it found): read again by the
        # further rules after linking
        self.gate: tuple[object, set[tuple[int, int]], set] | None = None

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
                for match in _ISSUER_STARTS.finditer(ISSUER_ANYWHERE, text):
                    found.add(issuer_of(match.group()))
            self._issuers = found
        return self._issuers

