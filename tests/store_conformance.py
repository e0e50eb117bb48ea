"""The contract of an event store, as one abstract test case every backend must pass unchanged (in
the spirit of the eventsourcing library's ApplicationRecorderTestCase).

A backend's test class subclasses ``StoreConformance`` and says how to open a store on one log
(``open_store``: each call is another writer on the same log, as another process or replica would
be) and how an intruder with the database's own powers tampers with a row (``tamper_data``,
``delete_row``: bypassing the triggers, as the file's owner or a superuser can). Everything else is
the same for every backend.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from monitor.events import SOURCE_FAILED, SOURCE_POLLED, NewEvent
from monitor.projections import Projector, default_projections, replay
from monitor.store import ConcurrencyError, Witness, anchor_head, read_anchor
from monitor.store.chain import GENESIS, link, row_bytes


class SteppingClock:
    """A clock that advances by a step on each reading, and can be set back."""

    def __init__(self, start=datetime(2026, 1, 1, tzinfo=timezone.utc), step=timedelta(seconds=1)):
        self.now, self.step = start, step

    def __call__(self):
        self.now += self.step
        return self.now


def noted(n: int, stream: str = "item:src:a") -> NewEvent:
    return NewEvent("Noted", stream, {"n": n}, f"evt-{stream}-{n}")


def polled(source: str, n: int, *, failed: bool = False) -> NewEvent:
    """Events the projections fold (sources, event types), so replay and live have rows to compare."""
    at = f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z"
    if failed:
        return NewEvent(SOURCE_FAILED, f"source:{source}", {"source": source, "at": at, "status": 503,
                                                             "reason": "http", "message": "down",
                                                             "retry_at": at}, f"f-{source}-{n}")
    return NewEvent(SOURCE_POLLED, f"source:{source}", {"source": source, "at": at, "status": 200, "entries": n,
                                                         "bytes": 10 * n, "etag": f'"{n}"'}, f"p-{source}-{n}")


class StoreConformance:
    # -- what a backend provides ------------------------------------------------------------------

    def open_store(self, clock=None, projections=True):
        raise NotImplementedError

    def tamper_data(self, seq: int, data: str) -> None:
        """Overwrite the stored ``data`` of a row, bypassing the append-only guards."""
        raise NotImplementedError

    def delete_row(self, seq: int) -> None:
        raise NotImplementedError

    def update_as_the_monitor(self, store) -> None:
        """Try an UPDATE of the log through the store's own connection (must be refused)."""
        raise NotImplementedError

    # -- positions, versions, idempotency ---------------------------------------------------------

    def test_positions_are_gap_free_and_stream_versions_count_per_stream(self):
        with self.open_store() as store:
            result = store.append([noted(1), noted(2), noted(1, "item:src:b")])
            assert [e.seq for e in result.appended] == [1, 2, 3]
            assert [e.stream_version for e in result.appended] == [1, 2, 1]
            store.append([noted(3)])
            assert [e.seq for e in store.read()] == [1, 2, 3, 4]
            assert store.head().seq == 4 and store.stream_version("item:src:a") == 3
            assert store.stream_version("item:src:none") == 0
            assert [e.data["n"] for e in store.read(stream="item:src:a")] == [1, 2, 3]
            assert [e.seq for e in store.read(since=1, until=3)] == [2, 3]

    def test_appends_are_idempotent_by_event_id_across_writers(self):
        with self.open_store() as one, self.open_store() as two:
            one.append([noted(1), noted(2)])
            again = two.append([noted(1), noted(2)])
            assert again.noop and again.duplicates == 2
            partial = two.append([noted(2), noted(3), noted(3)])
            assert [e.data["n"] for e in partial.appended] == [3] and partial.duplicates == 1
            assert one.head().seq == 3

    def test_an_expected_stream_version_that_moved_raises_and_writes_nothing(self):
        with self.open_store() as one, self.open_store() as two:
            one.append([noted(1)], expected={"item:src:a": 0})
            two.append([noted(2)], expected={"item:src:a": 1})
            with pytest.raises(ConcurrencyError) as raised:
                one.append([noted(3), noted(1, "item:src:b")], expected={"item:src:a": 1})
            assert (raised.value.expected, raised.value.actual) == (1, 2)
            assert one.head().seq == 2 and one.stream_version("item:src:b") == 0

    def test_concurrent_writers_get_gap_free_positions_in_commit_order_and_a_tailer_misses_none(self):
        writers, batches = 4, 15
        seen: list[int] = []
        done = threading.Event()
        errors: list[BaseException] = []

        def write(w: int) -> None:
            try:
                with self.open_store(projections=False) as store:
                    for b in range(batches):
                        store.append([noted(b * 3 + k, f"item:w{w}:x") for k in range(3)])
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        def tail() -> None:
            try:
                with self.open_store(projections=False) as store:
                    last = 0
                    while True:
                        finished = done.is_set()  # read once more after the writers are done
                        for e in store.read(since=last):
                            seen.append(e.seq)
                            last = e.seq
                        if finished:
                            return
                        time.sleep(0.002)  # tail, do not spin: the writers need the (shared) cores
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        tailer = threading.Thread(target=tail)
        tailer.start()
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        tailer.join()
        assert not errors, errors
        total = writers * batches * 3
        assert seen == list(range(1, total + 1))  # nothing skipped, nothing twice, in order
        with self.open_store() as store:
            events = list(store.read())
            assert [e.seq for e in events] == list(range(1, total + 1))
            for w in range(writers):  # each writer's batches stayed whole and in its own order
                mine = [e for e in events if e.stream == f"item:w{w}:x"]
                assert [e.stream_version for e in mine] == list(range(1, batches * 3 + 1))
            assert store.verify().ok

    # -- the chain and time -------------------------------------------------------------------------

    def test_each_row_chains_to_the_previous_from_genesis(self):
        with self.open_store() as store:
            store.append([noted(1), noted(2)])
            store.append([NewEvent("Noted", "item:src:a", {"text": "naïve 中文 \u2028"}, "evt-u", occurred_at=None)])
            rows = list(store.read())
            assert rows[0].prev_hash == GENESIS
            for before, row in zip(rows, rows[1:]):
                assert row.prev_hash == before.hash
            for row in rows:
                assert row.hash == link(row.prev_hash, row_bytes(
                    row.seq, row.event_id, row.stream, row.stream_version, row.type, row.schema_version,
                    row.occurred_at, row.recorded_at, row.raw_data))
            report = store.verify()
            assert report.ok and report.checked == 3 and report.head_hash == rows[-1].hash

    def test_recorded_at_never_decreases_and_seq_at_gives_what_was_known_then(self):
        clock = SteppingClock()
        with self.open_store(clock=clock) as store:
            store.append([noted(1)])
            first = store.head().recorded_at
            clock.now -= timedelta(hours=1)
            store.append([noted(2)])
            assert store.head().recorded_at == first  # the clock stepped back: time did not
            clock.now += timedelta(hours=2)
            store.append([noted(3), noted(4)])
            assert store.seq_at("2025-12-31T00:00:00Z") == 0
            assert store.seq_at(first) == 2
            assert store.seq_at("2100-01-01T00:00:00Z") == 4
            assert store.last_whole_batch(3) == 2 and store.last_whole_batch(4) == 4

    def test_the_database_refuses_update_and_delete_of_the_log(self):
        with self.open_store() as store:
            store.append([noted(1)])
            with pytest.raises(Exception) as raised:
                self.update_as_the_monitor(store)
            assert "append-only" in str(raised.value) or "permission denied" in str(raised.value)
            assert store.verify().ok and store.head().seq == 1

    # -- projections, replay, as-of -----------------------------------------------------------------

    def _fill(self, store) -> list[int]:
        """A few appends of events the projections fold; the head after each."""
        heads = []
        for n in range(1, 7):
            store.append([polled("a", n), polled("b", n, failed=n % 3 == 0)])
            heads.append(store.head().seq)
        return heads

    def test_replay_equals_the_live_projections(self, tmp_path):
        with self.open_store() as store:
            self._fill(store)
            live = Projector(default_projections()).digests(store.conn)
            result = replay(store, default_projections())
            assert result.seq == store.head().seq == 12
            assert [p["digest"] for p in result.projections] == [p["digest"] for p in live]
            assert sum(p["rows"] for p in live) > 0
        with self.open_store() as other:  # another writer's live projections are the same state
            other.refresh()
            assert [p["digest"] for p in Projector(default_projections()).digests(other.conn)] == \
                [p["digest"] for p in live]

    def test_replay_as_of_a_position_equals_the_live_state_then(self):
        clock = SteppingClock()
        with self.open_store(clock=clock) as store:
            store.append([polled("a", 1), polled("b", 1)])
            store.append([polled("a", 2), polled("b", 2, failed=True)])
            then = Projector(default_projections()).digests(store.conn)
            then_seq, then_time = store.head().seq, store.head().recorded_at
            store.append([polled("a", 3)])
            store.append([polled("b", 4)])
            by_seq = replay(store, default_projections(), until=then_seq)
            by_time = replay(store, default_projections(), until=store.seq_at(then_time))
            assert by_seq.seq == by_time.seq == then_seq
            assert [p["digest"] for p in by_seq.projections] == [p["digest"] for p in then]
            assert [p["digest"] for p in by_time.projections] == [p["digest"] for p in then]
            assert [p["digest"] for p in replay(store, default_projections()).projections] != \
                [p["digest"] for p in then]

    # -- tampering --------------------------------------------------------------------------------

    def test_an_edited_row_is_named_by_verify(self):
        with self.open_store() as store:
            self._fill(store)
        self.tamper_data(5, '{"source":"a","forged":true}')
        with self.open_store(projections=False) as store:
            report = store.verify()
            assert not report.ok and report.bad_seq == 5 and "edited row" in report.problem

    def test_a_deleted_row_is_named_by_verify(self):
        with self.open_store() as store:
            self._fill(store)
        self.delete_row(4)
        with self.open_store(projections=False) as store:
            report = store.verify()
            assert not report.ok and report.bad_seq == 4 and "missing row" in report.problem

    def test_an_anchor_catches_a_cut_tail_and_a_witness_a_rewrite(self, tmp_path):
        with self.open_store() as store:
            self._fill(store)
            anchor = anchor_head(store, tmp_path / "anchor.json", b"key", "2026-02-01T00:00:00Z")
            assert anchor.seq == store.head().seq == 13
            assert store.verify(read_anchor(tmp_path / "anchor.json", b"key")).ok
            witness = Witness(3, store.get([3])[3].hash, "the witness")
            assert store.verify(witnesses=[witness]).ok
        self.delete_row(13)
        with self.open_store(projections=False) as store:
            report = store.verify(read_anchor(tmp_path / "anchor.json", b"key"))
            assert not report.ok and "truncated" in report.problem
            forged = Witness(3, "f" * 64, "the witness")
            report = store.verify(witnesses=[forged])
            assert not report.ok and report.bad_seq == 3 and "rewritten" in report.problem

    def test_a_batch_with_a_bad_event_writes_none_of_it(self):
        with self.open_store() as store:
            store.append([noted(1)])
            with pytest.raises(ValueError):
                store.append([noted(2), NewEvent("Noted", "bad\nstream", {}, "evt-bad")])
            assert store.head().seq == 1 and [e.seq for e in store.read()] == [1]
