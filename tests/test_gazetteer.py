"""The gazetteer (countries, regions, companies) and the shared text normalisation."""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import CompanyConfig, RegionConfig
from monitor.detect.gazetteer import (
    Gazetteer,
    GazetteerError,
    Match,
    _WORD,
    _match,
    _shipped_data,
)
from monitor.detect.text import CJK, _t2s, normalize


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.load()


def tags(gaz: Gazetteer, text: str, **extra):
    return gaz.tag({"title": text}, **extra)


def found(gaz: Gazetteer, text: str) -> set[tuple[str, str]]:
    return {(m.kind, m.slug) for m in gaz.find({"title": text})}


def countries(gaz: Gazetteer, text: str) -> tuple[str, ...]:
    return tags(gaz, text).countries


def companies(gaz: Gazetteer, text: str) -> tuple[str, ...]:
    return tags(gaz, text).companies


def regions(gaz: Gazetteer, text: str) -> tuple[str, ...]:
    return tags(gaz, text).regions


def assert_offsets(matches, fields) -> None:
    for m in matches:
        original = fields[m.field]
        assert 0 <= m.start < m.end <= len(original)
        assert original[m.start : m.end] == m.text


# --- normalize ---------------------------------------------------------------------------------


def test_normalize_keeps_length_and_offsets():
    assert normalize("ＡＭＤ，ＵＡＥ（２０２５）") == "AMD,UAE(2025)"
    assert normalize("美國商務部對輝達、英偉達") == "美国商务部对辉达、英伟达"
    assert normalize("臺灣 台灣") == "台湾 台湾"
    # NFKC only where it yields one character: ligatures and squared words stay as they are
    assert normalize("ﬁ ㈱ …") == "ﬁ ㈱ …"
    # case is not folded; ASCII comes back as it is
    text = "The U.S. and Nvidia"
    assert normalize(text) is text
    assert normalize("Ｎｖｉｄｉａ") == "Nvidia"
    # CJK compatibility ideographs and mathematical letters
    assert normalize("\uf900𝐀") == "岂A"  # U+F900 → 豈 (NFKC) → 岂 (t2s)


def test_normalize_survives_lone_surrogates():
    text = "美國\ud800輝達"
    out = normalize(text)
    assert len(out) == len(text)
    assert out == "美国\ud800辉达"


def test_cjk_pattern():
    assert CJK.search("美国")
    assert CJK.search("𠀀")
    assert not CJK.search("US, ＡＭＤ，")


@given(st.text(max_size=200))
def test_normalize_is_per_character_nfkc_then_t2s(text):
    out = normalize(text)
    assert len(out) == len(text)
    per_char = "".join(
        n if len(n := unicodedata.normalize("NFKC", c)) == 1 else c for c in text
    )
    assert out == _t2s(per_char)


def test_no_character_above_plane_2_changes_under_nfkc():
    # monitor.detect.text builds its NFKC table for planes 0-2 only
    assert not any(
        unicodedata.normalize("NFKC", chr(cp)) != chr(cp) for cp in range(0x30000, 0x110000)
    )


# --- English -----------------------------------------------------------------------------------


def test_middle_east_slowdown_story(gaz):
    text = ("US officials slowed licenses for Nvidia and AMD accelerators to the UAE, Saudi Arabia "
            "and Qatar; Intel and Cerebras were also mentioned.")
    t = tags(gaz, text)
    assert t.countries == ("AE", "QA", "SA", "US")
    assert t.companies == ("amd", "cerebras", "intel", "nvidia")
    assert {"middle-east", "gulf", "north-america"} <= set(t.regions)
    assert "ai-diffusion-tier-2" not in t.regions
    assert_offsets(t.matches, {"title": text})


