"""`monitor migrate --to URL`: copy a log into an empty log of another backend, every row as it is
(position, times, data, prev_hash, hash), and verify the copy.

SQLite to PostgreSQL moves a single-machine monitor onto a shared log; PostgreSQL to an SQLite
file makes a local copy an auditor can take away and check with `monitor verify` alone. The
source is verified first (a broken log is not copied), each copied chunk must continue the
target's chain exactly (``ingest``), and at the end the target is verified from genesis and its
head compared with the source's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.store.errors import ChainBroken, StoreUnavailable


@dataclass(frozen=True)
class MigrateReport:
    events: int
    head_seq: int
    head_hash: str


def sqlite_target(url: str) -> Path:
    """The file a non-PostgreSQL ``--to`` names: ``sqlite:///abs/path``, ``sqlite:relative`` or a path."""
    for prefix in ("sqlite:///", "sqlite://", "sqlite:"):
        if url.startswith(prefix):
            rest = url[len(prefix):]
            return Path("/" + rest if prefix == "sqlite:///" else rest)
    return Path(url)


def migrate(source, target, *, chunk: int = 5000) -> MigrateReport:
    """Copy ``source`` (any store) into the empty ``target`` (a store with ``ingest``) and verify it.
    Rows a shared source gains after its last chunk was read are not copied (`migrate` again into
    a fresh target, or stop the replicas first, for a copy to the very end)."""
    checked = source.verify()
    if not checked.ok:
        raise ChainBroken(f"{source.where}: the log fails verification at seq {checked.bad_seq} ({checked.problem}); "
                          "it is not copied")
    if target.head().seq:
        raise StoreUnavailable(f"{target.where}: already holds a log (head seq {target.head().seq}); migrate copies "
                               "into an empty one only")
    copied = 0
    for rows in source.rows(chunk=chunk):
        copied += target.ingest(rows, where=source.where)
    copy = target.verify()
    if not copy.ok:
        raise ChainBroken(f"{target.where}: the copy does not verify at seq {copy.bad_seq} ({copy.problem})")
    # The source's row at the copy's head must be the same row (a shared log may have grown since).
    original = source.get([copy.head_seq]).get(copy.head_seq) if copy.head_seq else None
    if copy.head_seq and (original is None or original.hash != copy.head_hash):
        raise ChainBroken(f"{target.where}: the copy's head seq {copy.head_seq} is not the source's row there")
    return MigrateReport(copied, copy.head_seq, copy.head_hash)
