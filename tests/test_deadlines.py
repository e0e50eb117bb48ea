"""Deadline reminders, as a pure function of deadlines, reminders sent and today's date."""

from datetime import date, timedelta

from monitor.detect.deadlines import Deadline, due_reminders

CHANGE = {"id": "chg-1", "title": "Framework for AI Diffusion", "rule": "us-ai-diffusion", "regions": ["china"]}


def deadline(on: str, kind: str = "comments_close") -> Deadline:
    return Deadline("fr-bis", "2025-00636", kind, on, CHANGE)


def run(days_left_seq, on="2025-05-15"):
    """Simulate a daemon checking on successive days; return the thresholds reminded."""
    sent, reminded = set(), []
    for days_left in days_left_seq:
        today = date.fromisoformat(on) - timedelta(days=days_left)
        for event in due_reminders([deadline(on)], sent, today):
            d = event.data
            sent.add((d["source"], d["key"], d["deadline"], d["date"], d["days_before"]))
            reminded.append(d["days_before"])
    return reminded


def test_one_reminder_at_each_threshold_never_twice():
    assert run(range(30, -3, -1)) == [14, 3, 0]


def test_a_deadline_seen_late_gets_only_the_nearest_reminder():
    assert run([2, 1, 0, -1]) == [3, 0]


def test_past_deadlines_get_nothing():
    assert run([-1, -30]) == []


def test_reminders_have_stable_ids_and_carry_the_change():
    today = date(2025, 5, 12)
    first = due_reminders([deadline("2025-05-15")], set(), today)
    again = due_reminders([deadline("2025-05-15")], set(), today)
    assert first[0].event_id == again[0].event_id
    assert first[0].data["rule"] == "us-ai-diffusion" and first[0].data["days_left"] == 3


def test_a_moved_date_is_a_new_deadline():
    sent = set()
    (first,) = due_reminders([deadline("2025-05-15")], sent, date(2025, 5, 12))
    sent.add(("fr-bis", "2025-00636", "comments_close", "2025-05-15", 3))
    (moved,) = due_reminders([deadline("2025-05-16")], sent, date(2025, 5, 13))
    assert moved.event_id != first.event_id
