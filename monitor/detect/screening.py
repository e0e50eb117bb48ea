"""Screening-list snapshots at entity level: keys, fingerprints, the diff and the changes it makes.

Pure: the entities the log holds for a source and the records of a new file go in; entity events,
a snapshot event and ``entity_list`` changes come out. No I/O, no clock.

Keys. A record's id is not stable across publications (the publisher has re-keyed the BIS and
State lists twice: 40-hex, then sha224 of name and FR notice, then 32-hex), and it is not unique
across lists (an OFAC number is on SDN and CAP alike). So an entity is told by:

- on Treasury lists, the list and OFAC's entity number (``SDN:#17526``): stable by OFAC's design;
- elsewhere, the list and the normalised name (``UVL:abu trade llc``: NFKC, Traditional ->
  Simplified, case and runs of whitespace folded; punctuation kept). Two live records of one list
  with the same name (three ``Huawei Technologies Co., Ltd.`` rows on the Entity List) get the
  countries of their addresses appended (``EL:huawei technologies co., ltd. [CN]``), then ``#2``.

An entity keeps the key it was first seen with: a new file is *paired* with the live entities by
that base key (several records of one base: the same fingerprint first, then the same addresses,
then the same countries, then file order), and a paired record is the same entity, modified or
not. A record left unpaired is an addition, a live entity left unpaired a removal, except that
an addition and a removal on the same list are a **rename** (one modified entity, ``renamed_from``)
when either's alternate names hold the other's name, or when their names are near (rapidfuzz
``token_sort_ratio`` >= ``RENAME_SIMILARITY`` on the normalised names) and they share an
address. Anything else stays a removal plus an addition.

Fingerprints cover every field but ``id``: a re-keyed record is not a modification. Modified
fields are named with before/after. Changes of kind ``entity_list`` are made per list, action and
the Federal Register citation that made it (the newest in ``federal_register_notice``), naming the
parties; a modification of only the list's URLs is recorded as an entity event but is not a change.
The first snapshot of a source is its baseline: its entities are recorded, and no change is made.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from monitor.collectors.screening_list import list_code
from monitor.detect.catalog import identifier_key
from monitor.detect.changes import change_id, change_stream
from monitor.detect.text import CJK, normalize
from monitor.events import CHANGE_DETECTED, SCREENING_SNAPSHOT, NewEvent, derive_event_id, dumps
from monitor.events import SCREENING_ENTITY_ADDED as ENTITY_ADDED
from monitor.events import SCREENING_ENTITY_MODIFIED as ENTITY_MODIFIED
from monitor.events import SCREENING_ENTITY_REMOVED as ENTITY_REMOVED

RENAME_SIMILARITY = 90
MAX_PARTIES = 500  # parties named in one change (the rest are counted)
# Fields whose change alone is bookkeeping, not news (the publisher moved its own links).
COSMETIC = frozenset({"id", "source_list_url", "source_information_url"})
# Lists of the Bureau of Industry and Security: their additions and removals are high severity.
BIS_LISTS = frozenset({"EL", "MEU", "UVL", "DPL"})
LIST_NAMES = {"EL": "Entity List", "MEU": "Military End User List", "UVL": "Unverified List",
              "DPL": "Denied Persons List", "SDN": "SDN List", "ISN": "Nonproliferation Sanctions",
              "DTC": "ITAR Debarred", "SSI": "Sectoral Sanctions List", "FSE": "Foreign Sanctions Evaders",
              "CMIC": "Chinese Military-Industrial Complex List", "PLC": "Palestinian Legislative Council List",
              "CAP": "CAPTA List", "NS-MBS": "Non-SDN Menu-Based Sanctions List"}
_ADDRESS_COUNTRY = re.compile(r"(?:^|,)\s*([A-Z]{2})\s*$")
_CITATION = re.compile(r"\d{1,3}\s*(?:FR|F\.\s*R\.|Fed\.?\s*Reg\.?)\s*\d{1,6}", re.ASCII)


# --- reading one record ---------------------------------------------------------------------------

def name_key(name: str) -> str:
    return " ".join(normalize(name).casefold().split())


def split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def names_of(record: Mapping[str, str]) -> list[str]:
    """The name as published (whitespace folded) and every alternate name."""
    return list(dict.fromkeys([" ".join(record.get("name", "").split()), *split(record.get("alt_names"))]))


def chinese_names(record: Mapping[str, str]) -> list[str]:
    return [name for name in names_of(record) if CJK.search(name)]


def countries_of(record: Mapping[str, str]) -> list[str]:
    """ISO codes ending each address (``..., Shenzhen, CN``), in order, once each."""
    found = []
    for address in (record.get("addresses") or "").split(";"):
        match = _ADDRESS_COUNTRY.search(address.strip())
        if match and match.group(1) not in found:
            found.append(match.group(1))
    for extra in split(record.get("country")):
        if len(extra) == 2 and extra.isupper() and extra not in found:
            found.append(extra)
    return found


def citations_of(record: Mapping[str, str]) -> list[str]:
    """FR citations of ``federal_register_notice``, canonical (``85 FR 83799``), in published order."""
    out = []
    for raw in _CITATION.findall(record.get("federal_register_notice") or ""):
        key = identifier_key("citation", raw.replace("F. R.", "FR").replace("F.R.", "FR"))
        if key and key not in out:
            out.append(key)
    return out


def is_treasury(record: Mapping[str, str]) -> bool:
    return "treasury" in (record.get("source") or "").lower()


MAX_KEY = 200  # a key names an event stream: an absurdly long name is cut and made unique by its hash


def base_key(record: Mapping[str, str]) -> str:
    code = list_code(record.get("source", ""))
    number = record.get("entity_number") or record.get("id")
    if is_treasury(record) and number:
        key = f"{code}:#{' '.join(number.split())}"
    else:
        key = f"{code}:{name_key(record.get('name', ''))}"
    if len(key) > MAX_KEY:
        key = f"{key[:MAX_KEY - 14]}…{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return key


def fingerprint(record: Mapping[str, str]) -> str:
    return hashlib.sha256(dumps({k: v for k, v in record.items() if k != "id"}).encode()).hexdigest()[:16]


def records_digest(fingerprints: Mapping[str, str]) -> str:
    """One hash over a snapshot's (key, fingerprint) pairs: equal sets of entities, equal digests."""
    digest = hashlib.sha256()
    for key in sorted(fingerprints):
        digest.update(f"{key}\t{fingerprints[key]}\n".encode())
    return digest.hexdigest()


