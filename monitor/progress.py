"""Progress of long work on standard error: `audit`, `replay`, `replay --reclassify`, `verify`.

Silent for work that ends quickly: the first line comes after ``every`` seconds (2 s, or
``MONITOR_PROGRESS_EVERY``), then one line each ``every`` seconds, and a last line when done if
anything was said. Standard output (the report, the JSON) is never touched.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO

ENV = "MONITOR_PROGRESS_EVERY"


def _every() -> float:
    try:
        return max(0.0, float(os.environ.get(ENV, "2")))
    except ValueError:
        return 2.0


class Progress:
    def __init__(self, what: str, total: int | None = None, *, unit: str = "events", every: float | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
        self.what, self.total, self.unit = what, total, unit
        self.every = _every() if every is None else every
        self.stream, self.clock = stream or sys.stderr, clock
        self.started = self.last = clock()
        self.said = False

    def __call__(self, done: int) -> None:
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last, self.said = now, True
        share = f" of {self.total:,} ({100 * done / self.total:.0f}%)" if self.total else ""
        rate = done / (now - self.started) if now > self.started else 0
        print(f"{self.what}: {done:,}{share} {self.unit}, {now - self.started:.0f} s ({rate:,.0f}/s)",
              file=self.stream, flush=True)

    def finish(self, done: int) -> None:
        if self.said:
            print(f"{self.what}: done, {done:,} {self.unit} in {self.clock() - self.started:.1f} s",
                  file=self.stream, flush=True)
