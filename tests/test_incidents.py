"""Incidents: one regulatory event, followed through its lifecycle, one thread of alerts.

End to end against loopback sources serving the recorded Federal Register documents, a real
SQLite log and the real CLI; the fold's own rules are checked on plain changes.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from monitor.config import load_config
from monitor.daemon import open_store, poll
from monitor.detect.catalog import Catalog
from monitor.detect.changes import Detector, SourceInfo
from monitor.detect.classify import classify
from monitor.detect.gazetteer import Gazetteer
from monitor.detect.incidents import (
    LONG_DAYS, IncidentFold, assign_all, concepts_in, concepts_of, terms_of, title_words, wanted_keys,
)
from monitor.events import ITEM_DISCOVERED, NewEvent
from monitor.projections import Projector, default_projections, replay
from monitor.projections.incidents import incident_rows, incident_timeline
from monitor.reminders import remind

FR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "federal-register"


def at(text: str):
    moment = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    return lambda: moment


def ai_diffusion() -> dict:
    page = json.loads((FR / "fr_documents_bis_advanced_computing_page1.json").read_text())
    return next(r for r in page["results"] if r["document_number"] == "2025-00636")


def correction_of(doc: dict) -> dict:
    """A correction document of the rule, shaped as the API gives one (type Correction, C1- number)."""
    fixed = copy.deepcopy(doc)
    fixed.update({"document_number": "C1-2025-00636", "type": "Correction", "action": "Interim final rule; correction.",
                  "correction_of": "2025-00636", "publication_date": "2025-01-21", "citation": "90 FR 7000",
                  "title": "Framework for Artificial Intelligence Diffusion; Correction",
                  "html_url": "https://www.federalregister.gov/documents/2025/01/21/C1-2025-00636/framework"})
    return fixed


def config_for(http_server, tmp_path) -> Path:
    http_server.serve_file("/pi.json", FR / "fr_public_inspection_current.json")
    http_server.route("/doc.json", body=json.dumps(ai_diffusion()), content_type="application/json")
    http_server.route("/correction.json", body=json.dumps(correction_of(ai_diffusion())), content_type="application/json")
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[monitor]
state_dir = "state"
[[sources]]
id = "pi"
kind = "federal_register"
url = "{http_server.url_for('/pi.json')}"
[[sources]]
id = "fr"
kind = "federal_register"
url = "{http_server.url_for('/doc.json')}"
[[sources]]
id = "corr"
kind = "federal_register"
url = "{http_server.url_for('/correction.json')}"
[alerts]
digest_window = "0s"
[[alerts.routes]]
tag = "compliance"
group_by = "region"
[[alerts.routes]]
tag = "everything"
""", encoding="utf-8")
    return path


def cli(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ})


def test_public_inspection_publication_correction_and_effective_date_are_one_incident_alerted_once_per_move(
        http_server, tmp_path, capsys):
    path = config_for(http_server, tmp_path)
    config = load_config(path)
    poll(config, config.state_path, only=["pi"], clock=at("2025-01-10T17:00:00"))
    poll(config, config.state_path, only=["fr"], clock=at("2025-01-12T09:00:00"))
    poll(config, config.state_path, only=["fr"], clock=at("2025-01-12T10:00:00"))  # the same again: nothing
    poll(config, config.state_path, only=["corr"], clock=at("2025-01-12T11:00:00"))
    with open_store(config.state_path, clock=at("2025-01-13T06:00:00")) as store:
        remind(store, datetime(2025, 1, 13).date())

    listed = [json.loads(line) for line in cli(path, "incidents", "--json").stdout.splitlines()]
    assert len(listed) == 1
    (incident,) = listed
    assert incident["rule"] == "us-ai-diffusion" and incident["status"] == "effective"
    assert [(i["source"], i["attached_by"]) for i in incident["items"]] == [
        ("pi", "opened"), ("fr", "rule:us-ai-diffusion"), ("corr", "rule:us-ai-diffusion")]
    timeline = [json.loads(line) for line in cli(path, "incident", incident["id"], "--json").stdout.splitlines()]
    assert [e["status"] for e in timeline if e["type"] == "status"] == [
        "on_public_inspection", "published", "corrected", "effective"]

    alerts = [json.loads(line) for line in cli(path, "alerts", "--json").stdout.splitlines()]
    incident_alerts = [a for a in alerts if a["cause"] == "incident"]
    per_status = Counter((a["tag"], a["incident_status"]) for a in incident_alerts)
    assert set(per_status.values()) == {1}, per_status  # once per tag and status, never twice
    assert {s for _tag, s in per_status} == {"on_public_inspection", "published", "corrected"}
    assert {a["tag"] for a in incident_alerts} == {"compliance", "everything"}
    assert all(a["incident"] == incident["id"] for a in incident_alerts)
    changes = [json.loads(line) for line in cli(path, "changes", "--json").stdout.splitlines()]
    assert {c["incident"] for c in changes} == {incident["id"]}

    # The Atom feed has one entry per incident update, beside the changes' own entries.
    import feedparser

    from monitor.views import changes_feed
    with open_store(config.state_path) as store:
        body = changes_feed(store.conn, feed_url="http://127.0.0.1/changes.atom", now=datetime.now(timezone.utc))
    feed = feedparser.parse(body)
    assert not feed.bozo
    updates = [e for e in feed.entries if ":incident/" in e.id]
    assert updates, [e.id for e in feed.entries]
    assert [e.title.split(":")[0] for e in updates] == [
        "[HIGH] effective", "[HIGH] corrected", "[HIGH] published", "[HIGH] on public inspection"]
    assert "Reported by: pi (en, first report); fr (en, rule us-ai-diffusion)" in updates[1].summary


