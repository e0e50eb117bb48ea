"""Projections: pure folds of the event log into read tables, rebuilt by replay."""

from monitor.projections.changes import Changes, Deadlines
from monitor.projections.base import Projection, Statement, projection_digest, table_digest
from monitor.projections.incidents import Incidents
from monitor.projections.items import Items
from monitor.projections.log_summary import EventTypes
from monitor.projections.outbox import Outbox
from monitor.projections.runner import Projector, ReplayResult, fold, replay
from monitor.projections.screening import Screening
from monitor.projections.sources import Sources


def default_projections() -> list[Projection]:
    """Every projection the application keeps live, in a fixed order."""
    return [EventTypes(), Sources(), Items(), Changes(), Deadlines(), Incidents(), Outbox(), Screening()]


__all__ = [
    "Changes",
    "Deadlines",
    "EventTypes",
    "Incidents",
    "Items",
    "Outbox",
    "Projection",
    "Projector",
    "ReplayResult",
    "Screening",
    "Statement",
    "Sources",
    "default_projections",
    "fold",
    "projection_digest",
    "replay",
    "table_digest",
]
