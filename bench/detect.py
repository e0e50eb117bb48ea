"""Detection throughput: items a second through link + classify + tag, for ~2 KB texts.

    python bench/detect.py --items 5000 --json

Texts are built from the labelled corpus (English, Simplified and Traditional Chinese), each
padded with its own sentences to about 2 KB. The reference, measured in the same run, is the
floor every item pays before any matching: `normalize()` of its text. Single core. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from report import finish  # bench/report.py, beside this script
from monitor.detect.catalog import Catalog
from monitor.detect.changes import Detector
from evaluation import SOURCES, as_event, load_corpus  # bench/evaluation.py, beside this script
from monitor.detect.changes import SourceInfo
from monitor.detect.gazetteer import Gazetteer
from monitor.detect.text import normalize

ROOT = Path(__file__).resolve().parents[1]


def padded(records: list[dict], size: int) -> list[dict]:
    out = []
    for record in records:
        item = dict(record["item"])
        base = f"{item.get('summary') or ''} {item.get('title') or ''} "
        while len(item.get("summary") or "") + len(item["title"]) < size:
            item["summary"] = (item.get("summary") or "") + " " + base
        out.append({**record, "item": item})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--size", type=int, default=2000, help="characters of text per item")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    detector = Detector(Catalog.load(), Gazetteer.load())
    corpus = padded(load_corpus(ROOT / "tests" / "corpus" / "items.jsonl"), args.size)
    records = [corpus[i % len(corpus)] for i in range(args.items)]
    events = [(as_event(r), SOURCES.get(r["source"]) or SourceInfo(r["source"], "feed", False)) for r in records]
    for event, info in events[:200]:  # warm caches and compiled patterns
        detector.detect(event, info)

    began = time.process_time()
    found = sum(len(detector.detect(event, info)) for event, info in events)
    detect_s = time.process_time() - began
    began = time.process_time()
    for event, _ in events:
        normalize(event.data["title"]), normalize(event.data["summary"])
    normalize_s = time.process_time() - began

    chars = sum(len(e.data["title"]) + len(e.data["summary"]) for e, _ in events) / len(events)
    results = {
        "items": args.items,
        "avg_chars": round(chars),
        "items_per_s": round(args.items / detect_s),
        "us_per_item": round(detect_s / args.items * 1e6, 1),
        "normalize_only_items_per_s": round(args.items / normalize_s),
        "changes": found,
    }
    finish(results, as_json=args.json)


if __name__ == "__main__":
    main()
