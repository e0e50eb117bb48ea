"""Facts about an opened store that its readers need before trusting what they read."""

from __future__ import annotations

import sqlite3
from typing import Iterable


def stale_projections(conn: sqlite3.Connection, projections: Iterable, head_seq: int) -> list[str]:
    """Names of the projections whose tables are missing, of another version of their code, or
    behind ``head_seq``: what they show is not the log's state."""
    try:
        checkpoints = dict(((name, (version, seq)) for name, version, seq in
                            conn.execute("SELECT name, version, seq FROM projection_checkpoints")))
    except sqlite3.OperationalError:  # no checkpoint table at all: nothing was ever projected
        checkpoints = {}
    return [p.name for p in projections
            if checkpoints.get(p.name, (None, -1))[0] != p.version or checkpoints[p.name][1] < head_seq]
