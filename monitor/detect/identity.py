"""Which observations are new items, which are revisions, and which are nothing new.

Pure: the observations of one poll and what the log already knows about those items go in;
``ItemDiscovered`` and ``ItemRevised`` events come out. Event ids are derived from the item and
its content, so recording the same poll twice appends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from monitor.events import ITEM_DISCOVERED, ITEM_REVISED, NewEvent, derive_event_id
from monitor.observation import Observation

MAX_SUMMARY = 8000  # characters kept of a summary: enough to classify, bounded for the log
NOT_MEANINGFUL = frozenset({"fields.guid"})  # an identifier the feed may reissue: not news


@dataclass(frozen=True)
class KnownItem:
    """What the items projection holds about one item."""

    version: int  # its stream's version
    content_hash: str
    content: Mapping[str, Any]


def item_stream(source: str, key: str) -> str:
    return f"item:{source}:{key}"


def bounded(observation: Observation) -> dict[str, Any]:
    content = observation.content()
    if len(content["summary"]) > MAX_SUMMARY:
        content["summary"] = content["summary"][:MAX_SUMMARY] + "…"
    return content


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Changed fields with before and after; the source's structured fields as ``fields.NAME``."""
    changed = {}
    for name in sorted(set(before) | set(after)):
        if name == "fields":
            old, new = before.get("fields") or {}, after.get("fields") or {}
            for field in sorted(set(old) | set(new)):
                if old.get(field) != new.get(field) and f"fields.{field}" not in NOT_MEANINGFUL:
                    changed[f"fields.{field}"] = {"before": old.get(field), "after": new.get(field)}
        elif before.get(name) != after.get(name):
            changed[name] = {"before": before.get(name), "after": after.get(name)}
    return changed


def rekey_unstable(
    observations: list[Observation], known_keys: set[str], keys_by_url: Mapping[str, str]
) -> tuple[list[Observation], int]:
    """Give an entry the key of the item it already is when its guid changed but its link did not.

    A feed that reissues guids would otherwise make every poll look like all-new items. Returns
    the observations and how many were re-keyed (the caller records that as a warning).
    """
    rekeyed, out = 0, []
    for obs in observations:
        earlier = keys_by_url.get(obs.url or "")
        if obs.key not in known_keys and earlier is not None and earlier != obs.key:
            obs = replace(obs, key=earlier)
            rekeyed += 1
        out.append(obs)
    return out, rekeyed


def item_events(
    observations: Iterable[Observation], known: Mapping[str, KnownItem]
) -> tuple[list[NewEvent], dict[str, int]]:
    """Events for the observations of one source, and the stream versions they expect."""
    events: list[NewEvent] = []
    expected: dict[str, int] = {}
    seen: set[str] = set()
    for obs in observations:
        if obs.key in seen:  # the same item twice in one poll (e.g. on two pages): the first wins
            continue
        seen.add(obs.key)
        stream = item_stream(obs.source, obs.key)
        content, digest = bounded(obs), obs.content_hash()
        occurred = obs.updated or obs.published
        before = known.get(obs.key)
        if before is None:
            expected[stream] = 0
            events.append(NewEvent(
                ITEM_DISCOVERED, stream,
                {"source": obs.source, "key": obs.key, "content_hash": digest, **content},
                derive_event_id(stream, ITEM_DISCOVERED, digest), occurred_at=occurred,
            ))
        elif before.content_hash != digest:
            changed = diff(before.content, content)
            if not changed:  # only a truncated tail differed: nothing a reader would see
                continue
            expected[stream] = before.version
            events.append(NewEvent(
                ITEM_REVISED, stream,
                {"source": obs.source, "key": obs.key, "content_hash": digest,
                 "previous_hash": before.content_hash, "changed": changed, **content},
                derive_event_id(stream, ITEM_REVISED, str(before.version), digest), occurred_at=occurred,
            ))
    return events, expected
