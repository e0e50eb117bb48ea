"""What kind of change an item is, and how severe: pure rules over its fields and its text.

Federal Register documents are classified by their own structured fields first (``type`` and
``action`` are the only place "interim final rule", "correcting amendment" or "extension of
comment period" is stated); text is read for everything else, in English and Chinese (Traditional
text is normalised to Simplified before matching). Each decision keeps the phrases that made it.

Severity policy (also in the README):

- high: a new or amended rule, an Entity List change, a licence-policy change, a countermeasure or
  a rescission, from an official source (the Federal Register, a government notice list, a feed
  with a jurisdiction); the same kinds reported by the press are medium;
- medium: a proposed rule, a comment-period or effective-date change, a correction of a known
  rule, a reported licence slowdown, legislation, a revision that moved a date or the title;
- low: a mention, a correction of an unknown rule, any other revision.
"""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from monitor.detect.literals import Literals
from monitor.detect.text import ItemText, normalize
from monitor.detect.windows import Starts
from monitor.vocabulary import FAMILY, KINDS  # noqa: F401  (KINDS re-exported for older imports)

HIGH_WHEN_OFFICIAL = frozenset({"new_rule", "rule_amended", "entity_list", "license_policy", "countermeasure", "rescission"})
MEDIUM = frozenset({"proposed_rule", "comment_period", "effective_date", "license_slowdown", "legislation"})
DATE_FIELDS = {"fields.comments_close_on": "comment_period", "fields.effective_on": "effective_date"}


@dataclass(frozen=True)
class Phrase:
    """Evidence for a decision: what matched, where."""

    name: str  # the rule of this module that fired, e.g. "action:correction", "text:license_slowdown"
    value: str  # the matched text, as in the original
    field: str
    start: int | None = None
    end: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": "phrase", "name": self.name, "value": self.value, "field": self.field,
                "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Decision:
    kind: str
    severity: str
    phrases: tuple[Phrase, ...]
    modality: str | None = None  # "reported": the press says a rule is planned or weighed, not made


def _rx(*patterns: str) -> re.Pattern[str]:
    # ASCII mode: \b then separates "AI" from a following Chinese character ("AI模型"), which
    # Unicode mode counts as part of the same word. Chinese literals match as written.
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.DOTALL | re.ASCII)


_RULE_NOUN = r"rules?|regulations?|framework|controls?|ban|measures?|requirements?|restrictions?|curbs?|orders?|polic(?:y|ies)"
_LICENCE = r"licen[cs](?:e|es|ing)|permits?"

_US = r"(?:美国|美方|美国政府|美国商务部|美商务部|美国总统|特朗普|拜登|美(?=[拟将对要禁限批撤吊放暂推延])|华盛顿)"
_CN_ACTOR = r"(?:(?<!美国)(?<!美)(?<!国)商务部|中国商务部|海关总署|中方|中国政府|国务院|网信办|市场监管总局|国家互联网信息办公室|北京)"

