"""Detection quality on the labelled corpus: per-field precision and recall, kind and rule accuracy.

    python bench/detect_quality.py [--corpus tests/corpus/items.jsonl] [--errors] [--json]

Targets: countries and companies recall >= 0.95 at precision >= 0.9, kind accuracy >= 0.9, rule
linking >= 0.95. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from report import finish  # bench/report.py, beside this script
from monitor.detect.catalog import Catalog
from monitor.detect.changes import Detector
from evaluation import evaluate, load_corpus  # bench/evaluation.py, beside this script
from monitor.detect.gazetteer import Gazetteer

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus" / "items.jsonl")
    parser.add_argument("--errors", action="store_true", help="print every item the detector got wrong")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = evaluate(Detector(Catalog.load(), Gazetteer.load()), load_corpus(args.corpus))
    if args.errors:
        for error in report.errors:
            print(json.dumps(error, ensure_ascii=False))
    finish(report.summary(), as_json=args.json)


if __name__ == "__main__":
    main()
