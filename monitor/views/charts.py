"""Small charts as data for server-rendered SVG: changes per week by kind (stacked bars) and
source uptime (the last polls of each source, one cell each). Pure: counts in, shapes out; the
templates draw them, escaping every label."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Sequence

from monitor.vocabulary import KINDS

# One colour per kind, in KINDS order (distinguishable, dark enough for white text nowhere needed).
PALETTE = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd",
           "#c5b0d5", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
KIND_COLOUR = dict(zip(KINDS, PALETTE))
OTHER_COLOUR = "#17becf"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[tuple[float, float, str], ...]  # x, y, text
    legend: tuple[tuple[str, str], ...]  # colour, text
    summary: str  # the chart in words (its <title> and its alt text)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_by_kind(counts: Sequence[tuple[str, str, int]], last_day: date, weeks: int = 12) -> Chart:
    """Stacked bars of changes per week (Monday to Sunday) by kind, the ``weeks`` weeks up to ``last_day``."""
    first = monday(last_day) - timedelta(weeks=weeks - 1)
    starts = [first + timedelta(weeks=i) for i in range(weeks)]
    by_week: dict[str, dict[str, int]] = {s.isoformat(): {} for s in starts}
    for week, kind, n in counts:
        if week in by_week:
            by_week[week][kind] = by_week[week].get(kind, 0) + n
    top = max([sum(v.values()) for v in by_week.values()] + [1])
    width, height, left, bottom, plot = 640, 200, 36, 24, 160
    step = (width - left - 8) / weeks
    bars, labels = [], [(4.0, 14.0, str(top)), (4.0, float(height - bottom), "0")]
    for i, start in enumerate(starts):
        y = float(height - bottom)
        for kind in KINDS:
            n = by_week[start.isoformat()].get(kind, 0)
            if not n:
                continue
            h = plot * n / top
            y -= h
            bars.append(Bar(round(left + i * step + 2, 1), round(y, 1), round(step - 4, 1), round(h, 1),
                            KIND_COLOUR.get(kind, OTHER_COLOUR), f"week of {start.isoformat()}: {n} {kind}"))
        if i % 2 == 0:
            labels.append((round(left + i * step + 2, 1), float(height - 6), start.strftime("%m-%d")))
    present = [k for k in KINDS if any(k in v for v in by_week.values())]
    total = sum(sum(v.values()) for v in by_week.values())
    return Chart(width, height, tuple(bars), tuple(labels), tuple((KIND_COLOUR[k], k) for k in present),
                 f"{total} changes in the {weeks} weeks from {first.isoformat()} to {last_day.isoformat()}, by kind")


@dataclass(frozen=True)
class UptimeRow:
    source: str
    cells: tuple[bool, ...]  # oldest first: True a successful poll, False a failure
    percent: float | None


def uptime(history: dict[str, Sequence[tuple[str, str]]], succeeded: str) -> tuple[UptimeRow, ...]:
    """Per source, its last polls as cells and the share that succeeded."""
    rows = []
    for source, polls in history.items():
        cells = tuple(kind == succeeded for kind, _ in polls)
        rows.append(UptimeRow(source, cells, round(100 * sum(cells) / len(cells), 1) if cells else None))
    return tuple(rows)