def test_case_rules(gaz):
    assert countries(gaz, "let us know") == ()
    assert countries(gaz, "the US said") == ("US",)
    assert countries(gaz, "LET US KNOW") == ("US",)  # accepted: "US" in capitals is the country
    assert countries(gaz, "the U.S. said; the u.s. said") == ("US",)
    assert len(gaz.find({"t": "the U.S. said; the u.s. said"})) == 1
    assert companies(gaz, "AMD shares") == ("amd",)
    assert companies(gaz, "amd shares") == ()
    assert companies(gaz, "NVIDIA, nvidia and Nvidia") == ("nvidia",)
    assert len(gaz.find({"t": "NVIDIA, nvidia and Nvidia"})) == 3
    assert companies(gaz, "artificial intelligence and intel officials") == ()
    assert companies(gaz, "Intel and INTEL") == ("intel",)
    assert companies(gaz, "a meta-analysis; Meta-analysis of results") == ()
    assert companies(gaz, "Meta and Oracle") == ("meta", "oracle")
    assert companies(gaz, "an oracle said; a 5 micron process") == ()
    assert companies(gaz, "Micron") == ("micron",)
    assert countries(gaz, "polish the rules") == ()
    assert countries(gaz, "Polish firms") == ("PL",)
    assert regions(gaz, "a widening gulf between them") == ()
    assert "gulf" in regions(gaz, "data centres in the Gulf")
    assert regions(gaz, "the eu rules") == ()
    assert "eu" in regions(gaz, "the EU rules")


def test_word_boundaries(gaz):
    assert countries(gaz, "Indiana, Omaha, woman, Iranian-born") == ("IR",)
    assert companies(gaz, "Intelligent systems; intelsat") == ()
    assert countries(gaz, "US-China talks") == ("CN", "US")
    assert countries(gaz, "U.S.-China talks") == ("CN", "US")
    assert countries(gaz, "China's rules, the UAE's G42") == ("AE", "CN")
    assert companies(gaz, "the UAE's G42 and G420") == ("g42",)


def test_longest_first(gaz):
    assert countries(gaz, "North Korea and North Korean hackers") == ("KP",)
    assert countries(gaz, "South Korea and Korea") == ("KR",)
    assert countries(gaz, "Korean memory makers") == ("KR",)
    assert countries(gaz, "the Democratic People's Republic of Korea") == ("KP",)
    assert countries(gaz, "the People's Republic of China") == ("CN",)
    assert countries(gaz, "the Republic of China (Taiwan)") == ("TW",)
    assert countries(gaz, "Chinese Taipei") == ("TW",)
    assert countries(gaz, "South Sudan") == ("SS",)
    assert countries(gaz, "patrols in the South China Sea and the East China Sea") == ()
    assert countries(gaz, "the South China Morning Post reported") == ()
    assert countries(gaz, "Latin America and New Mexico") == ()
    assert "north-america" in regions(gaz, "North American buyers")
    assert countries(gaz, "North American buyers") == ()


def test_taiwan_semiconductor_tags_tsmc_and_taiwan(gaz):
    t = tags(gaz, "Taiwan Semiconductor Manufacturing Co said")
    assert t.companies == ("tsmc",)
    assert t.countries == ("TW",)
    assert {(m.kind, m.text) for m in t.matches} == {
        ("company", "Taiwan Semiconductor Manufacturing Co"),
        ("country", "Taiwan Semiconductor Manufacturing Co"),
    }
    t = tags(gaz, "TSMC said")
    assert (t.companies, t.countries) == (("tsmc",), ())
    t = tags(gaz, "台積電表示")
    assert (t.companies, t.countries) == (("tsmc",), ())


def test_names_that_are_people_or_places_elsewhere(gaz):
    assert countries(gaz, "Rep. Jim Jordan asked") == ()
    assert countries(gaz, "exports to Jordan") == ("JO",)
    assert countries(gaz, "Atlanta, Georgia") == ()
    assert countries(gaz, "the Republic of Georgia; Tbilisi") == ("GE",)
    assert countries(gaz, "格鲁吉亚") == ("GE",)
    assert companies(gaz, "the Amazon rainforest") == ()
    assert companies(gaz, "Amazon and AWS") == ("amazon",)
    assert regions(gaz, "the Gulf of Mexico") == ()