# Procedural kinds come first (a correction of an Entity List rule is a correction), then the
# kinds of substance, most specific first. The first kind whose pattern matches the text wins.
TEXT_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("correction", _rx(
        r"\bcorrecting amendment\b",
        r"\bcorrect(?:ion|ions|s|ed)\b[^.;]{0,40}?\b(?:rules?|regulations?|notice)\b",
        r"\b(?:rules?|regulations?)\b[^.;]{0,30}?\bcorrections?\b",
        r"(?:更正|勘误)",
    )),
    ("comment_period", _rx(
        r"\b(?:extend\w*|reopen\w*|extension)\b[^.;]{0,40}?\bcomment(?:s|ing)? (?:period|deadline)\b",
        r"\bcomment(?:s|ing)? (?:period|deadline)\b[^.;]{0,40}?\b(?:extend\w*|reopen\w*)\b",
        r"延长[^。；]{0,30}?(?:意见|评论)(?:征询|征求)?期",
        r"(?:意见|评论)(?:征询|征求)?期[^。；]{0,10}?延长",
    )),
    ("effective_date", _rx(
        r"\b(?:effective|compliance) dates?\b[^.;]{0,40}?\b(?:delay\w*|postpon\w*|push\w*|moved?|moves|moving|accelerat\w*|brought forward|advanc\w*)\b",
        r"\b(?:delay\w*|postpon\w*|push\w* back|moves? up|moved up|bring\w* forward|brought forward)\b[^.;]{0,40}?\b(?:effective|compliance) dates?\b",
        r"提前实施|即日生效|立即生效|即时生效|推迟生效|延后生效|推迟实施|延后实施|暂缓实施|生效日期",
    )),
    ("rescission", _rx(
        rf"\b(?:rescind\w*|rescission|repeal\w*|scrap(?:s|ped|ping)?|withdr[ae]w\w*|lift(?:s|ed|ing)?|"
        rf"suspend(?:s|ed|ing)?|suspension|overturn\w*|roll(?:s|ed|ing)? back)\b[^.;]{{0,60}}?\b(?:{_RULE_NOUN})\b",
        rf"\b(?:{_RULE_NOUN})\b[^.;]{{0,40}}?\b(?:rescinded|repealed|scrapped|withdrawn|suspended|overturned)\b",
        r"(?:撤销|撤回|废除|废止|取消|暂停实施|暂停执行|停止实施|中止实施|中止执行|暂停适用)[^。；]{0,30}?(?:规则|规定|措施|禁令|公告|条款|框架|政策|第[0-9一二三四五六七八九十]+[款条])",
        r"(?:规则|规定|措施|禁令|框架|政策)[^。；]{0,10}?(?:被撤销|被废除|被取消|被撤回|被废止)",
    )),
    ("proposed_rule", _rx(
        r"\bproposed rule\w*\b", r"\bnotice of proposed rulemaking\b", r"\bA?NPRM\b",
        r"\bpropos(?:es|ed|ing)\b[^.;]{0,40}?\b(?:rules?|regulations?|requirements?)\b",
        r"拟议规则|征求意见稿|拟议",
        _US + r"[^。；]{0,4}?拟(?:要求|禁止|限制|规定|对|将|出台|制定)",
    )),
    ("license_slowdown", _rx(
        rf"\b(?:slow(?:ed|ing|s)?(?:\s+down)?|delay(?:ed|ing|s)?|paus(?:e|ed|es|ing)|held up|holding up|"
        rf"stall(?:ed|ing|s)?|sitting on|sat on|froze|frozen|freez(?:e|es|ing)|bottleneck\w*|backlog\w*)\b[^.;]{{0,60}}?\b(?:{_LICENCE}|shipments?|sales|deliveries|approvals?)\b",
        rf"\b(?:{_LICENCE}|shipments?|sales|deliveries)\b[^.;]{{0,60}}?\b(?:slow(?:ed|ing)?|delay(?:ed|s)?|paused|held up|stall(?:ed|ing)|frozen|backlog\w*|in limbo)\b",
        r"(?:放慢|放缓|暂停|推迟|延迟|延缓|搁置|冻结|拖延|停滞|卡住)[^。；]{0,15}?(?:许可|审批|执照|牌照)",
        r"(?:许可|审批|出货|交货|交付)[^。；]{0,15}?(?:放慢|放缓|推迟|延迟|延缓|搁置|冻结|拖延|停滞|受阻|卡关)",
    )),
    ("entity_list", _rx(
        r"(?<!unreliable )\bentity list\b",
        r"\b(?:trade|export|commerce) blacklist\b",
        r"(?:\bU\.S\.|\bUS\b|\bUnited States\b|\bWashington\b|\bCommerce Department\b|\bBIS\b)[^.;]{0,60}?\bblacklist\w*",
        r"(?<!不可靠)实体(?:管制)?清单",  # 实体管制清单: the long form
        # 實體名單: how Taiwan's press names the US list, and Taiwan's own list (not an Entity List action)
        _US + r"[^。；]{0,20}?实体名单",
        _US + r"[^。；]{0,20}?黑名单",
    )),
    ("countermeasure", _rx(
        r"\bunreliable entit(?:y|ies) list\b",
        r"\bcybersecurity review\b",
        r"\b(?:anti-?dumping|anti-?circumvention|anti-?discrimination|anti-?subsidy|anti-?monopoly|antitrust)\b",
        r"\b(?:gallium|germanium|antimony|graphite|rare[- ]earths?|superhard materials?|tungsten|indium)\b[^.;]{0,60}?\b(?:controls?|curbs?|bans?|restrict\w*|licen[cs]\w*|permits?)\b",
        r"\b(?:controls?|curbs?|bans?|restrict\w*|licen[cs]\w*|permits?)\b[^.;]{0,40}?\b(?:gallium|germanium|antimony|graphite|rare[- ]earths?|superhard materials?)\b",
        r"\b(?:china|chinese government|beijing|mofcom|commerce ministry|ministry of commerce|cac|samr)\b(?!'s)[^.;]{0,60}?\b(?:retaliat\w*|countermeasures?|"
        r"control list|blacklist\w*|bans?|banned|halts? exports?|restricts? exports?|summon\w*|probe\w*|investigat\w*|fin(?:e|es|ed))\b",
        # China as the one who acts: "China announces export controls on ...", "China's commerce
        # ministry adjusts UAV export controls", "China to impose export restrictions on ..."
        r"\b(?:china|beijing|chinese government|mofcom)\b(?:'s (?:commerce ministry|ministry of commerce))?\s+"
        r"(?:is\s+|to\s+|will\s+)?(?:announc\w*|impos\w*|introduc\w*|tighten\w*|expand\w*|restrict\w*|regulat\w*|adjust\w*|unveil\w*)"
        r"\b[^.;]{0,40}?\bexports?\b",
        r"不可靠实体清单|管控名单|网络安全审查|反倾销|反规避|反补贴|反歧视|反垄断|反制",
        r"(?:镓|锗|锑|石墨|稀土|超硬材料|钨)[^。；]{0,20}?(?:管制|管控|禁止|限制)",
        r"(?:管制|管控|禁止|限制)[^。；]{0,20}?(?:镓|锗|锑|石墨|稀土|超硬材料|钨)",
        _CN_ACTOR + r"[^。；]{0,30}?(?:出口管制|两用物项|禁止[^。；]{0,6}出口|约谈|立案调查|调查|审查|列入)",
        r"两用物项[^。；]{0,20}?对美",
    )),
    ("legislation", _rx(
        r"\bH\.?\s?R\.?\s?\d{2,5}\b",
        r"(?<!\.)\bS\.\s?\d{2,5}\b",  # not the S of "U.S. 15%"
        r"\b(?:bills?|legislation|[A-Z][A-Za-z-]+ Acts?)\b[^.;]{0,60}?\b(?:introduc\w+|pass(?:es|ed)?|advanc\w+|approv\w+|vot\w+|sponsor\w*|"
        r"cleared|markup|committee|House|Senate|lawmakers?|Congress|defen[cs]e bill|NDAA)\b",
        r"\b(?:lawmakers?|senators?|congressman|congresswoman|House|Senate)\b[^.;]{0,60}?\b(?:bills?|legislation|[A-Z][A-Za-z-]+ Acts?)\b",
        r"法案|议案",
    )),
    ("license_policy", _rx(
        rf"\b(?:{_LICENCE}) (?:review )?polic(?:y|ies)\b",
        r"\bpresumption of (?:denial|approval)\b",
        r"\bcase[- ]by[- ]case\b",
        rf"\b(?:{_LICENCE}) requirements?\b",
        rf"\brequir\w+\b[^.;]{{0,40}}?\b(?:{_LICENCE})\b",
        rf"\b(?:revok\w+|revocation|cancel\w*|suspend\w*)\b[^.;]{{0,40}}?\b(?:{_LICENCE}|waivers?|authori[sz]ations?|VEU|validated end[- ]user)",
        rf"\b(?:allow\w*|approv\w*|grant\w*|resum\w*|deny|denie[sd]|denying|clear\w*|green[- ]light\w*|will let|permit\w*)\b[^.;]{{0,60}}?\b(?:{_LICENCE}|exports?|shipments?|to (?:sell|ship|export)|sales of|(?:chip|GPU|processor|accelerator)s? sales|sales (?:to|in))\b",
        rf"\b(?:{_LICENCE})\b[^.;]{{0,30}}?\b(?:will be |would be |to be )?(?:granted|approved|issued|denied|revoked)\b",
        r"\b(?:tells?|told|orders?|ordered|instruct\w*|bars?|barred|block\w*|forbid\w*|prohibit\w*)\b[^.;]{0,40}?\b(?:stop|halt|cease|from)\b[^.;]{0,30}?\b(?:sell\w*|ship\w*|export\w*|sales|supply\w*)\b",
        r"\bhalt\w*\b[^.;]{0,30}?\b(?:shipments?|sales|exports?|supply)\b",
        r"\b(?:licen[cs]e|revenue[- ]shar\w*)\b[^.;]{0,20}?\bdeal\b",
        r"许可政策|审查政策|逐案审查|推定拒绝|许可要求|许可证要求",
        r"(?:须|需|需要|必须)(?:申请|获得|取得|获)?(?:出口)?许可",
        r"(?:吊销|撤销|取消|收回)[^。；]{0,20}?(?:许可|豁免|授权|VEU)",
        r"(?:批准|发放|颁发|恢复|放行|允许|准许|拒绝)[^。；]{0,20}?(?:许可|出口|销售|出售|供货|供应)",
        r"(?:暂停|停止|中止)[^。；]{0,20}?(?:供应|供货|出货|销售|出口)",
        r"上缴|抽成",
        r"(?:管制名单|实体管制)",
    )),
    ("new_rule", _rx(
        r"\binterim final rule\b", r"\bfinal rule\b",
        rf"\bnew (?:export )?(?:chip )?(?:{_RULE_NOUN})\b",
        rf"\b(?:unveil\w*|issu\w+|impos\w+|announc\w+|introduc\w+|adopt\w+|publish\w+|finaliz\w+|rolls? out|rolled out|land(?:s|ed)?)\b[^.;]{{0,40}}?\b(?:{_RULE_NOUN})\b",
        rf"\b(?:{_RULE_NOUN})\b[^.;]{{0,30}}?\b(?:take|takes|took|taking) effect\b",
        r"\b(?:tighten\w*|expand\w*|broaden\w*|widen\w*|extend\w*)\b[^.;]{0,40}?\b(?:export )?(?:controls?|restrictions?|curbs?|rules?|blacklist)\b",
        r"\badd(?:s|ed|ing)?\b[^.;]{0,40}?\b(?:export )?control lists?\b",
        r"新规|出台|(?:发布|公布|推出|实施|更新|生效)[^。；]{0,12}?(?:规则|规定|新规|管制|措施|限制|清单)|收紧|扩大[^。；]{0,8}?(?:管制|限制)|(?:管制|限制)[^。；]{0,6}?(?:今起|正式)?(?:实施|生效)",
    )),
)

