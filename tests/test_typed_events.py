"""Typed events: every recorded event decodes to its payload dataclass and encodes back to the
very bytes stored (so event hashes cannot change), and the old ChangeDetected v1 is read typed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitor.events import (
    ABSENT, PAYLOADS, AlertQueued, ChangeDetected, IncidentStatusChanged, NewEvent, SourcePolled, decode, dumps,
)
from monitor.store import EventStore


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A log recorded by `monitor demo` (offline: its feeds are served on 127.0.0.1)."""
    root = tmp_path_factory.mktemp("typed")
    (root / "cwd").mkdir()
    result = subprocess.run([sys.executable, "-m", "monitor", "demo", "--state", str(root / "state")],
                            cwd=root / "cwd", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with EventStore(root / "state" / "events.db", readonly=True) as store:
        return list(store.read(upcast=False)), list(store.read())


def test_every_recorded_event_encodes_back_to_its_stored_bytes(recorded):
    stored, _upcast = recorded
    assert {e.type for e in stored} >= {"SourcePolled", "ItemDiscovered", "ItemRevised", "ChangeDetected",
                                        "IncidentOpened", "IncidentItemAttached", "AlertQueued", "AlertDelivered"}
    for event in stored:
        typed = decode(event.type, event.data)
        assert type(typed).TYPE == event.type
        assert dumps(typed.encode()) == event.raw_data, event.seq  # byte for byte: the hash stays
        assert typed.extra == {}, (event.type, sorted(typed.extra))  # the schema names every key written
        assert type(typed).VERSION == event.schema_version


def test_a_typed_event_is_recorded_as_the_same_event(recorded):
    stored, _upcast = recorded
    polled = next(e for e in stored if e.type == "SourcePolled")
    typed = polled.typed
    assert isinstance(typed, SourcePolled) and typed.source == polled.data["source"]
    again = NewEvent.of(typed, polled.stream, polled.event_id, polled.occurred_at)
    assert (again.type, again.schema_version, dumps(again.data)) == (polled.type, polled.schema_version, polled.raw_data)


def test_absent_is_not_null_and_unknown_keys_are_kept():
    change = IncidentStatusChanged(incident="inc-1", from_=None, to="final")
    assert change.encode() == {"incident": "inc-1", "from": None, "to": "final"}  # `from`, a keyword, by metadata
    assert change.stage is ABSENT and change.get("stage", "x") == "x"
    odd = decode("AlertQueued", {"alert_id": "a", "future_field": [1]})
    assert isinstance(odd, AlertQueued) and odd.extra == {"future_field": [1]}
    assert dumps(odd.encode()) == dumps({"alert_id": "a", "future_field": [1]})
    with pytest.raises(TypeError):
        AlertQueued(alert_id="a", no_such_field=1)  # writers cannot add a key the schema does not name
    with pytest.raises(LookupError):
        decode("NoSuchEvent", {})
    assert all(cls.TYPE == name for name, cls in PAYLOADS.items())


def test_a_v1_change_is_read_as_a_typed_v2_change(tmp_path):
    old = {"id": "chg-1", "kind": "new_rule", "severity": "high", "title": "Old rule", "url": None, "source": "fr-bis",
           "key": "2022-21658", "published": "2022-10-13", "language": "en", "rule": None, "rule_title": None,
           "linked_by": None, "regions": [], "countries": [], "companies": [], "deadlines": [], "evidence": [],
           "revision": False, "cause": "item:fr-bis:2022-21658/abc"}
    with EventStore(tmp_path / "events.db") as store:
        store.append([NewEvent("ChangeDetected", "change:fr-bis:2022-21658", old, "change:old", schema_version=1)])
        (event,) = store.read()
        (raw,) = store.read(upcast=False)
    typed = event.typed
    assert isinstance(typed, ChangeDetected) and event.schema_version == ChangeDetected.VERSION == 2
    assert typed.incident is None and typed.identifiers == [] and typed.modality is None and typed.extra == {}
    assert raw.raw_data == dumps(old) and dumps(decode(raw.type, raw.data).encode()) == raw.raw_data
