"""Checking the log: the hash chain, and anchors that catch what a chain alone cannot.

A chain proves every row follows from the one before it; it cannot tell that the tail was cut off
or that someone recomputed every hash after an edit. An *anchor* (the head's seq and hash written
outside the database, optionally HMAC-signed) closes that gap: ``verify`` against an anchor fails
if the anchored row is missing or has another hash.
"""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from hashlib import sha256
from pathlib import Path

from monitor.events import CHECKPOINT_ANCHORED, NewEvent, derive_event_id
from monitor.store import chain

_REORDER_WINDOW = 16


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int  # rows whose links were checked
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    problem: str | None = None  # what is wrong at bad_seq, for a person

    def to_json(self) -> dict:
        return asdict(self)


def verify(conn: sqlite3.Connection, anchor: "Anchor | None" = None) -> VerifyReport:
    """Walk the chain from genesis, streaming; stop at the first bad row and say what is wrong."""
    expected_seq, prev, checked = 1, chain.GENESIS, 0
    anchored_hash = None
    cursor = conn.execute(
        "SELECT seq, event_id, stream, stream_version, type, schema_version, occurred_at, "
        "recorded_at, data, prev_hash, hash FROM events ORDER BY seq"
    )
    while rows := cursor.fetchmany(4096):
        for row in rows:
            seq, stored_prev, stored_hash = row[0], row[9], row[10]
            if seq != expected_seq:
                missing = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seqs {expected_seq}..{seq - 1}"
                return _bad(checked, expected_seq - 1, prev, expected_seq, f"missing row: {missing} absent (rows deleted)")
            if chain.link(stored_prev, chain.row_bytes(*row[:9])) != stored_hash:
                return _bad(checked, seq - 1, prev, seq, _diagnose_edit(row))
            if stored_prev != prev:
                return _bad(checked, seq - 1, prev, seq, _diagnose_link(conn, seq, stored_prev))
            if anchor is not None and seq == anchor.seq:
                anchored_hash = stored_hash
            prev, expected_seq, checked = stored_hash, seq + 1, checked + 1
    head_seq = expected_seq - 1
    if anchor is not None:
        if head_seq < anchor.seq:
            return _bad(checked, head_seq, prev, head_seq + 1,
                        f"truncated: the log ends at seq {head_seq} but the anchor records seq {anchor.seq}")
        if anchored_hash != anchor.hash:
            return _bad(checked, head_seq, prev, anchor.seq,
                        f"rewritten: seq {anchor.seq} has hash {anchored_hash[:16]}…, the anchor records {anchor.hash[:16]}…")
    return VerifyReport(True, checked, head_seq, prev)


def _bad(checked: int, head_seq: int, head_hash: str, bad_seq: int, problem: str) -> VerifyReport:
    return VerifyReport(False, checked, head_seq, head_hash, bad_seq, problem)


def _diagnose_edit(row: tuple) -> str:
    seq = row[0]
    # A row moved to another position still hashes correctly under its original seq.
    for other in range(max(1, seq - _REORDER_WINDOW), seq + _REORDER_WINDOW + 1):
        if other != seq and chain.link(row[9], chain.row_bytes(other, *row[1:9])) == row[10]:
            return f"reordered rows: the row at seq {seq} was written as seq {other}"
    return f"edited row: the contents of seq {seq} do not match its hash"


def _diagnose_link(conn: sqlite3.Connection, seq: int, stored_prev: str) -> str:
    found = conn.execute("SELECT seq FROM events WHERE hash = ?", (stored_prev,)).fetchone()
    if found:
        return f"reordered rows: seq {seq} is chained after seq {found[0]}, not seq {seq - 1}"
    return f"broken link: prev_hash of seq {seq} matches no row (a row before it was replaced or removed)"


# -- anchors --------------------------------------------------------------------------------------


class AnchorError(Exception):
    """An anchor file is unreadable, malformed, or its signature does not check out."""


class AnchorKeyMissing(AnchorError):
    """The anchor is signed but no key was given to check it: a usage problem, not a failed check."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    recorded_at: str | None
    created_at: str
    signature: str | None = None

    def payload(self) -> bytes:
        body = {"seq": self.seq, "hash": self.hash, "recorded_at": self.recorded_at, "created_at": self.created_at}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, key: bytes) -> "Anchor":
        return Anchor(self.seq, self.hash, self.recorded_at, self.created_at,
                      hmac.new(key, self.payload(), sha256).hexdigest())


def write_anchor(path: str | Path, anchor: Anchor) -> None:
    """Write atomically (temp file, fsync, rename): an anchor is evidence and must be whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(asdict(anchor), handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_anchor(path: str | Path, key: bytes | None) -> Anchor:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        anchor = Anchor(int(raw["seq"]), str(raw["hash"]), raw.get("recorded_at"), str(raw["created_at"]),
                        raw.get("signature"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnchorError(f"{path}: not a readable anchor ({exc.__class__.__name__}: {exc})") from None
    if key is not None:
        if anchor.signature is None:
            raise AnchorError(f"{path}: the anchor is not signed, but MONITOR_ANCHOR_KEY is set")
        if not hmac.compare_digest(anchor.signed(key).signature or "", anchor.signature):
            raise AnchorError(f"{path}: the anchor's signature does not match (wrong key, or the file was edited)")
    elif anchor.signature is not None:
        raise AnchorKeyMissing(f"{path}: the anchor is signed; set MONITOR_ANCHOR_KEY to check it")
    return anchor


def anchor_head(store, out: str | Path, key: bytes | None, now: str) -> Anchor:
    """Write the log head to ``out`` (HMAC-signed when a key is given), and record the anchoring
    itself in the log: what was anchored, when, in which file, and whether it was signed."""
    out = Path(out)
    head = store.head()
    anchor = Anchor(head.seq, head.hash, head.recorded_at, now)
    anchor = anchor.signed(key) if key else anchor
    write_anchor(out, anchor)
    store.append([NewEvent(
        CHECKPOINT_ANCHORED, "log:anchors",
        {"seq": head.seq, "hash": head.hash, "file": out.name, "signed": key is not None},
        derive_event_id("log:anchors", str(head.seq), head.hash, now),
        occurred_at=now,
    )])
    return anchor
