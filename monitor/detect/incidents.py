"""Incidents: the regulatory events that changes are evidence of, decided as a pure fold.

A change either attaches to an incident it belongs to or opens a new one; attaching may move the
incident's status, and a change that ties two incidents together merges them. No I/O and no clock:
the caller passes the incidents that could match (by key, rule, or recent subject) and the day.

How a change finds its incident, strongest first (the first rung that names one decides):

1. its own item (``item:<source>:<key>``): a revision, or a re-detection, stays where it was;
2. the catalog rule it links to: every document, press release and article about a known rule
   is one incident, and nothing linked to another rule ever joins it;
3. the identifiers the item carries itself (FR document number, ``correction_of``, citation,
   docket, bill, announcement number), then the ones its text cites, then its own RIN;
4. subject and time, for news that names no identifier: an incident of the same family (a
   slowdown with a slowdown, an Entity List action with an Entity List action) updated within
   ``SUBJECT_DAYS`` (``LONG_DAYS`` when the item names nothing the thread does not, a subject term
   among it) that already names at least ``SUBJECT_MIN`` of what the item names
   specifically — parties and places of its title (of its summary when the title names none;
   a party named in passing further down is context), never only "US" or "China", and the subjects of its title
   (products, materials, measures: ``monitor/data/subjects.toml``, in English and Chinese) — or at
   least ``TEXT_MIN`` of the distinctive words of its title (Traditional and Simplified compare as
   one script), or at least ``CONCEPT_MIN`` (and ``CONCEPT_MIN_SHARED``) of the concepts of its
   title and lead: the field's common words in one vocabulary for both languages ("bill" and 法案,
   "subsidiaries" and 子公司), which is how reports of an event no catalog knows meet across
   languages. A licence slowdown is defined by where the licences are for: it is compared by
   the places it names and the regions they make up, not by its companies, when it names a place.

Rung 4 is safe because it needs three things at once: the same kind of event, the same fortnight,
and the same named actors (or, by concepts, at least three of the same common words, half of what
the item says: two bills of one fortnight share "bill" and "senator", not also "location" and
"smuggling"); an item that names nobody specific never attaches by subject, and an official
document with its own identifiers never does either (it opens its own incident).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Iterable, Mapping, Sequence

from monitor.detect.literals import Literals
from monitor.detect.text import ItemText, normalize
from monitor.events import (
    INCIDENT_ITEM_ATTACHED, INCIDENT_OPENED, INCIDENT_STATUS_CHANGED, INCIDENTS_MERGED, NewEvent, derive_event_id,
)
from monitor.vocabulary import EXPLICIT_STATUSES, FAMILY, SEVERITY_RANK, STAGE_RANK

SUBJECT_DAYS = 14
SUBJECT_MIN = 0.5
# A thread whose subject terms the item names all of (an EDA licence requirement and its lifting;
# Nexperia's ban and its exemptions) stays open longer: a term names the matter, not the week.
LONG_DAYS = 45
# Too common to tie two stories together on their own.
BROAD = frozenset({"US", "CN", "HK", "MO", "china", "greater-china", "east-asia", "asia", "north-america", "americas"})
# Identifier classes in order of strength; RIN last: one rulemaking's documents share it.
KEY_ORDER = ("fr_document", "citation", "docket", "bill", "announcement")
MAX_WORDS = 40
TERMINAL = frozenset({"rescinded", "withdrawn"})
NO_INCIDENT_KINDS = frozenset({"mention", "item_revised"})  # attach when they can, never open one
EXPLICIT_FOR_KIND = {"rule_amended": "amended", "correction": "corrected", "comment_period": "comment_period_extended",
                     "effective_date": "amended", "rescission": "rescinded"}


@dataclass
class Incident:
    """What the fold needs to know of an incident (the projection's row, or one opened just now)."""

    id: str
    title: str
    rule: str | None
    family: str
    status: str
    stage: str  # the furthest point of the main line reached
    opened_at: str
    last_date: str  # ISO date of the newest item attached
    keys: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)
    companies: set[str] = field(default_factory=set)
    severity: str = "low"
    merged_into: str | None = None
    official: bool = False  # an official document is attached (a press-only thread can be adopted)
    words: set[str] = field(default_factory=set)  # distinctive words of the titles attached
    terms: set[str] = field(init=False)  # the subject terms among them
    concepts: set[str] = field(init=False)  # and the concepts

    def __post_init__(self) -> None:
        self.terms = terms_of(self.words)
        self.concepts = concepts_of(self.words)

    @property
    def subject(self) -> set[str]:
        return self.regions | self.countries | self.companies | self.terms

    def add_tags(self, change: Mapping[str, Any]) -> None:
        self.official = self.official or bool(change.get("official"))
        words = title_words(change.get("title"))
        self.words.update(words)
        self.terms.update(terms_of(words))
        concepts = change_concepts(change)
        self.words.update(concepts)
        self.concepts.update(concepts)
        self.regions.update(change.get("regions") or ())
        self.countries.update(change.get("countries") or ())
        self.companies.update(change.get("companies") or ())


