"""Classification: unit cases in both languages, and the literal prefilter never changes a result."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from monitor.detect import classify as module
from monitor.detect.classify import classify

CORPUS = Path(__file__).parent / "corpus" / "items.jsonl"


def kind(title, summary="", **options):
    decision = classify({"title": title, "summary": summary, "fields": options.pop("fields", {})},
                        official=options.pop("official", False), rule_id=options.pop("rule_id", None), **options)
    return decision and decision.kind


@pytest.mark.parametrize("title, expected", [
    ("US slows licences for Nvidia AI chip sales to the UAE", "license_slowdown"),
    ("美國放慢輝達晶片對阿聯酋出口許可審批", "license_slowdown"),
    ("U.S. adds China's SMIC to Entity List", "entity_list"),
    ("China adds US defense firms to its unreliable entity list", "countermeasure"),
    ("商务部 海关总署公告 关于对镓、锗相关物项实施出口管制的公告", "countermeasure"),
    ("BIS rescinds the AI diffusion rule", "rescission"),
    ("Lawmakers introduce bill to tighten chip export controls", "legislation"),
    ("Committee backs H. R. 8315 to curb AI chip exports", "legislation"),  # a space after the dot
    ("U.S. proposes rule requiring cloud providers to verify foreign customers", "proposed_rule"),
    ("Biden administration delays approval of Nvidia chip exports to Saudi Arabia", "license_slowdown"),
    ("US lifts restrictions on EDA software sales to China after trade truce", "rescission"),
    ("Japan's METI adds 23 items to chip equipment export control list, effective July 23", "new_rule"),
    ("美国商务部将多家中国实体列入出口管制实体清单", "entity_list"),
    ("美國撤銷AI擴散規則 改採雙邊協議", "rescission"),
    ("中国宣布对稀土相关技术实施出口管制", "countermeasure"),
    # China as the one who controls exports is a countermeasure, not a new (US) rule
    ("China announces export controls on drone equipment", "countermeasure"),
    ("China imposes export controls on lithium batteries", "countermeasure"),
    ("China's commerce ministry adjusts UAV export controls", "countermeasure"),
    ("中国商务部宣布对无人机相关物项实施出口管制", "countermeasure"),
    ("美將27個中巴等國實體列入實體名單 涉助中國軍方量子計算", "entity_list"),  # Taiwan's word for the US list
    ("美国宣布将28家中国企业实体加入实体管制清单", "entity_list"),
    ("Nvidia says China sales hit by U.S. export controls", "mention"),
    ("Apple unveils new iPhone with faster A19 chip", None),
    ("台積電宣布在美國亞利桑那州加碼投資", None),
    ("Typhoon churns across South China Sea", None),
    ("Let us help: the best budget phones", None),
])
def test_kinds_in_english_and_chinese(title, expected):
    assert kind(title) == expected


def test_an_official_suspension_notice_is_relevant_by_itself_but_press_chatter_is_not():
    title = "关于暂停实施商务部公告2024年第46号第二款的公告"
    assert kind(title, official=True) == "rescission"
    assert kind(title, official=False) is None


def test_federal_register_fields_decide_first():
    assert kind("Additions to the Entity List", fields={"type": "Rule", "action": "Final rule; correction."}) == "correction"
    assert kind("Additions to the Entity List", fields={"type": "Rule", "action": "Final rule."}) == "entity_list"
    assert kind("Export Controls on X; Extension of Comment Period",
                fields={"type": "Rule", "action": "Interim final rule; extension of comment period."}) == "comment_period"
    assert kind("Implementation of Additional Export Controls; Entity List Modification",
                fields={"type": "Rule", "action": "Interim final rule."}) == "new_rule"
    amended = classify({"title": "Revisions to Controls", "fields": {"type": "Rule", "document_number": "2025-1"}},
                       official=True, rule_id="r", rule_documents=frozenset({"2024-9"}))
    assert amended.kind == "rule_amended" and amended.severity == "high"


def test_a_revision_that_moves_the_comment_date_is_a_comment_period_change():
    decision = classify({"title": "x", "fields": {"type": "Rule"}}, official=True, rule_id=None,
                        changed={"fields.comments_close_on": {"before": "2025-03-14", "after": "2025-04-14"}})
    assert decision.kind == "comment_period" and decision.severity == "medium"


def decisions(items):
    return [classify(item, official=False, rule_id=None) for item in items]


def test_the_prefilter_never_changes_a_decision_on_the_corpus(monkeypatch):
    items = [json.loads(line)["item"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    with_triggers = decisions(items)
    monkeypatch.setattr(module, "USE_TRIGGERS", False)
    assert decisions(items) == with_triggers


words = st.sampled_from(["US", "China", "licences", "slowed", "Entity List", "rescinds", "rule", "放慢", "许可",
                         "实体清单", "撤销", "规则", "chips", "Nvidia", "proposes", "bill", "House", "correction",
                         "comment period", "extends", "export controls", "gallium", "镓", "出口管制", "approves",
                         "sales to", "tells", "stop selling", "halts", "shipments", "H.R. 8315", "H. R. 8315", "暂停实施",
                         "公告"])


@settings(max_examples=300, deadline=None)
@given(st.lists(words, min_size=1, max_size=10))
def test_the_prefilter_never_changes_a_decision_on_generated_text(parts):
    item = {"title": " ".join(parts), "summary": ""}
    with_triggers = classify(item, official=False, rule_id=None)
    module.USE_TRIGGERS = False
    try:
        assert classify(item, official=False, rule_id=None) == with_triggers
    finally:
        module.USE_TRIGGERS = True


# The windows (monitor/detect/windows.py): every pattern tried only where a literal it starts
# with occurs gives the decision a whole search gives, on the corpus and on generated text.

def test_the_windows_never_change_a_decision_on_the_corpus(monkeypatch):
    items = [json.loads(line)["item"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    padded = [{**item, "summary": ((item.get("summary") or "") + " " + (item.get("title") or "")) * 4} for item in items]
    for official in (False, True):
        windowed = [classify(item, official=official, rule_id=None) for item in items + padded]
        monkeypatch.setattr(module, "USE_WINDOWS", False)
        assert [classify(item, official=official, rule_id=None) for item in items + padded] == windowed
        monkeypatch.setattr(module, "USE_WINDOWS", True)


@settings(max_examples=300, deadline=None)
@given(st.lists(words | st.sampled_from([" ", ".", ";", "。", "x", "AI", "ai", "美", "ban", "U.S.", "Washington",
                                         "Commerce Department", "semiconductor"]), min_size=1, max_size=14))
def test_the_windows_never_change_a_decision_on_generated_text(parts):
    item = {"title": " ".join(parts[:5]), "summary": "".join(parts[5:])}
    windowed = classify(item, official=False, rule_id=None)
    module.USE_WINDOWS = False
    try:
        assert classify(item, official=False, rule_id=None) == windowed
    finally:
        module.USE_WINDOWS = True


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([p for _kind, p in module.TEXT_KINDS] + [module.TOPIC, module.DOMAIN, module.ENFORCEMENT,
                                                               module._AMENDS]),
       st.lists(st.sampled_from(list("abcdeilnoprstuvxy .;-'ACEIRSU美国拟商务部许可暂停镓") + [
           "rule", "ban", "license", "export", "chip", "entity list", "curbs", "China", "slowed", "halts"]),
           max_size=40).map("".join))
def test_a_windowed_search_is_the_whole_search(pattern, text):
    from monitor.detect.windows import Starts

    found, whole = Starts([pattern]).search(pattern, text), pattern.search(text)
    assert (found and (found.span(), found.group())) == (whole and (whole.span(), whole.group()))


# The legislation prefilter (a bill number, a word of each of the pattern's two word lists, or
# 法案/议案) is a necessary condition of the legislation pattern: it never hides a match.
LEGISLATION_PIECES = st.sampled_from([
    "H.R. 8315", "HR8315", "H. R. 12", "h.r.12", "S. 1705", "S.1705", "s.", "H", "R", " ", ".", "1", "22", "\t",
    "bill", "Bill", "legislation", " Act", "Chip Security Act", "CHIPS Act", "act", "Acts", "-", ";",
    "introduced", "passes", "passed", "advances", "approved", "votes", "sponsored", "cleared", "markup",
    "committee", "House", "Senate", "lawmakers", "lawmaker", "senators", "Congress", "congressman",
    "defence bill", "defense bill", "NDAA", "法案", "议案", "İ", "the", "export", "chips"])


@settings(max_examples=1000, deadline=None)
@given(st.lists(LEGISLATION_PIECES, max_size=14).map("".join))
def test_the_legislation_prefilter_never_hides_a_match(text):
    pattern = dict(module.TEXT_KINDS)["legislation"]
    if pattern.search(text) is not None:
        assert module._may_be_legislation(text.lower())


@pytest.mark.parametrize("text", [
    "H.R. 12", "HR 8315", "S. 1705", "the bill was introduced", "the Chip Security Act passes", "legislation advances",
    "the bill approved", "a bill votes", "the bill sponsored by", "the bill cleared", "bill markup", "bill committee",
    "bill House", "bill Senate", "bill lawmakers", "bill Congress", "Chips Act defense bill", "the bill NDAA",
    "lawmakers back the bill", "senators legislation", "congressman the Chips Act", "congresswoman bill",
    "House bill", "Senate bill", "法案", "议案"])
def test_each_alternative_of_the_legislation_pattern_passes_the_prefilter(text):
    assert dict(module.TEXT_KINDS)["legislation"].search(text) is not None
    assert module._may_be_legislation(text.lower())


def test_the_s_of_us_before_a_number_is_not_a_senate_bill():
    item = {"title": "Nvidia, AMD to pay U.S. 15% of China chip sales revenue under licence deal",
            "summary": "The unusual arrangement lets the chipmakers obtain export licences for H20 and MI308 chips."}
    decision = classify(item, official=False, rule_id=None)
    assert decision is not None and decision.kind != "legislation"
    assert classify({"title": "Senators introduce S. 1705 to track AI chips", "summary": ""},
                    official=False, rule_id=None).kind == "legislation"


def test_bills_in_the_plural_are_legislation_and_the_month_may_is_not_a_modal():
    item = {"title": "House Panel Advances Bills on Controlling AI Exports, Arming Israel",
            "summary": "The House Foreign Affairs Committee on May 22 voted 43-3 to approve a bill letting BIS "
                       "require export licences for artificial intelligence."}
    decision = classify(item, official=False, rule_id=None)
    assert decision.kind == "legislation" and decision.modality is None
    reported = classify({"title": "US may require licences for AI chip exports to Malaysia", "summary": ""},
                        official=False, rule_id=None)
    assert reported.modality == "reported"


@given(st.text(alphabet=st.sampled_from(list(".;!?。；！？ \t\n\u3000ab中")), max_size=40))
def test_the_first_sentence_is_what_the_split_made_of_it(text):
    import re
    assert module._first_sentence(text) == re.split(r"(?<=[.;!?。；！？])\s*", text, maxsplit=1)[0]
