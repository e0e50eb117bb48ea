"""Deadline reminders against the log: read the deadlines projection, append what is due."""

from __future__ import annotations

import json
from datetime import date
from typing import Sequence

from monitor.detect.deadlines import REMINDER_DAYS, Deadline, due_reminders
from monitor.events import NewEvent
from monitor.store import EventStore


def remind(store: EventStore, today: date, days_before: Sequence[int] = REMINDER_DAYS) -> list[NewEvent]:
    """Append the reminders due today (none twice); returns them."""
    horizon = today.isoformat()
    deadlines = [
        Deadline(source, key, kind, on, json.loads(change))
        for source, key, kind, on, change in store.conn.execute(
            "SELECT d.source, d.key, d.kind, d.date, c.data FROM deadlines AS d "
            "JOIN changes AS c ON c.id = d.change_id WHERE d.date >= ?", (horizon,))
    ]
    sent = set(store.conn.execute(
        "SELECT source, key, kind, date, days FROM reminders WHERE date >= ?", (horizon,)))
    events = due_reminders(deadlines, sent, today, days_before)
    if events:
        store.append(events)
    return events
