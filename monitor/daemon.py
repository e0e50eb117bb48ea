"""The composition root: the one module that knows every other and wires them together."""

from __future__ import annotations

from pathlib import Path

from monitor.clock import Clock, system_clock
from monitor.projections import Projector, default_projections
from monitor.store import EventStore

EVENTS_DB = "events.db"


def open_store(state_dir: str | Path, *, clock: Clock = system_clock) -> EventStore:
    """The event log of a state directory, with every live projection attached."""
    return EventStore(Path(state_dir) / EVENTS_DB, clock=clock, projections=Projector(default_projections()))
