"""Normalisation shortcuts against the plain ``normalize`` they stand for, and the property of
OpenCC's shipped t2s dictionaries that they rest on (read with OpenCC's own dictionary tool)."""

import json
import random
import subprocess
from pathlib import Path

import opencc
import pytest

from monitor.detect.text import CJK, ItemText, normalize, normalized_cut

SHARE = Path(opencc.__file__).parent / "clib" / "share" / "opencc"
TOOL = Path(opencc.__file__).parent / "clib" / "bin" / "opencc_dict"


def _files(node) -> list[str]:
    if isinstance(node, dict):
        return ([node["file"]] if "file" in node else []) + [f for v in node.values() for f in _files(v)]
    if isinstance(node, list):
        return [f for v in node for f in _files(v)]
    return []


@pytest.fixture(scope="module")
def t2s_entries(tmp_path_factory) -> list[tuple[str, list[str]]]:
    """Every (key, candidates) of every dictionary the t2s configuration reads."""
    config = json.loads((SHARE / "t2s.json").read_text(encoding="utf-8"))
    files = _files(config)
    assert files, "t2s.json names no dictionary"
    out = tmp_path_factory.mktemp("t2s")
    entries = []
    for name in files:
        target = out / (name + ".txt")
        subprocess.run([str(TOOL), "-i", str(SHARE / name), "-o", str(target), "-f", "ocd2", "-t", "text"],
                       check=True, capture_output=True)
        for line in target.read_text(encoding="utf-8").splitlines():
            key, values = line.split("\t")
            entries.append((key, values.split(" ")))
    return entries


def test_t2s_dictionaries_hold_only_ideographs_and_keep_lengths(t2s_entries):
    """What ``normalized_cut`` rests on: no conversion reads or writes anything but ideographs,
    and none changes a length, so a character that is not an ideograph always ends a segment."""
    assert len(t2s_entries) > 5000
    for key, values in t2s_entries:
        for text in (key, *values):
            assert all(CJK.fullmatch(c) for c in text), (key, values)
        assert len(values[0]) == len(key), (key, values)


def test_a_cut_is_normalised_as_normalize_of_the_prefix(t2s_entries):
    """Texts dense in phrase keys (where a cut splits a phrase), cut everywhere."""
    rng = random.Random(16)
    phrases = [key for key, _values in t2s_entries if len(key) > 1]
    pieces = phrases + ["美國", "輝達", "商務部", "ＡＢＣ", "，", "。", " ", "\n", "a", "1", "⼀", "\u2f00", "﹐", "ﬁ"]
    for _ in range(300):
        original = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        whole = normalize(original)
        for size in range(len(original) + 1):
            assert normalized_cut(original, whole, size) == normalize(original[:size]), (original, size)
            text = ItemText({"summary": original})
            assert text.prefix("summary", size) == (original[:size], normalize(original[:size]))
