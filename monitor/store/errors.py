"""What can go wrong with the state on disk, in one line a person can act on.

SQLite reports a corrupt file, a lock held too long, a read-only directory and a missing file as
``sqlite3`` exceptions whose text is terse and, for a row that is not UTF-8, quotes the row.
``describe`` turns each into a ``StoreError`` that names the file, says what is wrong and what to
do, and carries the exit code of the command-line contract: 1 when the log fails a check
(corrupt: it is not the log it should be), 2 when the state cannot be used as given (missing,
locked, read-only, not a directory: a matter of how the command was run).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 10  # how long a statement waits for another process's lock before giving up


class StoreError(Exception):
    """The state cannot be used; ``str()`` is the one line to show, ``exit_code`` the contract's."""

    exit_code = 1


class StoreCorrupt(StoreError):
    """The file is not a sound event log (garbage, a damaged page, bytes that are not UTF-8)."""

    exit_code = 1


class StoreUnavailable(StoreError):
    """The state is missing, locked, read-only or not where it was said to be."""

    exit_code = 2


class StoreNotBegun(StoreUnavailable):
    """The log's file exists but holds nothing yet: the first poll was stopped before it committed.
    A writer begins it afresh; a reader has nothing to read, as if there were no file."""


class ChainBroken(StoreError):
    """The hash chain fails verification: commands that would append to it, or vouch for it, refuse."""

    exit_code = 1


def describe(exc: BaseException, path: str | Path) -> StoreError:
    """The ``StoreError`` for a ``sqlite3`` (or decoding) exception raised while using ``path``."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, UnicodeDecodeError) or lowered.startswith("could not decode to utf-8"):
        # sqlite3's own message quotes the whole stored value: never repeat it.
        return StoreCorrupt(f"{path}: a stored row holds bytes that are not UTF-8 (the file was altered); "
                            "`monitor verify` names the row")
    if "database is locked" in lowered or "database is busy" in lowered or "database table is locked" in lowered:
        return StoreUnavailable(f"{path}: locked by another process for more than {BUSY_TIMEOUT_S}s; try again "
                                "when it has finished (a backup or a `sqlite3` shell holding a transaction?)")
    if "readonly database" in lowered or "read-only" in lowered:
        return StoreUnavailable(f"{path}: read-only, and this command writes to the log; read commands "
                                "(verify, events, changes, replay, ...) work on a read-only copy")
    if "unable to open database" in lowered:
        return StoreUnavailable(f"{path}: cannot be opened (missing, not a file, or no permission to read it "
                                "or its directory)")
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) \
            or "malformed" in lowered or "not a database" in lowered or "no such table" in lowered \
            or "no such column" in lowered:
        return StoreCorrupt(f"{path}: not a readable event log ({_short(text)}); restore the last good backup "
                            "and check it with `monitor verify`")
    return StoreError(f"{path}: the database failed: {_short(text)}")


def _short(text: str) -> str:
    line = text.splitlines()[0] if text else "unknown error"
    return line if len(line) <= 100 else line[:99] + "…"
