"""Replay against the live projections, on logs of the events the projections fold.

Replay of an SQLite log folds most projections set-based inside SQLite (``replay_sql``) and the
rest row by row; live, every projection folds each event as it is appended. These properties hold
the three equal: the set-based replay, the row-by-row replay (as a PostgreSQL log replays) and the
live tables, for arbitrary values (quotes, control and non-ASCII characters, NULLs, numbers where
text is expected), revisions, replaced changes, moved deadlines, and at any position (as-of).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from monitor.events import (
    CHANGE_DETECTED, DEADLINE_REACHED, ITEM_DISCOVERED, ITEM_REVISED, SOURCE_FAILED, SOURCE_POLLED, NewEvent,
)
from monitor.projections import Projector, default_projections, replay
from monitor.projections.base import table_digest
from monitor.store import EventStore, StoreCorrupt


class SteppingClock:
    def __init__(self):
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self):
        self.now += timedelta(seconds=1)
        return self.now


class RowsOnly:
    """A log read only through the store's ``read``, as a PostgreSQL log is replayed."""

    attach_uri = None

    def __init__(self, store: EventStore):
        self.store = store

    def head(self):
        return self.store.head()

    def read(self, **kwargs):
        return self.store.read(**kwargs)


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
value = st.one_of(st.none(), text, st.sampled_from(["it's", 'say "x"', "back\\slash", "tab\there", "汉字", "\x7f"]),
                  st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False), st.booleans())
present = value.filter(lambda v: v is not None)  # for NOT NULL columns
keys = st.sampled_from(["a", "b", "c'", "d é"])


@st.composite
def an_event(draw, n: int) -> NewEvent:
    kind = draw(st.sampled_from(["item", "item", "change", "reminder", "polled", "failed"]))
    key = draw(keys)
    if kind == "item":
        data = {"source": "s", "key": key, "content_hash": draw(text), "title": draw(value), "url": draw(value),
                "published": draw(value), "fields": {"n": n}}
        return NewEvent(draw(st.sampled_from([ITEM_DISCOVERED, ITEM_REVISED])), f"item:s:{key}", data, f"i-{n}")
    if kind == "change":
        deadlines = draw(st.lists(st.fixed_dictionaries({"kind": st.sampled_from(["comment", "effective"]),
                                                         "date": present}), max_size=3))
        data = {"id": f"c-{draw(st.integers(0, 4))}", "kind": draw(st.sampled_from(["rule", "notice"])),
                "severity": draw(st.sampled_from(["low", "high"])), "rule": draw(value), "source": "s", "key": key,
                "published": draw(value), "deadlines": deadlines, "title": draw(value)}
        return NewEvent(CHANGE_DETECTED, f"item:s:{key}", data, f"c-{n}", schema_version=2)
    if kind == "reminder":
        data = {"source": "s", "key": key, "deadline": "comment", "date": draw(present),
                "days_before": draw(st.integers(0, 3))}
        return NewEvent(DEADLINE_REACHED, f"item:s:{key}", data, f"r-{n}")
    if kind == "polled":
        data = {"source": key, "at": f"2026-01-01T00:00:{n % 60:02d}Z", "status": 200, "entries": draw(value),
                "etag": draw(value)}
        return NewEvent(SOURCE_POLLED, f"source:{key}", data, f"p-{n}")
    data = {"source": key, "at": "2026-01-01T00:00:00Z", "status": 503, "reason": "http", "message": draw(text)}
    return NewEvent(SOURCE_FAILED, f"source:{key}", data, f"f-{n}")


@st.composite
def a_log(draw) -> list[list[NewEvent]]:
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=6))
    batches, n = [], 0
    for size in sizes:
        batch = []
        for _ in range(size):
            batch.append(draw(an_event(n)))
            n += 1
        batches.append(batch)
    return batches


def digests(projections: list[dict]) -> list[str]:
    return [p["digest"] for p in projections]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(batches=a_log(), cut=st.integers(0, 40))
def test_set_based_replay_equals_row_by_row_replay_and_the_live_tables(tmp_path_factory, batches, cut):
    path = tmp_path_factory.mktemp("replay") / "events.db"
    with EventStore(path, clock=SteppingClock(), projections=Projector(default_projections())) as store:
        states = []  # the live digests after each append, by the seq it ended at
        for batch in batches:
            store.append(batch)
            states.append((store.head().seq, digests(Projector(default_projections()).digests(store.conn))))
        in_sql = replay(store, default_projections())
        by_rows = replay(RowsOnly(store), default_projections())
        assert digests(in_sql.projections) == digests(by_rows.projections) == states[-1][1]
        assert (in_sql.seq, in_sql.hash, in_sql.recorded_at, in_sql.events) == \
            (by_rows.seq, by_rows.hash, by_rows.recorded_at, by_rows.events)
        # as of the end of any append: the live state then
        seq, then = states[min(cut, len(states) - 1)]
        assert digests(replay(store, default_projections(), until=seq).projections) == then
        assert digests(replay(RowsOnly(store), default_projections(), until=seq).projections) == then


def test_replay_folds_items_in_sql_and_keeps_what_it_rebuilt(tmp_path):
    """The set-based path is the one taken on an SQLite log, and --out keeps exactly its tables."""
    with EventStore(tmp_path / "events.db", clock=SteppingClock(), projections=Projector(default_projections())) as store:
        store.append([NewEvent(ITEM_DISCOVERED, "item:s:1", {"source": "s", "key": "1", "content_hash": "h1",
                                                             "title": "T"}, "i-1")])
        store.append([NewEvent(ITEM_REVISED, "item:s:1", {"source": "s", "key": "1", "content_hash": "h2",
                                                          "title": "T2"}, "i-2")])
        result = replay(store, default_projections(), out=tmp_path / "kept.db")
        live_items = table_digest(store.conn, "items")
    kept = sqlite3.connect(tmp_path / "kept.db")
    assert kept.execute("SELECT key, version, content_hash, title, revisions, first_seq, last_seq FROM items"
                        ).fetchall() == [("1", 2, "h2", "T2", 1, 1, 2)]
    assert table_digest(kept, "items") == live_items
    assert [t for (t,) in kept.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'census'")] == []
    assert result.events == 2 and result.seq == 2


def test_a_replay_of_a_log_whose_item_text_is_not_utf8_names_the_row(tmp_path):
    path = tmp_path / "events.db"
    with EventStore(path, clock=SteppingClock()) as store:
        store.append([NewEvent(ITEM_DISCOVERED, f"item:s:{n}", {"source": "s", "key": str(n), "content_hash": "h"},
                               f"i-{n}") for n in range(1, 8)])
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET data = CAST(? AS TEXT) WHERE seq = 5", (b'{"content_hash":"\xff"}',))
    conn.close()
    with EventStore(path, clock=SteppingClock()) as store:
        with pytest.raises(StoreCorrupt, match="seq 5 holds bytes that are not UTF-8"):
            replay(store, default_projections())