# --- the diff -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Known:
    """A live entity as the log holds it."""

    key: str
    fingerprint: str
    record: Mapping[str, str]

    @property
    def list(self) -> str:
        return list_code(self.record.get("source", ""))


@dataclass(frozen=True)
class Modified:
    key: str
    record: dict[str, str]
    changed: dict[str, dict[str, str | None]]
    renamed_from: str | None = None  # the previous name, when the pairing was a rename

    @property
    def substantive(self) -> bool:
        return any(name not in COSMETIC for name in self.changed) or self.renamed_from is not None


@dataclass
class Diff:
    added: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    removed: list[Known] = field(default_factory=list)
    modified: list[Modified] = field(default_factory=list)
    unchanged: int = 0
    fingerprints: dict[str, str] = field(default_factory=dict)  # the new snapshot, key -> fingerprint

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.modified)


def changed_fields(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, dict[str, str | None]]:
    return {name: {"before": before.get(name), "after": after.get(name)}
            for name in dict.fromkeys([*before, *after])
            if name != "id" and before.get(name) != after.get(name)}


def _addresses(record: Mapping[str, str]) -> frozenset[str]:
    return frozenset(" ".join(a.casefold().split()) for a in split(record.get("addresses")))


def _pair_group(olds: list[Known], news: list[tuple[dict[str, str], str]]) -> tuple[list, list, list]:
    """Pair the live entities and the new records of one base key: (pairs, unpaired old, unpaired new)."""
    if len(olds) == 1 and len(news) == 1:
        return [(olds[0], news[0])], [], []
    pairs, olds, news = [], list(olds), list(news)
    tests = (lambda o, n: o.fingerprint == n[1],
             lambda o, n: _addresses(o.record) == _addresses(n[0]),
             lambda o, n: countries_of(o.record) == countries_of(n[0]),
             lambda o, n: True)
    for same in tests:
        for new in list(news):
            old = next((o for o in olds if same(o, new)), None)
            if old is not None:
                pairs.append((old, new))
                olds.remove(old)
                news.remove(new)
    return pairs, olds, news


def _is_rename(old: Mapping[str, str], new: Mapping[str, str]) -> bool:
    from rapidfuzz import fuzz  # at first use, not with this module: see watchlist.Screener.screen
    old_names = {name_key(n) for n in names_of(old)}
    new_names = {name_key(n) for n in names_of(new)}
    if name_key(old.get("name", "")) in new_names or name_key(new.get("name", "")) in old_names:
        return True
    similar = fuzz.token_sort_ratio(name_key(old.get("name", "")), name_key(new.get("name", ""))) >= RENAME_SIMILARITY
    return similar and bool(_addresses(old) & _addresses(new))


