"""``Literals.find`` against the library's own overlapping search of the same patterns."""

import ahocorasick_rs
from hypothesis import given, settings, strategies as st

from monitor.detect.literals import Literals

PATTERNS = ["us", "u.s.", "usa", "a", "ab", "abc", "bc", "美国", "美", "中美", "é", "e", "1-2", "-"]
_LITERALS = Literals(PATTERNS)
_PLAIN = ahocorasick_rs.AhoCorasick(PATTERNS)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["us", "U", "s", ".", "a", "b", "c", "美", "国", "中", "é", "e", "1", "-", " ", "x"]),
                max_size=30).map("".join))
def test_find_is_the_overlapping_search(text):
    assert _LITERALS.find(text) == _PLAIN.find_matches_as_indexes(text, overlapping=True)