def test_replay_and_as_of_reproduce_the_incidents_exactly(http_server, tmp_path):
    path = config_for(http_server, tmp_path)
    config = load_config(path)
    poll(config, config.state_path, only=["pi"], clock=at("2025-01-10T17:00:00"))
    with open_store(config.state_path) as store:
        after_first = store.head().seq
    poll(config, config.state_path, only=["fr", "corr"], clock=at("2025-01-12T09:00:00"))
    with open_store(config.state_path) as store:
        live = {d["projection"]: d["digest"] for d in Projector(default_projections()).digests(store.conn)}
        again = replay(store, default_projections())
        assert {p["projection"]: p["digest"] for p in again.projections} == live
        assert any(p["projection"] == "incidents" and p["rows"] > 0 for p in again.projections)
        early = replay(store, default_projections(), until=after_first, out=tmp_path / "early.db")
    import sqlite3
    with sqlite3.connect(early.database) as conn:
        (then,) = incident_rows(conn)
    assert then["status"] == "on_public_inspection" and len(then["items"]) == 1


def detector() -> Detector:
    return Detector(Catalog.load(), Gazetteer.load())


def item_event(source: str, key: str, title: str, summary: str = "", published: str = "2024-05-30",
               language: str = "en", fields: dict | None = None) -> NewEvent:
    data = {"source": source, "key": key, "title": title, "url": f"https://news.example/{key}", "summary": summary,
            "language": language, "published": published, "updated": None, "fields": fields or {},
            "content_hash": key}
    return NewEvent(ITEM_DISCOVERED, f"item:{source}:{key}", data, f"item:{source}:{key}/1")


def assign(events: list[NewEvent], fold: IncidentFold | None = None) -> tuple[list[dict], IncidentFold]:
    fold = fold or IncidentFold()
    det = detector()
    changes = [c for e in events for c in det.detect(e, SourceInfo(e.data["source"], "feed", False))]
    assigned, _events = assign_all(fold, changes, today="2026-12-01", at="2026-12-01T00:00:00Z")
    return [c.data for c in assigned], fold


def test_an_english_and_a_chinese_report_of_the_same_slowdown_are_one_incident():
    changes, fold = assign([
        item_event("news-en", "a", "US slows licenses for Nvidia, AMD AI chip sales to Middle East"),
        item_event("news-zh", "b", "美国放缓对中东AI芯片出口许可 英伟达和AMD受影响", published="2024-05-31", language="zh"),
        item_event("news-zh", "c", "美國放慢對中東AI晶片出口許可 輝達、超微受影響", published="2024-06-01", language="zh"),
    ])
    assert [c["kind"] for c in changes] == ["license_slowdown"] * 3
    assert len({c["incident"] for c in changes}) == 1
    (incident,) = fold.incidents.values()
    assert incident.status == "reported" and {"nvidia", "amd"} <= incident.companies


