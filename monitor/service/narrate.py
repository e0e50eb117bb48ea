"""What the daemon says about the log: one line per event worth reading, none for the rest.

Pure: an event in, a ``LogLine`` (or None) out. The daemon tails the log and narrates what was
appended, whichever component appended it, so the log lines and the event log cannot disagree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from monitor.events import (
    ALERT_DELIVERED, ALERT_FAILED, ALERT_REQUEUED, CHANGE_DETECTED, CHECKPOINT_ANCHORED, DEADLINE_REACHED,
    SOURCE_FAILED, SOURCE_POLLED, SOURCE_RECOVERED, AlertDelivered, AlertFailed, AlertRequeued, ChangeDetected,
    CheckpointAnchored, DeadlineReached, Event, SourceFailed, SourcePolled, SourceRecovered,
)


@dataclass(frozen=True)
class LogLine:
    level: int
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


def narrate(event: Event) -> LogLine | None:
    describe = _NARRATORS.get(event.type)
    if describe is None:
        return None  # items, queued alerts: their changes and deliveries say it better
    line = describe(event.typed)
    return LogLine(line.level, line.message, {"event": event.type, "seq": event.seq, **line.fields})


# The payloads are typed (monitor/events.py); ``.get(name, default)`` reads a field a payload may
# not carry (None, or the default, when it does not), an attribute one every such event carries.

def _polled(d: SourcePolled) -> LogLine:
    new, revised, changes = d.get("new", 0), d.get("revised", 0), d.get("changes", 0)
    fields = {"source": d.source, "status": d.get("status"), "new": new, "revised": revised, "changes": changes,
              "duration_ms": d.get("duration_ms")}
    if d.get("not_modified"):
        return LogLine(logging.DEBUG, f"{d.source}: not modified", fields)
    if d.get("unchanged"):
        return LogLine(logging.DEBUG, f"{d.source}: unchanged", fields)
    found = f"{new} new, {revised} revised, {changes} changes"
    warnings = f" (warning: {d.warnings[0]})" if d.get("warnings") else ""
    level = logging.INFO if d.get("new") or d.get("revised") or warnings else logging.DEBUG
    return LogLine(level, f"{d.source}: {d.get('entries')} entries, {found}{warnings}", fields)


def _failed(d: SourceFailed) -> LogLine:
    return LogLine(logging.WARNING,
                   f"{d.source}: poll failed ({d.reason}): {d.message}; "
                   f"{d.consecutive_failures} in a row, next attempt {d.retry_at}",
                   {"source": d.source, "reason": d.reason, "consecutive_failures": d.consecutive_failures,
                    "retry_at": d.retry_at})


def _recovered(d: SourceRecovered) -> LogLine:
    return LogLine(logging.INFO, f"{d.source}: recovered after {d.after_failures} failed polls",
                   {"source": d.source, "after_failures": d.after_failures})


def _change(d: ChangeDetected) -> LogLine:
    regions, companies = d.get("regions", []), d.get("companies", [])
    tags = ", ".join([*regions, *companies])
    rule = f" [{d.rule}]" if d.get("rule") else ""
    return LogLine(logging.INFO, f"change {d.severity} {d.kind}{rule}: {d.title}"
                   + (f" ({tags})" if tags else ""),
                   {"change_id": d.id, "kind": d.kind, "severity": d.severity, "rule": d.get("rule"),
                    "source": d.get("source"), "regions": regions, "companies": companies, "url": d.get("url")})


def _deadline(d: DeadlineReached) -> LogLine:
    return LogLine(logging.INFO, f"deadline: {d.deadline} on {d.date} ({d.days_left} days): {d.get('title')}",
                   {"deadline": d.deadline, "date": d.date, "days_left": d.days_left, "change_id": d.get("change_id")})


def _delivered(d: AlertDelivered) -> LogLine:
    return LogLine(logging.INFO, f"alerts: digest of {len(d.alert_ids)} for {d.route}/{d.group} delivered "
                                 f"to {len(d.targets)} target(s)",
                   {"route": d.route, "group": d.group, "alerts": len(d.alert_ids), "digest_id": d.digest_id})


def _alert_failed(d: AlertFailed) -> LogLine:
    outcome = "dead, needs `monitor alerts retry`" if d.get("dead") else f"next attempt {d.next_attempt_at}"
    return LogLine(logging.ERROR if d.get("dead") else logging.WARNING,
                   f"alerts: digest of {len(d.alert_ids)} for {d.route}/{d.group} failed "
                   f"(attempt {d.attempt}): {d.error}; {outcome}",
                   {"route": d.route, "group": d.group, "alerts": len(d.alert_ids), "attempt": d.attempt,
                    "dead": bool(d.get("dead")), "digest_id": d.digest_id})


def _requeued(d: AlertRequeued) -> LogLine:
    return LogLine(logging.INFO, f"alerts: {len(d.alert_ids)} requeued", {"alerts": len(d.alert_ids)})


def _anchored(d: CheckpointAnchored) -> LogLine:
    # The anchor file names this event itself (its seq is the line's "seq"), so it covers its own record.
    return LogLine(logging.INFO, f"anchored the log through this record (which follows seq {d.seq}, hash "
                                 f"{d.hash[:16]}…) in {d.file}"
                                 + (" (signed)" if d.get("signed") else " (unsigned: MONITOR_ANCHOR_KEY is not set)"),
                   {"follows_seq": d.seq, "follows_hash": d.hash, "file": d.file, "signed": d.get("signed")})


_NARRATORS = {
    SOURCE_POLLED: _polled, SOURCE_FAILED: _failed, SOURCE_RECOVERED: _recovered, CHANGE_DETECTED: _change,
    DEADLINE_REACHED: _deadline, ALERT_DELIVERED: _delivered, ALERT_FAILED: _alert_failed,
    ALERT_REQUEUED: _requeued, CHECKPOINT_ANCHORED: _anchored,
}
