"""The event store: the append-only, hash-chained log and its integrity checks."""

from monitor.store.errors import ChainBroken, StoreCorrupt, StoreError, StoreNotBegun, StoreUnavailable
from monitor.store.integrity import (
    Anchor, anchor_head, AnchorError, AnchorKeyMissing, VerifyReport, Witness, parse_witness, read_anchor, verify, write_anchor,
)
from monitor.store.log import AppendResult, ConcurrencyError, EventStore, Head
from monitor.store.schema import EVENTS_DB

__all__ = [
    "Anchor",
    "anchor_head",
    "AnchorError",
    "AnchorKeyMissing",
    "AppendResult",
    "ChainBroken",
    "ConcurrencyError",
    "EVENTS_DB",
    "EventStore",
    "Head",
    "VerifyReport",
    "Witness",
    "parse_witness",
    "read_anchor",
    "StoreCorrupt",
    "StoreError",
    "StoreNotBegun",
    "StoreUnavailable",
    "verify",
    "write_anchor",
]
