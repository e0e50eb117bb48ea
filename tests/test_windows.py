"""Windowed searches (monitor/detect/windows.py) equal whole searches, match for match."""

import re

from hypothesis import given, settings, strategies as st

from monitor.detect import classify
from monitor.detect.catalog import Catalog
from monitor.detect.windows import Starts, literal_starts

CATALOG = Catalog.load()
TOPIC_PATTERNS = [CATALOG._topic_pattern(rule) for rule in CATALOG.rules.values() if rule.topics]
PATTERNS = [p for _kind, p in classify.TEXT_KINDS] + [classify.TOPIC, classify.DOMAIN, classify.ENFORCEMENT,
                                                      classify._AMENDS] + TOPIC_PATTERNS
STARTS = Starts(PATTERNS)
PIECES = st.sampled_from(list("abcdeiklnoprstuvxy .;-'ACEIKRSU1İıſ\u212a美国拟商务部许可暂停镓芯片") + [
    "rule", "ban", "license", "export", "chip", "entity list", "curbs", "China", "slowed", "halts", "HBM",
    "foundry", "Foundries", "gallium", "advanced computing", "AI", "ai", "İntel", "chıp", "CHIP", "高带宽内存"])


def spans(matches):
    return [(m.span(), m.group()) for m in matches]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PATTERNS), st.lists(PIECES, max_size=40).map("".join))
def test_search_and_finditer_equal_the_whole_ones(pattern, text):
    found, whole = STARTS.search(pattern, text), pattern.search(text)
    assert (found and (found.span(), found.group())) == (whole and (whole.span(), whole.group()))
    assert spans(STARTS.finditer(pattern, text)) == spans(pattern.finditer(text))


def test_what_cannot_be_windowed_is_searched_whole():
    assert literal_starts(re.compile(r"\d+ FR")) is None  # starts with a class of ten
    assert literal_starts(re.compile(r"a|bc")) is None  # one ASCII letter: every word a candidate
    assert literal_starts(re.compile("é+x", re.IGNORECASE)) is None  # Unicode case pairs beyond the fold
    assert literal_starts(re.compile(r"\b(?:rules?|ban)\b")) == {"rule", "ban"}
    assert sorted(literal_starts(re.compile("(?:美国|美(?=[拟将]))"))) == ["美", "美国"]
    pattern = re.compile(r"\d+")
    assert spans(Starts([pattern]).finditer(pattern, "a 12 b 3")) == [((2, 4), "12"), ((7, 8), "3")]
