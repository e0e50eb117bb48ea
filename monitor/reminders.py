"""Deadline reminders against the log: read the deadlines projection, append what is due."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Sequence

from monitor.alerts.routes import AlertQueue
from monitor.detect.deadlines import REMINDER_DAYS, Deadline, due_reminders
from monitor.events import NewEvent
from monitor.store import EventStore


def remind(store: EventStore, today: date, days_before: Sequence[int] = REMINDER_DAYS,
           alerts: AlertQueue | None = None, now: datetime | None = None) -> list[NewEvent]:
    """Append the reminders due today (none twice), and the alerts they queue; returns the reminders."""
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
    changes = {(d.source, d.key, d.kind, d.date): d.change for d in deadlines}
    queued = []
    if alerts is not None and now is not None:
        for event in events:
            d = event.data
            queued += alerts.for_reminder(changes[(d["source"], d["key"], d["deadline"], d["date"])], d, now)
    if events:
        store.append(events + queued)
    return events
