"""Read queries over the projections, shared by the command line and the HTTP views.

The SQL that filters changes lives once, in ``monitor/projections/changes.py``, so `monitor changes
--region middle-east` and `/changes.atom?region=middle-east` cannot disagree about which changes
that means; this module re-exports those reads for the views and says the filters in words.
"""

from __future__ import annotations

from typing import Sequence

from monitor.alerts.render import kind_words
from monitor.projections.changes import (  # noqa: F401  (the views' read API)
    ChangeRow, change_rows, changes, severities_from, upcoming_deadlines,
)
from monitor.vocabulary import SEVERITIES  # noqa: F401


def describe_filters(*, region: str | None = None, company: str | None = None, kinds: Sequence[str] = (),
                     min_severity: str = "low") -> str:
    """The filters in words, for a feed's or calendar's title ("" when nothing is filtered), so a
    subscriber can tell two subscriptions apart."""
    parts = []
    if region:
        parts.append(f"region {region}")
    if company:
        parts.append(f"company {company}")
    if kinds:
        parts.append("kind " + " or ".join(kind_words(kind) for kind in kinds))
    if min_severity != "low":
        parts.append(f"severity {min_severity}" + (" or higher" if min_severity != "high" else ""))
    return ", ".join(parts)
