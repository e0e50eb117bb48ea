"""The catalog of known rules, and linking an item to the one rule it is about.

Pure: the catalog is plain data (``monitor/data/catalog.toml`` plus ``[[rules]]`` entries of
``sources.toml``), compiled once at load; ``link(item)`` only reads the item.

An *item* is the plain dict recorded for an item: ``{"source", "key", "title", "url", "summary",
"language", "published", "updated", "fields": {...}}`` (``Observation.content()`` plus source and
key).

Identifiers
    ``identifiers_in(item)`` finds every identifier in the item, with evidence:

    - its own, structured ones: ``fields.document_number`` (also a document number in a
      federalregister.gov / govinfo.gov ``url`` or ``fields.guid``), ``fields.correction_of`` and
      ``fields.corrections``, ``fields.citation``, ``fields.docket_ids``, ``fields.rins``,
      ``fields.announcement_number`` (with ``fields.issuer``);
    - the ones its ``title`` and ``summary`` mention: FR document numbers (``2025-00636``, also
      ``C1-2025-00636``), citations (``90 FR 4544``, ``90 Fed. Reg. 4544``), RINs (``0694-AJ90``),
      dockets (``250107-0007`` with or without ``Docket No.``, ``BIS-2025-0001``), bills
      (``H.R. 8315``, ``H.R.8315``, ``HR 8315``, ``S. 1234``, ``H.Res. 12``), Chinese announcement
      numbers (``商务部公告2024年第46号``, ``商务部、海关总署公告2023年第23号``, Traditional
      ``號`` and full-width digits through ``normalize``) and English ones (``MOFCOM Announcement
      No. 46 of 2024``, ``Announcement [2024] No. 46``, ``Announcement 2023 No. 23``).

Linking (``link(item)``)
    1. Identifiers first, the item's own before the ones it mentions, and within each in this
       order of precedence: FR document number, ``correction_of``/``corrections`` (own only),
       citation, docket, bill, announcement, RIN. The first class that names a catalog rule
       decides. A RIN is last because one rulemaking's documents share it, and two catalog rules
       can share it (0694-AI94: the 2022 and the 2023 advanced-computing rules).
    2. When the deciding class names several rules (a shared RIN, or a news item that cites two
       rules' citations), the rule with the most support wins: how many distinct identifiers of
       the item (own or mentioned, any class) and keyword entries also point at it. Still tied:
       for a RIN the most recent rule (by ``dates.published``), for the others the rule named
       first (title before summary), then the most recent; the id breaks any remaining tie.
    3. Keywords only when no identifier names a catalog rule: the rule with the most satisfied
       keyword entries wins, then the one whose satisfied entries have the most terms (the most
       specific), then the most recent, then the id.
    4. Nothing: ``None``.

    Announcement numbers are per issuer: the first issuer before ``公告`` names the numbering
    series (``商务部 海关总署公告2023年第23号`` is MOFCOM's series, ``海关总署公告2023年第23号``
    is customs' own, a different document). A number written without an issuer
    (``2024年第46号``) matches when the item's ``fields.issuer`` or an issuer named anywhere in
    its title or summary (商务部, MOFCOM, Ministry of Commerce, ...) is the catalog entry's.
    Decrees (``商务部令2024年第1号``) are a different series and are never announcements.

Keywords (the TOML schema)
    ``keywords`` is a list; each entry is a phrase or an array of phrases that must ALL appear in
    the title or summary; ``"a + b"`` in a string means the same as ``["a", "b"]`` (the only AND
    form a ``sources.toml`` entry can write, its keywords being strings). Inside a phrase,
    ``"a|b"`` means either. Latin is matched case-insensitively on word boundaries, with spaces
    and hyphens interchangeable; a word written in capitals (``US``, ``AI``, ``HBM``, ``BIS``) must
    match in capitals; a trailing ``*`` on a Latin word matches any ending (``export*``). Chinese
    is matched after ``normalize`` on both sides (Traditional and full-width forms match).
    ``title_zh`` (catalog data only) is the Chinese title for display; it is not matched unless
    it is also a keyword.

Modules
    ``records`` (``Rule``, ``Evidence``, ``Link``, ``CatalogError``), ``identifiers`` (the
    identifier grammars and the scan of one item), ``keywords`` (the keyword compiler and
    matcher), ``texts`` (an item's texts as the catalog reads them), ``linking`` (``Catalog``),
    ``loading`` (catalog data, as plain data, to ``Rule`` records). None of them imports the
    configuration: whoever reads ``sources.toml`` hands its [[rules]] over as plain data
    (``Catalog.load([rule.model_dump() for rule in config.rules])``).

Speed
    Regexes are compiled once per catalog. Per item: the title and summary come normalised from
    the detector (``ItemText``, shared with the gazetteer and the classifier); the digit pattern
    for Latin identifiers runs only on text with a digit right before a dash or a citation marker
    (else only bills can match: only H and S are tried, and only on text with a bill's literals);
    Chinese announcement numbers are searched from the issuer run before each number part, not at
    every position; a URL is split only when it names one of the Federal Register hosts. A keyword
    gate (the alternatives' whole words and the entries' Chinese phrases, found in one automaton
    pass) runs before any keyword regex. Linking by context tries each rule's topic pattern only
    where one of its topics starts (``monitor/detect/windows.py``), on the normalised title and
    summary joined, made once a rule passes the country, kind and date tests. Each shortcut has a
    test against the plain search it replaces (tests/test_catalog.py), besides the decisions
    record (tests/test_detect_equivalence.py).
"""

from monitor.detect.catalog.identifiers import identifier_key
from monitor.detect.catalog.linking import Catalog
from monitor.detect.catalog.loading import default_rules, rule_from_data, rules_from_toml
from monitor.detect.catalog.records import IDENTIFIER_KINDS, CatalogError, Evidence, Link, Rule

__all__ = [
    "IDENTIFIER_KINDS",
    "Catalog",
    "CatalogError",
    "Evidence",
    "Link",
    "Rule",
    "default_rules",
    "identifier_key",
    "rule_from_data",
    "rules_from_toml",
]
