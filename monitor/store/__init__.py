"""The event store: the append-only, hash-chained log and its integrity checks."""

from monitor.store.integrity import Anchor, anchor_head, AnchorError, AnchorKeyMissing, VerifyReport, read_anchor, verify, write_anchor
from monitor.store.log import AppendResult, ConcurrencyError, EventStore, Head

__all__ = [
    "Anchor",
    "anchor_head",
    "AnchorError",
    "AnchorKeyMissing",
    "AppendResult",
    "ConcurrencyError",
    "EventStore",
    "Head",
    "VerifyReport",
    "read_anchor",
    "verify",
    "write_anchor",
]