@dataclass(frozen=True)
class Assignment:
    change_id: str
    incident: str | None
    attached_by: str | None


def incident_id(change_id: str) -> str:
    return "inc-" + hashlib.sha256(change_id.encode()).hexdigest()[:12]


def incident_stream(incident: str) -> str:
    return f"incident:{incident}"


def change_keys(change: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(own keys, cited keys) of a change, as ``class:value`` strings, own item first."""
    # A further event an item reports is its own thread: its item key names the event too.
    event = change.get("cause", "").partition("#")[2]
    own = [f"item:{change['source']}:{change['key']}" + (f"#{event}" if event else "")]
    cited = []
    for ident in change.get("identifiers") or ():
        name, value, is_own = ident["name"], ident["key"], ident["own"]
        if name in ("correction_of", "corrections"):
            name = "fr_document"
        if name == "fr_document" and value[:1].isalpha() and value[2:3] == "-":
            value = value[3:]  # C1-2025-00636 corrects 2025-00636
        (own if is_own else cited).append(f"{name}:{value}")
    return list(dict.fromkeys(own)), [k for k in dict.fromkeys(cited) if k not in own]


# Words every story of this field shares: they say nothing about which event it is.
_STOP = frozenset("""
a an the and or of to in on for with from by at as over after into amid under about its their his her
is are was were be been will would could may might has have had says said say new more than that this
us u.s u.s. usa united states america american washington china chinese beijing prc
export exports exporting exported control controls curb curbs restriction restrictions restrict restricts rule rules
chip chips semiconductor semiconductors ai artificial intelligence tech technology technologies firms firm
companies company government officials official administration commerce department bis
""".split())
_STOP_ZH = frozenset("美国 美方 中国 中方 出口 管制 芯片 晶片 半导 导体 商务 务部 公告 关于 实施 规则 措施 限制 对华 政府 企业".split())
_LATIN = re.compile(r"[a-z0-9][a-z0-9.\-]*[a-z0-9]|[a-z0-9]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_WORD_CHAR = re.compile(r"[a-z0-9]")
QUANTITY = "n"  # a count travels as the subject term ``#n28``
_UNITS = "one two three four five six seven eight nine".split()
_TEENS = "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_WORDS = {**{w: i + 1 for i, w in enumerate(_UNITS)}, **{w: i + 11 for i, w in enumerate(_TEENS)},
                 **{w: 10 * (i + 2) for i, w in enumerate(_TENS)}}
_QUANTITY = re.compile(
    r"(?<![a-z0-9.,$¥€£第])(\d{2,4})(?![a-z0-9.,%月日年号]|\s*(?:million|billion|trillion|亿|万))"
    rf"|\b({'|'.join(_TEENS + _TENS)})(?:-({'|'.join(_UNITS)}))?\b")
_YEAR = re.compile(r"(?:19|20)\d\d")
_AFTER_MONTH = re.compile(r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? $")
TEXT_MIN = 0.5  # share of an item's distinctive title words the incident must already have
TEXT_MIN_WORDS = 3
# A subject term travels among the title words, marked, so that the incident projection keeps
# it with them (sorted first, it survives MAX_WORDS); so does a concept.
TERM = "#"
CONCEPT = "+"
LEAD = 500  # characters of a summary read for its concepts: about its first paragraph
CONCEPT_MIN = 0.5  # share of an item's concepts the incident must already have
CONCEPT_MIN_SHARED = 3
MINIMUM = {"subject": SUBJECT_MIN, "title": TEXT_MIN, "concepts": CONCEPT_MIN}
# Families whose event is defined by its destination, not by the companies it affects.
BY_PLACE = frozenset({"license_slowdown"})


@functools.cache
def _vocabulary() -> tuple[Literals, list[tuple[str, bool]]]:
    """One automaton over every alias of ``monitor/data/subjects.toml`` (normalised as texts are):
    per alias, its marked token (``#subject``, ``+concept``) and whether it must be a whole word
    (Latin) or may be anywhere (Chinese)."""
    data = tomllib.loads(importlib.resources.files("monitor").joinpath("data/subjects.toml").read_text("utf-8"))
    token_of: dict[str, str] = {}
    for table, mark in (("subjects", TERM), ("concepts", CONCEPT)):
        for name, aliases in data[table].items():
            for alias in map(lambda a: normalize(a).lower(), aliases):
                if token_of.setdefault(alias, mark + name) != mark + name:
                    raise ValueError(f"subjects.toml: {alias!r} is both {token_of[alias]} and {mark + name}")
    return Literals(list(token_of)), [(token, not _CJK_RUN.search(alias)) for alias, token in token_of.items()]


def quantities_in(lowered: str) -> set[str]:
    """The counts a normalised, lower-cased text states ("28 chinese firms", "28家中企", "twenty-eight
    entities"), as subject terms: a count is written alike in every language. Not a year, a day
    of a month, a decimal, an amount of money or an announcement's number (its own key)."""
    found = set()
    for m in _QUANTITY.finditer(lowered):
        number = m.group(1) or str(_NUMBER_WORDS.get(m.group(2), 0) + _NUMBER_WORDS.get(m.group(3) or "", 0))
        if _YEAR.fullmatch(number) or _AFTER_MONTH.search(lowered, max(0, m.start() - 11), m.start()):
            continue
        found.add(TERM + QUANTITY + number)
    return found


def vocabulary_in(lowered: str) -> set[str]:
    """The subject terms and concepts of a normalised, lower-cased text; a Latin alias counts as
    a whole word only."""
    automaton, tokens = _vocabulary()
    found = set()
    for index, start, end in automaton.find(lowered):
        token, whole = tokens[index]
        if whole and (start and _WORD_CHAR.match(lowered, start - 1) or _WORD_CHAR.match(lowered, end)):
            continue
        found.add(token)
    return found


def concepts_in(lowered: str) -> set[str]:
    return concepts_of(vocabulary_in(lowered))


def title_words(title: Any) -> frozenset[str]:
    """Distinctive words of a title: Latin words (not the field's common ones) and Chinese
    character pairs, after Traditional -> Simplified, so both scripts compare; and its subject
    terms and counts, marked with ``TERM``, and its concepts, marked with ``CONCEPT``."""
    if not isinstance(title, str) or not title:
        return frozenset()
    return _title_words(title)


@functools.lru_cache(maxsize=512)  # a change asks three times (to match, to record, to keep); 4,096 titles held 4.5 MB
def _title_words(title: str) -> frozenset[str]:
    text = normalize(title).lower()
    words = {w for w in _LATIN.findall(text) if len(w) > 2 and w not in _STOP}
    for run in _CJK_RUN.findall(text):
        words.update(pair for pair in (run[i:i + 2] for i in range(len(run) - 1)) if pair not in _STOP_ZH)
    words.update(vocabulary_in(text))
    words.update(quantities_in(text))
    return frozenset(words)


def terms_of(words: Iterable[str]) -> set[str]:
    return {w for w in words if w.startswith(TERM)}


def concepts_of(words: Iterable[str]) -> set[str]:
    return {w for w in words if w.startswith(CONCEPT)}


def item_concepts(text: ItemText) -> list[str]:
    """The concepts of an item's title and of its summary's lead (its normalised texts)."""
    return sorted(set().union(*(concepts_in(text.lowered(name)[:LEAD]) for name in ("title", "summary")
                                if name in text.normalized)))


def change_concepts(change: Mapping[str, Any]) -> set[str]:
    """A change's concepts: its title's, and those the detector found in its summary's lead."""
    return concepts_of(title_words(change.get("title"))) | set(change.get("concepts") or ())


def subject_of(change: Mapping[str, Any]) -> set[str]:
    return {*(change.get("companies") or ()), *(change.get("countries") or ()), *(change.get("regions") or ())}


def target_status(change: Mapping[str, Any], today: str) -> str | None:
    """The status this change says its incident has reached, or None when it says nothing new.

    Only an official source states the lifecycle; the press reports (``reported``), except that a
    press report of an explicit event on a known rule (its rescission, say) moves it too.
    """
    kind = change["kind"]
    if kind in NO_INCIDENT_KINDS:
        return None
    if not change.get("official"):
        if change.get("rule") and kind in EXPLICIT_FOR_KIND and not change.get("modality"):
            return _explicit(change)
        return "reported"
    if kind in EXPLICIT_FOR_KIND:
        return _explicit(change)
    if kind in ("proposed_rule", "legislation"):
        return "proposed"
    if change.get("public_inspection"):
        return "on_public_inspection"
    effective = next((d["date"] for d in change.get("deadlines") or () if d.get("kind") == "effective"), None)
    if effective and effective <= today:
        return "effective"
    return "published"


def _explicit(change: Mapping[str, Any]) -> str:
    status = EXPLICIT_FOR_KIND[change["kind"]]
    if status == "rescinded":
        text = f"{change.get('title') or ''} {change.get('action') or ''}".lower()
        if "suspen" in text or "暂停" in text or "暫停" in text:
            return "suspended"
        if "withdraw" in text:
            return "withdrawn"
    return status


def next_status(incident: Incident, target: str | None) -> tuple[str, str] | None:
    """(status, stage) after a change that says ``target``; None when nothing moves.

    The main line only moves forward; an explicit status is set when it is not already the status.
    """
    if target is None:
        return None
    if incident.status in TERMINAL and target not in EXPLICIT_STATUSES:
        return None  # a rescinded rule stays rescinded whatever older news still arrives
    if target in EXPLICIT_STATUSES:
        return (target, incident.stage) if target != incident.status else None
    if STAGE_RANK[target] > STAGE_RANK[incident.stage]:
        return target, target
    return None


def status_changed(incident: Incident, moved: tuple[str, str], *, change_id: str | None, reason: str) -> NewEvent:
    """The event of an incident's status moving (and the incident moved with it)."""
    before = incident.status
    incident.status, incident.stage = moved
    cause = change_id or reason
    return NewEvent(INCIDENT_STATUS_CHANGED, incident_stream(incident.id), {
        "incident": incident.id, "from": before, "to": incident.status, "stage": incident.stage,
        "change_id": change_id, "reason": reason, "rule": incident.rule, "title": incident.title,
    }, derive_event_id(incident_stream(incident.id), INCIDENT_STATUS_CHANGED, cause, incident.status))


def family_of(change: Mapping[str, Any]) -> str:
    """The kind of event a change is evidence of: its known rule's, else its own kind's (a press
    release about a rule that leads with its Entity List additions is still about the rule)."""
    return FAMILY.get(change.get("rule_kind") or "", FAMILY[change["kind"]])


def item_day(change: Mapping[str, Any], today: str) -> str:
    """The day an item speaks of: its own date, or for undated news the day it was seen."""
    return str(change.get("published") or today or "")[:10]


class IncidentFold:
    """Assigns changes to incidents, one after another, and says what happened as events."""

    def __init__(self, known: Iterable[Incident] = ()):
        _vocabulary()  # built once per process, here rather than inside the first poll's timing
        self.incidents: dict[str, Incident] = {}
        self.by_key: dict[str, list[str]] = {}
        for incident in known:
            self._index(incident)

    def _index(self, incident: Incident) -> None:
        self.incidents[incident.id] = incident
        for key in incident.keys:
            ids = self.by_key.setdefault(key, [])
            if incident.id not in ids:
                ids.append(incident.id)

    def _live(self, incident_id: str) -> Incident:
        incident = self.incidents[incident_id]
        while incident.merged_into:
            incident = self.incidents[incident.merged_into]
        return incident

    def _with_key(self, key: str) -> list[Incident]:
        found = {self._live(i).id: self._live(i) for i in self.by_key.get(key, ())}
        return sorted(found.values(), key=lambda inc: (inc.opened_at, inc.id))

    # -- deciding ---------------------------------------------------------------------------------

    def find(self, change: Mapping[str, Any], today: str) -> tuple[Incident | None, str | None, list[Incident]]:
        """(incident, attached_by, others to merge into it) for a change, or (None, None, [])."""
        own, cited = change_keys(change)
        day = item_day(change, today)
        rule = change.get("rule")
        item_key = own[0]
        for incident in self._with_key(item_key):
            return incident, "item", []
        # a further event of an item never joins the thread of the item's own primary event
        exclude = {i.id for i in self._with_key(item_key.partition("#")[0])} if "#" in item_key else set()
        if rule:
            ruled = self._with_key(f"rule:{rule}")
            # an incident of no rule that shares an identifier is the same event, seen earlier
            loose = [inc for key in own[1:] + cited if not key.startswith("rin:")
                     for inc in self._with_key(key) if inc.rule is None]
            loose = list({inc.id: inc for inc in loose}.values())
            if ruled:
                return ruled[0], f"rule:{rule}", [i for i in loose if i.id != ruled[0].id]
            if loose:
                return loose[0], self._key_label(loose[0], own[1:] + cited), loose[1:]
            # The first change of a known rule may adopt the thread the press opened days before.
            return self._by_subject(change, day, exclude, press_only=True, unruled=True) or (None, None, [])
        for keys in (own[1:], cited):
            for name in KEY_ORDER:
                for key in keys:
                    if key.startswith(name + ":"):
                        matches = self._with_key(key)
                        if matches:
                            return matches[0], key, matches[1:]
        for key in own[1:]:
            if key.startswith("rin:"):
                matches = [inc for inc in self._with_key(key) if inc.rule is None]
                if matches:
                    return matches[0], key, []
        # No identifier of its own (news, a press release): any thread of its subject. An official
        # document with identifiers nobody has seen may only adopt a thread the press opened.
        found = self._by_subject(change, day, exclude, press_only=len(own) > 1)
        if found is not None:
            return found
        return None, None, []

    @staticmethod
    def _key_label(incident: Incident, keys: Sequence[str]) -> str:
        return next((key for key in keys if key in incident.keys), "key")

    def _by_subject(self, change: Mapping[str, Any], day: str, exclude: set[str], *, press_only: bool,
                    unruled: bool = False) -> tuple[Incident, str, list] | None:
        subject = subject_of(change)
        family = family_of(change)
        in_title = {e["name"] for e in change.get("evidence") or () if e.get("field") == "title"
                    and e.get("kind") in ("company", "country", "region")} - BROAD
        specific = in_title or set(change.get("named") or subject) - BROAD
        if family in BY_PLACE:  # the places it names and the regions they make up ("Gulf" is Middle East)
            places = (specific - set(change.get("companies") or ())) | (set(change.get("regions") or ()) - BROAD)
            specific = places or specific
        words = title_words(change.get("title"))
        terms, concepts = terms_of(words), change_concepts(change)
        words = words - terms - concepts
        specific |= terms
        if not day or change["kind"] in NO_INCIDENT_KINDS:
            return None
        try:
            when = date.fromisoformat(day)
        except ValueError:
            return None
        best: tuple[tuple[float, str], Incident, str] | None = None
        for incident in self.incidents.values():
            if incident.merged_into or incident.family != family or (press_only and incident.official):
                continue
            if incident.id in exclude:
                continue
            if unruled and incident.rule is not None:
                continue
            try:
                gap = abs((when - date.fromisoformat(incident.last_date)).days)
            except ValueError:
                continue
            if gap > LONG_DAYS:
                continue
            # the share of what the item names specifically that the thread already names
            named = len(specific & incident.subject) / len(specific) if specific else 0.0
            if gap > SUBJECT_DAYS and not (named == 1.0 and terms_of(specific)):
                continue
            shared = words & incident.words
            text = len(shared) / len(words) if len(shared) >= TEXT_MIN_WORDS else 0.0
            common = concepts & incident.concepts
            meaning = len(common) / len(concepts) if len(common) >= CONCEPT_MIN_SHARED else 0.0
            score, by = max((named, "subject"), (text, "title"), (meaning, "concepts"))
            if score < MINIMUM[by]:
                continue
            if best is None or (score, incident.last_date) > best[0]:
                best = ((score, incident.last_date), incident, by)
        return (best[1], best[2], []) if best else None

    # -- recording --------------------------------------------------------------------------------

    def assign(self, change: Mapping[str, Any], *, today: str, at: str) -> tuple[str | None, list[NewEvent]]:
        """The incident a change belongs to (None: it stays a loose mention) and the events that say so."""
        incident, by, merge = self.find(change, today)
        own, cited = change_keys(change)
        keys = set(own) | {k for k in cited if not k.startswith("rin:")}
        if change.get("rule"):
            keys.add(f"rule:{change['rule']}")
        events: list[NewEvent] = []
        target = target_status(change, today)
        if incident is None:
            if change["kind"] in NO_INCIDENT_KINDS:
                return None, []
            status = target or "reported"
            incident = Incident(
                id=incident_id(change["id"]), title=change.get("rule_title") or change.get("title") or "untitled",
                rule=change.get("rule"), family=family_of(change), status=status,
                stage=status if status in STAGE_RANK else "published", opened_at=at,
                last_date=item_day(change, today), keys=set(keys), severity=change["severity"],
            )
            incident.add_tags(change)
            self._index(incident)
            events.append(self._event(INCIDENT_OPENED, incident, change, {
                "title": incident.title, "rule": incident.rule, "family": incident.family, "status": status,
                "stage": incident.stage, "kind": change["kind"], "severity": change["severity"], "opened_at": at,
            }))
            events.append(self._attached(incident, change, "opened", keys, today))
            return incident.id, events
        for other in merge:
            other.merged_into = incident.id
            incident.keys |= other.keys
            incident.regions |= other.regions
            incident.countries |= other.countries
            incident.companies |= other.companies
            # "keys": those of the merged incident the fold was given (a poll reads only the keys its
            # batch asks about); every other key still finds the survivor through ``merged_into``.
            events.append(self._event(INCIDENTS_MERGED, incident, change, {
                "merged": other.id, "keys": sorted(other.keys), "by": by}))
        new_keys = keys - incident.keys
        incident.keys |= keys
        self._index(incident)
        incident.add_tags(change)
        if change.get("rule") and incident.rule is None:
            incident.rule = change["rule"]
            incident.title = change.get("rule_title") or incident.title
        day = item_day(change, today)
        if day > incident.last_date:
            incident.last_date = day
        if SEVERITY_RANK[change["severity"]] > SEVERITY_RANK[incident.severity]:
            incident.severity = change["severity"]
        events.append(self._attached(incident, change, by or "key", new_keys, today))
        moved = next_status(incident, target)
        if moved is not None:
            events.append(status_changed(incident, moved, change_id=change["id"], reason=change["kind"]))
        return incident.id, events

    def _attached(self, incident: Incident, change: Mapping[str, Any], by: str, keys: Iterable[str],
                  today: str) -> NewEvent:
        return self._event(INCIDENT_ITEM_ATTACHED, incident, change, {
            "attached_by": by, "keys": sorted(keys), "kind": change["kind"], "severity": change["severity"],
            "source": change["source"], "key": change["key"], "url": change.get("url"),
            "title": change.get("title"), "language": change.get("language"), "published": change.get("published"),
            "date": item_day(change, today),  # what "recent" is measured by
            "regions": list(change.get("regions") or ()), "countries": list(change.get("countries") or ()),
            "companies": list(change.get("companies") or ()), "rule": change.get("rule"),
            "rule_title": change.get("rule_title"), "official": bool(change.get("official")),
            "words": sorted(title_words(change.get("title")) | change_concepts(change))[:MAX_WORDS],
        })

    @staticmethod
    def _event(event_type: str, incident: Incident, change: Mapping[str, Any], data: dict[str, Any]) -> NewEvent:
        stream = incident_stream(incident.id)
        return NewEvent(event_type, stream, {"incident": incident.id, "change_id": change["id"], **data},
                        derive_event_id(stream, event_type, change["id"], data.get("merged") or ""),
                        occurred_at=change.get("published"))


def assign_all(fold: IncidentFold, changes: Sequence[NewEvent], *, today: str, at: str) -> tuple[list[NewEvent], list[NewEvent]]:
    """Changes with their ``incident`` filled in, and the incident events, in the order they happen."""
    out, incident_events = [], []
    for change in changes:
        incident, events = fold.assign(change.data, today=today, at=at)
        out.append(replace(change, data={**change.data, "incident": incident}))
        incident_events.extend(events)
    return out, incident_events


def wanted_keys(changes: Iterable[Mapping[str, Any]], today: str) -> tuple[set[str], list[tuple[str, str]]]:
    """What a batch of changes could attach to: the keys, and the date windows (merged) within which
    an incident's latest item must fall to be a candidate by subject."""
    keys: set[str] = set()
    days: set[date] = set()
    for change in changes:
        own, cited = change_keys(change)
        keys.update(own, cited)
        keys.add(own[0].partition("#")[0])  # a further event's item: the primary thread it must not join
        if change.get("rule"):
            keys.add(f"rule:{change['rule']}")
        try:
            days.add(date.fromisoformat(item_day(change, today)))
        except ValueError:
            pass
    windows: list[tuple[date, date]] = []
    for day in sorted(days):
        low, high = day - timedelta(days=LONG_DAYS), day + timedelta(days=LONG_DAYS)  # the longest a thread stays open
        if windows and low <= windows[-1][1]:
            windows[-1] = (windows[-1][0], high)
        else:
            windows.append((low, high))
    return keys, [(low.isoformat(), high.isoformat()) for low, high in windows]
