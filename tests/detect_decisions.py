"""Every detection decision on the labelled texts, as data: the equivalence proof's two sides.

``decisions()`` runs the detector over every item of ``tests/corpus/items.jsonl`` and
``bench/incidents/extra_items.jsonl`` in several variants (as recorded; padded with its own
sentences to ~2 KB, as ``bench/detect.py`` reads them, so the lead cut-off and long texts are
exercised; with the source's officialness flipped; as a revision) and returns, per item and
variant, every ``ChangeDetected`` payload in full, the gazetteer's tags and the catalog's
analysis. Besides the corpus, ``GENERATED`` seeded random texts made of gazetteer aliases (in several
casings), their guard contexts, blocked phrases, the classifier's trigger words, identifiers and
separators exercise boundaries, case rules and guards. ``tests/corpus/decisions.jsonl.gz`` holds
the output of the detector before the one-pass rewrite (issue 16);
``tests/test_detect_equivalence.py`` requires the current one to equal it record for record.

    python tests/detect_decisions.py OUT.jsonl.gz   # re-make the reference (only on purpose)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from monitor.detect.catalog import Catalog
from monitor.detect.changes import Detector, SourceInfo
from monitor.detect.gazetteer import Gazetteer
from monitor.events import ITEM_REVISED, NewEvent

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "bench"))
from evaluation import SOURCES, as_event, load_corpus  # noqa: E402  (bench/evaluation.py: tooling, outside the package)
CORPORA = (ROOT / "tests" / "corpus" / "items.jsonl", ROOT / "bench" / "incidents" / "extra_items.jsonl")
OFFICIAL_PREFIXES = ("fr-", "mofcom", "whitehouse", "bis-press")


def _source(source: str) -> SourceInfo:
    if source in SOURCES:
        return SOURCES[source]
    kind = "federal_register" if source.startswith("fr-") else "html_list" if source.startswith("mofcom") else "feed"
    return SourceInfo(source, kind, source.startswith(OFFICIAL_PREFIXES), structured=kind == "federal_register")


def _padded(item: dict[str, Any], size: int = 2000) -> dict[str, Any]:
    item = dict(item)
    base = f"{item.get('summary') or ''} {item.get('title') or ''} "
    while len(item.get("summary") or "") + len(item.get("title") or "") < size:
        item["summary"] = (item.get("summary") or "") + " " + base
    return item


def _variants(record: dict[str, Any]) -> Iterator[tuple[str, NewEvent, SourceInfo]]:
    info = _source(record["source"])
    event = as_event(record)
    yield "recorded", event, info
    yield "padded", as_event({**record, "item": _padded(record["item"])}), info
    yield "flipped", event, SourceInfo(info.id, info.kind, not info.official, structured=info.structured)
    changed = {"title": {"before": "(earlier title)", "after": record["item"].get("title")}}
    if (record["item"].get("fields") or {}).get("comments_close_on"):
        changed["fields.comments_close_on"] = {"before": None, "after": record["item"]["fields"]["comments_close_on"]}
    revised = NewEvent(ITEM_REVISED, event.stream, {**event.data, "changed": changed}, event.event_id + "/r")
    yield "revised", revised, info


GENERATED = 3000
_WORDS = ("licences", "slowed", "Entity List", "rescinds", "rule", "放慢", "许可", "实体清单", "撤销", "规则", "chips",
          "proposes", "bill", "House", "correction", "comment period", "extends", "export controls", "gallium", "镓",
          "出口管制", "approves", "sales to", "tells", "stop selling", "halts", "shipments", "暂停实施", "公告", "mulls",
          "would", "拟", "考虑", "final rule", "interim final rule", "new rules", "Technical Advisory Committee",
          "effective date", "delayed", "anti-dumping", "cybersecurity review", "unreliable entity list", "HBM",
          "AI Diffusion", "人工智能扩散", "advanced computing", "semiconductor", "芯片", "半导体", "算力", "intelligence",
          "business", "Arm", "to Arm", "arm", "Jim Jordan", "Jordan", "其中美国", "中美", "中美洲", "对美光", "在华盛顿",
          "South China Sea", "U.S.a.", "U.S.A.", "us", "US", "2025-00636", "C1-2025-00636", "90 FR 4544",
          "90 Fed. Reg. 4544", "0694-AJ90", "0694-AI94", "H.R. 8315", "HR 8315", "S. 1234", "BIS-2025-0001",
          "250107-0007", "商务部公告2024年第46号", "商務部公告２０２４年第４６號", "2023年第23号", "MOFCOM Announcement No. 46 of 2024",
          "美國", "輝達", "英偉達", "阿聯G42", "Micron", "micron", "Intel", "intel", "Nvidia's", "TSMC", "SMIC")
_SEPARATORS = (" ", " ", " ", "", ", ", ". ", "; ", "-", "。", "，", "\n", "(", ")")


def _vocabulary(gazetteer_data: dict[str, Any]) -> list[str]:
    words = list(_WORDS)
    for table in ("countries", "regions", "companies"):
        for entry in (gazetteer_data.get(table) or {}).values():
            for alias in [entry["name"], *entry.get("aliases", ()), *entry.get("case_sensitive", ())]:
                words += [alias, alias.lower(), alias.upper(), alias.title()]
    for compound in gazetteer_data.get("compounds") or ():
        words.append(compound["alias"])
    for guard in gazetteer_data.get("guards") or ():
        words += [p + guard["alias"] for p in guard.get("not_preceded_by", ())]
        words += [guard["alias"] + f for f in guard.get("not_followed_by", ())]
    words += (gazetteer_data.get("block") or {}).get("phrases", [])
    return sorted(set(words))


def generated(count: int = GENERATED, seed: int = 16) -> Iterator[dict[str, Any]]:
    """Seeded random news items over the vocabulary (the same ones on every run)."""
    from monitor.detect.gazetteer import _shipped_data

    words = _vocabulary(dict(_shipped_data()))
    rng = random.Random(seed)

    def text(n: int) -> str:
        return "".join(rng.choice(words) + rng.choice(_SEPARATORS) for _ in range(n)).strip()

    for i in range(count):
        yield {"id": f"gen-{i}", "source": rng.choice(("reuters", "whitehouse-actions", "mofcom-announcements")),
               "item": {"title": text(rng.randint(1, 8)), "summary": text(rng.randint(0, 40)),
                        "language": None, "published": "2025-01-1" + str(i % 10), "fields": {}}}


def records() -> Iterator[tuple[dict[str, Any], bool]]:
    """(record, whether to try its variants): generated texts are read as recorded only."""
    for path in CORPORA:
        for record in load_corpus(path):
            yield record, True
    for record in generated():
        yield record, False


def decisions(detector: Detector | None = None) -> Iterator[dict[str, Any]]:
    detector = detector or Detector(Catalog.load(), Gazetteer.load())
    for record, all_variants in records():
        item = record["item"]
        texts = {k: item[k] for k in ("title", "summary") if item.get(k)}
        tags = detector.gazetteer.tag(texts)
        link, identifiers = detector.catalog.analyse({"source": record["source"], "key": record["id"], **item})
        yield {"id": record["id"], "variant": "tags", "tags": [list(tags.countries), list(tags.regions),
               list(tags.companies), [asdict(m) for m in tags.matches]],
               "link": asdict(link) if link else None, "identifiers": list(identifiers)}
        for variant, event, info in _variants(record):
            if variant != "recorded" and not all_variants:
                continue
            changes = detector.detect(event, info)
            yield {"id": record["id"], "variant": variant,
                   "changes": [{"stream": c.stream, "event_id": c.event_id, "occurred_at": c.occurred_at,
                                "data": c.data} for c in changes]}


def line(decision: dict[str, Any]) -> str:
    """The record as one JSON line; a generated text's record by its sha256 only (random text
    compresses badly: in full they would be most of the reference file's size)."""
    text = json.dumps(decision, ensure_ascii=False, sort_keys=True)
    if decision["id"].startswith("gen-"):
        digest = hashlib.sha256(text.encode()).hexdigest()
        return json.dumps({"id": decision["id"], "variant": decision["variant"], "sha256": digest})
    return text


def dump(path: Path) -> int:
    lines = [line(d) for d in decisions()]
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return len(lines)


if __name__ == "__main__":
    import sys

    print(dump(Path(sys.argv[1])))