# Literal fragments, one of which every alternative of a kind's pattern contains (lower case): a
# kind whose fragments are all absent cannot match, and its pattern is not run. Checking a few
# dozen substrings costs far less than the patterns (tests/test_classify.py keeps them in step).
TRIGGERS: dict[str, tuple[str, ...]] = {
    "correction": ("correct", "更正", "勘误"),
    "comment_period": ("comment", "意见", "评论"),
    "effective_date": ("effective", "compliance", "生效", "实施"),
    "rescission": ("rescind", "rescission", "repeal", "scrap", "withdr", "suspen", "overturn", "roll", "lift",
                   "撤", "废", "取消", "暂停", "停止实施", "中止"),
    "proposed_rule": ("propos", "nprm", "拟"),
    "license_slowdown": ("slow", "delay", "paus", "held up", "holding up", "stall", "sitting on", "sat on",
                         "froze", "frozen", "freez", "bottleneck", "backlog", "limbo", "approv", "放慢", "放缓", "暂停",
                         "推迟", "延迟", "延缓", "搁置", "冻结", "拖延", "停滞", "卡住", "受阻", "卡关"),
    "entity_list": ("entity list", "blacklist", "实体清单", "实体名单", "实体管制清单", "黑名单"),
    "countermeasure": ("unreliable", "cybersecurity review", "dumping", "circumvention", "discrimination", "subsidy", "monopoly",
                       "antitrust", "gallium", "germanium", "antimony", "graphite", "rare", "superhard",
                       "tungsten", "indium", "china", "chinese", "beijing", "mofcom", "commerce ministry",
                       "ministry of commerce", "cac", "samr", "不可靠", "管控名单", "网络安全审查", "反倾销", "反规避",
                       "反补贴", "反歧视", "反垄断", "反制", "镓", "锗", "锑", "石墨", "稀土", "超硬", "钨", "商务部",
                       "海关总署", "中方", "中国政府", "国务院", "网信办", "市场监管", "国家互联网", "北京", "两用物项"),
    "legislation": ("h.r", "hr", "h r", "h. r", "s.", "bill", "legislation", "act", "lawmaker", "senator", "congress",
                    "house", "senate", "法案", "议案"),
    "license_policy": ("licen", "permit", "presumption", "case-by-case", "case by case", "requir", "revok",
                       "revocation", "cancel", "suspen", "allow", "approv", "grant", "resum", "deny", "denie",
                       "clear", "green", "will let", "tell", "told", "order", "instruct", "bar", "block", "forbid",
                       "prohibit", "halt", "deal", "许可", "审查政策", "逐案审查", "推定拒绝", "吊销", "撤销", "取消",
                       "收回", "批准", "发放", "颁发", "恢复", "放行", "允许", "准许", "拒绝", "暂停", "停止", "中止",
                       "上缴", "抽成", "管制名单", "实体管制"),
    "new_rule": ("rule", "new", "add", "unveil", "issu", "impos", "announc", "introduc", "adopt", "publish", "finaliz",
                 "roll", "land", "effect", "tighten", "expand", "broaden", "widen", "extend", "新规", "出台", "发布",
                 "公布", "推出", "实施", "更新", "生效", "收紧", "扩大"),
}
USE_TRIGGERS = True  # off only in the test that proves the triggers never change a decision