def test_the_same_subject_a_season_later_is_another_incident():
    changes, _fold = assign([
        item_event("news-en", "a", "US slows licenses for Nvidia, AMD AI chip sales to Middle East"),
        item_event("news-en", "b", "Nvidia, AMD chip shipments to the Middle East held up as US licences stall",
                   published="2024-09-30"),
    ])
    assert len({c["incident"] for c in changes}) == 2


def test_a_report_naming_only_the_threads_subject_terms_joins_it_weeks_later_and_places_alone_do_not():
    changes, _fold = assign([
        item_event("news-en", "a", "US orders EDA firms to stop selling chip design software to China",
                   "Licences are now required for chip design software sales to China.", published="2025-05-29"),
        item_event("news-zh", "b", "美國取消對中國銷售晶片設計軟體的出口許可要求", "美国政府已取消对中国销售晶片设计软体的出口许可要求。",
                   published="2025-07-03", language="zh"),
        item_event("news-en", "c", "US slows licenses for AI chip sales to the UAE", published="2025-05-29"),
        item_event("news-en", "d", "US licences for AI chip sales to the UAE still stalled", published="2025-07-03"),
    ])
    assert [c["kind"] for c in changes[:2]] == ["license_policy", "license_policy"]
    assert changes[0]["incident"] == changes[1]["incident"]  # five weeks apart, all of its terms shared
    assert changes[2]["incident"] != changes[3]["incident"]  # a place is not a term: a fortnight only


def test_a_poll_reads_every_incident_a_change_could_join_by_subject():
    # the fold in a poll holds only the candidates read from the store: the window must be the longest
    _keys, windows = wanted_keys([{"source": "s", "key": "k", "published": "2025-07-03", "identifiers": []}], "2026-12-01")
    assert LONG_DAYS > 14 and windows == [("2025-05-19", "2025-08-17")]


def test_reports_that_share_only_a_subject_term_across_languages_are_one_incident():
    # No company, only the US and China named: what ties them is "analog chips" / 模拟芯片 / 類比晶片.
    changes, _fold = assign([
        item_event("news-en", "a", "China launches anti-dumping probe into U.S. analog chips", published="2025-09-13"),
        item_event("news-zh", "b", "商务部对原产于美国的进口相关模拟芯片发起反倾销调查", published="2025-09-13", language="zh"),
        item_event("news-zh", "c", "中國對美國類比晶片發起反傾銷調查", published="2025-09-14", language="zh"),
    ])
    assert [c["kind"] for c in changes] == ["countermeasure"] * 3
    assert len({c["incident"] for c in changes}) == 1


def test_a_subject_term_alone_does_not_join_another_kind_of_event_or_another_subject():
    changes, _fold = assign([
        item_event("news-en", "a", "China launches anti-dumping probe into U.S. analog chips", published="2025-09-13"),
        item_event("news-en", "b", "China to require export permits for graphite, a key battery material",
                   "The new licensing requirements for some graphite products are seen as a response to U.S. "
                   "curbs on chip technology.", published="2025-09-14"),
    ])
    assert [c["kind"] for c in changes] == ["countermeasure"] * 2
    assert len({c["incident"] for c in changes}) == 2


def test_a_slowdown_follow_up_naming_other_companies_joins_by_its_destination():
    changes, _fold = assign([
        item_event("news-en", "a", "US Slows Licenses for Nvidia, AMD AI Chip Sales to Middle East"),
        item_event("news-en", "b", "Intel, Cerebras also face delays on AI chip sales to Gulf customers",
                   published="2024-05-31"),
    ])
    assert [c["kind"] for c in changes] == ["license_slowdown"] * 2
    assert len({c["incident"] for c in changes}) == 1


def test_subject_terms_are_read_in_both_scripts_and_as_whole_words():
    assert "#hbm" in title_words("美國限制HBM出口中國") and "#hbm" in title_words("高頻寬記憶體")
    assert "#gallium" in title_words("China curbs gallium exports") and "#gallium" in title_words("镓锗出口管制")
    assert not terms_of(title_words("a widening gulf over H2O and HBMX"))


