"""``Literals.find`` against the library's own overlapping search of the same patterns."""

import ahocorasick_rs
from hypothesis import given, settings, strategies as st

from monitor.detect.literals import Literals

PATTERNS = ["us", "u.s.", "usa", "a", "ab", "abc", "bc", "美国", "美", "中美", "é", "e", "1-2", "-"]
_LITERALS = Literals(PATTERNS)
_RECENT = Literals(PATTERNS, recent=2)
_PLAIN = ahocorasick_rs.AhoCorasick(PATTERNS)
# the ASCII patterns have an automaton of their own (for ASCII text), their indexes mapped back to
# the caller's: interleaved with the others (above), first and in order (no mapping), or none
_ORDERS = [sorted(PATTERNS, key=lambda p: not p.isascii()), [p for p in PATTERNS if not p.isascii()]]
_BY_ORDER = [(Literals(order), ahocorasick_rs.AhoCorasick(order)) for order in _ORDERS]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["us", "U", "s", ".", "a", "b", "c", "美", "国", "中", "é", "e", "1", "-", " ", "x"]),
                max_size=30).map("".join))
def test_find_is_the_overlapping_search(text):
    found = _LITERALS.find(text)
    assert found == _PLAIN.find_matches_as_indexes(text, overlapping=True)
    # what the gazetteer's scan and the prefix reuse rest on: occurrences come as their ends come
    assert [end for _index, _start, end in found] == sorted(end for _index, _start, end in found)
    # and a prefix's occurrences are those of the whole text that end within it
    for size in range(len(text) + 1):
        assert _LITERALS.find(text[:size]) == [hit for hit in found if hit[2] <= size]
    for literals, plain in _BY_ORDER:
        assert literals.find(text) == plain.find_matches_as_indexes(text, overlapping=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["us", "U", "s", ".", "a", "b", "c", "美", "国", "中", "é", "e", "1", "-", " ", "x"]),
                max_size=30).map("".join), st.integers(0, 30), st.integers(0, 30))
def test_a_text_that_starts_a_recent_one_is_found_alike(text, cut, other):
    """With texts kept, any sequence of searches (a whole text, its starts, others) gives what a
    fresh search gives."""
    for searched in (text, text[:cut], text[:other] + "x", text[:cut], text):
        assert _RECENT.find(searched) == _PLAIN.find_matches_as_indexes(searched, overlapping=True)


def test_a_caller_changing_its_list_does_not_change_what_is_kept():
    literals = Literals(PATTERNS, recent=2)
    found = literals.find("usa abc")
    expected = list(found)
    found.reverse()
    found.clear()
    assert literals.find("usa ab") == [hit for hit in expected if hit[2] <= 6]
