"""Read-only views of the monitor's state for the daemon's HTTP endpoints.

Each view takes an open connection to ``events.db`` (and the time, as data) and returns the body
to serve: ``/changes.atom`` (``changes_feed``), ``/deadlines.ics`` (``deadlines_calendar``) and
``/metrics`` (``StoreCollector`` registered in a registry, then ``render``). The queries are the
ones the command line uses, so the endpoints and `monitor changes` always agree.
"""

from monitor.views.atom import CONTENT_TYPE as ATOM_CONTENT_TYPE, changes_feed
from monitor.views.calendar import CONTENT_TYPE as CALENDAR_CONTENT_TYPE, deadlines_calendar
from monitor.views.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, StoreCollector, render
from monitor.views.queries import changes, upcoming_deadlines

__all__ = [
    "ATOM_CONTENT_TYPE", "CALENDAR_CONTENT_TYPE", "METRICS_CONTENT_TYPE", "StoreCollector",
    "changes", "changes_feed", "deadlines_calendar", "render", "upcoming_deadlines",
]