def test_an_english_and_a_chinese_report_that_share_only_common_words_are_one_incident():
    # A bill no catalog knows, no company, no subject term: only what the titles and leads say
    # ("bill", "senator", "location", "smuggling") crosses from English to Chinese, as concepts.
    changes, fold = assign([
        item_event("news-en", "a", "Senator introduces bill requiring location tracking for AI chips",
                   "The bill would require export-controlled processors to carry location verification, to curb "
                   "smuggling.", published="2025-05-09"),
        item_event("news-zh", "b", "美议员提出法案 要求出口AI芯片具备位置验证功能", "法案要求先进芯片加装位置验证机制，以防止走私。",
                   published="2025-05-12", language="zh"),
    ])
    assert [c["kind"] for c in changes] == ["legislation"] * 2
    assert {"+bill", "+location", "+smuggling"} <= set(changes[1]["concepts"])
    assert len({c["incident"] for c in changes}) == 1
    (incident,) = fold.incidents.values()
    assert {"+bill", "+lawmaker", "+location"} <= incident.concepts


def test_common_words_alone_do_not_join_two_events_that_share_fewer_than_three():
    changes, _fold = assign([
        item_event("news-en", "a", "Senator introduces bill requiring location tracking for AI chips",
                   published="2025-05-09"),
        item_event("news-en", "b", "House passes bill on chip research funding", published="2025-05-12"),
    ])
    assert [c["kind"] for c in changes] == ["legislation"] * 2
    assert len({c["incident"] for c in changes}) == 2


def test_a_count_in_a_title_is_a_subject_term_in_every_language_but_years_days_and_amounts_are_not():
    counts = lambda title: {w for w in terms_of(title_words(title)) if w.startswith("#n")}  # noqa: E731
    assert counts("Commerce adds 28 Chinese firms to Entity List") == {"#n28"}
    assert counts("28家中企被美国商务部列入“实体清单”") == {"#n28"}
    assert counts("adding twenty-eight entities to the Entity List") == {"#n28"}
    assert not counts("Rules effective July 23, 2025: $800 million hit, 25% tariff, 10月7日, 2025年第61号, H20")


def test_two_entity_list_reports_of_one_count_meet_across_languages_and_another_count_stays_apart():
    changes, _fold = assign([
        item_event("news-en", "a", "U.S. adds 28 Chinese firms to trade blacklist",
                   "The Commerce Department added 28 entities to the Entity List.", published="2019-10-08"),
        item_event("news-zh", "b", "28家中企被美国商务部列入实体清单", published="2019-10-09", language="zh"),
        item_event("news-en", "c", "Washington blacklists 11 more Chinese companies",
                   "The Commerce Department put 11 companies on the Entity List.", published="2019-10-10"),
    ])
    assert [c["kind"] for c in changes] == ["entity_list"] * 3
    assert changes[0]["incident"] == changes[1]["incident"] != changes[2]["incident"]


def test_concepts_are_whole_words_in_latin_and_found_anywhere_in_both_chinese_scripts():
    assert concepts_in("u.s. blacklists subsidiaries") == {"+blacklist", "+subsidiary"}
    assert not concepts_in("billion-dollar billboards for subsidiarywise rebans")
    assert concepts_of(title_words("美國擴大出口黑名單範圍 涵蓋子公司")) == {"+blacklist", "+expand", "+subsidiary"}
    assert concepts_of(title_words("美国扩大出口黑名单范围 涵盖子公司")) == {"+blacklist", "+expand", "+subsidiary"}


def test_two_entity_list_rules_on_the_same_day_are_two_incidents():
    def rule(number: str, citation: str) -> NewEvent:
        return item_event("fr-bis", number, "Additions to the Entity List", "BIS amends the EAR by adding entities "
                          "under destinations of China to the Entity List.", published="2025-03-28",
                          fields={"document_number": number, "type": "Rule", "action": "Final rule.",
                                  "citation": citation, "docket_ids": [], "rins": []})
    det = detector()
    changes = [c for e in (rule("2025-05148", "90 FR 14034"), rule("2025-05149", "90 FR 14050"))
               for c in det.detect(e, SourceInfo("fr-bis", "federal_register", True, structured=True))]
    assigned, _events = assign_all(IncidentFold(), changes, today="2025-03-28", at="2025-03-28T12:00:00Z")
    assert [c.data["kind"] for c in assigned] == ["entity_list", "entity_list"]
    assert len({c.data["incident"] for c in assigned}) == 2


