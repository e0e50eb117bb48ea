"""The watchlist as configured (``[watchlist]`` of sources.toml and the CSV it names), what of it
the log must record, and the events and alerts of a match.

Changes to the watchlist are events (``WatchlistChanged``: entries added, removed or changed, the
threshold, the ignore list), so `replay --as-of` shows what was being screened on a given day.
A match is a ``WatchlistMatched`` event and a high-severity alert on every route that takes
``entity_list`` changes; each (entry, entity, matched name) is reported once.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from monitor.config import Config, ConfigError, _country
from monitor.detect.watchlist import Entry, Match
from monitor.events import (
    WATCHLIST_CHANGED, WATCHLIST_MATCHED, NewEvent, WatchlistChanged, WatchlistMatched, derive_event_id, dumps,
)

WATCHLIST_STREAM = "watchlist"
MAX_ENTRIES = 100_000
CSV_COLUMNS = ("name", "name_zh", "country", "ref")


@dataclass(frozen=True)
class Watchlist:
    entries: tuple[Entry, ...]
    threshold: float
    lists: tuple[str, ...]
    ignore: tuple[Any, ...]
    file: str | None

    @property
    def settings(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "lists": list(self.lists), "file": self.file,
                "ignore": [i if isinstance(i, str) else {"entity": i.entity, "ref": i.ref} for i in self.ignore]}

    @cached_property
    def sha256(self) -> str:  # computed once per configuration: every poll cycle compares it
        body = {"settings": self.settings, "entries": sorted((asdict(e) for e in self.entries), key=lambda e: _ref(e))}
        return hashlib.sha256(dumps(body).encode()).hexdigest()


def _ref(entry: Mapping[str, Any]) -> str:
    return entry.get("ref") or entry["name"]


def load_watchlist(config: Config) -> Watchlist:
    """The configured entries (sources.toml's, then the CSV's); a bad CSV is a ConfigError naming
    the file and the line. Two entries with one reference are refused: the reference names a match."""
    spec = config.watchlist
    entries = [Entry(e.name.strip(), (e.name_zh or "").strip() or None, e.country, e.ref) for e in spec.entries]
    path = config.watchlist_path
    if path is not None:
        entries += _read_csv(path, str(spec.file))
    problems, seen = [], {}
    for number, entry in enumerate(entries, 1):
        ref = entry.reference
        if ref in seen:
            problems.append(f"{config.path}: watchlist entry {number} ({ref!r}): the reference is already used by "
                            f"entry {seen[ref]}; give each entry its own ref")
        seen.setdefault(ref, number)
    if problems:
        raise ConfigError(config.path, problems[:20])
    return Watchlist(tuple(entries), float(spec.threshold), tuple(spec.lists), tuple(spec.ignore),
                     str(spec.file) if spec.file else None)


def _read_csv(path: Path, label: str) -> list[Entry]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(label, [f"{label}: watchlist file not found ({path})"]) from None
    except OSError as exc:
        raise ConfigError(label, [f"{label}: cannot read the watchlist file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(label, [f"{label}: not UTF-8 (byte {exc.start}); save the CSV as UTF-8"]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if "name" not in header:
        raise ConfigError(label, [f"{label}: line 1: the header must name the columns "
                                  f"{', '.join(CSV_COLUMNS)} (name is required)"])
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise ConfigError(label, [f"{label}: line 1: unknown column {unknown[0]!r} (columns: {', '.join(CSV_COLUMNS)})"])
    reader.fieldnames = header
    entries, problems = [], []
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                problems.append(f"{label}: line {line}: more fields than the header has")
                continue
            name = (row.get("name") or "").strip()
            if not name:
                if any((v or "").strip() for v in row.values()):
                    problems.append(f"{label}: line {line}: name is empty")
                continue
            country = (row.get("country") or "").strip() or None
            if country:
                try:
                    country = _country(country)
                except ValueError as exc:
                    problems.append(f"{label}: line {line}: {exc}")
                    continue
            entries.append(Entry(name, (row.get("name_zh") or "").strip() or None, country,
                                 (row.get("ref") or "").strip() or None))
            if len(entries) > MAX_ENTRIES:
                problems.append(f"{label}: more than {MAX_ENTRIES} entries")
                break
    except csv.Error as exc:
        problems.append(f"{label}: line {reader.line_num}: {exc}")
    if problems:
        raise ConfigError(label, problems[:20])
    return entries


def watchlist_change(watchlist: Watchlist, recorded: Mapping[str, Any] | None, at: str) -> NewEvent | None:
    """A ``WatchlistChanged`` event when the configured watchlist differs from the recorded one
    (``recorded``: the projection's state with its entries, or None)."""
    if recorded is not None and recorded["sha256"] == watchlist.sha256:
        return None
    before = (recorded or {}).get("entries") or {}
    now = {_ref(asdict(e)): {**asdict(e), "ref": _ref(asdict(e))} for e in watchlist.entries}
    added = [e for ref, e in now.items() if ref not in before]
    changed = [e for ref, e in now.items() if ref in before and before[ref] != e]
    removed = sorted(ref for ref in before if ref not in now)
    change = WatchlistChanged(at=at, sha256=watchlist.sha256, entries=len(now), **watchlist.settings,
                              added=added, changed=changed, removed=removed)
    return NewEvent.of(change, WATCHLIST_STREAM, derive_event_id(WATCHLIST_STREAM, WATCHLIST_CHANGED, watchlist.sha256, at),
                       occurred_at=at)


def match_id(match: Match) -> str:
    c = match.candidate
    return "wm-" + hashlib.sha256(f"{match.ref}\x1f{c.source}\x1f{c.key}\x1f{c.matched}".encode()).hexdigest()[:12]


def new_matches(matches: Iterable[Match], recorded: set[tuple[str, str, str, str]]) -> list[Match]:
    out, seen = [], set(recorded)
    for match in matches:
        c = match.candidate
        pair = (match.ref, c.source, c.key, c.matched)
        if pair not in seen:
            seen.add(pair)
            out.append(match)
    return out


def match_events(matches: Sequence[Match], at: str) -> list[NewEvent]:
    out = []
    for match in matches:
        identifier = match_id(match)
        out.append(NewEvent.of(WatchlistMatched(id=identifier, at=at, **match.to_json()), WATCHLIST_STREAM,
                               derive_event_id(WATCHLIST_STREAM, WATCHLIST_MATCHED, identifier), occurred_at=at))
    return out


def match_view(match: Match, at: str, regions: Sequence[str] = ()) -> dict[str, Any]:
    """A match as the alert router sees a change: kind entity_list, severity high, why it fired."""
    data = match.to_json()
    c = match.candidate
    title = (f"Watchlist match: {match.entry_name} ({match.ref}) ≈ {' '.join(c.name.split())} "
             f"on the {c.list} list, score {data['score']:g}")
    return {
        "id": match_id(match), "kind": "entity_list", "severity": "high", "title": title, "url": None,
        "source": c.source, "published": at[:10], "language": None, "rule": None, "rule_title": None,
        "regions": list(regions), "countries": list(c.countries), "companies": [], "deadlines": [], "incident": None,
        "match": data,
        "evidence": [{"kind": "watchlist", "name": c.matched_on, "value": c.matched, "field": "screening_list"},
                     {"kind": "watchlist", "name": "score", "value": f"{data['score']:g}", "field": "rapidfuzz"}],
    }