def test_arm_the_company_not_the_verb(gaz):
    assert companies(gaz, "US Moves to Arm Taiwan; an arm of the state; an arms embargo") == ()
    assert companies(gaz, "ARMS EMBARGO") == ()
    assert companies(gaz, "Arm says U.S. curbs bar it from selling top chip designs") == ("arm",)
    assert companies(gaz, "Arm Holdings and Arm China; 安谋") == ("arm",)
    assert gaz.name("company", "arm") == "Arm"


def test_hisilicon_has_its_own_slug(gaz):
    assert companies(gaz, "HiSilicon chips") == ("hisilicon",)
    assert companies(gaz, "海思") == ("hisilicon",)
    assert companies(gaz, "华为海思") == ("hisilicon", "huawei")
    assert companies(gaz, "Huawei and its HiSilicon unit") == ("hisilicon", "huawei")


def test_cities_add_nothing(gaz):
    assert countries(gaz, "Abu Dhabi, Beijing, Madrid, Texas, Georgia, Brussels") == ()
    assert countries(gaz, "台北國際電腦展開幕") == ()
    assert countries(gaz, "内蒙古、大马士革、Inner Mongolia, Northern Ireland") == ()
    assert companies(gaz, "The Oracle of Omaha's letter") == ()
    assert countries(gaz, "Samsung China Semiconductor; Seagate Singapore") == ("CN", "SG")
    assert countries(gaz, "Tokyo Electron") == ()


def test_a_rejected_case_does_not_hide_what_it_contains(gaz):
    # "U.S.a." is not "U.S.A." (case-sensitive) but starts with "U.S."
    assert countries(gaz, "made in the U.S.a. today") == ("US",)
    assert companies(gaz, "sk海力士") == ("sk-hynix",)
    assert companies(gaz, "SK海力士") == ("sk-hynix",)


# --- Chinese -----------------------------------------------------------------------------------


def test_simplified_and_traditional_names(gaz):
    assert countries(gaz, "美国商务部") == ("US",)
    assert countries(gaz, "美國商務部") == ("US",)
    assert companies(gaz, "英伟达、辉达、英偉達、輝達") == ("nvidia",)
    assert countries(gaz, "阿联酋、阿拉伯聯合大公國、阿拉伯联合酋长国") == ("AE",)
    assert countries(gaz, "沙特、沙烏地阿拉伯、卡塔尔、卡達") == ("QA", "SA")
    assert countries(gaz, "新加坡、馬來西亞、越南、印度") == ("IN", "MY", "SG", "VN")
    assert countries(gaz, "荷蘭、德國、英國、法國、日本") == ("DE", "FR", "GB", "JP", "NL")
    assert countries(gaz, "台湾、台灣、臺灣") == ("TW",)
    assert countries(gaz, "澳門、香港") == ("HK", "MO")
    assert companies(gaz, "微軟、亞馬遜、英特爾、甲骨文") == ("amazon", "intel", "microsoft", "oracle")


def test_korea_names(gaz):
    assert countries(gaz, "韩国与南韩") == ("KR",)
    assert countries(gaz, "朝鲜与北韓") == ("KP",)


def test_amd_and_supermicro(gaz):
    assert companies(gaz, "超微电脑") == ("supermicro",)
    assert companies(gaz, "超微電腦") == ("supermicro",)
    assert companies(gaz, "美超微") == ("supermicro",)
    assert companies(gaz, "超微与超威") == ("amd",)
    assert companies(gaz, "超微型电机") == ()


