"""Normalisation shortcuts against the plain ``normalize`` they stand for, and the property of
OpenCC's shipped t2s dictionaries that they rest on (read with OpenCC's own dictionary tool)."""

import json
import random
import subprocess
import sys
from pathlib import Path

import opencc
import pytest

from monitor.detect import text as text_module
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


def test_the_characters_t2s_may_change_are_those_of_the_installed_dictionaries(t2s_entries):
    """``monitor/data/t2s_changing.txt`` (what lets ``normalize`` leave Simplified text to itself)
    is every character standing where an entry's conversion differs from its key."""
    changing = {k for key, values in t2s_entries for k, v in zip(key, values[0]) if k != v}
    shipped = text_module._CHANGING
    assert len(shipped) == len(set(shipped)) and set(shipped) == changing, (
        "regenerate monitor/data/t2s_changing.txt: ''.join(sorted(changing)) + '\\n'",
        sorted(changing ^ set(shipped))[:20])


def test_text_without_a_changing_character_is_what_t2s_makes_of_it(t2s_entries, monkeypatch):
    """The shortcut against OpenCC on random texts of keys, conversions and other characters
    (Simplified, Traditional and mixed), and on the corpus; Simplified texts take it."""
    rng = random.Random(1602)
    keys = [key for key, _values in t2s_entries]
    values = [values[0] for _key, values in t2s_entries]
    pieces = values * 3 + keys + ["美國", "美国", "商务部", "，", "。", " ", "a", "1", "ＡＢＣ", "\U00020000", "\ud800", "𠀀"]
    corpus = [json.loads(line)["item"] for line in (Path(__file__).parent / "corpus" / "items.jsonl").open(encoding="utf-8")]
    texts = [value for item in corpus for value in (item.get("title"), item.get("summary")) if value]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 20))) for _ in range(3000)]
    texts += keys  # each key alone: its conversion with the shortcut, a character missing from the data shows
    skipped = 0
    for text in texts:
        fast = normalize(text)
        monkeypatch.setattr(text_module, "USE_CHANGING", False)
        assert fast == normalize(text), text
        monkeypatch.setattr(text_module, "USE_CHANGING", True)
        skipped += not text.isascii() and not text_module._t2s_changes(text)
    assert skipped > 200  # the Simplified corpus texts (~130) and the random ones that happen to be
    simplified = "美国商务部发布新规，收紧对华芯片出口管制。"
    assert not text_module._t2s_changes(simplified) and text_module._t2s_changes("美國商務部")


def test_the_shipped_conversions_are_opencc_s_and_all_the_gazetteer_needs(monkeypatch):
    """``monitor/data/t2s_shipped.txt`` is exactly what OpenCC's t2s makes of the texts the shipped
    gazetteer gives it when it is built (without the table), so a detector is built without OpenCC."""
    from monitor.detect.gazetteer import Gazetteer

    given: list[str] = []

    class Recording:
        def convert(self, text: str) -> str:
            given.append(text)
            return opencc.OpenCC("t2s").convert(text)

    shipped = dict(text_module._SHIPPED)
    monkeypatch.setattr(text_module, "_SHIPPED", {})
    monkeypatch.setattr(text_module, "_t2s_converter", Recording)
    Gazetteer.load()
    expected = {text: opencc.OpenCC("t2s").convert(text) for text in given}
    assert len(expected) > 20 and all(k != v for k, v in expected.items())
    assert shipped == expected, ("regenerate monitor/data/t2s_shipped.txt: one 'text<TAB>t2s' a line, sorted",
                                 sorted(set(shipped.items()) ^ set(expected.items()))[:10])


LAZY_OPENCC = """
import json, sys
import monitor.daemon, monitor.polling  # the daemon's modules
from monitor.config import load_config
from monitor.daemon import make_detector
from monitor.detect.changes import SourceInfo
from monitor.detect import text
from monitor.detect.text import normalize
from monitor.events import ITEM_DISCOVERED, NewEvent, derive_event_id
from monitor.observation import Observation

detector = make_detector(load_config(sys.argv[1]))
obs = Observation(source="news", key="n1", title="US slows licences for Nvidia AI chip sales to the UAE",
                  url="https://news.example/1", summary="Officials are holding up export licences.")
stream = "item:news:n1"
event = NewEvent(ITEM_DISCOVERED, stream, {"source": "news", "key": "n1", "content_hash": obs.content_hash(),
                                           **obs.content()}, derive_event_id(stream, ITEM_DISCOVERED, obs.content_hash()))
loaded = {"changes": len(detector.detect(event, SourceInfo("news", "feed", False))),
          "after detecting": ["opencc" in sys.modules, text._nfkc_tables.cache_info().currsize]}
loaded["converted"] = normalize("美國商務部")
loaded["after a Traditional text"] = "opencc" in sys.modules
loaded["folded"] = normalize("ＡＢＣ，")
loaded["after a full-width text"] = text._nfkc_tables.cache_info().currsize
print(json.dumps(loaded, ensure_ascii=False))
"""


def test_opencc_and_the_nfkc_table_wait_for_a_text_that_needs_them_not_for_building_and_detecting_english(tmp_path):
    """OpenCC costs ~4.5 MB of resident memory a daemon of English sources never uses: building the
    detector (its gazetteer's Traditional aliases are in t2s_shipped.txt) and detecting English
    items leave it unloaded; the first Traditional text loads it. So with the NFKC table (~0.6 MB)
    and the first text that is not NFKC-normal."""
    config = tmp_path / "monitor.toml"
    config.write_text('[[sources]]\nid = "news"\nkind = "feed"\nurl = "https://news.example/feed"\n')
    done = subprocess.run([sys.executable, "-c", LAZY_OPENCC, str(config)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert loaded["changes"] >= 1
    assert loaded == {"changes": loaded["changes"], "after detecting": [False, 0], "converted": "美国商务部",
                      "after a Traditional text": True, "folded": "ABC,", "after a full-width text": 1}