def diff(previous: Mapping[str, Known], records: Sequence[dict[str, str]]) -> Diff:
    """The new file against the live entities (``previous``, by key)."""
    out = Diff()
    old_groups: dict[str, list[Known]] = {}
    for known in previous.values():
        old_groups.setdefault(base_key(known.record), []).append(known)
    new_groups: dict[str, list[tuple[dict[str, str], str]]] = {}
    for record in records:
        new_groups.setdefault(base_key(record), []).append((record, fingerprint(record)))
    unpaired_new: list[tuple[dict[str, str], str]] = []
    unpaired_old: list[Known] = []
    for base, news in new_groups.items():
        pairs, olds, rest = _pair_group(old_groups.pop(base, []), news)
        unpaired_old += olds
        unpaired_new += rest
        for old, (record, print_) in pairs:
            out.fingerprints[old.key] = print_
            if print_ == old.fingerprint:
                out.unchanged += 1
            else:
                out.modified.append(Modified(old.key, record, changed_fields(old.record, record)))
    for olds in old_groups.values():
        unpaired_old += olds
    # Renames: an addition and a removal on one list that are the same party under a new name.
    for record, print_ in list(unpaired_new):
        code = list_code(record.get("source", ""))
        old = next((o for o in unpaired_old if list_code(o.record.get("source", "")) == code
                    and _is_rename(o.record, record)), None)
        if old is None:
            continue
        unpaired_old.remove(old)
        unpaired_new.remove((record, print_))
        out.fingerprints[old.key] = print_
        out.modified.append(Modified(old.key, record, changed_fields(old.record, record),
                                     renamed_from=" ".join(old.record.get("name", "").split())))
    taken = set(previous) | set(out.fingerprints)
    for record, print_ in unpaired_new:
        key = base = base_key(record)
        if key in taken:
            key = f"{base} [{','.join(countries_of(record)) or '-'}]"
        number = 2
        while key in taken:
            key, number = f"{base} #{number}", number + 1
        taken.add(key)
        out.fingerprints[key] = print_
        out.added.append((key, record))
    out.removed = sorted(unpaired_old, key=lambda k: k.key)
    return out


# --- events ---------------------------------------------------------------------------------------

def entity_stream(source: str, key: str) -> str:
    return f"entity:{source}:{key}"


def snapshot_stream(source: str) -> str:
    return f"screening:{source}"


def party(record: Mapping[str, str], key: str) -> dict[str, Any]:
    """What a change, an alert or `monitor entities` shows of one party."""
    return {
        "key": key, "list": list_code(record.get("source", "")), "name": " ".join(record.get("name", "").split()),
        "names_zh": chinese_names(record), "alt_names": split(record.get("alt_names"))[:20],
        "countries": countries_of(record), "addresses": split(record.get("addresses"))[:10],
        "license_requirement": record.get("license_requirement"), "license_policy": record.get("license_policy"),
        "federal_register_notice": record.get("federal_register_notice"), "citations": citations_of(record),
        "start_date": record.get("start_date"), "end_date": record.get("end_date"),
    }


def snapshot_events(source: str, at: str, content_sha256: str, fmt: str, diff_: Diff, *, total: int,
                    lists: Mapping[str, int], baseline: bool) -> list[NewEvent]:
    """The entity events of a diff, then the snapshot that sums it up (one append)."""
    events = []

    def entity(event_type: str, key: str, data: dict[str, Any]) -> None:
        stream = entity_stream(source, key)
        events.append(NewEvent(event_type, stream, {"source": source, "key": key, "at": at,
                                                    "snapshot": content_sha256, **data},
                               derive_event_id(stream, event_type, content_sha256, at), occurred_at=at))

    for key, record in diff_.added:
        entity(ENTITY_ADDED, key, {"list": list_code(record["source"]), "fingerprint": diff_.fingerprints[key],
                                   "record": record})
    for one in diff_.modified:
        entity(ENTITY_MODIFIED, one.key, {
            "list": list_code(one.record["source"]), "fingerprint": diff_.fingerprints[one.key],
            "changed": one.changed, "renamed_from": one.renamed_from,
            "name": " ".join(one.record.get("name", "").split()), "countries": countries_of(one.record),
            # RFC 7396 merge patch: the projection applies it with SQLite's json_patch
            "patch": {name: one.record.get(name) for name in dict.fromkeys([*one.changed, "id"])},
        })
    for known in diff_.removed:
        entity(ENTITY_REMOVED, known.key, {
            "list": list_code(known.record.get("source", "")), "fingerprint": known.fingerprint,
            "name": " ".join(known.record.get("name", "").split()), "countries": countries_of(known.record),
        })
    stream = snapshot_stream(source)
    events.append(NewEvent(SCREENING_SNAPSHOT, stream, {
        "source": source, "at": at, "content_sha256": content_sha256, "format": fmt,
        "records_sha256": records_digest(diff_.fingerprints), "records": len(diff_.fingerprints),
        "total": total, "lists": dict(sorted(lists.items())), "baseline": baseline,
        "added": len(diff_.added), "removed": len(diff_.removed), "modified": len(diff_.modified),
        "renamed": sum(1 for m in diff_.modified if m.renamed_from), "unchanged": diff_.unchanged,
    }, derive_event_id(stream, SCREENING_SNAPSHOT, content_sha256, at), occurred_at=at))
    return events


