"""The Consolidated Screening List as a source, end to end on the real fixtures served on 127.0.0.1.

The fixtures (../shared/fixtures/csl) are real published CSV rows; where a test needs something the
real data does not have (a JSON file, a Chinese name, a renamed party), it builds it from those rows
here and says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from monitor.alerts.render import Entry as Entry_
from monitor.collectors import collect as collect_module
from monitor.collectors.screening_list import parse_screening_list
from monitor.config import load_config
from monitor.daemon import make_detector, open_store, poll
from monitor.detect.changes import SourceInfo
from monitor.detect.incidents import IncidentFold, assign_all
from monitor.detect.screening import Known, diff, entity_changes, fingerprint, party
from monitor.detect.watchlist import Entry, Screener
from monitor.events import ITEM_DISCOVERED
from monitor.projections.screening import current_entities

CSL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "csl"
OLD, NEW, SAMPLE = CSL / "consolidated_2022-05-06.csv", CSL / "consolidated_2023-11-30.csv", CSL / "consolidated_sample.csv"
DOCUMENTED = json.loads((CSL / "diff_2022-05-06_to_2023-11-30.json").read_text(encoding="utf-8"))["by_source"]
MEU = "Military End User (MEU) List - Bureau of Industry and Security"
UVL = "Unverified List (UVL) - Bureau of Industry and Security"


def write_config(tmp_path: Path, url: str, extra: str = "", lists: str = '["MEU", "UVL"]') -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[monitor]
state_dir = "state"
total_timeout = "10s"

[[sources]]
id = "csl"
kind = "screening_list"
url = "{url}"
lists = {lists}

[alerts]
digest_window = "0s"

[[alerts.routes]]
tag = "compliance"
kinds = ["entity_list"]
{extra}
""", encoding="utf-8")
    return path


def cycle(config_path: Path):
    config = load_config(config_path)
    return poll(config, config.state_path)[0], config


def events(config, *types):
    with open_store(config.state_path) as store:
        return list(store.read(types=list(types) or None))


