"""Typed events: every recorded event decodes to its payload dataclass and encodes back to the
very bytes stored (so event hashes cannot change), the old ChangeDetected v1 is read typed, and a
queued alert reads back, by attribute, as the relay and the digests see it."""

from __future__ import annotations

import subprocess
import sys

import dataclasses

import pytest

from monitor.alerts.alert import Alert, Deadline, Evidence, Match
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


NESTED = {"evidence": Evidence, "deadlines": Deadline}  # lists of objects, read as typed records


def test_every_field_of_a_stored_alert_reads_back_by_attribute(recorded):
    _stored, events = recorded
    queued = [e for e in events if e.type == "AlertQueued"]
    assert queued
    for event in queued:
        alert = Alert.decode(event.data)
        for field in dataclasses.fields(AlertQueued):
            if field.name == "extra":
                continue
            value, stored = getattr(alert, field.name), event.data.get(field.name)
            if field.name in NESTED:
                cls = NESTED[field.name]
                assert value == tuple(cls(**{k: item.get(k) for k in (f.name for f in dataclasses.fields(cls))})
                                      for item in stored or ())
            elif field.name == "match":
                assert value == (Match(**{k: stored.get(k) for k in (f.name for f in dataclasses.fields(Match))})
                                 if stored else None)
            else:
                assert value == stored, field.name


def test_an_alert_reads_what_is_absent_as_none_skips_odd_items_and_cannot_be_changed():
    alert = Alert.decode({"id": "chg-1", "evidence": [{"kind": "phrase", "value": "slows"}, "junk", 3],
                          "deadlines": "not a list", "match": ["not", "an", "object"]})
    assert alert.change_id == "chg-1" and alert.title is None and alert.reports == ()  # a change's JSON: `id`
    assert alert.evidence == (Evidence(kind="phrase", value="slows"),) and alert.deadlines == () and alert.match is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.moved = "x"
