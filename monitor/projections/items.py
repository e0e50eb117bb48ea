"""Items: the latest content of every item every source has shown us."""

from __future__ import annotations

from typing import Iterable

from monitor.events import ITEM_DISCOVERED, ITEM_REVISED, Event, dumps
from monitor.projections.base import Statement


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
        content       TEXT NOT NULL,
        title         TEXT,
        url           TEXT,
        published     TEXT,
        revisions     INTEGER NOT NULL,
        first_seq     INTEGER NOT NULL,
        last_seq      INTEGER NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_changed_at TEXT NOT NULL,
        PRIMARY KEY (source, key)
    )
    """
    _upsert = (
        "INSERT INTO items (source, key, version, content_hash, content, title, url, published, revisions, "
        "first_seq, last_seq, first_seen_at, last_changed_at) VALUES (?,?,?,?,?,?,?,?,0,?,?,?,?) "
        "ON CONFLICT (source, key) DO UPDATE SET version = excluded.version, "
        "content_hash = excluded.content_hash, content = excluded.content, title = excluded.title, "
        "url = excluded.url, published = excluded.published, revisions = revisions + 1, "
        "last_seq = excluded.last_seq, last_changed_at = excluded.last_changed_at"
    )
    _content_keys = ("title", "url", "summary", "language", "published", "updated", "fields")

    def apply(self, event: Event) -> Iterable[Statement]:
        d = event.data
        content = dumps({k: d.get(k) for k in self._content_keys})
        yield self._upsert, (d["source"], d["key"], event.stream_version, d["content_hash"], content,
                             d.get("title"), d.get("url"), d.get("published"), event.seq, event.seq,
                             event.recorded_at, event.recorded_at)