# Every fragment of every kind in one Aho-Corasick automaton: one pass over the text says which
# kinds are possible (testing each fragment with `in` cost more than some of the patterns).
_FRAGMENTS = sorted({fragment for fragments in TRIGGERS.values() for fragment in fragments})
_KINDS_OF_FRAGMENT = [frozenset(k for k, fragments in TRIGGERS.items() if fragment in fragments) for fragment in _FRAGMENTS]
_TRIGGER_AUTOMATON = Literals(_FRAGMENTS, recent=2)  # also_reported reads the start of classify's text
_ALL_KINDS = frozenset(TRIGGERS)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _possible_kinds(lowered: str) -> frozenset[str]:
    """The kinds one of whose fragments is in ``lowered`` (all of them with the triggers off)."""
    if not USE_TRIGGERS:
        return _ALL_KINDS
    try:
        found = _TRIGGER_AUTOMATON.find(lowered)
    except UnicodeEncodeError:  # a lone surrogate cannot cross into Rust; no fragment holds one
        found = _TRIGGER_AUTOMATON.find(_SURROGATE.sub("\ufffd", lowered))
    kinds: set[str] = set()
    for index in {index for index, _start, _end in found}:
        kinds |= _KINDS_OF_FRAGMENT[index]
    if "legislation" in kinds and not _may_be_legislation(lowered):
        kinds.discard("legislation")
    return frozenset(kinds)