def test_pairs_name_both_sides(gaz):
    t = tags(gaz, "中美关系")
    assert t.countries == ("CN", "US")
    assert [m.text for m in t.matches] == ["中美", "中美"]
    assert countries(gaz, "中俄、美日") == ("CN", "JP", "RU", "US")
    assert countries(gaz, "港澳") == ("HK", "MO")
    t = tags(gaz, "中欧班列")
    assert t.countries == ("CN",)
    assert {"eu", "europe", "china"} <= set(t.regions)


def test_pairs_do_not_swallow_a_following_name(gaz):
    # "其中" (among them) + "美国": not China-US
    assert countries(gaz, "其中美国表示") == ("US",)
    assert countries(gaz, "其中俄罗斯") == ("RU",)
    assert countries(gaz, "中美洲国家") == ()
    assert countries(gaz, "该方案中方案文") == ()
    assert countries(gaz, "中方表示") == ("CN",)
    assert countries(gaz, "美方") == ("US",)
    assert "eu" in regions(gaz, "欧方")


def test_one_character_forms_for_the_state(gaz):
    assert countries(gaz, "商务部暂停实施对美两用物项出口管制公告") == ("US",)
    assert countries(gaz, "中國暫停對美鎵鍺銻出口禁令") == ("CN", "US")
    assert countries(gaz, "壁仞科技、摩尔线程被美列入实体清单") == ("US",)
    assert countries(gaz, "美议员提出《芯片安全法案》") == ("US",)
    assert countries(gaz, "美參議員提《晶片安全法案》") == ("US",)
    assert countries(gaz, "腾讯：美出口管制影响有限") == ("US",)
    assert countries(gaz, "長江存儲等36家中企被列入實體清單") == ("CN",)
    assert countries(gaz, "其中企业表示") == ()
    assert countries(gaz, "我国8月镓锗出口量降至零") == ("CN",)
    assert countries(gaz, "內地對美光啟動網絡安全審查") == ("CN",)
    assert companies(gaz, "內地對美光啟動網絡安全審查") == ("micron",)
    assert countries(gaz, "对美元汇率；美白；美的集团") == ()
    assert countries(gaz, "美國批准輝達晶片出口沙烏地Humain與阿聯G42") == ("AE", "SA", "US")
    assert companies(gaz, "美國批准輝達晶片出口沙烏地Humain與阿聯G42") == ("g42", "humain", "nvidia")
    assert countries(gaz, "中超、英超、台风、德州儀器") == ()


def test_towards_china_is_not_huawei(gaz):
    assert countries(gaz, "美国对华芯片出口管制") == ("CN", "US")
    assert countries(gaz, "美國對華晶片出口管制") == ("CN", "US")
    assert countries(gaz, "美国对华为实施制裁") == ("US",)
    assert companies(gaz, "美国对华为实施制裁") == ("huawei",)
    assert countries(gaz, "他在华盛顿表示") == ()
    assert countries(gaz, "其中国家安全是首要考虑") == ()
    assert countries(gaz, "集中资源") == ()


def test_territories_and_mainland(gaz):
    assert countries(gaz, "中国台湾地区") == ("TW",)
    assert countries(gaz, "中國香港") == ("HK",)
    assert countries(gaz, "大陆市场") == ("CN",)
    assert countries(gaz, "大陸市場") == ("CN",)
    t = tags(gaz, "欧洲大陆")
    assert t.countries == ()
    assert "europe" in t.regions
    assert countries(gaz, "大陆架") == ()


def test_contained_chinese_names(gaz):
    assert countries(gaz, "印度尼西亚") == ("ID",)
    assert countries(gaz, "白俄罗斯") == ("BY",)
    assert countries(gaz, "12月3日本报讯") == ()
    assert tags(gaz, "中东南亚").regions == ("southeast-asia",)
    assert "middle-east" in regions(gaz, "中东地区")


