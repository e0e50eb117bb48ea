"""Text normalisation shared by the detectors (gazetteer, catalog, classifier): ``ItemText``
holds an item's texts normalised once, for all three.

``normalize(text)`` returns a string of exactly the same length as ``text``, so every offset found
in the normalised string is an offset into the original. Per character it applies:

1. NFKC, when that yields exactly one character (full-width ``Ａ１，`` → ``A1,``; CJK compatibility
   ideographs → unified ideographs); characters whose NFKC form is longer (``ﬁ``, ``㈱``) are kept.
2. Traditional → Simplified Chinese with OpenCC ``t2s`` (``美國`` → ``美国``, ``輝達`` → ``辉达``).
   The whole string is converted at once (OpenCC's phrase tables need context); if that changes
   the length, the conversion falls back to character by character, keeping every character whose
   conversion is not a single character.

Nothing else: case is *not* folded here; the matchers decide their own case rules.

It runs on every item (measured 2026-12-01: about 45 µs for 2 KB of Simplified Chinese, 75 µs of
Traditional, most of it OpenCC): ASCII text comes back at once; the NFKC pass runs only on text
that is not NFKC-normal, as one regex search for a precomputed class of the characters it changes
(then one ``str.replace`` per distinct character found); OpenCC runs on any other non-ASCII text
that holds a character t2s may change (most Simplified Chinese text holds none).
A cut of a normalised text is normalised again only in the run of ideographs the cut falls in
(``normalized_cut``).

``CJK`` matches one CJK ideograph.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import unicodedata
from typing import Any, Mapping

__all__ = ["CJK", "ItemText", "lower_same_length", "normalize", "normalized_cut"]

# CJK unified ideographs (URO, extensions A-H) and compatibility ideographs.
CJK = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ebef"
    "\U0002ebf0-\U0002ee5f\U0002f800-\U0002fa1f\U00030000-\U000323af]"
)


@functools.cache
def _t2s_converter():
    """OpenCC's t2s, loaded by the first text it may change (~4.5 MB resident with the library: a
    daemon of English sources never needs it)."""
    import opencc

    return opencc.OpenCC("t2s")


# No code point above U+2FFFF changes under NFKC (checked against the Unicode 14/15 data), so the
# table covers planes 0-2 only; that keeps the one-off cost at import to a few tens of ms.
_NFKC_LIMIT = 0x30000


def _nfkc_table() -> dict[str, str]:
    table: dict[str, str] = {}
    normalize_ = unicodedata.normalize
    for cp in range(0x80, _NFKC_LIMIT):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if not unicodedata.decomposition(ch):
            continue  # NFKC can only change a lone character that has a decomposition mapping
        out = normalize_("NFKC", ch)
        if out != ch and len(out) == 1:
            table[ch] = out
    return table


def _char_class(chars: list[str]) -> str:
    """A regex character class for ``chars``, with consecutive code points folded into ranges."""
    cps = sorted(ord(c) for c in chars)
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = re.escape(chr(cps[i])), re.escape(chr(cps[j]))
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "[" + "".join(parts) + "]"


@functools.cache
def _nfkc_tables() -> tuple[dict[str, str], re.Pattern[str], re.Pattern[str]]:
    """The table (about 3,600 characters; ~40 ms, ~0.6 MB), and its BMP and astral classes, built
    by the first text that is not NFKC-normal (ASCII feeds never make one).

    Python's re checks a class's astral ranges one by one for every character, which makes one big
    class about ten times slower than a BMP-only class; astral characters are rare, so they get
    their own class, searched only when the text has an astral character at all."""
    table = _nfkc_table()
    return (table, re.compile(_char_class([c for c in table if ord(c) < 0x10000])),
            re.compile(_char_class([c for c in table if ord(c) >= 0x10000])))


_SURROGATE = re.compile("[\ud800-\udfff]")
_is_normalized = unicodedata.is_normalized


def _nfkc(pattern: re.Pattern[str], table: dict[str, str], text: str) -> str:
    # Each character to replace is found, then replaced everywhere at once (a text has one or two
    # distinct ones, the full-width comma above all: cheaper than a split on them or re.sub with a
    # callback), and the search goes on from where it was found (``findall`` made a string of every
    # occurrence: 12 -> 6 µs for 2 KB of Chinese)
    found = pattern.search(text)
    while found is not None:
        ch = found.group()
        text = text.replace(ch, table[ch])  # one character for one: offsets stay
        found = pattern.search(text, found.start())
    return text


def _has_astral(text: str) -> bool:
    """Whether a character lies above the BMP (it takes two UTF-16 units; a lone surrogate one)."""
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


def _convert_char(ch: str) -> str:
    if _SURROGATE.match(ch):
        return ch
    c = _t2s_converter().convert(ch)
    return c if len(c) == 1 else ch


# Every character that t2s may change: each that stands, in an entry of a dictionary t2s reads, where
# the entry's conversion differs from it (monitor/data/t2s_changing.txt; tests/test_text.py derives
# it from the installed OpenCC's dictionaries). A text with none of them holds no key of a changing
# entry (such a key holds one), so OpenCC would return it as it is, and is not given to OpenCC:
# Simplified Chinese text mostly (14 µs for the search where OpenCC took 26 µs on 2 KB); a
# Traditional text has one of them within a few characters.
_CHANGING = importlib.resources.files("monitor").joinpath("data/t2s_changing.txt").read_text("utf-8").strip()
# One class: the BMP characters of the list and every astral character (rare: a text with one goes
# to OpenCC whether or not it is listed).
_MAY_CHANGE = re.compile(_char_class([c for c in _CHANGING if ord(c) < 0x10000])[:-1] + "\U00010000-\U0010ffff]")
USE_CHANGING = True  # off only in the test that compares both ways

# What t2s makes of the shipped gazetteer's Traditional aliases, normalised when a detector is built:
# with them here, a daemon whose sources are in English never loads OpenCC (tests/test_text.py checks
# each against OpenCC, and that the gazetteer needs no other).
_SHIPPED = dict(line.split("\t") for line in importlib.resources.files("monitor").joinpath(
    "data/t2s_shipped.txt").read_text("utf-8").splitlines())


def _t2s_changes(text: str) -> bool:
    """False when t2s returns ``text`` unchanged (a True may still change nothing)."""
    return not USE_CHANGING or _MAY_CHANGE.search(text) is not None


def _t2s(text: str) -> str:
    if not _t2s_changes(text):
        return text
    shipped = _SHIPPED.get(text)
    if shipped is not None:
        return shipped
    try:
        converted = _t2s_converter().convert(text)
    except UnicodeEncodeError:  # OpenCC takes UTF-8: a lone surrogate cannot be encoded
        converted = None
    if converted is not None and len(converted) == len(text):
        return converted
    # Convert each run without surrogates on its own; a run whose length changes goes char by char.
    out = []
    for run in re.split("([\ud800-\udfff]+)", text):
        if not run or _SURROGATE.match(run):
            out.append(run)
            continue
        converted = _t2s_converter().convert(run)
        out.append(converted if len(converted) == len(run) else "".join(map(_convert_char, run)))
    return "".join(out)


def normalize(text: str) -> str:
    """``text`` with per-character NFKC and Traditional→Simplified Chinese; same length."""
    if text.isascii():
        return text
    # A string that is NFKC-normal as a whole has no character that NFKC would change on its own.
    if not _is_normalized("NFKC", text):
        table, bmp, astral = _nfkc_tables()
        text = _nfkc(bmp, table, text)
        if _has_astral(text):
            text = _nfkc(astral, table, text)
    return _t2s(text)


class ItemText:
    """Named texts (an item's title and summary), each normalised and lower-cased once.

    The catalog, the gazetteer and the classifier all read the same normalised text; they used to
    normalise it on their own, three to five times an item. ``lowered`` is ``normalized`` lower-
    cased with every offset kept (only U+0130 İ lower-cases to two characters: it is kept as is).
    """

    __slots__ = ("original", "normalized", "_lowered", "views")

    def __init__(self, fields: Mapping[str, str]):
        self.original: dict[str, str] = dict(fields)
        self.normalized: dict[str, str] = {name: normalize(text) for name, text in self.original.items()}
        self._lowered: dict[str, str] = {}
        # what a reader derived from these texts (the catalog's ``Texts``), kept for its next read
        # of the same item
        self.views: dict[str, Any] = {}

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> "ItemText":
        """An item's title and summary, those that are non-empty strings."""
        return cls({name: value for name in ("title", "summary")
                    if isinstance(value := item.get(name), str) and value})

    def lowered(self, name: str) -> str:
        low = self._lowered.get(name)
        if low is None:
            low = self._lowered[name] = lower_same_length(self.normalized[name])
        return low

    def prefix(self, name: str, size: int) -> tuple[str, str]:
        """The first ``size`` characters of a text, original and normalised (``normalize`` of the
        prefix, which differs from the prefix of ``normalize`` only where OpenCC's phrase tables
        read the cut differently: ``normalized_cut``)."""
        original = self.original[name]
        if len(original) <= size:
            return original, self.normalized[name]
        return original[:size], normalized_cut(original, self.normalized[name], size)


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or _CJK_MATCH(ch) is not None  # the common block first


_CJK_MATCH = CJK.match


def normalized_cut(original: str, normalized: str, size: int) -> str:
    """``normalize(original[:size])``, given ``normalized == normalize(original)``.

    NFKC is per character, and OpenCC's t2s dictionaries hold only CJK ideographs, on both sides,
    each entry as long as its conversion (tests/test_text.py reads the shipped dictionaries to
    hold this): so no conversion reads across a character that is not an ideograph, and
    ``normalize(a + c + b) == normalize(a) + c' + normalize(b)`` for such a ``c``. The cut
    changes only the run of ideographs it falls in, which is converted again on its own (a few
    characters; normalising the whole prefix again cost a third of the text's normalisation).
    Whether a character is an ideograph is read on ``normalized``: the conversion maps ideographs
    to ideographs and leaves every other character as NFKC made it."""
    if size <= 0:
        return ""
    if size >= len(original):
        return normalized
    if original.isascii() or not (_is_cjk(normalized[size - 1]) and _is_cjk(normalized[size])):
        return normalized[:size]
    start = size - 1
    while start > 0 and _is_cjk(normalized[start - 1]):
        start -= 1
    return normalized[:start] + normalize(original[start:size])


def lower_same_length(text: str) -> str:
    """``text.lower()`` when that keeps every offset (it nearly always does), else per character."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(lc := c.lower()) != 1 else lc for c in text)