def run_cli(config_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(config_path), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def by_list(evs, list_code):
    return [e for e in evs if e.data["list"] == list_code]


@pytest.fixture
def two_snapshots(tmp_path, http_server):
    http_server.serve_file("/csl.csv", OLD, content_type="text/csv", etag='"2022-05-06"')
    config_path = write_config(tmp_path, http_server.url_for("/csl.csv"))
    first, config = cycle(config_path)
    seq_after_first = events(config)[-1].seq
    http_server.serve_file("/csl.csv", NEW, content_type="text/csv", etag='"2023-11-30"')
    second, _ = cycle(config_path)
    return config_path, config, first, second, seq_after_first


def test_two_real_snapshots_give_exactly_the_documented_diff(two_snapshots):
    config_path, config, first, second, seq_after_first = two_snapshots
    assert (first.status, first.new, first.changes) == ("new", 272, 0)  # the baseline: recorded, no change
    assert (second.new, second.revised, second.removed) == (43, 214, 58)
    later = [e for e in events(config) if e.seq > seq_after_first]
    added = [e for e in later if e.type == "ScreeningEntityAdded"]
    removed = [e for e in later if e.type == "ScreeningEntityRemoved"]
    modified = [e for e in later if e.type == "ScreeningEntityModified"]
    for code, source in (("MEU", MEU), ("UVL", UVL)):
        documented = DOCUMENTED[source]
        assert sorted(e.data["record"]["name"] for e in by_list(added, code)) == sorted(a["name"] for a in documented["added"])
        assert sorted(e.data["name"] for e in by_list(removed, code)) == sorted(
            " ".join(r["name"].split()) for r in documented["removed"])
        assert len(by_list(modified, code)) == documented["modified_count"]
        fields = Counter(f for e in by_list(modified, code) for f in e.data["changed"])
        assert dict(fields) == documented["modified_field_counts"]
        # every modification, field by field, as documented (old and new values)
        expected = {" ".join(m["name_2023"].split()): {f: (v["old"], v["new"]) for f, v in m["changed"].items()}
                    for m in documented["modified"]}
        for e in by_list(modified, code):
            name = " ".join(e.data["name"].split())
            assert {f: (v["before"], v["after"]) for f, v in e.data["changed"].items()} == expected[name]
    assert not any(e.data["renamed_from"] for e in modified)  # the fixture README: no apparent renames
    snapshot = [e for e in later if e.type == "ScreeningSnapshotTaken"][-1].data
    assert (snapshot["records"], snapshot["lists"], snapshot["baseline"]) == (257, {"MEU": 71, "UVL": 186}, False)
    with open_store(config.state_path) as store:  # the projection holds the new file, record for record
        live = current_entities(store.conn, "csl")
    assert len(live) == 257
    assert sorted(fingerprint(r) for r in parse_screening_list(NEW.read_bytes()).records) == sorted(
        k.fingerprint for k in live.values())
    assert sorted(dict(k.record) for k in live.values() if k.record["name"].startswith("Bonitopto"))[0][
        "addresses"].endswith(", CZ")


def test_the_changes_name_the_parties_and_group_them_by_list_action_and_citation(two_snapshots):
    config_path, config, *_ = two_snapshots
    all_changes = [c.data for c in events(config, "ChangeDetected")]
    changes = {(c["list"], c["list_action"]): c for c in all_changes}
    # MEU rows changed addresses (and one name) as well as URLs: substantive; UVL rows only their URLs
    # (143) and one address: only Bonitopto is news.
    assert set(changes) == {("UVL", "added"), ("UVL", "removed"), ("MEU", "modified"), ("UVL", "modified")}
    meu = {c["citation"]: c for c in all_changes if c["list"] == "MEU"}  # one change per FR notice
    assert sum(c["party_count"] for c in meu.values()) == 71 and "85 FR 83799" in meu
    uvl_added = changes[("UVL", "added")]
    assert uvl_added["kind"] == "entity_list" and uvl_added["severity"] == "high"
    assert uvl_added["party_count"] == 43 and uvl_added["title"].startswith("Unverified List: 43 parties added")
    assert Counter(p["countries"][-1] for p in uvl_added["parties"]) == Counter(
        {"CN": 22, "AE": 8, "TR": 4, "SA": 2, "IL": 2, "DE": 2, "MY": 1, "CA": 1, "BG": 1})  # the README's counts
    assert [p["name"] for p in changes[("UVL", "modified")]["parties"]] == ["Bonitopto S.R.O."]
    assert {"citation", "85 FR 83799"} <= {v for i in meu["85 FR 83799"]["identifiers"] for v in (i["name"], i["key"])}
    # each change is its own incident (they are different FR notices and lists), none merged by subject
    assert len({c.data["incident"] for c in events(config, "ChangeDetected")}) == len(all_changes)
    assert changes[("UVL", "removed")]["party_count"] == 58
    # the digest (printed: no apprise configuration) lists the parties by country
    queued = [e.data for e in events(config, "AlertQueued")]
    added_alert = next(a for a in queued if a.get("party_count") == 43)
    assert {c: len(n) for c, n in added_alert["parties_by_country"].items()}["AE"] == 8
    lines = Entry_.of(added_alert).parties  # what every digest format shows, most parties first
    assert lines[0].startswith("CN (22): ") and lines[1].startswith("AE (8): Al Kabiru Trading LLC; ")


def test_an_unchanged_file_answers_304_and_parses_nothing(two_snapshots, http_server, monkeypatch):
    config_path, config, *_ = two_snapshots
    before = len(events(config))

    def refuse(*args, **kwargs):
        raise AssertionError("an unchanged file must not be parsed")

    monkeypatch.setattr(collect_module, "parse_screening_list", refuse)
    report, _ = cycle(config_path)
    assert report.status == "not_modified"
    assert http_server.requests_for("/csl.csv")[-1].headers["if-none-match"] == '"2023-11-30"'
    new = events(config)[before:]
    assert [e.type for e in new] == ["SourcePolled"] and new[0].data["not_modified"] is True
    # the same bytes without validators: recognised by the body's hash, parsed neither
    http_server.serve_file("/csl.csv", NEW, content_type="text/csv")
    report, _ = cycle(config_path)
    assert report.status == "unchanged"
    assert [e.type for e in events(config)[before + 1:]] == ["SourcePolled"]


@pytest.mark.parametrize("damage", ["cut_in_a_quoted_field", "cut_between_fields", "not_csv", "list_missing"])
def test_a_truncated_or_malformed_file_is_a_failure_that_keeps_the_previous_snapshot(two_snapshots, http_server, damage):
    config_path, config, *_ = two_snapshots
    body = NEW.read_bytes()
    if damage == "cut_in_a_quoted_field":
        body = body[: body.index(b"Bonitopto") + 30]  # inside its quoted address list
    elif damage == "cut_between_fields":
        body = body[: body.rindex(b"\n", 0, len(body) // 2) + 60]
    elif damage == "not_csv":
        body = b"<html><body>Service Unavailable</body></html>"
    else:  # a whole list gone: the MEU rows are left out
        body = b"".join(line for line in body.splitlines(keepends=True) if MEU.encode() not in line)
    with open_store(config.state_path) as store:
        kept = current_entities(store.conn, "csl")
    http_server.route("/csl.csv", body=body, content_type="text/csv", etag='"damaged"')
    report, _ = cycle(config_path)
    assert report.status == "failed" and report.message.startswith("parse_error: ")
    failed = events(config, "SourceFailed")[-1].data
    assert failed["reason"] == "parse_error" and "\n" not in failed["message"]
    with open_store(config.state_path) as store:
        assert current_entities(store.conn, "csl") == kept
    assert events(config)[-1].type == "SourceFailed"  # no entity event, no snapshot


def _json_bulk(records_csv: Path) -> bytes:
    """A JSON bulk file in the publisher's shape (csl-importers' StaticFileMaker) built from real CSV rows:
    ``id`` for ``_id``, lists for the ``; ``-joined cells, addresses as objects. No stored real
    consolidated.json exists (fixtures README); this is built here."""
    import csv
    results = []
    with records_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            row = dict(row)
            row["id"] = row.pop("_id")
            row["alt_names"] = [a.strip() for a in row["alt_names"].split(";") if a.strip()] or None
            addresses = []
            for one in [a for a in row["addresses"].split("; ") if a]:
                head, _, country = one.rpartition(", ")
                addresses.append({"address": head or None, "city": None, "state": None, "postal_code": None,
                                  "country": country} if len(country) == 2 else {"address": one})
            row["addresses"] = addresses
            results.append({k: (v if v != "" else None) for k, v in row.items()})
    return json.dumps({"results": results, "search_performed_at": "2023-11-30T00:00:00Z", "sources_used": [],
                       "offset": 0, "total": len(results)}).encode()


def test_the_json_bulk_file_of_the_same_records_reads_as_no_change(two_snapshots, http_server):
    config_path, config, *_ = two_snapshots
    http_server.route("/csl.csv", body=_json_bulk(NEW), content_type="application/json", etag='"json"')
    report, _ = cycle(config_path)
    assert (report.status, report.new, report.revised, report.removed, report.changes) == ("no_change", 0, 0, 0, 0)
    snapshot = events(config, "ScreeningSnapshotTaken")[-1].data
    assert snapshot["format"] == "json" and snapshot["records"] == 257
    assert snapshot["records_sha256"] == events(config, "ScreeningSnapshotTaken")[-2].data["records_sha256"]
    # and a truncated JSON file is a failure like a truncated CSV
    http_server.route("/csl.csv", body=_json_bulk(NEW)[:50_000], content_type="application/json", etag='"cut"')
    assert cycle(config_path)[0].status == "failed"


WATCHLIST = """
[watchlist]
threshold = 90

[[watchlist.entries]]
name = "HUAWEI TECHNOLOGIES CO LTD"   # suffix and case
country = "CN"
ref = "CUST-1"

[[watchlist.entries]]
name = "Information Technology Tianjin Phytium Co., Ltd."   # word order and suffix
ref = "CUST-2"

[[watchlist.entries]]
name = "Tianjin Photon Information Technology Co., Ltd."   # a different company, one word apart
ref = "CUST-3"

[[watchlist.entries]]
name = "Hik Vision"   # spacing
ref = "CUST-4"
"""


def test_watchlist_entries_written_differently_are_found_and_a_near_name_is_not(tmp_path, http_server):
    http_server.serve_file("/csl.csv", SAMPLE, content_type="text/csv", etag='"sample"')
    config_path = write_config(tmp_path, http_server.url_for("/csl.csv"), WATCHLIST, lists="[]")
    result = run_cli(config_path, "poll")
    assert result.returncode == 0, result.stderr
    config = load_config(config_path)
    matches = [e.data for e in events(config, "WatchlistMatched")]
    refs = Counter(m["ref"] for m in matches)
    assert refs == {"CUST-1": 3, "CUST-2": 1, "CUST-4": 1}  # three Huawei Technologies rows on the Entity List
    assert "CUST-3" not in refs
    phytium = next(m for m in matches if m["ref"] == "CUST-2")
    assert phytium["listed_name"] == "Tianjin Phytium Information Technology" and phytium["list"] == "EL"
    # each match is a high-severity alert showing both names, the score and what matched
    assert "Watchlist match: HUAWEI TECHNOLOGIES CO LTD (CUST-1)" in result.stdout
    assert "watchlist: Information Technology Tianjin Phytium Co., Ltd. (CUST-2) matches Tianjin Phytium " \
           "Information Technology (CN) — name on the EL list, score 100" in result.stdout
    alerts = [e.data for e in events(config, "AlertQueued") if e.data.get("match")]
    assert {a["severity"] for a in alerts} == {"high"} and len(alerts) == 5
    assert {a["match"]["matched_on"] for a in alerts} <= {"name", "alternate name"}
    # a second poll (304) matches nothing again; the watchlist was recorded once
    run_cli(config_path, "poll")
    assert len(events(config, "WatchlistMatched")) == 5 and len(events(config, "WatchlistChanged")) == 1


def test_watchlist_changes_are_events_and_new_entries_are_screened_against_the_latest_snapshot(tmp_path, http_server):
    http_server.serve_file("/csl.csv", SAMPLE, content_type="text/csv", etag='"sample"')
    csv_path = tmp_path / "counterparties.csv"
    csv_path.write_text("name,name_zh,country,ref\nAcme Trading,,CN,S-1\n", encoding="utf-8")
    extra = '[watchlist]\nfile = "counterparties.csv"\nignore = [{entity = "EL:sugon", ref = "S-9"}]\n'
    config_path = write_config(tmp_path, http_server.url_for("/csl.csv"), extra, lists="[]")
    assert run_cli(config_path, "poll").returncode == 0
    config = load_config(config_path)
    assert [e.data["ref"] for e in events(config, "WatchlistMatched")] == []
    csv_path.write_text("name,name_zh,country,ref\nAcme Trading,,CN,S-1\nSUGON INFORMATION INDUSTRY CO LTD,,CN,S-2\n"
                        "Sugon,,,S-9\n", encoding="utf-8")
    result = run_cli(config_path, "poll")  # the list answers 304: the new entries meet the stored snapshot
    assert result.returncode == 0, result.stderr
    changed = events(config, "WatchlistChanged")
    assert len(changed) == 2 and [e["ref"] for e in changed[-1].data["added"]] == ["S-2", "S-9"]
    matched = [e.data for e in events(config, "WatchlistMatched")]
    assert [(m["ref"], m["matched_on"], m["listed_name"]) for m in matched] == [("S-2", "alternate name", "Sugon")]
    # S-9's pair is on the ignore list
    bad = tmp_path / "bad.csv"
    bad.write_text("name,country\nAcme,UK\n", encoding="utf-8")
    (tmp_path / "sources.toml").write_text((tmp_path / "sources.toml").read_text().replace("counterparties.csv", "bad.csv"))
    refused = run_cli(config_path, "check-config")
    assert refused.returncode == 2 and "bad.csv: line 2: country \"UK\": use the ISO 3166 code 'GB'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_entities_and_screen_commands(two_snapshots, tmp_path):
    config_path, config, _first, _second, seq_after_first = two_snapshots
    lines = run_cli(config_path, "entities", "--list", "uvl", "--country", "AE", "--json").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows and all(r["list"] == "UVL" and "AE" in r["countries"] for r in rows)
    with open_store(config.state_path) as store:
        first_at = store.get([seq_after_first])[seq_after_first].recorded_at
    then = [json.loads(x) for x in run_cli(config_path, "entities", "--list", "UVL", "--as-of", first_at,
                                           "--json").stdout.splitlines()]
    assert len(then) == 201  # the 2022 file's UVL, as the monitor knew it after the first poll
    assert len(run_cli(config_path, "entities", "--list", "UVL").stdout.splitlines()) == 186
    named = [json.loads(x) for x in run_cli(config_path, "entities", "--name", "skymount", "--json").stdout.splitlines()]
    assert [r["name"] for r in named] == ["Skymount Drones"] or named[0]["name"].startswith("Skymount")
    hit = run_cli(config_path, "screen", "skymount drones limited", "--json")
    assert hit.returncode == 1 and json.loads(hit.stdout.splitlines()[0])["list"] == "UVL"
    miss = run_cli(config_path, "screen", "Acme Widgets of Ohio")
    assert miss.returncode == 0 and miss.stdout.startswith("no match for 'Acme Widgets of Ohio'")
    for args, words in ((("entities", "--list", "ELL"), "unknown list 'ELL'"),
                        (("entities", "--country", "China"), "--country: use an ISO 3166"),
                        (("entities", "--added-since", "yesterday"), "--added-since: not an ISO date")):
        bad = run_cli(config_path, *args)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr


def test_screen_before_any_snapshot_is_refused(tmp_path, http_server):
    http_server.route("/csl.csv", status=503)
    config_path = write_config(tmp_path, http_server.url_for("/csl.csv"))
    run_cli(config_path, "poll")
    refused = run_cli(config_path, "screen", "Huawei")
    assert refused.returncode == 2 and "no screening-list snapshot" in refused.stderr


# --- pure parts, on real records ------------------------------------------------------------------

def _sample():
    return parse_screening_list(SAMPLE.read_bytes()).records


def test_keys_survive_duplicate_names_and_reordering():
    records = _sample()
    first = diff({}, records)
    keys = [k for k, _ in first.added]
    assert len(set(keys)) == len(records)  # three Huawei Technologies rows, SDN/CAP sharing OFAC numbers
    assert {"SDN:#34616", "CAP:#34616"} <= set(keys)
    live = {k: Known(k, first.fingerprints[k], r) for k, r in first.added}
    again = diff(live, list(reversed(records)))
    assert again.empty and again.unchanged == len(records)


def test_a_renamed_party_is_a_modification_not_a_removal_plus_an_addition():
    records = _sample()
    live = {k: Known(k, f, r) for (k, r), f in zip(diff({}, records).added, diff({}, records).fingerprints.values())}
    sugon = next(r for r in records if r["name"] == "Sugon")
    # Built here: the same record under a new name that keeps the old one as an alternate name.
    renamed = {**sugon, "name": "Dawning Information Industry Co., Ltd.", "alt_names": "Sugon"}
    result = diff(live, [renamed if r is sugon else r for r in records])
    assert (len(result.added), len(result.removed), len(result.modified)) == (0, 0, 1)
    assert result.modified[0].renamed_from == "Sugon" and result.modified[0].key == "EL:sugon"
    # a different party replacing one (nothing in common) stays a removal plus an addition
    other = {**sugon, "name": "Acme Widgets", "addresses": "1 Main St, Springfield, US"}
    result = diff(live, [other if r is sugon else r for r in records])
    assert (len(result.added), len(result.removed), len(result.modified)) == (1, 1, 0)


def test_traditional_and_simplified_chinese_names_meet():
    record = next(r for r in _sample() if r["name"].startswith("Huawei Technologies Co., Ltd."))
    # Built here: the real record with a Simplified Chinese alternate name (the CSL rows found carry none).
    entity = {**party({**record, "alt_names": "华为技术有限公司"}, "EL:huawei"), "source": "csl"}
    screener = Screener([entity], threshold=90)
    found = screener.screen(Entry("Acme", name_zh="華為技術股份有限公司"))
    assert [(m.candidate.matched_on, m.score) for m in found] == [("Chinese name", 100.0)]
    assert screener.screen(Entry("華為雲計算技術有限公司")) == []  # Huawei Cloud: another company


def test_an_entity_list_change_joins_the_incident_of_the_fr_rule_that_made_it(tmp_path):
    detector = make_detector(load_config(write_config(tmp_path, "https://example.org/csl.csv")))
    # The Federal Register document of 85 FR 51603 (Huawei affiliates, Aug 2020), as the FR collector
    # records a document; built here, the FR fixtures do not hold it.
    item = type("Item", (), {"type": ITEM_DISCOVERED, "stream": "item:fr-bis:2020-18213", "event_id": "fr-1", "data": {
        "source": "fr-bis", "key": "2020-18213", "title": "Addition of Huawei Non-U.S. Affiliates to the Entity List",
        "url": "https://www.federalregister.gov/documents/2020/08/20/2020-18213/x", "summary": "", "language": "en",
        "published": "2020-08-20", "updated": None,
        "fields": {"document_number": "2020-18213", "citation": "85 FR 51603", "type": "Rule"}}})()
    fr_changes = detector.detect(item, SourceInfo("fr-bis", "federal_register", True, structured=True))
    fold = IncidentFold()
    fr_changes, _ = assign_all(fold, fr_changes, today="2020-08-20", at="2020-08-20T12:00:00Z")
    records = _sample()
    huawei = [r for r in records if r.get("federal_register_notice", "").rstrip().endswith("85 FR 51603")]
    assert len(huawei) > 10
    rest = [r for r in records if r not in huawei]
    first = diff({}, rest)
    live = {k: Known(k, first.fingerprints[k], r) for k, r in first.added}
    changes = entity_changes(diff(live, records), source="csl", url=None, at="2020-08-21T00:00:00Z",
                             snapshot_event="screening:csl/abc", catalog=detector.catalog, gazetteer=detector.gazetteer)
    changes, incident_events = assign_all(fold, changes, today="2020-08-21", at="2020-08-21T00:00:00Z")
    el_added = next(c.data for c in changes if c.data["list"] == "EL" and c.data["citation"] == "85 FR 51603")
    assert el_added["incident"] == fr_changes[0].data["incident"]
    attached = next(e.data for e in incident_events if e.data.get("change_id") == el_added["id"])
    assert attached["attached_by"] == "citation:85 FR 51603"
    assert "huawei" in el_added["companies"] and "CN" in el_added["countries"]


def test_hostile_records_cost_only_themselves():
    header, row = SAMPLE.read_text(encoding="utf-8").split("\n", 2)[:2]
    cells = next(__import__("csv").reader([row]))
    nameless = cells.copy()
    nameless[5] = ""
    hostile = cells.copy()
    hostile[5] = "Evil\x00 Corp\x1b[31m " + "X" * 30_000  # NUL, an escape sequence, an absurd length

    def line(values):
        return ",".join('"' + v.replace('"', '""') + '"' for v in values)

    body = "\n".join([header, line(cells), line(nameless), line(hostile)]).encode()
    parsed = parse_screening_list(body)
    assert len(parsed.records) == 2 and parsed.skipped == 1
    assert parsed.warnings[0] == "skipped record 2: it has no name"
    evil = parsed.records[1]["name"]
    assert "\x00" not in evil and "\x1b" not in evil and len(evil) == 20_000
    key = diff({}, parsed.records).added[1][0]
    assert len(key) <= 200 and "\n" not in key
    with pytest.raises(Exception, match="holds no records"):
        parse_screening_list(header.encode() + b"\n")


LAZY_FUZZ = """
import json, sys
import monitor.daemon, monitor.polling  # the daemon's modules, which import screening and watchlist
from monitor.detect.catalog import Catalog
from monitor.detect.changes import Detector, SourceInfo
from monitor.detect.gazetteer import Gazetteer
from monitor.detect.watchlist import Entry, Screener
from monitor.events import ITEM_DISCOVERED, NewEvent, derive_event_id
from monitor.observation import Observation

obs = Observation(source="news", key="n1", title="US slows licences for Nvidia AI chip sales to the UAE",
                  url="https://news.example/1", summary="Officials are holding up export licences.")
stream = f"item:news:n1"
event = NewEvent(ITEM_DISCOVERED, stream, {"source": "news", "key": "n1", "content_hash": obs.content_hash(),
                                           **obs.content()}, derive_event_id(stream, ITEM_DISCOVERED, obs.content_hash()))
found = Detector(Catalog.load(), Gazetteer.load()).detect(event, SourceInfo("news", "feed", False))
loaded = {"changes": len(found), "after detecting": "rapidfuzz" in sys.modules}
screener = Screener([{"key": "EL:huawei", "source": "csl", "list": "EL", "name": "Huawei Technologies Co., Ltd.",
                      "alt_names": [], "countries": ["CN"]}])
loaded["matches"] = len(screener.screen(Entry("Huawei Technologeis Co Ltd")))  # a typo: scored, not exact
loaded["after screening"] = "rapidfuzz" in sys.modules
print(json.dumps(loaded))
"""


def test_rapidfuzz_is_imported_when_a_name_is_first_screened_not_by_polling_and_detecting():
    """rapidfuzz costs ~4 MB of resident memory a daemon that polls and detects, but screens
    nothing, never uses: it is imported at the first screening (which then finds the typo)."""
    done = subprocess.run([sys.executable, "-c", LAZY_FUZZ], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert loaded["changes"] >= 1
    assert loaded == {"changes": loaded["changes"], "after detecting": False, "matches": 1, "after screening": True}