def test_offsets_point_into_the_original(gaz):
    fields = {
        "title": "輝達與超微電腦對阿拉伯聯合大公國出口",
        "summary": "ＮＶＩＤＩＡ与ＡＭＤ向ＵＡＥ（阿聯酋）出口；Ｔａｉｗａｎ",
    }
    t = gaz.tag(fields)
    assert_offsets(gaz.find(fields), fields)
    assert_offsets(t.matches, fields)
    assert t.companies == ("amd", "nvidia", "supermicro")
    assert t.countries == ("AE", "TW")
    first = t.matches[0]
    assert (first.field, first.start, first.end, first.text, first.alias) == ("title", 0, 2, "輝達", "輝達")
    full_width = [m for m in gaz.find(fields) if m.text == "ＡＭＤ"]
    assert [(m.slug, m.alias) for m in full_width] == [("amd", "AMD")]


# --- regions -----------------------------------------------------------------------------------


def test_region_derivation(gaz):
    assert regions(gaz, "the UAE") == ("gulf", "middle-east")
    assert regions(gaz, "阿联酋") == ("gulf", "middle-east")
    china = regions(gaz, "China")
    assert "china" in china and "east-asia" in china
    assert not {"ai-diffusion-tier-3", "arms-embargoed"} & set(china)
    assert "ai-diffusion-tier-1" not in regions(gaz, "Japan and the Netherlands")
    assert regions(gaz, "Tier 2 countries") == ("ai-diffusion-tier-2",)
    assert regions(gaz, "第二层级国家") == ("ai-diffusion-tier-2",)
    assert regions(gaz, "第三層級") == ("ai-diffusion-tier-3",)
    assert regions(gaz, "tier 2 suppliers") == ()
    assert set(regions(gaz, "arms-embargoed countries")) == {"ai-diffusion-tier-3", "arms-embargoed"}
    assert regions(gaz, "Country Group D:5") == ("arms-embargoed",)
    # a named region implies the implied regions that contain it
    assert regions(gaz, "the Gulf states") == ("gulf", "middle-east")
    assert regions(gaz, "EU rules") == ("eu", "europe")
    assert regions(gaz, "Greater China") == ("china", "east-asia")


def test_extras_are_merged_and_derive(gaz):
    t = gaz.tag({"title": "Nvidia"}, extra_countries=["AE"], extra_regions=["ai-diffusion-tier-3"],
                extra_companies=["amd"])
    assert t.countries == ("AE",)
    assert t.companies == ("amd", "nvidia")
    assert set(t.regions) == {"ai-diffusion-tier-3", "gulf", "middle-east"}
    assert [m.slug for m in t.matches] == ["nvidia"]


def test_tags_deduplicate_evidence_find_does_not(gaz):
    fields = {"title": "Nvidia and AMD", "summary": "Nvidia said; Nvidia and amd"}
    t = gaz.tag(fields)
    assert [(m.field, m.slug, m.start) for m in t.matches] == [
        ("title", "nvidia", 0), ("title", "amd", 11)
    ]
    assert [(m.field, m.slug, m.start) for m in gaz.find(fields)] == [
        ("title", "nvidia", 0), ("title", "amd", 11), ("summary", "nvidia", 0), ("summary", "nvidia", 13)
    ]


def test_empty_and_missing_fields(gaz):
    t = gaz.tag({"title": "", "summary": None})  # type: ignore[dict-item]
    assert t == type(t)((), (), (), ())


# --- the data ----------------------------------------------------------------------------------


