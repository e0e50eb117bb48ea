"""The issuers of announcements the catalog knows: Chinese names (Simplified: text is normalised
first) and English ones, to canonical names; read by the identifier grammars and by an item's
texts (which issuers it names)."""

from __future__ import annotations

import re

ISSUERS_ZH = {
    "商务部": "商务部", "海关总署": "海关总署", "国家发展改革委": "国家发展改革委",
    "国家发展和改革委员会": "国家发展改革委", "工业和信息化部": "工业和信息化部", "财政部": "财政部",
    "国务院关税税则委员会": "国务院关税税则委员会", "国家国防科技工业局": "国家国防科技工业局",
    "国家原子能机构": "国家原子能机构", "国家密码管理局": "国家密码管理局",
    "国家市场监督管理总局": "国家市场监督管理总局", "国家互联网信息办公室": "国家互联网信息办公室",
    "网络安全审查办公室": "网络安全审查办公室", "外交部": "外交部", "公安部": "公安部",
}
ISSUERS_EN = {
    "mofcom": "商务部", "ministry of commerce": "商务部", "gacc": "海关总署",
    "general administration of customs": "海关总署", "china customs": "海关总署",
    "cac": "国家互联网信息办公室", "cyberspace administration of china": "国家互联网信息办公室",
}
# One alternation of every issuer name of each language (longest first), for the grammars.
ZH_ISSUER = "(?:" + "|".join(map(re.escape, sorted(ISSUERS_ZH, key=len, reverse=True))) + ")"
EN_ISSUER = "(?:" + "|".join(map(re.escape, sorted(ISSUERS_EN, key=len, reverse=True))) + ")"
ISSUER_ANYWHERE = re.compile(f"{ZH_ISSUER}|(?<![A-Za-z]){EN_ISSUER}(?![A-Za-z])", re.IGNORECASE)
# Case-insensitive, ISSUER_ANYWHERE lets the i of a name match İ and ı too, which ``lower`` does not
# make an i: they are read as i (a name so written was a KeyError).
_DOTTED_I = str.maketrans({"\u0130": "i", "\u0131": "i"})


def issuer_of(name: str) -> str:
    """The canonical issuer of a name ISSUER_ANYWHERE found."""
    return ISSUERS_ZH.get(name) or ISSUERS_EN[name.translate(_DOTTED_I).lower()]
