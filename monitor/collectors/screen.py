"""The last check between the parsers and the log: one hostile entry never costs a source its poll.

Every parser cleans the text it knows to be prose (titles, summaries: ``clean_text``), but a
source controls every byte it sends, and an identifier cannot be cleaned without becoming another
identifier. So each observation is checked here, for every source kind at once, before anything
is recorded: an entry the log cannot hold safely is skipped with a warning that names the entry
and the field, and the other entries are recorded as usual. The rules:

- no string may contain a control character (C0, DEL, C1: NUL and newlines break the log's row
  encoding and stream names, ESC and CSI reach terminals) or a lone surrogate (not encodable);
- the key is a non-empty line of at most ``MAX_KEY`` characters (it names the item's stream);
- the dates are the parsers' ISO forms (they become the events' ``occurred_at``);
- sizes are bounded, so one entry cannot swell the log or every output that shows it.

``safe_line`` applies the same character rule to the text the collectors write about a poll
(warnings, failure messages), which may quote the body.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable

from monitor.observation import Observation

MAX_KEY = 500  # the parsers hash longer keys down to ~200 characters; a longer one is hostile
MAX_URL = 4096
MAX_TITLE = 2000
MAX_TEXT = 20_000  # any other string (a summary is cut to 8,000 characters when it is recorded)
MAX_ITEMS = 1000  # entries of a list field (categories, RINs, alternate URLs, ...)

_BAD_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}Z)?")
_LIMITS = {"key": MAX_KEY, "url": MAX_URL, "title": MAX_TITLE}


def screen(observations: Iterable[Observation]) -> tuple[list[Observation], list[str]]:
    """The observations the log can record, and one warning for each one skipped."""
    kept: list[Observation] = []
    warnings: list[str] = []
    for position, obs in enumerate(observations, 1):
        problem = entry_problem(obs)
        if problem is None:
            kept.append(obs)
        else:
            warnings.append(f"skipped entry {position}{_label(obs)}: {problem}")
    return kept, warnings


def entry_problem(obs: Observation) -> str | None:
    """Why the log cannot hold this observation (naming the field), or None."""
    if _plainly_fine(obs):
        return None
    return _problem(obs)


def _plainly_fine(obs: Observation) -> bool:
    """The common case in one pass: every string of the entry searched at once, not one by one
    (50 entries a poll, ~10 strings each). True only when ``_problem`` would find nothing; any
    doubt (a list, a float, an unusual type) is left to it."""
    fields = obs.fields
    if type(fields) is not dict:
        return False
    texts = []
    for name, value in fields.items():
        if type(name) is not str or not name:
            return False
        limit = MAX_URL if name.endswith("url") or name.endswith("urls") else MAX_TEXT
        for item in value if type(value) is list and len(value) <= MAX_ITEMS else (value,):
            kind = type(item)
            if kind is str:
                if len(item) > limit:
                    return False
                texts.append(item)
            elif not (item is None or kind is bool or kind is int):
                return False  # a float, a nested list, another type: the slow path names it
        texts.append(name)
    key, url, title, summary, language = obs.key, obs.url, obs.title, obs.summary, obs.language
    if type(key) is not str or not key.strip() or len(key) > MAX_KEY or type(title) is not str \
            or len(title) > MAX_TITLE or type(summary) is not str or len(summary) > MAX_TEXT:
        return False
    texts += (key, title, summary)
    for value, limit in ((url, MAX_URL), (language, MAX_TEXT)):
        if value is not None:
            if type(value) is not str or len(value) > limit:
                return False
            texts.append(value)
    for value in (obs.published, obs.updated):
        if value is not None and not (type(value) is str and _DATE.fullmatch(value)):
            return False
    return _BAD_CHAR.search("".join(texts)) is None  # a bad character is one code point: joining makes none


def _problem(obs: Observation) -> str | None:
    # Fields first: a bad guid, link or document number is named as such, not as the key made of it.
    if not isinstance(obs.fields, dict):
        return "fields is not a table"
    for name, value in obs.fields.items():
        problem = _value_problem(value, MAX_URL if name.endswith("url") or name.endswith("urls") else MAX_TEXT)
        if problem:
            return f"{name} {problem}"
        if not isinstance(name, str) or _BAD_CHAR.search(name) or not name:
            return f"a field name {_char_problem(str(name)) or 'is empty'}"
    if not isinstance(obs.key, str) or not obs.key.strip():
        return "the key is empty"
    for name in ("url", "title", "summary", "language", "key"):  # the key last: it is made of the others
        value = getattr(obs, name)
        if value is None and name in ("url", "language"):
            continue
        if not isinstance(value, str):
            return f"{name} is not text"
        problem = _string_problem(value, _LIMITS.get(name, MAX_TEXT))
        if problem:
            return f"{name} {problem}"
    for name in ("published", "updated"):
        value = getattr(obs, name)
        if value is not None and not (isinstance(value, str) and _DATE.fullmatch(value)):
            return f"{name} is not an ISO date"
    return None


def safe_line(text: object, limit: int = 300) -> str:
    """One printable line: control characters and lone surrogates shown as ``\\uXXXX`` escapes."""
    value = " ".join(str(text).split())
    value = _BAD_CHAR.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _value_problem(value: Any, limit: int) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"  # NaN and Infinity are not JSON
    if value is None or isinstance(value, (bool, int, float)):
        return None
    if isinstance(value, str):
        return _string_problem(value, limit)
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            return f"has {len(value)} entries (at most {MAX_ITEMS})"
        for item in value:
            if isinstance(item, (list, dict)):
                return "nests too deep"
            problem = _value_problem(item, limit)
            if problem:
                return problem
        return None
    return f"is a {type(value).__name__}, not text"


def _string_problem(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"is too long ({len(value)} characters, at most {limit})"
    return _char_problem(value)


def _char_problem(value: str) -> str | None:
    bad = _BAD_CHAR.search(value)
    if bad is None:
        return None
    code = ord(bad.group())
    what = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
    return f"contains {what} (U+{code:04X})"


def _label(obs: Observation) -> str:
    """' ("Title…")' to tell a person which entry it was, when the title itself is printable."""
    title = obs.title if isinstance(obs.title, str) else ""
    if not title or _BAD_CHAR.search(title):
        return ""
    return " (" + json.dumps(title[:60] + ("…" if len(title) > 60 else ""), ensure_ascii=False) + ")"