def test_shipped_data_is_consistent(gaz):
    known = set(gaz.countries)
    for region in gaz.regions.values():
        assert region.countries <= known, region.slug
    tier1 = gaz.region_countries("ai-diffusion-tier-1")
    assert len(tier1) == 19 and {"US", "TW", "KR", "JP", "NL", "GB"} <= tier1
    assert len(gaz.region_countries("eu")) == 27
    assert gaz.region_countries("gulf") == {"AE", "SA", "QA", "KW", "BH", "OM"}
    assert gaz.region_countries("gulf") <= gaz.region_countries("middle-east")
    assert gaz.region_countries("china") == {"CN", "HK", "MO"}
    assert {"CN", "MO", "RU", "IR", "KP", "BY"} <= gaz.region_countries("ai-diffusion-tier-3")
    for slug in ("ai-diffusion-tier-1", "ai-diffusion-tier-2", "ai-diffusion-tier-3", "arms-embargoed",
                 "five-eyes"):
        assert gaz.regions[slug].implied_by_countries is False
    required = {
        "nvidia", "amd", "intel", "micron", "amazon", "microsoft", "google", "oracle", "meta", "openai",
        "anthropic", "huawei", "hisilicon", "alibaba", "baidu", "tencent", "bytedance", "smic", "tsmc", "asml",
        "samsung", "sk-hynix", "cerebras", "applied-materials", "lam-research", "kla", "tokyo-electron",
        "ymtc", "cxmt", "g42", "humain", "inspur", "sugon", "cambricon", "biren", "moore-threads",
        "hygon", "qualcomm", "broadcom", "arm", "supermicro", "dell", "hpe", "coreweave",
    }
    assert required <= set(gaz.companies)
    # every entry finds itself by its name
    for kind, table in (("country", gaz.countries), ("region", gaz.regions), ("company", gaz.companies)):
        for slug, entry in table.items():
            assert (kind, slug) in found(gaz, f"({entry.name})"), (kind, slug)


def test_names_and_read_only_views(gaz):
    assert gaz.name("region", "middle-east") == "Middle East"
    assert gaz.name("company", "nvidia") == "Nvidia"
    assert gaz.name("country", "AE") == "United Arab Emirates"
    assert gaz.name("country", "XK") == "XK"
    with pytest.raises(ValueError):
        gaz.name("city", "x")
    assert gaz.region_countries("nowhere") == frozenset()
    with pytest.raises(TypeError):
        gaz.companies["x"] = None  # type: ignore[index]


def test_fast_match_equals_match():
    a = Match("country", "US", "US", "title", 1, 3, "US")
    b = _match("country", "US", "US", "title", 1, 3, "US")
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.slug = "CN"  # type: ignore[misc]


# --- configuration -----------------------------------------------------------------------------


def test_config_adds_and_replaces():
    gaz = Gazetteer.load(
        regions={
            "transshipment-hubs": RegionConfig(name="Transshipment hubs", countries=["SG", "MY", "AE"],
                                               aliases=["transshipment hubs", "转运枢纽"]),
            "middle-east": RegionConfig(name="Middle East (GCC only)", countries=["AE", "SA"],
                                        aliases=["Middle East"]),
            "ai-diffusion-tier-3": RegionConfig(name="Tier 3", countries=["CN"], aliases=["Tier 3"]),
        },
        companies={
            "nvidia": CompanyConfig(name="Nvidia Corp", aliases=["NVDA"]),
            "zhipu": CompanyConfig(name="Zhipu AI", aliases=["智谱"]),
        },
    )
    t = gaz.tag({"title": "Transshipment hubs such as Singapore"})
    assert t.regions == ("southeast-asia", "transshipment-hubs")
    assert "transshipment-hubs" in gaz.tag({"title": "转运枢纽"}).regions
    assert "transshipment-hubs" in gaz.tag({"title": "Malaysia"}).regions  # new regions are implied
    # a replaced region keeps its implied_by_countries; its countries are the configured ones
    assert gaz.region_countries("middle-east") == {"AE", "SA"}
    assert "middle-east" not in gaz.tag({"title": "Israel"}).regions
    assert "ai-diffusion-tier-3" not in gaz.tag({"title": "China"}).regions
    assert gaz.name("region", "middle-east") == "Middle East (GCC only)"
    # a replaced company loses the shipped aliases
    assert gaz.tag({"title": "NVDA and Nvidia Corp"}).companies == ("nvidia",)
    assert gaz.tag({"title": "英伟达"}).companies == ()
    assert gaz.tag({"title": "智谱 and Zhipu AI"}).companies == ("zhipu",)
    # the shipped gazetteer is untouched
    assert Gazetteer.load().tag({"title": "英伟达"}).companies == ("nvidia",)


