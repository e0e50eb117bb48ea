"""Deadline reminders against the log: read the deadlines projection, append what is due.

A rule's effective date, reached, also moves its incident to ``effective`` (the reminder itself is
the alert for it, so the move queues none of its own).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Sequence

from monitor.alerts.routes import AlertQueue
from monitor.detect.deadlines import REMINDER_DAYS, Deadline, due_reminders
from monitor.detect.incidents import next_status, status_changed
from monitor.events import NewEvent
from monitor.projections.changes import open_deadlines, reminders_sent
from monitor.projections.incidents import incident_state
from monitor.store import EventStore


def remind(store: EventStore, today: date, days_before: Sequence[int] = REMINDER_DAYS,
           alerts: AlertQueue | None = None, now: datetime | None = None) -> list[NewEvent]:
    """Append the reminders due today (none twice), and the alerts they queue; returns the reminders."""
    horizon = today.isoformat()
    store.refresh()
    deadlines = [Deadline(source, key, kind, on, change) for source, key, kind, on, change in open_deadlines(store.conn, horizon)]
    events = due_reminders(deadlines, reminders_sent(store.conn, horizon), today, days_before)
    changes = {(d.source, d.key, d.kind, d.date): d.change for d in deadlines}
    queued, moved = [], []
    for event in events:
        d = event.typed
        change = changes[(d.source, d.key, d.deadline, d.date)]
        if alerts is not None and now is not None:
            queued += alerts.for_reminder(change, d, now)
        if d.deadline == "effective" and d.days_left <= 0 and change.get("incident"):
            incident = incident_state(store.conn, change["incident"])
            step = next_status(incident, "effective") if incident is not None else None
            if step is not None:
                moved.append(status_changed(incident, step, change_id=None, reason=f"effective:{d.date}"))
    if events:
        store.append(events + moved + queued)
    return events