def test_a_story_that_reports_a_slowdown_and_a_bill_attaches_to_both_incidents():
    changes, fold = assign([
        item_event("news-en", "a", "US slows licences for Nvidia AI chips to the Gulf as lawmakers introduce bill "
                   "to curb AI model exports",
                   "Officials have slowed licences for Nvidia shipments to the UAE and Saudi Arabia. "
                   "Separately, House lawmakers introduced a bill to let Commerce restrict exports of AI models."),
    ])
    kinds = {c["kind"] for c in changes}
    assert kinds == {"license_slowdown", "legislation"}, changes
    assert len({c["incident"] for c in changes}) == 2 and len(fold.incidents) == 2


def test_a_story_of_two_known_rules_announced_together_attaches_to_both_rules_incidents():
    # The December 2024 package: the FDP/HBM rule and the 140-entity Entity List rule, one story.
    changes, fold = assign([item_event(
        "news-en", "pkg", "U.S. adds 140 entities to trade blacklist in sweeping chip crackdown",
        "The additions to the Entity List, mostly Chinese chip-equipment makers, accompany new controls on "
        "high-bandwidth memory (HBM) exports.", published="2024-12-02")])
    assert [(c["kind"], c["rule"]) for c in changes] == [("entity_list", "us-entity-list-2024-12"),
                                                        ("new_rule", "us-fdp-hbm-2024")], changes
    assert changes[1]["linked_by"] == "keyword" and changes[1]["identifiers"] == []
    assert any(e.get("value") == "HBM" or "high-bandwidth" in str(e.get("value")) for e in changes[1]["evidence"])
    assert len({c["incident"] for c in changes}) == 2 and len(fold.incidents) == 2
    assert {i.rule for i in fold.incidents.values()} == {"us-entity-list-2024-12", "us-fdp-hbm-2024"}


def test_a_known_rule_named_as_background_long_after_its_dates_is_not_a_further_event():
    # The same words a year later: the HBM controls are background, not news of the day.
    changes, _fold = assign([item_event(
        "news-en", "later", "U.S. adds 140 entities to trade blacklist in sweeping chip crackdown",
        "The additions to the Entity List build on the controls on high-bandwidth memory (HBM) exports of "
        "December 2024.", published="2026-01-20")])
    assert len(changes) == 1, changes


def test_a_federal_register_document_is_one_event_even_when_it_names_another_rule():
    det = detector()
    event = item_event("fr-bis", "2025-00711", "Implementation of Additional Due Diligence Measures for Advanced Computing "
                       "Integrated Circuits", "This rule also extends the comment period of the HBM controls "
                       "(foreign direct product rule) to March 14, 2025.", published="2024-12-06",
                       fields={"document_number": "2025-00711", "type": "Rule", "action": "Interim final rule."})
    changes = det.detect(event, SourceInfo("fr-bis", "federal_register", True, structured=True))
    assert len(changes) == 1


def test_parties_named_in_passing_in_a_summary_do_not_keep_two_reports_of_one_listing_apart():
    changes, fold = assign([
        item_event("news-en", "a", "U.S. blacklists China's Zhipu AI, adds Sophgo over Huawei chip link",
                   "Sophgo was added after a TSMC-made die linked to the company turned up in Huawei's Ascend 910B.",
                   published="2025-01-16"),
        item_event("news-zh", "b", "美国将腾讯支持的初创公司智谱AI拉入黑名单",
                   "智谱AI被视为中国开发类似OpenAI ChatGPT模型的领先新兴公司之一。", published="2025-01-16", language="zh"),
    ])
    assert [c["kind"] for c in changes] == ["entity_list", "entity_list"]
    assert len({c["incident"] for c in changes}) == 1, changes


def test_a_passing_mention_opens_no_incident():
    changes, fold = assign([item_event("news-en", "m", "Export controls: what Nvidia's China slump tells us")])
    assert all(c["kind"] == "mention" and c["incident"] is None for c in changes) and not fold.incidents


