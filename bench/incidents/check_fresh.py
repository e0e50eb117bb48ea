"""Check the fresh holdouts and print their counts.

Two sets are checked with the same rules: fresh_items.jsonl + fresh_labels.jsonl (ids `fh-`,
splits fresh/fresh-read) and fresh2_items.jsonl + fresh2_labels.jsonl (ids `f2-`, split fresh2).
Each set's ids must be new to everything that existed before it (the corpus, the extra items,
labels.jsonl and, for fresh2, the first fresh set), and so must its incident slugs.

Run from the repository root: python bench/incidents/check_fresh.py
It prints only ids, slugs and counts, never item texts, so the holdouts stay unread.
Exit status 1 if any check fails.
"""
import collections
import itertools
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "bench" / "incidents"
KINDS = {"new_rule", "proposed_rule", "rule_amended", "correction", "comment_period", "effective_date",
         "rescission", "entity_list", "license_policy", "license_slowdown", "countermeasure",
         "legislation", "item_revised", "mention", None}
# A few characters that occur in only one script: enough to catch an item filed under the wrong id.
TRAD_ONLY = set("國們與對關發這個會說來時過還後開實體際經濟當從點產應麼業務頭電華為灣區長門問體")
SIMP_ONLY = set("国们与对关发这个会说来时过还后开实体际经济当从点产应么业务头电华为湾区长门问体")
SIMP_ONLY -= TRAD_ONLY  # characters shared by both scripts prove nothing


def read_jsonl(path, problems):
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            problems.append(f"{path.name}:{n}: does not parse ({e})")
    return rows


# (name, items file, labels file, id prefix, allowed splits), in the order the sets were written.
SETS = (
    ("fresh", "fresh_items.jsonl", "fresh_labels.jsonl", "fh-", ("fresh", "fresh-read")),
    ("fresh2", "fresh2_items.jsonl", "fresh2_labels.jsonl", "f2-", ("fresh2",)),
)


