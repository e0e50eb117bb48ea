"""Queue alerts again (`monitor alerts retry`, the console's "retry dead alert"): one definition
of what may be retried and of the event that says so."""

from __future__ import annotations

import difflib
from typing import Sequence

from monitor.events import ALERT_REQUEUED, AlertRequeued, NewEvent, derive_event_id
from monitor.projections.outbox import alert_statuses, dead_alerts, recent_alert_ids

RETRY_STREAM = "route:retries"


class NotRetryable(ValueError):
    """An id that names no alert, or one already delivered; the text says which, safe to show."""


def retryable(conn, ids: Sequence[str]) -> list[str]:
    """The alerts to queue again: the named ones (refused when unknown or delivered), else every dead one."""
    if not ids:
        return dead_alerts(conn)
    status = alert_statuses(conn, ids)
    for alert_id in ids:
        if alert_id not in status:
            close = difflib.get_close_matches(alert_id, recent_alert_ids(conn), n=1, cutoff=0.8)
            hint = f' (did you mean "{close[0]}"?)' if close else " (`monitor alerts` lists them)"
            raise NotRetryable(f"no alert {alert_id!r} in the outbox{hint}")
        if status[alert_id] == "delivered":
            raise NotRetryable(f"alert {alert_id} was delivered already; there is nothing to retry")
    return list(dict.fromkeys(ids))


def requeue(store, ids: Sequence[str], at: str) -> list[str]:
    """Append the ``AlertRequeued`` that puts ``ids`` (or every dead alert) back in the queue; the
    relay's next pass sends them. Returns the ids queued again."""
    found = retryable(store.conn, ids)
    if found:
        store.append([NewEvent.of(AlertRequeued(alert_ids=found, at=at), RETRY_STREAM,
                                  derive_event_id(RETRY_STREAM, ALERT_REQUEUED, at, *found), occurred_at=at)])
    return found