# The legislation pattern cannot be windowed ("[A-Z][A-Za-z-]+ Act" may start with any word) and
# its trigger fragments ("hr", "s.", "act", "house") are in most texts, where the whole search
# costs more than anything else in classification. Each of its alternatives needs more than one
# fragment: a bill number (H.R. or S. and digits), or a word of each of its two word lists, or
# 法案/议案; a text without any of these cannot match (tests/test_classify.py holds the two in step).
_BILL_NUMBER = re.compile(r"h\.?\s?r\.?\s?\d|s\.\s?\d")
_LEGISLATION_NOUNS = ("bill", "legislation", " act")
_LEGISLATION_WORDS = ("introduc", "pass", "advanc", "approv", "vot", "sponsor", "cleared", "markup", "committee",
                      "house", "senate", "lawmaker", "senator", "congress", "defen", "ndaa")


def _may_be_legislation(lowered: str) -> bool:
    return ("法案" in lowered or "议案" in lowered
            or (any(noun in lowered for noun in _LEGISLATION_NOUNS)
                and any(word in lowered for word in _LEGISLATION_WORDS))
            or _BILL_NUMBER.search(lowered) is not None)


# Which kinds a Federal Register rule's title (its first clause) may state besides being a rule.
FR_TITLE_KINDS = _rx(r"^\W*(?:additions?|revisions?|removals?|modifications?|amendments?)\b[^;:]{0,60}?\bentity list\b",
                     r"^\W*entity list\b")
FR_SUSPENSION = _rx(r"\b(?:suspension|rescission|withdrawal|revocation)\b(?! of certain entities)")
FR_LICENCE_TITLE = _rx(r"\blicen[cs](?:e|ing) (?:review )?polic", r"\bvalidated end[- ]user\b", r"\blicense exception\b")

_AMENDS = _rx(r"\b(?:amend\w*|revis\w+|updat\w+|tighten\w*|expand\w*|chang\w+|adds?|added|clarif\w+)\b",
              r"修订|修改|更新|收紧|扩大|补充")

# Relevance: the item must be about export controls (or link to a known rule) to be a change at all.
TOPIC = _rx(
    r"\bexport(?:s|ed|ing)?\b[^.;]{0,30}?\b(?:controls?|bans?|restrictions?|curbs?|licen[cs]\w*|rules?|blacklist)\b",
    r"\bentity list\b", r"\bExport Administration Regulations\b", r"\bEAR\b", r"\bTechnical Advisory Committee\b",
    r"\bdual[- ]use\b", r"\bsanction\w*\b", r"\bdiffusion (?:rule|framework)\b", r"\bAI diffusion\b",
    r"\b(?:chips?|semiconductors?|GPUs?|AI accelerators?|processors?|HBM|chipmaking)\b[^.;]{0,40}?\b(?:curbs?|restrictions?|controls?|bans?|licen[cs]\w*|blacklist\w*)\b",
    r"\b(?:curbs?|restrictions?|controls?|bans?|licen[cs]\w*)\b[^.;]{0,40}?\b(?:chips?|semiconductors?|GPUs?|AI accelerators?|chipmaking|HBM)\b",
    r"\b(?:smuggl\w+|diversion)\b", r"\bknow[- ]your[- ]customer\b", r"\bcybersecurity review\b",
    r"\bOrder Relating to\b", r"\b(?:temporary )?denial order\b",
    r"\bunreliable entit", r"\bexport\w*\b[^.;]{0,40}?\b(?:AI|chips?|semiconductors?|GPUs?)\b",
    r"出口管制|出口限制|出口禁令|实体(?:管制)?清单|实体名单|两用物项|制裁|管控名单|网络安全审查|禁售|走私",
    r"(?:芯片|晶片|半导体|算力|GPU|光刻)[^。；]{0,20}?(?:管制|限制|禁令|许可|禁售|禁止)",
    r"(?:管制|限制|禁令|许可|禁售|禁止)[^。；]{0,20}?(?:芯片|晶片|半导体|算力|GPU|光刻)",
)