def test_bad_data_is_refused_with_its_place():
    with pytest.raises(GazetteerError, match=r"\[countries.usa\]"):
        Gazetteer.from_data({"countries": {"usa": {"name": "US"}}})
    with pytest.raises(GazetteerError, match=r"\[regions.x\]: countries"):
        Gazetteer.from_data({"regions": {"x": {"name": "X", "countries": ["United States"]}}})
    with pytest.raises(GazetteerError, match=r"unknown company 'nope'"):
        Gazetteer.from_data({"compounds": [{"alias": "x", "companies": ["nope"]}]})
    with pytest.raises(GazetteerError, match=r"unknown key\(s\): alias"):
        Gazetteer.from_data({"companies": {"x": {"name": "X", "alias": ["y"]}}})


def test_custom_data_schema():
    data = {
        "countries": {"US": {"name": "United States", "aliases": ["US"]},
                      "CN": {"name": "China", "aliases": ["中国"]}},
        "regions": {"pacific": {"name": "Pacific", "countries": ["US", "CN"], "aliases": ["Pacific"],
                                "implied_by_countries": False}},
        "companies": {"acme": {"name": "Acme Corp", "aliases": ["Acme Inc"], "case_sensitive": ["ACME"]},
                      "acme-2": {"name": "Second", "aliases": ["acme"]}},
        "compounds": [{"alias": "中美", "countries": ["CN", "US"]}],
        "guards": [{"alias": "中美", "not_followed_by": ["洲"]}],
        "block": {"phrases": ["Pacific Rim"]},
    }
    gaz = Gazetteer.from_data(data)
    assert gaz.tag({"t": "中美 and Acme"}).countries == ("CN", "US")
    assert gaz.tag({"t": "中美洲"}).countries == ()
    assert gaz.tag({"t": "Acme Inc"}).companies == ("acme",)
    # "acme" (any case) is acme-2; "ACME" exactly is also acme
    assert [(m.slug, m.text) for m in gaz.find({"t": "acme ACME"})] == [
        ("acme-2", "acme"), ("acme", "ACME"), ("acme-2", "ACME")
    ]
    assert gaz.tag({"t": "the Pacific Rim"}).regions == ()
    assert gaz.tag({"t": "the Pacific"}).regions == ("pacific",)
    assert gaz.tag({"t": "US"}).regions == ()  # not implied by countries


# --- properties --------------------------------------------------------------------------------


def _aliases() -> list[str]:
    data = _shipped_data()
    out: list[str] = []
    for section in ("countries", "regions", "companies"):
        for entry in data[section].values():
            out += [entry["name"], *entry.get("aliases", []), *entry.get("case_sensitive", [])]
    out += [c["alias"] for c in data["compounds"]]
    out += ["美國", "英偉達", "輝達", "亞馬遜", "微軟", "ＮＶＩＤＩＡ", "ＵＡＥ", "Ｔａｉｗａｎ", "超微電腦", "臺灣"]
    return out


ALIASES = _aliases()
pieces = st.one_of(
    st.sampled_from(ALIASES),
    st.sampled_from(ALIASES).map(str.lower),
    st.sampled_from(ALIASES).map(str.upper),
    st.text(max_size=6),
    st.sampled_from([" ", "，", "、", "-", "'s", "\u0130", "ﬁ", "𝐀", "\uf900", "中", "美", "国", "其", "方",
                     "洲", "Jim ", " Sea", "u.s.", "a", "Ａ"]),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pieces, max_size=12).map("".join))
