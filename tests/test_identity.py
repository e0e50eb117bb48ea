"""Item identity, as a pure function: which observations are new, revised, or nothing new."""

from monitor.detect.identity import MAX_SUMMARY, KnownItem, diff, item_events, rekey_unstable
from monitor.observation import Observation


def obs(key="2025-00636", **overrides):
    values = {"source": "fr-bis", "key": key, "title": "Framework for AI Diffusion", "url": f"https://fr.example/{key}",
              "fields": {"rins": ["0694-AJ90"], "comments_close_on": "2025-05-15"}}
    return Observation(**{**values, **overrides})


def known_from(observation, version=1):
    from monitor.detect.identity import bounded
    return KnownItem(version, observation.content_hash(), bounded(observation))


def test_a_new_item_is_discovered_once_with_a_deterministic_id():
    events, expected = item_events([obs(), obs()], {})
    assert [e.type for e in events] == ["ItemDiscovered"]
    assert expected == {"item:fr-bis:2025-00636": 0}
    again, _ = item_events([obs()], {})
    assert again[0].event_id == events[0].event_id


def test_an_unchanged_item_yields_nothing():
    assert item_events([obs()], {"2025-00636": known_from(obs())}) == ([], {})


def test_a_revision_names_each_changed_field_with_before_and_after():
    before = obs()
    after = obs(title="Framework for AI Diffusion; Extension", fields={"rins": ["0694-AJ90"], "comments_close_on": "2025-06-15"})
    (event,), expected = item_events([after], {"2025-00636": known_from(before, version=3)})
    assert event.type == "ItemRevised" and expected == {"item:fr-bis:2025-00636": 3}
    assert event.data["changed"] == {
        "title": {"before": "Framework for AI Diffusion", "after": "Framework for AI Diffusion; Extension"},
        "fields.comments_close_on": {"before": "2025-05-15", "after": "2025-06-15"},
    }


def test_a_flip_back_is_a_new_revision_not_a_duplicate():
    a, b = obs(), obs(title="B")
    first, _ = item_events([b], {"2025-00636": known_from(a, 1)})
    back, _ = item_events([a], {"2025-00636": known_from(b, 2)})
    again, _ = item_events([b], {"2025-00636": known_from(a, 3)})
    assert len({first[0].event_id, back[0].event_id, again[0].event_id}) == 3


def test_a_reissued_guid_alone_is_not_a_revision():
    before = obs(fields={"guid": "g1"})
    after = obs(fields={"guid": "g2"})
    assert diff(known_from(before).content, after.content()) == {}
    assert item_events([after], {"2025-00636": known_from(before)}) == ([], {})


def test_summaries_are_bounded_in_the_log():
    (event,), _ = item_events([obs(summary="x" * (MAX_SUMMARY * 3))], {})
    assert len(event.data["summary"]) == MAX_SUMMARY + 1


def test_rekey_unstable_maps_a_new_guid_to_the_item_with_the_same_link():
    observations = [obs(key="new-guid", url="https://n/a"), obs(key="other", url="https://n/b")]
    rekeyed, count = rekey_unstable(observations, known_keys=set(), keys_by_url={"https://n/a": "old-guid"})
    assert [o.key for o in rekeyed] == ["old-guid", "other"] and count == 1
