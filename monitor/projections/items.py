"""Items: every item every source has shown us, and where its latest content is in the log.

The content itself stays in the log (``last_seq`` points at it): the projection keeps the columns
that are queried, so it stays small and replays fast.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable, Sequence

from monitor.events import ITEM_DISCOVERED, ITEM_REVISED, Event
from monitor.projections.base import Statement, live_and_replay


class Items:
    name = "items"
    version = 1
    tables = ("items",)
    types = frozenset({ITEM_DISCOVERED, ITEM_REVISED})
    schema = """
    CREATE TABLE IF NOT EXISTS items (
        source        TEXT NOT NULL,
        key           TEXT NOT NULL,
        version       INTEGER NOT NULL,
        content_hash  TEXT NOT NULL,
        title         TEXT,
        url           TEXT,
        published     TEXT,
        revisions     INTEGER NOT NULL,
        first_seq     INTEGER NOT NULL,
        last_seq      INTEGER NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_changed_at TEXT NOT NULL,
        PRIMARY KEY (source, key)
    ) WITHOUT ROWID
    """
    # The columns are read from the event's JSON by SQLite itself (json_extract, in C): the fold
    # never decodes the payload in Python, which made replay three times slower. On replay the
    # same statement folds every item event of the log at once (``replay_sql``).
    _upsert, _replay = live_and_replay(
        "INSERT INTO items (source, key, version, content_hash, title, url, published, revisions, "
        "first_seq, last_seq, first_seen_at, last_changed_at) SELECT json_extract({data}, '$.source'), "
        "json_extract({data}, '$.key'), {stream_version}, json_extract({data}, '$.content_hash'), "
        "json_extract({data}, '$.title'), json_extract({data}, '$.url'), json_extract({data}, '$.published'), 0, "
        "{seq}, {seq}, {recorded_at}, {recorded_at} {rows} "
        "ON CONFLICT (source, key) DO UPDATE SET version = excluded.version, "
        "content_hash = excluded.content_hash, title = excluded.title, "
        "url = excluded.url, published = excluded.published, revisions = revisions + 1, "
        "last_seq = excluded.last_seq, last_changed_at = excluded.last_changed_at",
        {"data": "?1", "stream_version": "?2", "seq": "?3", "recorded_at": "?4"}, types)
    replay_sql = (_replay,)

    def apply(self, event: Event) -> Iterable[Statement]:
        yield self._upsert, (event.raw_data, event.stream_version, event.seq, event.recorded_at)


# --- named reads --------------------------------------------------------------------------------

def _chunks(values: Sequence[str], size: int = 500):
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


def item_keys_by_url(conn: sqlite3.Connection, source: str, urls: Sequence[str]) -> dict[str, str]:
    """url -> key of the items of a source already recorded with those URLs."""
    found: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(urls))):
        found.update(conn.execute(
            f"SELECT url, key FROM items WHERE source = ? AND url IN ({','.join('?' * len(chunk))})", [source, *chunk]))
    return found


def known_items(conn: sqlite3.Connection, source: str, keys: Sequence[str]) -> list[tuple[str, int, str, int]]:
    """(key, version, content hash, seq of its latest event) of the recorded items among ``keys``."""
    rows: list[tuple[str, int, str, int]] = []
    for chunk in _chunks(list(dict.fromkeys(keys))):
        rows += conn.execute(
            f"SELECT key, version, content_hash, last_seq FROM items WHERE source = ? "
            f"AND key IN ({','.join('?' * len(chunk))})", [source, *chunk]).fetchall()
    return rows