def test_offsets_always_slice_the_original(text):
    gaz = _GAZ
    fields = {"title": text, "summary": text.upper()}
    matches = gaz.find(fields)
    assert_offsets(matches, fields)
    t = gaz.tag(fields)
    assert_offsets(t.matches, fields)
    assert set(t.matches) <= set(matches)
    # no reported occurrence lies inside another one of the same field
    for a in matches:
        for b in matches:
            if a.field == b.field and (a.start, a.end) != (b.start, b.end):
                assert not (b.start <= a.start and a.end <= b.end), (a, b)


def test_a_lone_surrogate_does_not_stop_the_scan():
    # The automaton takes UTF-8: a text with a lone surrogate is scanned with U+FFFD in its place.
    tags = _GAZ.tag({"t": "\ud800Nvidia \udfff美国 to the UAE\ud800"})
    assert tags.companies == ("nvidia",) and set(tags.countries) == {"AE", "US"}
    assert [m.text for m in tags.matches] == ["Nvidia", "美国", "UAE"]


@given(st.sampled_from(ALIASES))
def test_every_alias_finds_something_on_its_own(alias):
    assert _GAZ.find({"t": f"« {alias} »"}), alias


_GAZ = Gazetteer.load()


def _reference_spans(gaz: Gazetteer, text: str):
    """The occurrences by brute force: at every offset, every key, with boundaries, guards and
    case checked by hand, the longest occurrence there; then only the outermost ones."""
    word = re.compile(f"[{_WORD}]")
    scanner = gaz._scanner
    norm = normalize(text)
    low = norm.lower() if len(norm.lower()) == len(norm) else "".join(
        c.lower() if len(c.lower()) == 1 else c for c in norm)
    spans = []
    for p in range(len(low)):
        best = None
        for key, info in scanner.keys.items():
            end = p + len(key)
            if not low.startswith(key, p):
                continue
            latin = word.match(key[0])
            if latin and p > 0 and word.match(low[p - 1]):
                continue
            if word.match(key[-1]) and end < len(low) and word.match(low[end]):
                continue
            guard = scanner.guards.get(key)
            if guard and (any(low.startswith(f, end) for f in guard.not_followed_by)
                          or any(low[:p].endswith(b) for b in guard.not_preceded_by)):
                continue
            exact = [t for sp, t in info.exact if sp == norm[p:end]]
            targets = set(info.always) | set(exact)
            if info.exact and not targets:
                continue  # rejected for its case
            if best is None or end > best[1]:
                best = (p, end, frozenset(targets))
        if best is not None:
            spans.append(best)
    out = set()
    for s in spans:
        inside = any(o[0] <= s[0] and s[1] <= o[1] and (o[1] - o[0]) > (s[1] - s[0]) for o in spans)
        if not inside and s[2]:
            out.add(s)
    return out


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(pieces, max_size=8).map("".join))
def test_matcher_agrees_with_brute_force(text):
    got = {(s, e, frozenset(t)) for s, e, t in _GAZ._spans(text)}
    assert got == _reference_spans(_GAZ, text)


def test_labelled_corpus_countries_and_companies():
    # tests/corpus/items.jsonl: hand-labelled items (EN, Simplified and Traditional Chinese); the
    # gazetteer alone, on title and summary, against the labels of countries and companies.
    path = Path(__file__).parent / "corpus" / "items.jsonl"
    totals = {"countries": [0, 0, 0], "companies": [0, 0, 0]}  # true pos., false pos., false neg.
    wrong = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        item = record["item"]
        t = _GAZ.tag({k: item[k] for k in ("title", "summary") if item.get(k)})
        for name, got in (("countries", set(t.countries)), ("companies", set(t.companies))):
            want = set(record["expected"].get(name) or ())
            counts = totals[name]
            counts[0] += len(got & want)
            counts[1] += len(got - want)
            counts[2] += len(want - got)
            if got != want:
                wrong.append((record["id"], name, sorted(got - want), sorted(want - got)))
    for name, (tp, fp, fn) in totals.items():
        assert tp / (tp + fp) >= 0.95 and tp / (tp + fn) >= 0.95, (name, totals, wrong)
