"""The catalog of known rules: shipped data, identifiers, and linking items to rules."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from monitor.collectors.federal_register import parse_federal_register
from monitor.collectors.feed import parse_feed
from monitor.collectors.html_list import parse_html_list
from monitor.config import CHANGE_KINDS, RuleConfig
from monitor.detect.catalog import Catalog, CatalogError, Evidence, Link, identifier_key
from monitor.detect.catalog import identifiers as _identifiers
from monitor.detect.catalog.issuers import issuer_of
from monitor.detect.catalog.texts import Texts
from monitor.observation import Observation

FIXTURES = Path(__file__).parent / "fixtures"
FR_API = "https://www.federalregister.gov/api/v1/documents.json"

FACTS_IDS = {
    "us-advanced-computing-2022", "us-advanced-computing-2023", "us-sme-2023", "us-iaas-kyc",
    "us-fdp-hbm-2024", "us-entity-list-2024-12", "us-ai-diffusion", "us-foundry-due-diligence",
    "us-license-review-advanced-computing", "us-enforce-act", "cn-gallium-germanium",
    "cn-dual-use-us-ban", "cn-micron-cac",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def as_item(observation: Observation) -> dict:
    return {"source": observation.source, "key": observation.key, **observation.content()}


def item(title: str = "", summary: str = "", *, url: str | None = None, **fields) -> dict:
    return {"source": "test", "key": "k", "title": title, "url": url, "summary": summary,
            "language": None, "published": None, "updated": None, "fields": fields}


def rule_of(catalog: Catalog, data: dict) -> str | None:
    link = catalog.link(data)
    return link.rule if link else None


def fr_items(path: Path, url: str = FR_API) -> list[dict]:
    return [as_item(o) for o in parse_federal_register(path.read_bytes(), source="fr-bis", url=url).observations]


# --- the shipped data ----------------------------------------------------------------------------

def test_every_rule_of_the_facts_table_is_shipped(catalog):
    assert set(catalog.rules) == FACTS_IDS
    for rule in catalog.rules.values():
        assert rule.title.strip()
        assert rule.issuer
        assert rule.jurisdiction == ("CN" if rule.id.startswith("cn-") else "US")
        assert rule.kind in CHANGE_KINDS
        for value in rule.dates.values():
            dt.date.fromisoformat(value)
        if rule.jurisdiction == "CN":
            assert rule.title_zh


@pytest.mark.parametrize("rule_id, kind, values", [
    ("us-advanced-computing-2022", "fr_documents", ["2022-21658"]),
    ("us-advanced-computing-2022", "citations", ["87 FR 62186", "87 FR 74966"]),
    ("us-advanced-computing-2022", "rins", ["0694-AI94"]),
    ("us-advanced-computing-2022", "dockets", ["220930-0204"]),
    ("us-advanced-computing-2023", "fr_documents", ["2023-23055"]),
    ("us-advanced-computing-2023", "citations", ["88 FR 73458", "88 FR 86821"]),
    ("us-advanced-computing-2023", "rins", ["0694-AI94"]),
    ("us-sme-2023", "fr_documents", ["2023-23049"]),
    ("us-sme-2023", "citations", ["88 FR 73424"]),
    ("us-sme-2023", "rins", ["0694-AJ23"]),
    ("us-sme-2023", "dockets", ["231013-0246"]),
    ("us-iaas-kyc", "fr_documents", ["2024-01580"]),
    ("us-iaas-kyc", "citations", ["89 FR 5698"]),
    ("us-iaas-kyc", "rins", ["0694-AJ35"]),
    ("us-iaas-kyc", "dockets", ["240119-0020"]),
    ("us-fdp-hbm-2024", "fr_documents", ["2024-28270"]),
    ("us-fdp-hbm-2024", "citations", ["89 FR 96790"]),
    ("us-fdp-hbm-2024", "rins", ["0694-AJ74"]),
    ("us-fdp-hbm-2024", "dockets", ["241126-0302"]),
    ("us-entity-list-2024-12", "fr_documents", ["2024-28267"]),
    ("us-entity-list-2024-12", "rins", ["0694-AJ77"]),
    ("us-ai-diffusion", "fr_documents", ["2025-00636"]),
    ("us-ai-diffusion", "citations", ["90 FR 4544"]),
    ("us-ai-diffusion", "rins", ["0694-AJ90"]),
    ("us-ai-diffusion", "dockets", ["250107-0007"]),
    ("us-foundry-due-diligence", "fr_documents", ["2025-00711", "2025-02655"]),
    ("us-foundry-due-diligence", "citations", ["90 FR 5298", "90 FR 9604"]),
    ("us-foundry-due-diligence", "rins", ["0694-AJ98"]),
    ("us-foundry-due-diligence", "dockets", ["250108-0013"]),
    ("us-license-review-advanced-computing", "fr_documents", ["2026-00789"]),
    ("us-license-review-advanced-computing", "citations", ["91 FR 1684"]),
    ("us-license-review-advanced-computing", "rins", ["0694-AK43"]),
    ("us-license-review-advanced-computing", "dockets", ["260112-0028"]),
    ("us-enforce-act", "bills", ["H.R. 8315"]),
    ("cn-gallium-germanium", "announcements", ["商务部 海关总署公告2023年第23号"]),
    ("cn-dual-use-us-ban", "announcements", ["商务部公告2024年第46号", "商务部公告2025年第72号"]),
])
def test_identifiers_of_the_facts_table(catalog, rule_id, kind, values):
    assert list(catalog.rules[rule_id].identifiers[kind]) == values


@pytest.mark.parametrize("rule_id, dates", [
    ("us-advanced-computing-2022", {"published": "2022-10-13", "effective": "2022-10-07",
                                    "comments_close": "2023-01-31"}),
    ("us-advanced-computing-2023", {"published": "2023-10-25", "effective": "2023-11-17",
                                    "comments_close": "2024-01-17"}),
    ("us-sme-2023", {"published": "2023-10-25", "effective": "2023-11-17", "comments_close": "2024-01-17"}),
    ("us-iaas-kyc", {"published": "2024-01-29", "comments_close": "2024-04-29"}),
    ("us-fdp-hbm-2024", {"published": "2024-12-05", "effective": "2024-12-02", "comments_close": "2025-03-14"}),
    ("us-entity-list-2024-12", {"published": "2024-12-05"}),
    ("us-ai-diffusion", {"published": "2025-01-15", "effective": "2025-01-13", "comments_close": "2025-05-15",
                         "compliance": "2025-05-15"}),
    ("us-foundry-due-diligence", {"published": "2025-01-16", "comments_close": "2025-03-14"}),
    ("us-license-review-advanced-computing", {"published": "2026-01-15", "effective": "2026-01-15"}),
    ("us-enforce-act", {"introduced": "2024-05-08"}),
    ("cn-gallium-germanium", {"published": "2023-07-03", "effective": "2023-08-01"}),
    ("cn-dual-use-us-ban", {"published": "2024-12-03", "effective": "2024-12-03"}),
    ("cn-micron-cac", {"published": "2023-05-21"}),
])
def test_dates_of_the_facts_table(catalog, rule_id, dates):
    rule_dates = catalog.rules[rule_id].dates
    assert {name: rule_dates.get(name) for name in dates} == dates


def test_ai_diffusion_regions_are_the_three_tiers(catalog):
    regions = catalog.rules["us-ai-diffusion"].regions
    assert {"ai-diffusion-tier-1", "ai-diffusion-tier-2", "ai-diffusion-tier-3"} <= set(regions)
    assert set(catalog.rules["us-entity-list-2024-12"].countries) == {"CN", "JP", "KR", "SG"}
    assert "micron" in catalog.rules["cn-micron-cac"].companies


def test_loading_is_deterministic():
    first, second = Catalog.load(), Catalog.load()
    assert first.rules == second.rules
    assert list(first.rules) == list(second.rules)


# --- every rule links from its own identifiers ---------------------------------------------------

_FIELD_OF_KIND = {"fr_documents": "document_number", "citations": "citation", "dockets": "docket_ids",
                  "rins": "rins", "announcements": "announcement_number"}


def _own_identifiers(catalog):
    shared_rins = {"0694-AI94"}  # two rules: see the tie tests
    for rule in catalog.rules.values():
        for kind, values in rule.identifiers.items():
            for value in values:
                if kind == "rins" and value in shared_rins:
                    continue
                yield rule.id, kind, value


@pytest.mark.parametrize("rule_id, kind, value", list(_own_identifiers(Catalog.load())))
def test_every_identifier_links_its_rule_from_fields_and_from_text(catalog, rule_id, kind, value):
    # mentioned in a title
    assert rule_of(catalog, item(f"Reported: {value} is in force")) == rule_id
    # mentioned in a summary
    assert rule_of(catalog, item("News", f"As published ({value}), the measure applies.")) == rule_id
    # the item's own structured field
    if kind in _FIELD_OF_KIND:
        name = _FIELD_OF_KIND[kind]
        if kind == "announcements":
            number = value[value.index("20"):]
            fields = {name: number, "issuer": "商务部"}
        else:
            fields = {name: [value] if name in ("docket_ids", "rins") else value}
        link = catalog.link(item("An untitled document", **fields))
        assert link is not None and link.rule == rule_id and link.by == "identifier"
        assert link.evidence[0].field == f"fields.{name}"


@pytest.mark.parametrize("text, rule_id", [
    ("Docket No. 250107-0007", "us-ai-diffusion"),
    ("[Docket No. 241126-0302] RIN 0694-AJ74", "us-fdp-hbm-2024"),
    ("published at 90 FR 4544 (January 15, 2025)", "us-ai-diffusion"),
    ("see 90 Fed. Reg. 4544", "us-ai-diffusion"),
    ("FR Doc. 2025-00636 Filed 1-10-25", "us-ai-diffusion"),
    ("https://www.federalregister.gov/d/2024-01580", "us-iaas-kyc"),
    ("RIN 0694-AK43", "us-license-review-advanced-computing"),
    ("RIN 0694\u2013AJ90", "us-ai-diffusion"),  # an en dash
    ("H.R.8315", "us-enforce-act"),
    ("H.R. 8315", "us-enforce-act"),
    ("HR 8315", "us-enforce-act"),
    ("H. R. 8315", "us-enforce-act"),
    ("House panel advances ENFORCE Act (H.R. 8315) on AI model exports", "us-enforce-act"),
    ("商务部公告2024年第46号", "cn-dual-use-us-ban"),
    ("商務部公告2024年第46號", "cn-dual-use-us-ban"),  # Traditional
    ("商务部公告２０２４年第４６号", "cn-dual-use-us-ban"),  # full-width digits
    ("商务部公告（2024年第46号）", "cn-dual-use-us-ban"),
    ("商务部2024年第46号公告", "cn-dual-use-us-ban"),
    ("商务部公告2025年第72号", "cn-dual-use-us-ban"),  # the related suspension
    ("商务部 海关总署公告2023年第23号", "cn-gallium-germanium"),
    ("商务部、海关总署公告２０２３年第２３号", "cn-gallium-germanium"),
    ("商務部 海關總署公告２０２３年第２３號", "cn-gallium-germanium"),
    ("商务部公告2023年第23号", "cn-gallium-germanium"),  # the joint announcement is MOFCOM's series
    ("商务部发布２０２３年第２３号公告", "cn-gallium-germanium"),  # the issuer named in the text
    ("MOFCOM Announcement No. 46 of 2024", "cn-dual-use-us-ban"),
    ("MOFCOM and GACC Announcement No. 23 [2023]", "cn-gallium-germanium"),
    ("China's Ministry of Commerce issued Announcement 2023 No. 23", "cn-gallium-germanium"),
])
def test_identifier_forms_of_real_data(catalog, text, rule_id):
    link = catalog.link(item(text))
    assert link is not None and link.by == "identifier", text
    assert link.rule == rule_id


@pytest.mark.parametrize("text", [
    "海关总署公告2023年第23号",  # customs' own series: another document
    "商务部令2024年第46号",  # a decree, not an announcement
    "２０２３年第２３号",  # no issuer anywhere: could be any ministry's
    "商务部公告2023年第22号",
    "商务部公告2024年第64号",
    "HR 83150",
    "12022-21658",
    "2025-006361",
    "U.S. 8315",
])
def test_near_identifiers_do_not_link(catalog, text):
    assert catalog.link(item(text)) is None


def test_a_press_release_that_names_the_rule_without_its_certain_links_to_it(catalog):
    # BIS's release of 2022-10-07 calls the rule "... Advanced Computing and Semiconductor
    # Manufacturing Items to the People's Republic of China (PRC)", without the title's "Certain".
    release = item("Commerce Implements New Export Controls on Advanced Computing and Semiconductor Manufacturing "
                   "Items to the People's Republic of China (PRC)")
    assert rule_of(catalog, release) == "us-advanced-computing-2022"
    assert rule_of(catalog, item("Export Controls on Semiconductor Manufacturing Items")) != "us-advanced-computing-2022"


def test_a_bare_announcement_number_takes_the_items_issuer(catalog):
    assert rule_of(catalog, item("关于暂停实施2024年第46号公告第二款的公告", issuer="商务部")) == "cn-dual-use-us-ban"
    assert rule_of(catalog, item("2023年第23号", announcement_number="2023年第23号", issuer="商务部")) \
        == "cn-gallium-germanium"
    assert rule_of(catalog, item("2023年第23号", announcement_number="2023年第23号", issuer="海关总署")) is None


def test_identifier_key_canonical_forms():
    assert identifier_key("citation", "90 Fed. Reg. 4544") == "90 FR 4544"
    assert identifier_key("docket", "Docket No. 250107-0007") == "250107-0007"
    assert identifier_key("bill", "H.R.8315") == identifier_key("bill", "HR 8315") == "H.R. 8315"
    assert identifier_key("bill", "S.1705") == "S. 1705"
    assert identifier_key("rin", "0694-aj90") == "0694-AJ90"
    assert identifier_key("fr_document", "２０２５-００６３６") == "2025-00636"
    assert identifier_key("announcement", "商務部公告２０２４年第４６號") == "商务部:2024-46"
    assert identifier_key("announcement", "2024年第46号") == ":2024-46"
    assert identifier_key("citation", "4544") is None


# --- the recorded Federal Register documents -----------------------------------------------------

def test_recorded_iaas_proposed_rule(catalog, fr_fixtures):
    (data,) = fr_items(fr_fixtures / "fr_document_2024-01580.json", f"{FR_API[:-5]}/2024-01580.json")
    link = catalog.link(data)
    assert link == Link("us-iaas-kyc", "identifier", link.evidence)
    assert link.evidence[0] == Evidence("identifier", "fr_document", "2024-01580", "fields.document_number")
    assert {(e.name, e.value) for e in link.evidence} >= {
        ("citation", "89 FR 5698"), ("rin", "0694-AJ35"), ("docket", "240119-0020")}


def test_recorded_license_review_rule(catalog, fr_fixtures):
    (data,) = fr_items(fr_fixtures / "fr_document_2026-00789.json", f"{FR_API[:-5]}/2026-00789.json")
    assert rule_of(catalog, data) == "us-license-review-advanced-computing"


def test_recorded_advanced_computing_search_pages(catalog, fr_fixtures):
    expected = {
        "2026-00789": "us-license-review-advanced-computing",
        "2025-00711": "us-foundry-due-diligence",
        "2025-00636": "us-ai-diffusion",
        "2024-28270": "us-fdp-hbm-2024",
        "2022-21658": "us-advanced-computing-2022",
    }
    seen = {}
    for page in ("fr_documents_bis_advanced_computing_page1.json", "fr_documents_bis_advanced_computing_page2.json"):
        for data in fr_items(fr_fixtures / page):
            link = catalog.link(data)
            assert link is not None and link.by == "identifier"
            assert link.evidence[0].field == "fields.document_number"
            seen[data["key"]] = link.rule
    assert seen == expected


def test_recorded_public_inspection_document(catalog, fr_fixtures):
    (data,) = fr_items(fr_fixtures / "fr_public_inspection_current.json",
                       "https://www.federalregister.gov/api/v1/public-inspection-documents/current.json")
    assert data["fields"].get("citation") is None  # not published yet
    assert rule_of(catalog, data) == "us-ai-diffusion"


def test_recorded_federal_register_rss_links_by_the_document_url(catalog, fr_fixtures):
    result = parse_feed((fr_fixtures / "fr_bis_documents.rss").read_bytes(), source="fr-rss",
                        url="https://www.federalregister.gov/api/v1/documents.rss")
    (data,) = [as_item(o) for o in result.observations]
    link = catalog.link(data)
    assert link is not None and link.rule == "us-license-review-advanced-computing"
    assert link.evidence[0].field in ("url", "fields.guid")
    assert link.evidence[0].value == "2026-00789"


def test_correcting_amendment_links_to_the_foundry_rule(catalog):
    correcting = item(
        "Implementation of Additional Due Diligence Measures for Advanced Computing Integrated Circuits; "
        "Amendments and Clarifications; and Extension of Comment Period; Correction",
        "BIS corrects the interim final rule published on January 16, 2025.",
        url="https://www.federalregister.gov/documents/2025/02/14/2025-02655/implementation-of-additional",
        document_number="2025-02655", type="Rule", action="Interim final rule; correcting amendment.",
        citation="90 FR 9604",
    )
    link = catalog.link(correcting)
    assert link is not None and link.rule == "us-foundry-due-diligence" and link.by == "identifier"
    assert link.evidence[0].value == "2025-02655"


def test_correction_documents_link_through_correction_of(catalog):
    correction = item("Taking Additional Steps ...; Correction", document_number="C1-2024-01580",
                      type="Correction", correction_of="2024-01580")
    link = catalog.link(correction)
    assert link is not None and link.rule == "us-iaas-kyc"
    original = item("Framework for Artificial Intelligence Diffusion", document_number="2025-00636",
                    corrections=["C1-2025-00636"])
    assert rule_of(catalog, original) == "us-ai-diffusion"


def test_a_document_citing_another_rule_links_to_it(catalog):
    # its own identifiers are in no catalog entry; its abstract cites the AI Diffusion rule
    summary = "This rule corrects errors in the interim final rule published at 90 FR 4544 on January 15, 2025."
    correction = item("Framework for Artificial Intelligence Diffusion; Correction", summary,
                      document_number="2025-99999", rins=["0694-ZZ99"], docket_ids=["250999-0001"])
    link = catalog.link(correction)
    assert link is not None and link.rule == "us-ai-diffusion" and link.by == "identifier"
    (cited,) = [e for e in link.evidence if e.name == "citation"]
    assert cited.field == "summary" and summary[cited.start:cited.end] == "90 FR 4544"


def test_own_identifiers_win_over_mentioned_ones(catalog):
    # the foundry rule's own number, while its text cites the FDP rule it amends
    data = item("Due diligence", "Clarifies 89 FR 96790 and extends its comment period.", document_number="2025-00711")
    assert rule_of(catalog, data) == "us-foundry-due-diligence"
    # a more specific identifier wins over the RIN
    data = item("x", rins=["0694-AJ90"], citation="90 FR 5298")
    assert rule_of(catalog, data) == "us-foundry-due-diligence"


# --- the RIN shared by two rules -----------------------------------------------------------------

def test_shared_rin_alone_links_the_most_recent_rule(catalog):
    link = catalog.link(item("Notice of inquiry", rins=["0694-AI94"]))
    assert link is not None and link.rule == "us-advanced-computing-2023"
    assert link.evidence[0] == Evidence("identifier", "rin", "0694-AI94", "fields.rins")


def test_shared_rin_prefers_the_rule_whose_other_identifiers_match(catalog):
    extension = item("Extension of comment period",
                     "BIS extends the comment period of the rule published at 87 FR 62186.", rins=["0694-AI94"])
    link = catalog.link(extension)
    assert link is not None and link.rule == "us-advanced-computing-2022"
    assert [e.name for e in link.evidence] == ["rin", "citation"]
    extension_2023 = item("Extension of comment period", "Extended: 88 FR 73458.", rins=["0694-AI94"])
    assert rule_of(catalog, extension_2023) == "us-advanced-computing-2023"


def test_shared_rin_prefers_the_rule_whose_keywords_match(catalog):
    title_2022 = ("Implementation of Additional Export Controls: Certain Advanced Computing and Semiconductor "
                  "Manufacturing Items; Supercomputer and Semiconductor End Use; Entity List Modification")
    link = catalog.link(item(title_2022, rins=["0694-AI94"], document_number="2022-99999"))
    assert link is not None and link.rule == "us-advanced-computing-2022" and link.by == "identifier"
    assert any(e.kind == "keyword" for e in link.evidence)
    title_2023 = ("Implementation of Additional Export Controls: Certain Advanced Computing Items; "
                  "Supercomputer and Semiconductor End Use; Updates and Corrections")
    assert rule_of(catalog, item(title_2023, rins=["0694-AI94"])) == "us-advanced-computing-2023"


def test_shared_rin_tie_is_stable_whatever_the_catalog_order():
    rules = list(Catalog.load().rules.values())
    reordered = Catalog(reversed(rules))
    assert rule_of(reordered, item("x", rins=["0694-AI94"])) == "us-advanced-computing-2023"


# --- MOFCOM list pages and news feeds ------------------------------------------------------------

def test_recorded_mofcom_list_page(catalog):
    result = parse_html_list((FIXTURES / "mofcom_gg_list_gbk.html").read_bytes(), source="mofcom-gg",
                             url="https://www.mofcom.gov.cn/zcfb/blgg/gg/index.html",
                             item="ul.txtList_01 li", link="a", date="span", issuer="商务部")
    links = {o.key.removeprefix("https://www.mofcom.gov.cn/zcfb/blgg/gg/"): rule_of(catalog, as_item(o))
             for o in result.observations}
    assert links == {
        "announcement:商务部:2025-72": "cn-dual-use-us-ban",  # suspends clause 2 of 2024年第46号
        "announcement:商务部:2025-1": None,
        "announcement:商务部:2024-46": "cn-dual-use-us-ban",
        "art/2024/art_5c1d2e3f4a5b4c6d8e9f0a1b2c3d4e5f.html": None,  # 商务部办公厅关于做好两用物项...
        "announcement:商务部:2023-23": "cn-gallium-germanium",
        "announcement:商务部:2023-22": None,
    }


def test_recorded_news_feeds(catalog):
    links = {}
    for name in ("news_search_en.rss", "news_search_zh.rss"):
        result = parse_feed((FIXTURES / name).read_bytes(), source="news",
                            url="https://news.google.com/rss/search?q=x")
        for observation in result.observations:
            links[observation.title] = rule_of(catalog, as_item(observation))
    assert links == {
        "US slows licences for Nvidia, AMD AI chip exports to Middle East": None,
        "House panel advances ENFORCE Act (H.R. 8315) on AI model exports": "us-enforce-act",
        "商务部公告2024年第46号:加强相关两用物项对美国出口管制": "cn-dual-use-us-ban",
        "美國商務部收緊對華AI晶片出口 輝達H20受影響": None,
    }


# --- keywords ------------------------------------------------------------------------------------

@pytest.mark.parametrize("title, summary, rule_id", [
    ("Commerce unveils AI Diffusion rule with three country tiers", "", "us-ai-diffusion"),
    ("What the Framework for Artificial Intelligence Diffusion means for data centers", "", "us-ai-diffusion"),
    ("Trump administration to scrap AI diffusion rule", "", "us-ai-diffusion"),
    ("美国发布人工智能扩散框架", "", "us-ai-diffusion"),
    ("美國發布人工智慧擴散規則", "", "us-ai-diffusion"),  # Traditional, Taiwan usage
    ("Proposed rule would make IaaS providers know their customers",
     "Cloud companies would need a Customer Identification Program for foreign users.", "us-iaas-kyc"),
    ("US cloud firms face know-your-customer rules", "The IaaS proposal covers AI training runs.", "us-iaas-kyc"),
    ("BIS adds foundry due diligence requirements", "", "us-foundry-due-diligence"),
    ("New HBM controls and foreign direct product rules hit China", "", "us-fdp-hbm-2024"),
    ("Commerce adds 140 entities to the Entity List", "", "us-entity-list-2024-12"),
    ("Nvidia H200 exports to China move to case-by-case review", "", "us-license-review-advanced-computing"),
    ("ENFORCE Act would let Commerce control AI models", "", "us-enforce-act"),
    ("美国众议院推进ENFORCE法案", "", "us-enforce-act"),
    ("China restricts exports of gallium and germanium", "", "cn-gallium-germanium"),
    ("中国对镓、锗相关物项实施出口管制", "", "cn-gallium-germanium"),
    ("中國對鎵、鍺相關物項實施出口管制", "", "cn-gallium-germanium"),  # Traditional
    ("China bans exports of gallium, germanium and antimony to the US", "", "cn-dual-use-us-ban"),
    ("中方加强相关两用物项对美国出口管制", "", "cn-dual-use-us-ban"),
    ("中方宣布禁止镓、锗、锑、超硬材料对美出口", "", "cn-dual-use-us-ban"),
    ("Micron fails China's cybersecurity review", "", "cn-micron-cac"),
    ("China's CAC bars Micron chips from critical infrastructure", "", "cn-micron-cac"),
    ("美光公司在华销售产品未通过网络安全审查", "", "cn-micron-cac"),
    ("美光在華銷售產品未通過網絡安全審查", "", "cn-micron-cac"),  # Traditional
])
def test_keyword_links(catalog, title, summary, rule_id):
    link = catalog.link(item(title, summary))
    assert link is not None and link.by == "keyword", title
    assert link.rule == rule_id
    assert link.evidence and all(e.kind == "keyword" and e.name == "keyword" for e in link.evidence)
    for evidence in link.evidence:  # offsets into the original (unnormalised) text
        text = title if evidence.field == "title" else summary
        assert text[evidence.start:evidence.end] == evidence.value


def test_keyword_evidence_keeps_the_original_script(catalog):
    link = catalog.link(item("中國對鎵、鍺相關物項實施出口管制"))
    assert link is not None
    assert link.evidence[0].value == "鎵、鍺"


@pytest.mark.parametrize("title, summary", [
    ("US tightens export controls on semiconductors to China", "New export controls target AI chips."),
    ("美国加强对华芯片出口管制", "半导体 出口管制 实体清单"),
    ("美國商務部收緊對華AI晶片出口", ""),
    ("Commerce adds Chinese firms to the Entity List", "The additions cover semiconductor makers."),
    ("US slows licences for Nvidia, AMD AI chip exports to Middle East", ""),
    ("Information Systems Technical Advisory Committee; Notice of Partially Closed Meeting",
     "The Information Systems Technical Advisory Committee will meet to discuss export controls on "
     "semiconductors, advanced computing items and encryption; public session agenda."),
    ("Economists study AI diffusion across the economy", "Adoption of AI tools by firms is uneven."),
    ("Micronesia reviews its cybersecurity", ""),
    ("China cuts antimony exports to us and others", ""),  # "us" is not "US"
    ("they said they will enforce act 2 of the plan", ""),
    ("H20 chips sold out", "Nvidia H20 demand in China"),
])
def test_generic_news_does_not_link(catalog, title, summary):
    assert catalog.link(item(title, summary)) is None


def test_an_advisory_committee_notice_that_names_a_rule_links(catalog):
    notice = item("Emerging Technology Technical Advisory Committee; Notice of Partially Closed Meeting",
                  "Agenda: discussion of the Framework for Artificial Intelligence Diffusion (90 FR 4544).",
                  document_number="2025-01234", type="Notice")
    link = catalog.link(notice)
    assert link is not None and link.rule == "us-ai-diffusion" and link.by == "identifier"


def test_identifiers_win_over_keywords(catalog):
    data = item("Framework for Artificial Intelligence Diffusion", "HBM and the foreign direct product rule",
                citation="91 FR 1684")
    link = catalog.link(data)
    assert link is not None and link.rule == "us-license-review-advanced-computing" and link.by == "identifier"


# --- identifiers_in ------------------------------------------------------------------------------

def test_identifiers_in_reports_every_identifier_with_offsets(catalog):
    title = "商務部公告２０２４年第４６號 and H.R.8315"
    summary = "See 90 FR 4544 [Docket No. 250107-0007], RIN 0694-AJ90, FR Doc. 2025-00636 and BIS-2025-0001."
    data = item(title, summary, url="https://www.federalregister.gov/documents/2025/01/15/2025-00636/x",
                document_number="2025-00636", rins=["0694-AJ90"], docket_ids=["250107-0007"],
                citation="90 FR 4544", correction_of=None, corrections=[])
    found = catalog.identifiers_in(data)
    structured = [(e.name, e.value, e.field) for e in found if e.start is None]
    assert structured == [
        ("fr_document", "2025-00636", "fields.document_number"),
        ("fr_document", "2025-00636", "url"),
        ("citation", "90 FR 4544", "fields.citation"),
        ("docket", "250107-0007", "fields.docket_ids"),
        ("rin", "0694-AJ90", "fields.rins"),
    ]
    in_text = [(e.name, e.value, e.field) for e in found if e.start is not None]
    assert in_text == [
        ("announcement", "商務部公告２０２４年第４６號", "title"),
        ("bill", "H.R.8315", "title"),
        ("citation", "90 FR 4544", "summary"),
        ("docket", "250107-0007", "summary"),
        ("rin", "0694-AJ90", "summary"),
        ("fr_document", "2025-00636", "summary"),
        ("docket", "BIS-2025-0001", "summary"),
    ]
    for evidence in found:
        if evidence.start is not None:
            text = title if evidence.field == "title" else summary
            assert text[evidence.start:evidence.end] == evidence.value
    assert all(e.kind == "identifier" for e in found)


def test_identifiers_in_tolerates_odd_items(catalog):
    assert catalog.identifiers_in({"title": None, "summary": None, "fields": None}) == []
    assert catalog.link({}) is None
    assert catalog.link({"title": "x", "fields": {"rins": "0694-AJ90", "document_number": 5}}).rule == "us-ai-diffusion"


# --- sources.toml [[rules]]: override and addition -----------------------------------------------

def test_config_rule_replaces_the_shipped_rule_of_the_same_id():
    override = RuleConfig.model_validate({
        "id": "us-ai-diffusion", "title": "AI Diffusion (local entry)", "kind": "new_rule",
        "identifiers": {"fr_documents": ["2025-10000"]}, "keywords": ["diffusion framework"],
    })
    catalog = Catalog.load([override.model_dump()])
    rule = catalog.rules["us-ai-diffusion"]
    assert rule.title == "AI Diffusion (local entry)"
    assert rule.identifiers["citations"] == ()
    assert len(catalog.rules) == len(FACTS_IDS)
    assert rule_of(catalog, item("x", document_number="2025-00636")) is None  # replaced whole
    assert rule_of(catalog, item("x", document_number="2025-10000")) == "us-ai-diffusion"
    assert rule_of(catalog, item("A new diffusion framework")) == "us-ai-diffusion"
    assert rule_of(catalog, item("x", document_number="2024-01580")) == "us-iaas-kyc"  # others stay


def test_config_rule_is_added():
    addition = RuleConfig.model_validate({
        "id": "us-chip-security-act", "title": "Chip Security Act", "jurisdiction": "US", "kind": "legislation",
        "identifiers": {"bills": ["S.1705"], "dockets": ["Docket No. 250999-0001"]},
        "keywords": ["Chip Security Act", "location verification + export*"],
        "companies": ["nvidia"], "dates": {"introduced": dt.date(2025, 5, 15)},
    })
    catalog = Catalog.load([addition.model_dump()])
    rule = catalog.rules["us-chip-security-act"]
    assert rule.dates == {"introduced": "2025-05-15"}
    assert rule.keywords == ("Chip Security Act", "location verification + export*")
    assert rule_of(catalog, item("Senate bill S. 1705 introduced")) == "us-chip-security-act"
    assert rule_of(catalog, item("x", docket_ids=["250999-0001"])) == "us-chip-security-act"
    assert rule_of(catalog, item("Senators back the Chip Security Act")) == "us-chip-security-act"
    # an AND entry written "a + b": both must appear
    assert rule_of(catalog, item("Location verification for chips", "exporters must comply")) \
        == "us-chip-security-act"
    assert rule_of(catalog, item("Location verification for chips")) is None
    assert rule_of(catalog, item("H.R. 8315")) == "us-enforce-act"


def test_config_rule_without_defaults():
    only = RuleConfig.model_validate({"id": "x-rule", "title": "X", "identifiers": {"rins": ["0694-AJ90"]}})
    catalog = Catalog.load([only.model_dump()], defaults=False)
    assert list(catalog.rules) == ["x-rule"]
    assert rule_of(catalog, item("x", rins=["0694-AJ90"])) == "x-rule"


@pytest.mark.parametrize("identifiers, message", [
    ({"fr_documents": ["not a number"]}, 'rule "bad-rule": identifiers.fr_documents'),
    ({"citations": ["4544"]}, 'rule "bad-rule": identifiers.citations'),
    ({"rins": ["AJ90"]}, 'rule "bad-rule": identifiers.rins'),
    ({"bills": ["8315"]}, 'rule "bad-rule": identifiers.bills'),
    ({"announcements": ["第46号"]}, 'rule "bad-rule": identifiers.announcements'),
])
def test_a_bad_identifier_is_refused_naming_the_rule_and_key(identifiers, message):
    bad = RuleConfig.model_validate({"id": "bad-rule", "title": "Bad", "identifiers": identifiers})
    with pytest.raises(CatalogError) as error:
        Catalog.load([bad.model_dump()])
    assert message in str(error.value)


def test_catalog_toml_with_an_unknown_key_is_refused():
    from monitor.detect.catalog import rules_from_toml

    with pytest.raises(CatalogError, match="colour"):
        rules_from_toml('[[rules]]\nid = "a"\ntitle = "A"\ncolour = "red"\n', label="x.toml")
    rules = rules_from_toml('[[rules]]\nid = "a"\ntitle = "A"\ntitle_zh = "甲"\nkeywords = [["b", "c|d"], "e"]\n')
    assert rules[0].title_zh == "甲" and rules[0].keywords == ("b + c|d", "e")


def _shipped_entries() -> list[dict]:
    import importlib.resources
    import tomllib

    text = importlib.resources.files("monitor").joinpath("data", "catalog.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["rules"]


@pytest.mark.parametrize("entry", _shipped_entries(), ids=lambda entry: entry["id"])
def test_every_shipped_rule_passes_the_configuration_schema_unchanged(entry):
    """The catalog loads its data without the configuration's schema; the shipped data is held
    to that schema here, and reading an entry through it (as a sources.toml rule is read, then
    handed over as plain data) gives the very same rule."""
    from monitor.detect.catalog import rule_from_data

    entry = dict(entry)
    title_zh = entry.pop("title_zh", None)
    plain = rule_from_data({**entry, "title_zh": title_zh})
    entry["keywords"] = [" + ".join(k) if isinstance(k, list) else k for k in entry.get("keywords", [])]
    through_config = rule_from_data({**RuleConfig.model_validate(entry).model_dump(), "title_zh": title_zh})
    assert plain == through_config


def test_the_catalog_does_not_import_the_configuration():
    import subprocess
    import sys

    code = ("import sys, monitor.detect.catalog as c; c.Catalog.load(); "
            "print(sorted(m for m in sys.modules if m == 'pydantic' or m.startswith('monitor.config')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("entry, message", [
    ({"title": "A"}, "id: required"),
    ({"id": "a", "title": "  "}, "title: required"),
    ({"id": "a", "title": "A", "keywords": "chips"}, "keywords: expected an array"),
    ({"id": "a", "title": "A", "topics": ["HBM", 3]}, "topics.1: expected a non-empty string"),
    ({"id": "a", "title": "A", "identifiers": {"rins": "0694-AJ90"}}, "identifiers.rins: expected an array"),
    ({"id": "a", "title": "A", "identifiers": {"isbn": ["1"]}}, "identifiers.isbn: unknown key"),
    ({"id": "a", "title": "A", "dates": {"published": "15 Jan 2025"}}, "dates.published: expected a date"),
])
def test_rule_data_of_the_wrong_shape_is_one_clear_error(entry, message):
    from monitor.detect.catalog import rule_from_data

    with pytest.raises(CatalogError, match=message):
        rule_from_data(entry)


def test_plain_rule_data_reads_iso_dates_and_keyword_arrays():
    from monitor.detect.catalog import rule_from_data

    rule = rule_from_data({"id": "a", "title": "A", "dates": {"published": "2025-01-15", "effective": dt.date(2025, 5, 15)},
                           "keywords": [["b", "c|d"], "e"], "identifiers": {"rins": ["0694-AJ90"]}})
    assert rule.dates == {"published": "2025-01-15", "effective": "2025-05-15"}
    assert rule.keywords == ("b + c|d", "e") and rule.identifiers["rins"] == ("0694-AJ90",)
    assert rule.identifiers["citations"] == ()


def test_link_results_are_plain_data(catalog):
    link = catalog.link(item("see 90 FR 4544"))
    assert link == Link("us-ai-diffusion", "identifier",
                        (Evidence("identifier", "citation", "90 FR 4544", "title", 4, 14),))
    json.dumps([e.__dict__ for e in link.evidence])  # serialisable for the event log


# --- the shortcuts of the scan change nothing (issue 16) -----------------------------------------

_ID_PIECES = st.sampled_from(list("0123456789 -\u2010\u2011\u2012\u2013\u2014\u2015\u2212.ABCEHRSZaFr") + [
    "FR", "Fed.", "Fed. Reg.", "2025-00636", "0694-AJ90", "250107-0007", "H.R. 8315", "BIS-2025-0001",
    "C1-2025-00636", "90 FR 4544", "x2025-00636", "１２３４－"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_ID_PIECES, max_size=30).map("".join))
def test_the_digit_identifier_gate_never_hides_a_match(text):
    if _identifiers._DIGIT_IDS.search(text) is not None:
        assert _identifiers._may_hold_digit_id(text)


_BILL_PIECES = st.sampled_from(list("HSRJ.  \t\n0123456789aUx-") + [
    "H.R. 8315", "H.R.8315", "HR 8315", "H R 1", "H. R. 2", "S. 1234", "S.1", "U.S. 12", "H.Res. 12", "S.J.Res. 3",
    "H.Con.Res.4", "S.Con.Res. 5", "H. J. Res. 6", "Res", "Con", ".S.", "aS. 1", "1S. 2"])


@settings(max_examples=800, deadline=None)
@given(st.lists(_BILL_PIECES, max_size=20).map("".join))
def test_the_bill_gate_never_hides_a_match(text):
    if _identifiers._BILL_IDS.search(text) is not None:
        assert _identifiers._may_hold_bill(text)


_ANN_PIECES = st.sampled_from(["商务部", "海关总署", "国家发展改革委", "商务部令", "公告", "联合", "、", "和", "与", " ",
                               "(", "[", "【", "〔", "2024", "2023", "年", "第", "46", "23", "号", "号公告",
                               "发布", "关于", "令", "x", "MOFCOM", "\u3000", "２０２４", "٢٠٢٤", "国务院", "外交部",
                               "2024年第46号", "2023年 第 23 号", "٢٠٢٤年第٤٦号", "商务部公告2024年第46号", "令2024年第1号"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_ANN_PIECES, max_size=30).map("".join))
def test_chinese_announcement_numbers_are_found_as_by_finditer(text):
    found = [(m.span(), m.group()) for m in _identifiers._zh_announcement_matches(text)]
    assert found == [(m.span(), m.group()) for m in _identifiers._ANN_ZH.finditer(text)]
    # and the pattern's leading lookahead changes no match (nor any group)
    plain = re.compile(_identifiers._ANN_ZH_BODY)
    assert [(m.span(), m.groupdict()) for m in _identifiers._ANN_ZH.finditer(text)] == [
        (m.span(), m.groupdict()) for m in plain.finditer(text)]


_NEEDLE_PIECES = st.sampled_from(["镓", "锗", "、", "镓、锗", "实体清单", "两用物项", "美光", "云服务", "人工智能扩散",
                                  "ai扩散", "晶圆代工", "芯片", " ", "the ", "AI Diffusion", "Micron", "x", "\ud800",
                                  "semiconductor", "semiconductors", "Foundry", "foundries", "HBM", "h200", "2022",
                                  "entity", "dual", "-", "_", ".", "\x01", "\t", "\x1c", "é", "\u212a", "advanced",
                                  "computing", "intelligence", "artificial", "a800", "export", "s", "0"])
_CATALOG = Catalog.load()
_ONE_BY_ONE = Catalog.load()
_ONE_BY_ONE._keywords._literal_automaton = None  # the text's set of words and a search per needle, as before


@settings(max_examples=500, deadline=None)
@given(st.lists(_NEEDLE_PIECES, max_size=20).map("".join), st.lists(_NEEDLE_PIECES, max_size=20).map("".join))
def test_the_keyword_automaton_equals_the_words_and_one_search_per_needle(title, summary):
    catalog, one_by_one = _CATALOG, _ONE_BY_ONE
    keywords = catalog._keywords
    texts = Texts({"title": title, "summary": summary})
    present = keywords._present(texts.joined)
    if present is not None:
        asked = {word for word in keywords._literal_words if word is not None}
        assert present[0] == asked & texts.words
        assert present[1] == {i for i, needle in enumerate(keywords._needles) if needle in texts.joined}
    item = {"title": title, "summary": summary}
    assert catalog._keywords.matches(Texts(item)) == one_by_one._keywords.matches(Texts(item))
    assert catalog.analyse(item) == one_by_one.analyse(item)


@pytest.mark.parametrize("url, number", [
    ("https://www.federalregister.gov/documents/2025/01/15/2025-00636/framework", "2025-00636"),
    ("HTTPS://WWW.FEDERALREGISTER.GOV/d/2025-00636", "2025-00636"),
    ("https://www.govinfo.gov/content/pkg/FR-2025-01-15/pdf/2025-00636.pdf", "2025-00636"),
    ("https://example.com/federalregister.gov/2025-00636", None),
    ("https://evilfederalregister.gov/d/2025-00636", None),
    ("https://news.example/2025-00636", None),
    ("http://[::1", None),
])
def test_document_numbers_in_urls(url, number):
    assert _identifiers._document_in_url(url) == number


@settings(max_examples=500, deadline=None)
@given(st.lists(_ID_PIECES | st.sampled_from(["H.R. 12", "S. 1705", "H.J.Res. 7", "S.Con.Res.9", "HR 1", "H ", "S",
                                               "US ", "Res", ".", "IS-", "BIS", "C1"]), max_size=30).map("".join))
def test_without_a_digit_before_a_dash_only_bills_are_searched_and_found_alike(text):
    if not _identifiers._may_hold_digit_id(text):
        assert _identifiers._DIGIT_IDS.search(text) is None
        assert [(m.span(), m.lastgroup) for m in _identifiers._BILL_IDS.finditer(text)] == \
            [(m.span(), m.lastgroup) for m in _identifiers._CAPITAL_IDS.finditer(text)]


@pytest.mark.parametrize("text, start", [("商务部令 2024", 5), ("令\u3000\t2024", 3), ("2024", 0), ("命令x 2024", 4),
                                         ("  2024", 2), ("令", 1)])
def test_a_decree_is_told_as_before(text, start):
    assert _identifiers._after_decree(text, start) == text[:start].rstrip().endswith("令")


def test_evidence_built_fast_equals_evidence():
    from monitor.detect.catalog.records import evidence

    fast, plain = evidence("identifier", "rin", "0694-AJ90", "title", 3, 12), \
        Evidence("identifier", "rin", "0694-AJ90", "title", 3, 12)
    assert fast == plain and hash(fast) == hash(plain) and fast.__dict__ == plain.__dict__
    assert evidence("context", "date", "2025-01-15", "published") == Evidence("context", "date", "2025-01-15", "published")


def test_the_rules_dated_near_a_day_are_those_with_a_window_over_it():
    """``also_about`` finds the rules dated near an item's day by bisecting the windows' bounds;
    against every window tested on every day, for the shipped rules and with configured ones
    (overlapping and adjoining windows: a date 21 days after another)."""
    extra = [RuleConfig.model_validate({"id": f"x-{n}", "title": "X", "jurisdiction": "US", "keywords": ["x"],
                                        "dates": {"a": day, "b": day + dt.timedelta(days=21)}}).model_dump()
             for n, day in enumerate([dt.date(2024, 12, 2), dt.date(2024, 12, 9), dt.date(2025, 1, 15)])]
    for catalog in (Catalog.load(), Catalog.load(extra)):
        days = [low for _rid, windows in catalog._windows for low, _high in windows]
        assert len(days) > 20
        for day in range(min(days) - 40, max(days) + 60):
            expected = {rid for rid, windows in catalog._windows if any(low <= day <= high for low, high in windows)}
            assert set(catalog._dated_near(day)) == expected, day
            assert len(catalog._dated_near(day)) == len(expected)


_ISSUER_PIECES = st.sampled_from([
    "mofcom", "MOFCOM", "MoFCoM", "ministry of commerce", "Ministry of Commerce", "mınistry of commerce",
    "İ", "ı", "ſ", "\u212a", "gacc", "GACC", "cac", "CAC", "china customs", "China", "cyberspace administration of china",
    "general administration of customs", "商务部", "商務部", "海关总署", "国家发展和改革委员会", "国家发展改革委", "国务院",
    "外交部", "公安部", "x", "X1", " ", "-", ".", "'s", "年", "\ud800", "\n", "é",
])


@settings(max_examples=500, deadline=None)
@given(st.lists(_ISSUER_PIECES, max_size=20).map("".join), st.lists(_ISSUER_PIECES, max_size=20).map("".join))
def test_the_issuers_an_item_names_are_those_the_whole_pattern_finds(title, summary):
    """``Texts.issuers`` tries the pattern only where a name starts; against ``finditer`` on the
    whole text (adjoining and overlapping names, letters next to them, case and its Unicode folds)."""
    texts = Texts({"title": title, "summary": summary})
    whole = set()
    for _name, norm in texts.normalized:
        for match in _identifiers.ISSUER_ANYWHERE.finditer(norm):
            whole.add(issuer_of(match.group()))
    assert texts.issuers() == whole
