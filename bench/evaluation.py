"""Measure the detector against a labelled corpus: per-field precision and recall, kind and rule
accuracy. Used by `bench/detect_quality.py`, `bench/detect.py` and the tests that keep the detector
honest (tests/test_detect_quality.py, tests/detect_decisions.py). Tooling, not the product: it reads
files, so it lives here, outside the pure `monitor/detect` (which does no I/O).

A corpus record is one JSON object: ``{"id", "source", "item": {title, url, summary, language,
published, fields}, "expected": {"kind", "rule", "countries", "companies"}}``; ``kind`` null means
"not a change". Countries and companies are measured on every item (tagging does not depend on
the kind); kind and rule on the detector's decision.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from monitor.detect.changes import Detector, SourceInfo
from monitor.events import ITEM_DISCOVERED, NewEvent, derive_event_id
from monitor.observation import Observation

# How the corpus's source ids map to source kinds and officialness (the default sources.toml).
SOURCES = {
    "fr-bis": SourceInfo("fr-bis", "federal_register", True, structured=True),
    "fr-public-inspection": SourceInfo("fr-public-inspection", "federal_register", True, structured=True),
    "fr-commerce-eop": SourceInfo("fr-commerce-eop", "federal_register", True, structured=True),
    "mofcom-announcements": SourceInfo("mofcom-announcements", "html_list", True),
    "whitehouse-actions": SourceInfo("whitehouse-actions", "feed", True),
}


def load_corpus(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def as_event(record: Mapping[str, Any]) -> NewEvent:
    """The ItemDiscovered event a collector would have recorded for the corpus item."""
    item = record["item"]
    obs = Observation(source=record["source"], key=record["id"], title=item.get("title", ""),
                      url=item.get("url"), summary=item.get("summary", ""), language=item.get("language"),
                      published=item.get("published"), fields=item.get("fields") or {})
    stream = f"item:{obs.source}:{obs.key}"
    return NewEvent(ITEM_DISCOVERED, stream, {"source": obs.source, "key": obs.key,
                                              "content_hash": obs.content_hash(), **obs.content()},
                    derive_event_id(stream, ITEM_DISCOVERED, obs.content_hash()))


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set, expected: set) -> None:
        self.tp += len(predicted & expected)
        self.fp += len(predicted - expected)
        self.fn += len(expected - predicted)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Report:
    items: int = 0
    kind_correct: int = 0
    rule_correct: int = 0
    countries: Score = field(default_factory=Score)
    companies: Score = field(default_factory=Score)
    rule_links: Score = field(default_factory=Score)
    by_language: Counter = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "kind_accuracy": round(self.kind_correct / self.items, 3) if self.items else None,
            "rule_accuracy": round(self.rule_correct / self.items, 3) if self.items else None,
            "rule_link_precision": round(self.rule_links.precision, 3),
            "rule_link_recall": round(self.rule_links.recall, 3),
            "countries_precision": round(self.countries.precision, 3),
            "countries_recall": round(self.countries.recall, 3),
            "companies_precision": round(self.companies.precision, 3),
            "companies_recall": round(self.companies.recall, 3),
            "by_language": dict(self.by_language),
        }


def evaluate(detector: Detector, records: Iterable[Mapping[str, Any]]) -> Report:
    report = Report()
    for record in records:
        event = as_event(record)
        info = SOURCES.get(record["source"]) or SourceInfo(record["source"], "feed", False)
        changes = detector.detect(event, info)
        change = changes[0].data if changes else None
        item = record["item"]
        tags = detector.gazetteer.tag({k: item[k] for k in ("title", "summary") if item.get(k)})
        expected = record["expected"]
        kind, rule = (change or {}).get("kind"), (change or {}).get("rule")
        report.items += 1
        report.by_language[item.get("language") or "?"] += 1
        report.kind_correct += kind == expected.get("kind")
        report.rule_correct += rule == expected.get("rule")
        report.rule_links.add({rule} - {None}, {expected.get("rule")} - {None})
        report.countries.add(set(tags.countries), set(expected.get("countries") or ()))
        report.companies.add(set(tags.companies), set(expected.get("companies") or ()))
        wrong = {
            name: {"got": got, "want": want} for name, got, want in (
                ("kind", kind, expected.get("kind")), ("rule", rule, expected.get("rule")),
                ("countries", sorted(tags.countries), sorted(expected.get("countries") or ())),
                ("companies", sorted(tags.companies), sorted(expected.get("companies") or ())),
            ) if got != want
        }
        if wrong:
            report.errors.append({"id": record["id"], "title": item.get("title"), **wrong})
    return report
