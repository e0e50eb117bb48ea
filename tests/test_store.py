"""The event log against real SQLite files: atomic, idempotent, versioned, append-only."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from monitor.events import NewEvent, Upcasters
from monitor.projections import EventTypes, Projector, default_projections, replay
from monitor.store import ConcurrencyError, EventStore, verify
from monitor.store.chain import GENESIS, link, row_bytes


class SteppingClock:
    """A clock that advances by a step on each reading, and can be set back."""

    def __init__(self, start=datetime(2026, 1, 1, tzinfo=timezone.utc), step=timedelta(seconds=1)):
        self.now, self.step = start, step

    def __call__(self):
        self.now += self.step
        return self.now


def event(n: int, stream: str = "item:src:a", **data) -> NewEvent:
    return NewEvent("Noted", stream, {"n": n, **data}, f"evt-{stream}-{n}")


@pytest.fixture
def store(tmp_path):
    with EventStore(tmp_path / "events.db", clock=SteppingClock(), projections=Projector(default_projections())) as s:
        yield s


def test_append_assigns_gap_free_positions_and_stream_versions(store):
    result = store.append([event(1), event(2), event(1, "item:src:b")])
    assert [e.seq for e in result.appended] == [1, 2, 3]
    assert [e.stream_version for e in result.appended] == [1, 2, 1]
    assert store.head().seq == 3
    assert [e.data["n"] for e in store.read()] == [1, 2, 1]


def test_each_row_hash_chains_to_the_previous(store):
    store.append([event(1), event(2)])
    first, second = store.read()
    assert first.prev_hash == GENESIS and second.prev_hash == first.hash
    assert second.hash == link(first.hash, row_bytes(
        second.seq, second.event_id, second.stream, second.stream_version, second.type,
        second.schema_version, second.occurred_at, second.recorded_at, second.raw_data))


def test_appending_the_same_events_again_changes_nothing_and_says_so(store):
    store.append([event(1), event(2)])
    again = store.append([event(1), event(2)])
    assert again.noop and again.duplicates == 2
    partial = store.append([event(2), event(3)])
    assert [e.data["n"] for e in partial.appended] == [3] and partial.duplicates == 1
    assert store.head().seq == 3


def test_a_batch_with_the_same_event_twice_records_it_once(store):
    result = store.append([event(1), event(1)])
    assert len(result.appended) == 1


def test_expected_version_conflict_raises_and_writes_nothing(store):
    store.append([event(1)])
    with pytest.raises(ConcurrencyError) as info:
        store.append([event(2), event(1, "item:src:b")], expected={"item:src:a": 0})
    assert info.value.actual == 1 and info.value.expected == 0
    assert store.head().seq == 1
    assert store.append([event(2)], expected={"item:src:a": 1}).appended
    assert store.append([event(1, "item:new")], expected={"item:new": 0}).appended


def test_a_failing_batch_is_rolled_back_whole(store):
    store.append([event(1)])
    with pytest.raises(ValueError):
        store.append([event(2), NewEvent("Noted", "bad\nstream", {}, "x")])
    assert store.head().seq == 1


def test_recorded_at_never_decreases_when_the_clock_steps_back(tmp_path):
    clock = SteppingClock()
    with EventStore(tmp_path / "e.db", clock=clock) as store:
        store.append([event(1)])
        clock.now -= timedelta(hours=5)
        store.append([event(2)])
        times = [e.recorded_at for e in store.read()]
    assert times[1] == times[0]


def test_update_and_delete_are_refused_by_triggers(store):
    store.append([event(1)])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE events SET data = '{}' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM events")
    assert store.head().seq == 1


def test_old_event_versions_are_upcast_on_read_and_never_rewritten(tmp_path):
    upcasters = Upcasters()
    with EventStore(tmp_path / "e.db", clock=SteppingClock(), upcasters=upcasters) as store:
        store.append([NewEvent("SourceFailed", "source:x", {"error": "timeout"}, "f1", schema_version=1)])

        @upcasters.register("SourceFailed", 1)
        def split_reason(data):
            return {"reason": data.pop("error"), "message": ""}

        (read,) = store.read()
        assert read.schema_version == 2 and read.data == {"reason": "timeout", "message": ""}
        (raw,) = store.read(upcast=False)
        assert raw.schema_version == 1 and raw.data == {"error": "timeout"}
        assert verify(store.conn).ok


def test_projections_catch_up_live_and_rebuild_when_their_version_changes(tmp_path):
    path = tmp_path / "e.db"
    with EventStore(path, clock=SteppingClock(), projections=Projector([EventTypes()])) as store:
        store.append([event(1), event(2), NewEvent("Other", "x", {}, "o1")])
        rows = dict(store.conn.execute("SELECT type, events FROM event_types"))
    assert rows == {"Noted": 2, "Other": 1}

    class EventTypesV2(EventTypes):
        version = 2
        schema = EventTypes.schema.replace("last_seq INTEGER NOT NULL", "last_seq INTEGER NOT NULL, note TEXT")

    with EventStore(path, clock=SteppingClock(), projections=Projector([EventTypesV2()])) as store:
        columns = [r[1] for r in store.conn.execute("PRAGMA table_info(event_types)")]
        assert "note" in columns
        assert dict(store.conn.execute("SELECT type, events FROM event_types")) == rows
        assert store.conn.execute(
            "SELECT version, seq FROM projection_checkpoints WHERE name='event_types'").fetchone() == (2, 3)


def test_a_projection_behind_the_log_catches_up_on_the_next_append(tmp_path):
    path = tmp_path / "e.db"
    with EventStore(path, clock=SteppingClock()) as bare:  # another writer without projections
        bare.append([event(1), event(2)])
    with EventStore(path, clock=SteppingClock(), projections=Projector([EventTypes()])) as store:
        store.append([event(3)])
        assert store.conn.execute("SELECT events FROM event_types").fetchone() == (3,)


def test_replay_matches_live_and_as_of_equals_a_cut_log(tmp_path, store):
    for b in range(5):
        store.append([event(b * 10 + i, f"item:src:{i % 3}") for i in range(10)])
    live = Projector(default_projections()).digests(store.conn)
    full = replay(store, default_projections())
    assert [p["digest"] for p in full.projections] == [p["digest"] for p in live]

    cut = replay(store, default_projections(), until=23)
    with EventStore(tmp_path / "cut.db", clock=SteppingClock()) as other:
        for e in store.read(until=23):  # copy the first 23 rows verbatim into another log
            other.conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
                e.seq, e.event_id, e.stream, e.stream_version, e.type, e.schema_version,
                e.occurred_at, e.recorded_at, e.raw_data, e.prev_hash, e.hash))
        assert verify(other.conn).ok
        whole_cut = replay(other, default_projections())
    assert [p["digest"] for p in cut.projections] == [p["digest"] for p in whole_cut.projections]
    assert cut.seq == 23 and cut.hash == whole_cut.hash


def test_seq_at_gives_what_was_known_at_a_time(store):
    store.append([event(1)])
    store.append([event(2)])
    first, second = store.read()
    assert store.seq_at(first.recorded_at) == 1
    assert store.seq_at(second.recorded_at) == 2
    assert store.seq_at("2000-01-01T00:00:00.000000Z") == 0


batches = st.lists(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 40)), min_size=1, max_size=8),
    min_size=1, max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches)
def test_replaying_twice_gives_the_same_digests_and_matches_live(tmp_path_factory, batches):
    path = tmp_path_factory.mktemp("prop") / "e.db"
    with EventStore(path, clock=SteppingClock(), projections=Projector(default_projections())) as store:
        for batch in batches:
            store.append([event(n, f"item:src:{s}") for s, n in batch])
        one = replay(store, default_projections())
        two = replay(store, default_projections())
        live = Projector(default_projections()).digests(store.conn)
        assert verify(store.conn).ok
    assert one.projections == two.projections
    assert [p["digest"] for p in one.projections] == [p["digest"] for p in live]