def main():
    problems = []
    corpus = read_jsonl(ROOT / "tests" / "corpus" / "items.jsonl", problems)
    extra = read_jsonl(HERE / "extra_items.jsonl", problems)
    old_labels = read_jsonl(HERE / "labels.jsonl", problems)
    reference = {
        "languages": {r["item"]["language"] for r in corpus + extra},
        "sources": {r["source"] for r in corpus + extra},
        "slugs": {c for r in corpus + extra for c in r["expected"]["companies"]},
    }
    old_ids = {r["id"] for r in corpus + extra} | {r["id"] for r in old_labels}
    old_incidents = {r["incident"] for r in old_labels} | {a for r in old_labels for a in r.get("also", [])}
    for name, items_file, labels_file, prefix, splits in SETS:
        items = read_jsonl(HERE / items_file, problems)
        labels = read_jsonl(HERE / labels_file, problems)
        print(f"== {name} ({items_file}, {labels_file})")
        check_set(items, labels, prefix, splits, reference, old_ids, old_incidents, problems)
        print()
        # A later set must be new to this one too.
        old_ids |= {r.get("id") for r in items} | {l.get("id") for l in labels}
        old_incidents |= {l.get("incident") for l in labels}
    if problems:
        print(f"{len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        return 1
    print("all checks passed")
    return 0


def check_set(items, labels, prefix, splits, reference, old_ids, old_incidents, problems):
    languages, sources, slugs = reference["languages"], reference["sources"], reference["slugs"]

    ids = [r.get("id") for r in items]
    for i, c in collections.Counter(ids).items():
        if c > 1:
            problems.append(f"duplicate item id {i}")
    for r in items:
        i = r.get("id", "?")
        if set(r) != {"id", "source", "item", "expected", "note"}:
            problems.append(f"{i}: keys {sorted(r)}")
            continue
        it, ex = r["item"], r["expected"]
        if not i.startswith(prefix):
            problems.append(f"{i}: id not prefixed {prefix}")
        if i in old_ids:
            problems.append(f"{i}: id already in the corpus or the existing set")
        if set(it) != {"title", "url", "summary", "language", "published", "fields"}:
            problems.append(f"{i}: item keys {sorted(it)}")
        if set(ex) != {"kind", "rule", "countries", "companies"}:
            problems.append(f"{i}: expected keys {sorted(ex)}")
        if r["source"] not in sources:
            problems.append(f"{i}: source {r['source']!r} not used by the corpus")
        if it["language"] not in languages:
            problems.append(f"{i}: language {it['language']!r} not one of {sorted(languages)}")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", it["published"]):
            problems.append(f"{i}: published {it['published']!r}")
        if not it["title"].strip():
            problems.append(f"{i}: empty title")
        if ex["kind"] not in KINDS:
            problems.append(f"{i}: kind {ex['kind']!r}")
        if ex["countries"] != sorted(set(ex["countries"])) or any(not re.fullmatch(r"[A-Z]{2}", c) for c in ex["countries"]):
            problems.append(f"{i}: countries not sorted ISO codes")
        if ex["companies"] != sorted(set(ex["companies"])) or any(c not in slugs for c in ex["companies"]):
            problems.append(f"{i}: companies not sorted known slugs")
        text = it["title"] + it["summary"]
        trad, simp = sum(ch in TRAD_ONLY for ch in text), sum(ch in SIMP_ONLY for ch in text)
        if i.startswith(prefix + "zh-hant-") and simp > trad:
            problems.append(f"{i}: looks Simplified ({simp} vs {trad})")
        if i.startswith(prefix + "zh-hans-") and trad > simp:
            problems.append(f"{i}: looks Traditional ({trad} vs {simp})")
        if i.startswith((prefix + "zh-", prefix + "mofcom-")) and it["language"] != "zh":
            problems.append(f"{i}: Chinese id with language {it['language']!r}")

    by_id = {}
    for l in labels:
        i = l.get("id")
        if i in by_id:
            problems.append(f"duplicate label {i}")
        by_id[i] = l
        if not set(l) <= {"id", "incident", "split", "note", "also"} or not {"id", "incident", "split", "note"} <= set(l):
            problems.append(f"label {i}: keys {sorted(l)}")
        if l.get("split") not in splits:
            problems.append(f"label {i}: split {l.get('split')!r}")
        if l.get("incident") in old_incidents:
            problems.append(f"label {i}: incident {l['incident']} is already in an earlier label file")
    if set(by_id) != set(ids):
        problems.append(f"items without label: {sorted(set(ids) - set(by_id))}; labels without item: {sorted(set(by_id) - set(ids))}")
    fresh_incidents = {l["incident"] for l in labels}
    for l in labels:
        for a in l.get("also", []):
            if a not in fresh_incidents:
                problems.append(f"label {l['id']}: also {a} is not an incident of this set")
            if a == l["incident"]:
                problems.append(f"label {l['id']}: also repeats the primary incident")
        if l["incident"].startswith(("noise-", "mention-")) and l["incident"].split("-", 1)[1] != l["id"]:
            problems.append(f"label {l['id']}: singleton slug does not name its id")

    # Counts
    lang = {r["id"]: ("zh-Hant" if r["id"].startswith(prefix + "zh-hant-") else "zh-Hans" if r["item"]["language"] == "zh" else "en")
            for r in items}
    groups = collections.defaultdict(list)
    for l in labels:
        groups[l["incident"]].append(l["id"])
    multi = {k: v for k, v in groups.items() if len(v) > 1}
    pairs = sum(len(v) * (len(v) - 1) // 2 for v in groups.values())
    # .get: a label without an item is already reported above; the counts must still print.
    cross = [k for k, v in multi.items()
             if {"en"} & {lang.get(i) for i in v} and {"zh-Hans", "zh-Hant"} & {lang.get(i) for i in v}]
    print(f"items {len(items)}, labels {len(labels)}")
    print("by source:", dict(collections.Counter(r["source"] for r in items)))
    print("by language (script from id prefix; MOFCOM titles are Simplified):", dict(collections.Counter(lang.values())))
    print("by kind:", dict(collections.Counter(str(r["expected"]["kind"]) for r in items)))
    print(f"incidents {len(groups)}: multi-item {len(multi)}, single-item {len(groups) - len(multi)}"
          f" (of which noise/mention singletons {sum(k.startswith(('noise-', 'mention-')) for k in groups)})")
    print(f"same-incident pairs {pairs}; cross-language multi-item incidents (EN + ZH) {len(cross)}")
    print(f"items with also: {sum('also' in l for l in labels)}")
    for k, v in sorted(multi.items()):
        print(f"  {k} ({len(v)})")


if __name__ == "__main__":
    sys.exit(main())