# Enforcement words: with the domain and a named company, an item is at least a mention.
ENFORCEMENT = _rx(r"\b(?:charg\w+|indict\w*|arrest\w*|fraud\w*|prosecut\w+|smuggl\w+|divert\w*|penalt\w+|settle\w*)\b",
                  r"起诉|逮捕|走私|诈欺|欺诈|罚款|和解")

# The domain: chips, AI compute, cloud (monitor/data/topics.toml, extended by `[monitor] topics`). A
# kind phrase counts as a change only with one of these (or a company from the gazetteer) in sight:
# "anti-dumping duties on brandy" is not our news. The default is compiled once at import.
def compile_topics(terms: Sequence[str]) -> re.Pattern[str]:
    """One pattern for the topic terms: Latin words on ASCII word boundaries (``*`` = any ending),
    Chinese literally."""
    latin, chinese = [], []
    for term in sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True):
        if re.search(r"[^\x00-\x7f]", term):
            chinese.append(re.escape(term))
        else:
            stem = re.escape(term.rstrip("*"))
            latin.append(stem + (r"\w*" if term.endswith("*") else ""))
    patterns = ([rf"\b(?:{'|'.join(latin)})\b"] if latin else []) + (["|".join(chinese)] if chinese else [])
    return _rx(*patterns) if patterns else re.compile(r"(?!)")


def shipped_topics() -> tuple[str, ...]:
    data = tomllib.loads(importlib.resources.files("monitor").joinpath("data/topics.toml").read_text("utf-8"))
    return tuple(data["terms"])


DOMAIN = compile_topics(shipped_topics())


# Every pattern above is tried only where its matches can start (monitor/detect/windows.py): one
# Aho-Corasick pass over a text finds those places for all of them. A pattern it does not hold
# (a configured set of topics) is searched whole.
_STARTS = Starts([pattern for _kind, pattern in TEXT_KINDS] + [TOPIC, ENFORCEMENT, _AMENDS, DOMAIN, FR_SUSPENSION,
                                                                 FR_TITLE_KINDS, FR_LICENCE_TITLE])
USE_WINDOWS = True  # off only in the tests that prove the windows never change a decision