# --- changes --------------------------------------------------------------------------------------

def entity_changes(diff_: Diff, *, source: str, url: str | None, at: str, snapshot_event: str, catalog,
                   gazetteer) -> list[NewEvent]:
    """``entity_list`` changes naming the parties: one per list, action and FR citation."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}

    def add(action: str, record: Mapping[str, str], key: str, extra: dict[str, Any]) -> None:
        one = {**party(record, key), "action": action, **extra}
        citation = one["citations"][-1] if one["citations"] and action != "removed" else ""
        groups.setdefault((one["list"], action, citation), []).append(one)

    for key, record in diff_.added:
        add("added", record, key, {})
    for known in diff_.removed:
        add("removed", known.record, known.key, {})
    for one in diff_.modified:
        if one.substantive:
            add("modified", one.record, one.key, {
                "changed": sorted(name for name in one.changed if name not in COSMETIC),
                "renamed_from": one.renamed_from})
    out = []
    for (code, action, citation), parties in sorted(groups.items()):
        parties.sort(key=lambda p: (p["countries"][:1] or ["~"], p["name"].casefold()))
        countries = sorted({c for p in parties for c in p["countries"]})
        names = "; ".join(p["name"] for p in parties[:MAX_PARTIES])
        named = gazetteer.tag({"names": names}) if names else None
        regions = gazetteer.tag({}, extra_countries=countries).regions
        list_name = LIST_NAMES.get(code, code)
        count = f"{len(parties)} part{'y' if len(parties) == 1 else 'ies'}"
        where = ", ".join(f"{c} {n}" for c, n in _by_country(parties)[:6])
        title = f"{list_name}: {count} {action}" + (f" ({citation})" if citation else "") + (f" — {where}" if where else "")
        key = f"{code}:{action}:{citation or '-'}:{snapshot_event.rsplit('/', 1)[-1][:12]}"
        item = {"source": source, "key": key, "title": title, "summary": "", "fields": {"citation": [citation] if citation else []}}
        link, identifiers = catalog.analyse(item)
        rule = catalog.rules.get(link.rule) if link else None
        severity = "high" if code in BIS_LISTS and action != "modified" else "medium"
        cause = f"{snapshot_event}#{code}:{action}:{citation}"
        stream = change_stream(source, key)
        evidence = [{"kind": "phrase", "name": "screening_list", "value": f"{action} on the {list_name}",
                     "field": "diff"}]
        if citation:
            evidence.insert(0, {"kind": "identifier", "name": "citation", "value": citation,
                                "field": "federal_register_notice"})
        out.append(NewEvent(CHANGE_DETECTED, stream, {
            "id": change_id(cause), "cause": cause, "kind": "entity_list", "severity": severity, "modality": None,
            "title": title, "url": url, "source": source, "key": key, "published": at[:10], "language": "en",
            "regions": list(regions), "countries": countries,
            "companies": list(named.companies) if named else [], "named": sorted(named.companies) if named else [],
            "revision": False, "official": True, "public_inspection": False, "action": None,
            # its own key makes it an official document with an identifier of its own: it joins the
            # incident of its FR citation, or opens one; it never attaches by subject to another
            # official thread (such as another list's change of the same file)
            "identifiers": [{"name": "screening_list", "key": f"{source}:{key}", "own": True},
                            *{(i["name"], i["key"]): i for i in identifiers}.values()],
            "rule": rule.id if rule else None, "rule_title": rule.title if rule else None,
            "linked_by": link.by if link else None, "deadlines": [], "evidence": evidence,
            "list": code, "list_action": action, "citation": citation or None,
            "parties": parties[:MAX_PARTIES], "party_count": len(parties),
        }, derive_event_id(stream, CHANGE_DETECTED, cause), occurred_at=at))
    return out


def _by_country(parties: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for one in parties:
        country = (one.get("countries") or ["??"])[0]
        counts[country] = counts.get(country, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def parties_by_country(parties: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Party names grouped by their first address country (unknown: ``"??"``), most parties first."""
    groups: dict[str, list[str]] = {}
    for one in parties:
        groups.setdefault((one.get("countries") or ["??"])[0], []).append(one.get("name") or "?")
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))