def test_modal_reports_are_possible_rules_not_new_rules():
    for title in ("US mulls new restrictions on AI chip exports to China",
                  "US plans to impose new curbs on chip exports to Gulf states",
                  "美国拟出台新规 限制向中国出口人工智能芯片"):
        decision = classify({"title": title, "summary": ""}, official=False, rule_id=None)
        assert decision is not None and decision.kind == "proposed_rule" and decision.modality == "reported", title
    decision = classify({"title": "U.S. unveils sweeping export curbs to slow China's chip industry", "summary": ""},
                        official=False, rule_id=None)
    assert decision.kind == "new_rule" and decision.modality is None


def test_an_official_rule_with_nothing_of_chips_or_cloud_in_it_is_not_high():
    syria = {"title": "Revision of Export and Reexport License Requirements for Syria",
             "summary": "BIS amends the EAR to ease licence requirements for exports of civil telecommunications "
                        "and humanitarian items to Syria.",
             "fields": {"type": "Rule", "action": "Final rule."}}
    chips = {"title": "Revisions to Controls on Advanced Computing Items",
             "summary": "BIS amends the EAR controls on advanced computing chips and semiconductors.",
             "fields": {"type": "Rule", "action": "Final rule."}}
    assert classify(syria, official=True, rule_id=None).severity == "medium"
    assert classify(chips, official=True, rule_id=None).severity == "high"


def test_a_committee_meeting_notice_is_a_mention_attached_to_nothing_it_does_not_name():
    changes, fold = assign([item_event(
        "fr-bis", "2024-12511", "Information Systems Technical Advisory Committee; Notice of Partially Closed Meeting",
        "The Information Systems Technical Advisory Committee will meet to discuss export controls on computing.",
        fields={"document_number": "2024-12511", "type": "Notice", "action": "Notice of partially closed meeting."})])
    assert [c["kind"] for c in changes] == ["mention"] and not fold.incidents


def test_a_digest_lists_each_incident_once_under_its_most_specific_group(http_server, tmp_path):
    from monitor.alerts.render import render_digest

    alerts = [
        {"cause": "incident", "incident": "inc-1", "incident_status": "on_public_inspection", "status_from": None,
         "severity": "high", "kind": "new_rule", "title": "Framework", "group_label": "Gulf states",
         "also": ["Middle East"], "alert_id": "alr-1", "change_id": "chg-1"},
        {"cause": "incident", "incident": "inc-1", "incident_status": "published", "status_from": "on_public_inspection",
         "severity": "high", "kind": "new_rule", "title": "Framework", "group_label": "Gulf states",
         "also": ["Middle East"], "alert_id": "alr-2", "change_id": "chg-2",
         "reports": [{"source": "fr-public-inspection", "language": "en", "attached_by": "opened"},
                     {"source": "news-zh", "language": "zh", "attached_by": "subject"}]},
        {"cause": "incident", "incident": "inc-2", "incident_status": "reported", "severity": "medium",
         "kind": "license_slowdown", "title": "Slowdown", "group_label": "Other", "alert_id": "alr-3",
         "change_id": "chg-3"},
    ]
    message = render_digest(alerts, group_label="Gulf states", group_by="region", group="all", fmt="text")
    assert message.title == "Export controls: 2 incidents (1 high)"
    assert message.body.count("Framework") == 1
    assert "new: on public inspection → published" in message.body
    assert "also under: Middle East" in message.body and "news-zh (zh, same subject and fortnight)" in message.body
    assert message.body.index("== Gulf states ==") < message.body.index("== Other ==")


def test_topics_are_data_and_the_configuration_adds_to_them(tmp_path):
    from monitor.daemon import make_detector

    drones = item_event("fr-bis", "2026-01234", "Revisions to Export Controls on Unmanned Aircraft Systems",
                        "BIS amends the EAR controls on civil drones and their parts.", published="2026-02-02",
                        fields={"document_number": "2026-01234", "type": "Rule", "action": "Final rule."})
    official = SourceInfo("fr-bis", "federal_register", True, structured=True)
    (plain,) = detector().detect(drones, official)
    assert plain.data["kind"] == "new_rule" and plain.data["severity"] == "medium"  # not our topic
    path = tmp_path / "sources.toml"
    path.write_text('[monitor]\ntopics = ["drone*", "unmanned aircraft"]\n', encoding="utf-8")
    (watched,) = make_detector(load_config(path)).detect(drones, official)
    assert watched.data["severity"] == "high"


