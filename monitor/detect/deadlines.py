"""Deadline reminders: which comment-close, effective and compliance dates are due a reminder.

Pure: the known deadlines, the reminders already sent and today's date go in; ``DeadlineReached``
events come out. Each deadline gets at most one reminder per threshold (14, 3 and 0 days before,
by default); when several thresholds are due at once (a deadline seen late), only the nearest is
sent. The event id derives from the deadline and the threshold, so a reminder is never sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable, Mapping, Sequence

from monitor.events import DEADLINE_REACHED, NewEvent, derive_event_id

REMINDER_DAYS = (14, 3, 0)


@dataclass(frozen=True)
class Deadline:
    source: str
    key: str
    kind: str  # comments_close, effective, compliance
    date: str  # ISO date
    change: Mapping[str, Any]  # the change that announced it


def due_reminders(
    deadlines: Iterable[Deadline],
    sent: set[tuple[str, str, str, str, int]],
    today: date,
    days_before: Sequence[int] = REMINDER_DAYS,
) -> list[NewEvent]:
    events = []
    for deadline in deadlines:
        days_left = (date.fromisoformat(deadline.date) - today).days
        due = [days for days in days_before if 0 <= days_left <= days]
        if not due:
            continue
        days = min(due)
        if (deadline.source, deadline.key, deadline.kind, deadline.date, days) in sent:
            continue
        change = deadline.change
        stream = f"deadline:{deadline.source}:{deadline.key}"
        events.append(NewEvent(DEADLINE_REACHED, stream, {
            "source": deadline.source, "key": deadline.key, "deadline": deadline.kind, "date": deadline.date,
            "days_before": days, "days_left": days_left, "change_id": change.get("id"),
            "title": change.get("title"), "url": change.get("url"), "rule": change.get("rule"),
            "kind": change.get("kind"), "severity": change.get("severity"),
            "regions": change.get("regions", []), "countries": change.get("countries", []),
            "companies": change.get("companies", []),
        }, derive_event_id(stream, DEADLINE_REACHED, deadline.kind, deadline.date, str(days)),
            occurred_at=deadline.date))
    return events
