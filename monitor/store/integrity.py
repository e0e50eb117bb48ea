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
import re
from pathlib import Path
from typing import Callable, Iterable, Sequence

from monitor.events import CheckpointAnchored, NewEvent, derive_event_id
from monitor.store import chain

_REORDER_WINDOW = 16
_HEX64 = re.compile(r"[0-9a-f]{64}")


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


@dataclass(frozen=True)
class Witness:
    """A (seq, hash) pair held outside the log: an anchor file, or the footer of a digest in a
    recipient's mailbox. The log must still hold that row with that hash."""

    seq: int
    hash: str
    what: str  # "the anchor", "the witness": for the message


def parse_witness(text: str) -> Witness:
    """``SEQ:HASH`` as a digest's footer prints it (the full 64-hex hash)."""
    seq, sep, digest = text.strip().partition(":")
    digest = digest.strip().lower()
    if not sep or not seq.strip().isdigit() or int(seq) < 1 or not _HEX64.fullmatch(digest):
        raise ValueError(f"not SEQ:HASH (a positive seq, a colon, 64 hex digits): {text[:100]!r}")
    return Witness(int(seq), digest, "the witness")


def verify(conn: sqlite3.Connection, anchor: "Anchor | None" = None, witnesses: Sequence[Witness] = (),
           until: int | None = None, progress=None) -> VerifyReport:
    """Walk the chain of an SQLite log from genesis (up to ``until``), streaming; stop at the first
    bad row and say what is wrong.

    ``data`` is read as the stored bytes, so a row altered into invalid UTF-8 is an edited row
    like any other, named by its seq, rather than an error of the reader."""
    cursor = conn.execute(
        "SELECT seq, CAST(event_id AS BLOB), CAST(stream AS BLOB), stream_version, CAST(type AS BLOB), "
        "schema_version, CAST(occurred_at AS BLOB), CAST(recorded_at AS BLOB), CAST(data AS BLOB), "
        "CAST(prev_hash AS BLOB), CAST(hash AS BLOB) "
        "FROM events WHERE seq <= ? ORDER BY seq", (until if until is not None else 1 << 62,)
    )

    def seq_of_hash(digest: str) -> int | None:
        found = conn.execute("SELECT seq FROM events WHERE hash = ?", (digest,)).fetchone()
        return found[0] if found else None

    return verify_rows(iter(lambda: cursor.fetchmany(4096), []), seq_of_hash, anchor, witnesses, progress=progress)


def verify_rows(chunks: Iterable[Sequence[tuple]], seq_of_hash: Callable[[str], int | None],
                anchor: "Anchor | None" = None, witnesses: Sequence[Witness] = (), progress=None) -> VerifyReport:
    """The chain check of any backend: ``chunks`` yields the rows in seq order as stored bytes
    (the nine hashed columns, then prev_hash and hash), ``seq_of_hash`` finds a row by its hash;
    ``progress`` (if given) is told how many rows are checked before each chunk."""
    points = list(witnesses) + ([Witness(anchor.seq, anchor.hash, "the anchor")] if anchor is not None else [])
    wanted = {point.seq for point in points}
    found: dict[int, str] = {}
    expected_seq, prev, checked = 1, chain.GENESIS, 0
    for rows in chunks:
        if progress is not None:
            progress(checked)
        for row in rows:
            row = (*row[:9], _text(row[9]), _text(row[10]))
            seq, stored_prev, stored_hash = row[0], row[9], row[10]
            if seq != expected_seq:
                missing = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seqs {expected_seq}..{seq - 1}"
                return _bad(checked, expected_seq - 1, prev, expected_seq, f"missing row: {missing} absent (rows deleted)")
            if chain.link_bytes(stored_prev, chain.stored_row_bytes(*row[:9])) != stored_hash:
                return _bad(checked, seq - 1, prev, seq, _diagnose_edit(row))
            if stored_prev != prev:
                return _bad(checked, seq - 1, prev, seq, _diagnose_link(seq_of_hash, seq, stored_prev))
            if seq in wanted:
                found[seq] = stored_hash
            prev, expected_seq, checked = stored_hash, seq + 1, checked + 1
    head_seq = expected_seq - 1
    for point in sorted(points, key=lambda p: p.seq):
        if head_seq < point.seq:
            return _bad(checked, head_seq, prev, head_seq + 1,
                        f"truncated: the log ends at seq {head_seq} but {point.what} records seq {point.seq}")
        if found[point.seq] != point.hash:
            return _bad(checked, head_seq, prev, point.seq,
                        f"rewritten: seq {point.seq} has hash {found[point.seq][:16]}…, {point.what} records "
                        f"{point.hash[:16]}…")
    return VerifyReport(True, checked, head_seq, prev)


def _text(value: bytes | None) -> str:
    # A hash column altered into bytes that are not UTF-8 still compares (unequal) as text.
    return bytes(value or b"").decode("utf-8", "surrogateescape")


def _bad(checked: int, head_seq: int, head_hash: str, bad_seq: int, problem: str) -> VerifyReport:
    return VerifyReport(False, checked, head_seq, head_hash, bad_seq, problem)


def _diagnose_edit(row: tuple) -> str:
    seq = row[0]
    # A row moved to another position still hashes correctly under its original seq.
    for other in range(max(1, seq - _REORDER_WINDOW), seq + _REORDER_WINDOW + 1):
        if other != seq and chain.link_bytes(row[9], chain.stored_row_bytes(other, *row[1:9])) == row[10]:
            return f"reordered rows: the row at seq {seq} was written as seq {other}"
    return f"edited row: the contents of seq {seq} do not match its hash"


def _diagnose_link(seq_of_hash: Callable[[str], int | None], seq: int, stored_prev: str) -> str:
    found = seq_of_hash(stored_prev)
    if found is not None:
        return f"reordered rows: seq {seq} is chained after seq {found}, not seq {seq - 1}"
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
        _fill(handle, tmp, path, anchor)


def _fill(handle, tmp: Path, path: Path, anchor: Anchor) -> None:
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
    """Record the anchoring in the log, then write the head *including that record* to ``out``
    (HMAC-signed when a key is given). The anchor so covers its own ``CheckpointAnchored``: deleting
    that event makes the log end before the anchor's seq, which ``verify --anchor`` calls truncated.

    The file is opened before anything is appended, so an unwritable ``out`` (a missing directory,
    no permission) fails with nothing recorded; it is renamed into place only when whole."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        try:
            before = store.head()
            result = store.append([NewEvent.of(
                # What the anchor follows on from; the anchor file itself names this event's seq and hash.
                CheckpointAnchored(seq=before.seq, hash=before.hash, file=out.name, signed=key is not None),
                "log:anchors", derive_event_id("log:anchors", str(before.seq), before.hash, now), occurred_at=now,
            )])
            head = result.appended[-1] if not result.noop else store.head()
            anchor = Anchor(head.seq, head.hash, head.recorded_at, now)
            anchor = anchor.signed(key) if key else anchor
            _fill(handle, tmp, out, anchor)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return anchor
