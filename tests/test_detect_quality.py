"""The detector against the labelled corpus (tests/corpus): the quality floor it must keep.

The thresholds are the product's targets; a change to a pattern that costs accuracy fails here.
`python bench/detect_quality.py --errors` lists what it gets wrong.
"""

import sys
from pathlib import Path

from monitor.detect.catalog import Catalog
from monitor.detect.changes import Detector
from monitor.detect.gazetteer import Gazetteer

sys.path.append(str(Path(__file__).resolve().parents[1] / "bench"))
from evaluation import evaluate, load_corpus  # noqa: E402  (bench/evaluation.py: tooling, outside the package)

CORPUS = Path(__file__).parent / "corpus" / "items.jsonl"


def test_detection_quality_on_the_labelled_corpus():
    records = load_corpus(CORPUS)
    assert len(records) >= 200
    summary = evaluate(Detector(Catalog.load(), Gazetteer.load()), records).summary()
    assert summary["kind_accuracy"] >= 0.9, summary
    assert summary["countries_recall"] >= 0.95 and summary["countries_precision"] >= 0.9, summary
    assert summary["companies_recall"] >= 0.95 and summary["companies_precision"] >= 0.9, summary
    assert summary["rule_link_precision"] >= 0.9, summary
    assert summary["rule_accuracy"] >= 0.95, summary
