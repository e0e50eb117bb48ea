"""From item events to changes: link the known rule, classify, tag regions, countries, companies.

Pure: an ``ItemDiscovered`` or ``ItemRevised`` event (recorded or about to be), what the source is,
the catalog and the gazetteer go in; ``ChangeDetected`` events come out, with the evidence that
made each decision. The change id and the event id derive from the item event that caused it, so
detecting the same item event twice appends nothing, and a replay reproduces it exactly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable, Mapping, Protocol

from monitor.detect.catalog import Catalog, Evidence, Link, Rule
from monitor.detect.classify import DOMAIN, Decision, also_reported, classify, severity
from monitor.detect.gazetteer import Gazetteer
from monitor.detect.incidents import item_concepts
from monitor.detect.text import ItemText
from monitor.events import CHANGE_DETECTED, CHANGE_DETECTED_VERSION, ITEM_DISCOVERED, ITEM_REVISED, NewEvent, derive_event_id
from monitor.observation import Observation
from monitor.vocabulary import FAMILY

# Kinds that speak of a rule: a news item of these kinds may be linked to a rule by date and subject.
CONTEXT_KINDS = frozenset({"new_rule", "rule_amended", "proposed_rule", "comment_period", "effective_date",
                           "correction", "entity_list", "license_policy", "countermeasure", "rescission"})
MAX_EVIDENCE = 40  # entries kept per change: enough to say why, bounded for the log
MAX_IDENTIFIERS = 40


class ItemEvent(Protocol):
    type: str
    stream: str
    event_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class SourceInfo:
    """What detection knows of a source (``monitor.collectors.collect.source_info`` makes one)."""

    id: str
    kind: str  # federal_register, feed, html_list, screening_list
    official: bool  # a government's own channel (severity policy), not the press
    structured: bool = False  # its items carry the publisher's structured fields (kind, dates)


def change_stream(source: str, key: str) -> str:
    return f"change:{source}:{key}"


def change_id(cause_event_id: str) -> str:
    return "chg-" + hashlib.sha256(cause_event_id.encode()).hexdigest()[:12]


class Detector:
    def __init__(self, catalog: Catalog, gazetteer: Gazetteer, topics: re.Pattern[str] = DOMAIN):
        self.catalog, self.gazetteer, self.topics = catalog, gazetteer, topics

    def detect_all(self, events: Iterable[ItemEvent], source: SourceInfo) -> list[NewEvent]:
        return [change for event in events for change in self.detect(event, source)]

    def detect(self, event: ItemEvent, source: SourceInfo) -> list[NewEvent]:
        if event.type not in (ITEM_DISCOVERED, ITEM_REVISED):
            return []
        data = event.data
        item = {"source": data["source"], "key": data["key"], **Observation.content_of(data)}
        # The title and summary are normalised once, here, and read by all three matchers.
        text = ItemText.of(item)
        link, identifiers = self.catalog.analyse(item, text)
        rule = self.catalog.rules.get(link.rule) if link else None
        changed = data.get("changed") if event.type == ITEM_REVISED else None
        tags = self.gazetteer.tag(text, extra_regions=rule.regions if rule else ())
        decision = classify(
            item, official=source.official, rule_id=rule.id if rule else None,
            rule_documents=frozenset(rule.identifiers.get("fr_documents", ())[:1]) if rule else frozenset(),
            changed=changed, companies=bool(tags.companies), domain=self.topics, text=text,
        )
        if decision is None:
            return []
        if link is None and not source.structured and decision.kind in CONTEXT_KINDS:
            link = self.catalog.link_in_context(item, tags.countries, decision.kind, text)
            rule = self.catalog.rules.get(link.rule) if link else None
            if rule is not None:
                # the same matches; only the rule's regions are added (the text is not tagged again)
                tags = self.gazetteer.retag(tags, extra_regions=rule.regions)
        tag_evidence = [{"kind": m.kind, "name": m.slug, "value": m.text, "field": m.field, "start": m.start,
                         "end": m.end} for m in tags.matches]
        fields = item.get("fields") or {}
        common = {
            "title": item.get("title"), "url": item.get("url"), "source": data["source"], "key": data["key"],
            "published": item.get("published"), "language": item.get("language"),
            "revision": changed is not None, "cause": event.event_id, "official": source.official,
            "public_inspection": bool(fields.get("public_inspection")), "action": fields.get("action"),
            "named": sorted({m.slug for m in tags.matches}),  # what the text itself names (not derived)
            # the common words of its title and its summary's lead, in one vocabulary for English and
            # Chinese: what lets the incident fold compare reports across languages
            "concepts": item_concepts(text),
        }
        unique_identifiers = list({(i["name"], i["key"], i["own"]): i for i in identifiers}.values())[:MAX_IDENTIFIERS]
        stream = change_stream(data["source"], data["key"])
        occurred = item.get("updated") or item.get("published")
        out = []
        # The primary event keeps the item's change id; each further event the item reports with
        # substance is its own change (its own kind, its own incident), never linked to the
        # primary's rule.
        reported = [(decision, rule, link, event.event_id)]
        if changed is None:
            reported += self._also_reported(item, text, decision, rule, source, event.event_id)
        for index, (one, own_rule, own_link, cause) in enumerate(reported):
            evidence = [*(_evidence(e) for e in (own_link.evidence if own_link else ())),
                        *(p.to_json() for p in one.phrases), *tag_evidence]
            # a further known rule brings its own regions, not the primary rule's
            own_tags = tags if index == 0 or own_rule is None else self.gazetteer.retag(tags, extra_regions=own_rule.regions)
            out.append(NewEvent(CHANGE_DETECTED, stream, {
                **common,
                "regions": list(own_tags.regions), "countries": list(own_tags.countries),
                "companies": list(own_tags.companies),
                # the item's identifiers name its primary event; a further event has none of its own
                "identifiers": unique_identifiers if index == 0 else [],
                "cause": cause,
                "id": change_id(cause),
                "kind": one.kind,
                "severity": one.severity,
                "modality": one.modality,
                "rule": own_rule.id if own_rule else None,
                "rule_title": own_rule.title if own_rule else None,
                "rule_kind": own_rule.kind if own_rule else None,
                "linked_by": own_link.by if own_link else None,
                "deadlines": deadlines(fields) if source.structured and index == 0 else [],
                "evidence": evidence[:MAX_EVIDENCE],
            }, derive_event_id(stream, CHANGE_DETECTED, cause), occurred_at=occurred,
                schema_version=CHANGE_DETECTED_VERSION))
        return out

    def _also_reported(self, item: Mapping[str, Any], text: ItemText, primary: Decision, rule: Rule | None,
                       source: SourceInfo, cause: str) -> list[tuple[Decision, Rule | None, Link | None, str]]:
        """The further events an item reports with substance, each its own change: first the other
        known rules it reports (``Catalog.also_about``; the change is linked to that rule, of that
        rule's kind), then events of other families found by their wording (``also_reported``),
        never two of one family. A Federal Register document is one event; so is a revision."""
        if source.structured or (item.get("fields") or {}).get("type") or primary.kind in ("mention", "item_revised"):
            return []
        out: list[tuple[Decision, Rule | None, Link | None, str]] = []
        families = {FAMILY[primary.kind]}
        for other in self.catalog.also_about(item, text, rule.id if rule else None):
            other_rule = self.catalog.rules[other.rule]
            kind = other_rule.kind if other_rule.kind in FAMILY else "new_rule"
            decision = Decision(kind, severity(kind, official=source.official, linked=True), (), primary.modality)
            out.append((decision, other_rule, other, f"{cause}#{other_rule.id}"))
            families.add(FAMILY[kind])
        for one in also_reported(item, primary, rule.kind if rule else None, text):
            if FAMILY[one.kind] not in families:
                out.append((one, None, None, f"{cause}#{one.kind}"))
        return out


def _evidence(e: Evidence) -> dict[str, Any]:
    """``dataclasses.asdict(e)``, which copies every value deeply and is slow; these are str and int."""
    return {"kind": e.kind, "name": e.name, "value": e.value, "field": e.field, "start": e.start, "end": e.end}


_MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(), 1)}
_COMPLIANCE = re.compile(
    r"compliance date[s]?\b[^.]{0,80}?\b(" + "|".join(_MONTHS) + r")\s+(\d{1,2}),\s+(\d{4})", re.IGNORECASE)


def deadlines(fields: Mapping[str, Any]) -> list[dict[str, str]]:
    """Comment-close, effective and compliance dates a Federal Register document states."""
    found = []
    if fields.get("comments_close_on"):
        found.append({"kind": "comments_close", "date": str(fields["comments_close_on"])[:10]})
    if fields.get("effective_on"):
        found.append({"kind": "effective", "date": str(fields["effective_on"])[:10]})
    match = _COMPLIANCE.search(str(fields.get("dates") or ""))
    if match:
        month, day, year = _MONTHS[match.group(1).lower()], int(match.group(2)), int(match.group(3))
        try:
            found.append({"kind": "compliance", "date": date(year, month, day).isoformat()})
        except ValueError:
            pass
    return found
