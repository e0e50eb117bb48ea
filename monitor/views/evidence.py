"""Evidence in the item's own text: the spans of a title or summary that decided a change.

Each evidence entry of a change may carry ``field`` (``title``, ``summary``, or a structured field
such as ``fields.rins``), ``start`` and ``end`` (offsets into that field of the item as recorded:
the detector normalises text without changing its length, so offsets are the original's). The
console and the audit report show the text cut into plain and marked segments; the template
escapes each segment, so no text of an item can become markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

TEXT_FIELDS = ("title", "summary")
MAX_TEXT = 4000  # characters of a summary shown (a long Federal Register abstract is cut, marks kept inside)


@dataclass(frozen=True)
class Segment:
    text: str
    marks: tuple[str, ...] = ()  # what matched here ("company nvidia", "phrase text:license_slowdown")

    @property
    def marked(self) -> bool:
        return bool(self.marks)


def label(entry: dict[str, Any]) -> str:
    kind, name = entry.get("kind") or "evidence", entry.get("name") or ""
    return f"{kind} {name}".strip()


def located(evidence: Iterable[dict[str, Any]], field: str, length: int) -> list[tuple[int, int, str]]:
    """(start, end, label) of the evidence entries that point into ``field`` and fit its text."""
    spans = []
    for entry in evidence or ():
        if not isinstance(entry, dict) or entry.get("field") != field:
            continue
        start, end = entry.get("start"), entry.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= length:
            spans.append((start, end, label(entry)))
    return spans


def segments(text: str | None, evidence: Iterable[dict[str, Any]], field: str, limit: int = MAX_TEXT) -> list[Segment]:
    """``text`` cut at every evidence boundary of ``field``; overlapping matches share a segment
    that names all of them. Offsets that do not fit the text (an older record) are ignored."""
    text = text or ""
    spans = located(evidence, field, len(text))
    shown = text[:limit]
    cuts = sorted({0, len(shown), *(p for s, e, _ in spans for p in (s, e) if p <= len(shown))})
    out: list[Segment] = []
    for a, b in zip(cuts, cuts[1:]):
        marks = tuple(dict.fromkeys(name for s, e, name in spans if s <= a and b <= e))
        if out and out[-1].marks == marks:
            out[-1] = Segment(out[-1].text + shown[a:b], marks)
        else:
            out.append(Segment(shown[a:b], marks))
    if len(text) > limit:
        out.append(Segment("…"))
    return out


def unplaced(evidence: Iterable[dict[str, Any]], texts: dict[str, str]) -> list[dict[str, Any]]:
    """Evidence that is not a span of the title or summary (structured fields, derived regions,
    the Federal Register action): listed beside the text instead."""
    out = []
    for entry in evidence or ():
        if not isinstance(entry, dict):
            continue
        field = entry.get("field")
        if field in TEXT_FIELDS and located([entry], field, len(texts.get(field) or "")):
            continue
        out.append(entry)
    return out