def test_a_report_in_a_later_poll_joins_the_thread_from_the_log_and_sends_nothing_more(http_server, tmp_path):
    def feed(*items: tuple[str, str]) -> str:
        entries = "".join(f"<item><title>{title}</title><link>https://news.example/{guid}</link><guid>{guid}</guid>"
                          "<pubDate>Thu, 30 May 2024 12:00:00 GMT</pubDate></item>" for guid, title in items)
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>{entries}</channel></rss>'

    english = ("n1", "US slows licences for Nvidia, AMD AI chip sales to UAE and Saudi Arabia")
    chinese = ("n2", "美國放慢輝達、超微AI晶片出口阿聯酋許可審批")
    http_server.route_sequence("/news.rss", [{"body": feed(english), "content_type": "application/rss+xml"},
                                             {"body": feed(english, chinese), "content_type": "application/rss+xml"}])
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[monitor]
state_dir = "state"
[[sources]]
id = "news"
kind = "feed"
url = "{http_server.url_for('/news.rss')}"
[alerts]
digest_window = "0s"
[[alerts.routes]]
tag = "compliance"
group_by = "region"
""", encoding="utf-8")
    config = load_config(path)
    poll(config, config.state_path, clock=at("2024-05-30T13:00:00"))
    poll(config, config.state_path, clock=at("2024-05-30T14:00:00"), force=True)
    (incident,) = [json.loads(line) for line in cli(path, "incidents", "--json").stdout.splitlines()]
    assert [(i["key"], i["language"], i["attached_by"]) for i in incident["items"]] == [
        ("n1", "en", "opened"), ("n2", "zh", "subject")]
    alerts = [json.loads(line) for line in cli(path, "alerts", "--json").stdout.splitlines()]
    assert [(a["tag"], a["incident_status"]) for a in alerts] == [("compliance", "reported")]


def test_incident_filters_take_names_in_any_case_and_refuse_typos(http_server, tmp_path):
    path = config_for(http_server, tmp_path)
    config = load_config(path)
    poll(config, config.state_path, only=["pi", "fr"], clock=at("2025-01-12T09:00:00"))
    (found,) = [json.loads(line) for line in cli(path, "incidents", "--json", "--rule", "US-AI-Diffusion").stdout.splitlines()]
    assert found["rule"] == "us-ai-diffusion"
    assert cli(path, "incidents", "--status", "published", "--json").stdout.strip()
    refused = cli(path, "incidents", "--region", "ai-diffusion-tier-11")
    assert refused.returncode == 2 and "did you mean" in refused.stderr and "Traceback" not in refused.stderr
    missing = cli(path, "incident", "inc-nosuch")
    assert missing.returncode == 2 and "no incident 'inc-nosuch'" in missing.stderr


def test_a_change_recorded_before_incidents_is_read_as_the_current_version(tmp_path):
    """ChangeDetected v1 (before incidents) is upcast on read: the stored bytes stay as they were."""
    from monitor.events import CHANGE_DETECTED, CHANGE_DETECTED_VERSION
    from monitor.store import verify

    old = {"id": "chg-000000000001", "kind": "new_rule", "severity": "high", "title": "Old rule", "url": None,
           "source": "fr-bis", "key": "2022-21658", "published": "2022-10-13", "language": "en", "rule": None,
           "rule_title": None, "linked_by": None, "regions": [], "countries": [], "companies": [], "deadlines": [],
           "evidence": [], "revision": False, "cause": "item:fr-bis:2022-21658/abc"}
    with open_store(tmp_path) as store:
        store.append([NewEvent(CHANGE_DETECTED, "change:fr-bis:2022-21658", old, "change:fr-bis:2022-21658/old",
                               schema_version=1)])
        (event,) = store.read(types=[CHANGE_DETECTED])
        assert CHANGE_DETECTED_VERSION == 2 and event.schema_version == 2
        assert event.data["incident"] is None and event.data["identifiers"] == [] and event.data["modality"] is None
        assert json.loads(event.raw_data) == old  # the row itself is never rewritten
        assert verify(store.conn).ok
        (row,) = [r for r in store.conn.execute("SELECT schema_version FROM events WHERE type = ?", (CHANGE_DETECTED,))]
        assert row == (1,)
