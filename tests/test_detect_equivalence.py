"""The one-pass detector (issue 16) decides exactly what the detector before it decided.

``tests/corpus/decisions.jsonl.gz`` was written by ``tests/detect_decisions.py`` with the detector
as it stood before the rewrite (commit "equivalence reference" on branch issue-16): every
ChangeDetected payload in full (kind, severity, rule, regions, countries, companies, evidence,
identifiers, named, modality, ids ...), the gazetteer's tags and the catalog's analysis, for every
corpus item and bench/incidents/extra_items.jsonl item in four variants, and 3,000 generated texts.
"""

import gzip
from pathlib import Path

from detect_decisions import decisions, line

REFERENCE = Path(__file__).parent / "corpus" / "decisions.jsonl.gz"


def test_every_decision_equals_the_reference():
    with gzip.open(REFERENCE, "rt", encoding="utf-8") as handle:
        expected = handle.read().splitlines()
    got = [line(d) for d in decisions()]
    assert len(got) == len(expected)
    differing = [(old, new) for old, new in zip(expected, got) if old != new]
    assert not differing, f"{len(differing)} of {len(got)} records differ; the first:\n{differing[0][0]}\n{differing[0][1]}"