def _search(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    return _STARTS.search(pattern, text) if USE_WINDOWS else pattern.search(text)


def _first(pattern: re.Pattern[str], fields: Mapping[str, tuple[str, str]], name: str) -> Phrase | None:
    """The first match of a pattern over the fields, as evidence on the original text."""
    for field, (original, normalised) in fields.items():
        match = _search(pattern, normalised)
        if match:
            return Phrase(name, original[match.start():match.end()], field, match.start(), match.end())
    return None


LEAD = 600  # characters of a summary read for its kind: news and notices say what happened up front


def text_fields(item: Mapping[str, Any], text: ItemText | None = None) -> dict[str, tuple[str, str]]:
    """The item's title and the lead of its summary, original and normalised (same length, so
    offsets agree). A long Federal Register abstract takes its kind from structured fields.
    ``text``: the item's texts already normalised (``ItemText.of(item)``)."""
    if text is not None:
        return {name: text.prefix(name, LEAD) for name in ("title", "summary") if name in text.original}
    out = {}
    for name in ("title", "summary"):
        value = (item.get(name) or "")[:LEAD]
        if value:
            out[name] = (value, normalize(value))
    return out


def _topic(fields: Mapping[str, tuple[str, str]]) -> Phrase | None:
    """The phrase that says the item speaks of export controls, if any."""
    return _first(TOPIC, fields, "topic")


PROCEDURAL = frozenset({"correction", "comment_period", "effective_date", "rescission"})


def _fr_kind(item_fields: Mapping[str, Any], title: str, text: ItemText | None = None) -> tuple[str, Phrase]:
    """A Federal Register document's kind, from what it states: its type and action first, then
    the first clause of its title (the abstract of a big rule mentions every kind there is)."""
    doc_type = str(item_fields.get("type") or "")
    action = str(item_fields.get("action") or "")
    lowered = action.lower()

    def said(kind: str, value: str, field: str = "fields.action") -> tuple[str, Phrase]:
        return kind, Phrase(f"action:{kind}", value, field)

    if doc_type == "Correction" or "correction" in lowered or "correcting amendment" in lowered:
        return said("correction", action or doc_type, "fields.action" if action else "fields.type")
    if "comment period" in lowered:
        return said("comment_period", action)
    if "effective date" in lowered or "compliance date" in lowered:
        return said("effective_date", action)
    if any(word in lowered for word in ("rescission", "withdrawal", "revocation", "suspension")):
        return said("rescission", action)
    if doc_type == "Proposed Rule" or "proposed rule" in lowered or "proposed rulemaking" in lowered:
        return said("proposed_rule", action or doc_type)
    if doc_type != "Rule":
        return said("mention", doc_type or action, "fields.type")
    clause = re.split(r"[;:]", title, maxsplit=1)[0]
    if text is not None and "title" in text.original and title:
        first_clause, whole = text.prefix("title", len(clause))[1], text.normalized["title"]
    else:
        first_clause, whole = normalize(clause), normalize(title)
    for kind, pattern, searched in (("rescission", FR_SUSPENSION, whole), ("entity_list", FR_TITLE_KINDS, first_clause),
                                    ("license_policy", FR_LICENCE_TITLE, first_clause)):
        match = _search(pattern, searched)
        if match:
            return kind, Phrase(f"title:{kind}", title[match.start():match.end()], "title", match.start(), match.end())
    return said("new_rule", action or doc_type)


def classify(
    item: Mapping[str, Any],
    *,
    official: bool,
    rule_id: str | None,
    rule_documents: frozenset[str] = frozenset(),
    changed: Mapping[str, Any] | None = None,
    companies: bool = False,
    domain: re.Pattern[str] = DOMAIN,
    text: ItemText | None = None,
) -> Decision | None:
    """The change an item (or a revision of it) represents, or None when it is not a change.

    Relevant is an item that links to a known rule, speaks of export controls, or states a kind of
    change about chips, AI compute or cloud (or a named company); an official source's procedural
    notice (a correction, a suspension) is relevant by itself. ``rule_documents`` are the FR
    document numbers of the linked rule itself: its own publication is new, another one amends it.
    """
    fields = text_fields(item, text)
    item_fields = item.get("fields") or {}
    topic = _topic(fields)
    phrases: list[Phrase] = []
    if item_fields.get("type"):
        kind, phrase = _fr_kind(item_fields, item.get("title") or "", text)
        phrases.append(phrase)
    else:
        kind = None
        possible = _possible_kinds(" ".join(normalised for _original, normalised in fields.values()).lower())
        for candidate, pattern in TEXT_KINDS:
            if candidate not in possible:
                continue
            found = _first(pattern, fields, f"text:{candidate}")
            if found:
                kind = candidate
                phrases.append(found)
                break
    # Whether the item names the domain is searched only when the answer counts (a relevance test
    # not passed before it, or the severity of an official item below), once: the search is pure,
    # so not making it changes nothing (about half the items never need it).
    found_domain: list[bool] = []

    def in_domain() -> bool:
        if not found_domain:
            found_domain.append(companies or _first(domain, fields, "domain") is not None)
        return found_domain[0]

    fr_rule = item_fields.get("type") in ("Rule", "Proposed Rule", "Correction")
    relevant = (rule_id is not None or topic is not None or fr_rule
                or (kind is not None and kind != "mention" and in_domain())
                or (item_fields.get("type") is not None and in_domain())  # an FR notice about chips or AI
                or (companies and _first(ENFORCEMENT, fields, "enforcement") is not None)
                or (official and kind in PROCEDURAL))
    if not relevant:
        return None
    if topic:
        phrases.append(topic)
    if changed is not None:
        return _revision(changed, official)
    if kind == "new_rule" and rule_id:
        own = str(item_fields.get("document_number") or "") in rule_documents
        amends = _first(_AMENDS, fields, "text:amends")
        if not own and (item_fields.get("type") == "Rule" or amends):
            kind = "rule_amended"
            if amends:
                phrases.append(amends)
    kind = kind or "mention"
    modality = None
    if not official and kind in MODAL_KINDS and phrases:
        modal = _modal_before(fields, phrases[0])
        if modal is not None:
            phrases.append(modal)
            modality = "reported"
            kind = "proposed_rule" if kind in ("new_rule", "rule_amended") else kind
    # ``severity`` reads ``on_topic`` only for an official item of a kind that is high when official
    on_topic = rule_id is not None or not (official and kind in HIGH_WHEN_OFFICIAL) or in_domain()
    return Decision(kind, severity(kind, official=official, linked=rule_id is not None, on_topic=on_topic),
                    tuple(phrases), modality)


# Modality: "US mulls new restrictions", "plans to require licences", "would require" report a
# possible rule, not a rule. Only the words just before the kind phrase, in its own clause, count.
MODAL_KINDS = frozenset({"new_rule", "rule_amended", "proposed_rule", "license_policy", "entity_list", "rescission"})
MODAL = _rx(
    r"\b(?:mull(?:s|ed|ing)?|weigh(?:s|ed|ing)?|consider(?:s|ed|ing)?|mulling|eyes|eyeing|"
    r"plan(?:s|ned|ning)? to|seek(?:s|ing)? to|poised to|set to|prepar(?:es|ed|ing) to|expected to|"
    r"would|could|(?-i:may|MAY)|might|draft(?:s|ed|ing)?|propos(?:es|ed|ing) to)\b",  # "May" is the month
    r"(?:考虑|酝酿|拟|或将|可能|计划|打算|研拟|擬|考慮|醞釀)",
)
MODAL_REACH = 40  # characters before the kind phrase


def _modal_before(fields: Mapping[str, tuple[str, str]], phrase: Phrase) -> Phrase | None:
    if phrase.start is None or phrase.field not in fields:
        return None
    original, normalised = fields[phrase.field]
    start = max(0, phrase.start - MODAL_REACH)
    window = normalised[start:phrase.start]
    window_start = start + max(window.rfind("."), window.rfind(";"), window.rfind("。"), window.rfind("；")) + 1
    match = MODAL.search(normalised, window_start, phrase.end)
    if match is None:
        return None
    return Phrase("modality:reported", original[match.start():match.end()], phrase.field, match.start(), match.end())


# Further events an article reports with substance: in its title or the first sentence of its
# summary, of another family than the primary event. Later sentences are background.
# (licence policy is left out: its phrases, "bans exports", "requires licences", are how every
# other kind of story is told.)
SECONDARY_KINDS = ("license_slowdown", "entity_list", "countermeasure", "legislation")


def also_reported(item: Mapping[str, Any], primary: Decision, rule_kind: str | None = None,
                  text: ItemText | None = None) -> list[Decision]:
    """Further events the item reports; none of the family of its primary event or of the rule it
    is linked to (news of China's ban names the ban's countermeasure phrases again)."""
    if (item.get("fields") or {}).get("type") or primary.kind in ("mention", "item_revised"):
        return []
    lead = {}
    for name in ("title", "summary"):
        value = item.get(name) or ""
        if name == "summary":
            value = _first_sentence(value[:LEAD])
        if value:
            shared = text is not None and name in text.original
            lead[name] = text.prefix(name, len(value)) if shared else (value, normalize(value))
    possible = _possible_kinds(" ".join(normalised for _o, normalised in lead.values()).lower())
    found = []
    seen = {FAMILY[primary.kind], FAMILY.get(rule_kind or "", "rule")}
    for kind, pattern in TEXT_KINDS:
        if kind not in SECONDARY_KINDS or FAMILY[kind] in seen or kind not in possible:
            continue
        phrase = _first(pattern, lead, f"text:{kind}")
        if phrase is None or any(p.value == phrase.value for p in primary.phrases):
            continue
        seen.add(FAMILY[kind])
        found.append(Decision(kind, severity(kind, official=False, linked=False), (phrase,)))
    return found


_SENTENCE_END = re.compile(r"[.;!?。；！？]")


def _first_sentence(text: str) -> str:
    r"""``re.split(r"(?<=[.;!?。；！？])\s*", text, maxsplit=1)[0]``: the text up to its first
    sentence mark, that included (a search for the mark, not the lookbehind tried at every position)."""
    end = _SENTENCE_END.search(text)
    return text[:end.end()] if end is not None else text


def _revision(changed: Mapping[str, Any], official: bool) -> Decision:
    phrases = tuple(Phrase("revised", str(changed[name].get("after")), name) for name in sorted(changed))
    for name, kind in DATE_FIELDS.items():
        if name in changed:
            return Decision(kind, "medium", phrases)
    meaningful = any(name in changed for name in ("title", "fields.type", "fields.action", "fields.citation"))
    return Decision("item_revised", "medium" if meaningful else "low", phrases)


def severity(kind: str, *, official: bool, linked: bool, on_topic: bool = True) -> str:
    """``on_topic``: the item names AI chips, semiconductors or cloud compute (or a known rule);
    an official rule about anything else (Syria, civil drones) is not high."""
    if kind in HIGH_WHEN_OFFICIAL:
        return "high" if official and on_topic else "medium"
    if kind in MEDIUM or (kind == "correction" and linked):
        return "medium"
    return "low"
