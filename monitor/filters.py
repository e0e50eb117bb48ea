"""What a filter value on the command line means: a known name, whatever its case, or a refusal.

A filter that matches nothing because of a typo or a capital letter looks exactly like a quiet
week, so every filter value is resolved before the query runs: `--region Gulf`, `--region "Gulf
states"` and `--region 海湾国家` all mean the slug `gulf`, and `--region nosuch` is refused with
the closest known names. Pure: the names come in, the caller reads them from the gazetteer, the
catalog and the log.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Mapping


class UnknownValue(ValueError):
    """A filter value that names nothing known; the message says what was meant, if anything."""


def resolve(value: str, names: Mapping[str, Iterable[str]], *, option: str, what: str) -> str:
    """The canonical name that ``value`` means.

    ``names`` maps each canonical name (a slug, an ISO code, an event type) to the other names it
    goes by (display name, aliases). The canonical names are tried first, then the others, all
    case-insensitively, so an alias can never shadow a slug.
    """
    wanted = value.strip().casefold()
    for canonical in names:
        if canonical.casefold() == wanted:
            return canonical
    by_alias: dict[str, set[str]] = {}
    for canonical, aliases in names.items():
        for alias in aliases:
            by_alias.setdefault(alias.strip().casefold(), set()).add(canonical)
    meant = by_alias.get(wanted, set())
    if len(meant) == 1:
        return next(iter(meant))
    if meant:
        raise UnknownValue(f"{option}: {value!r} can mean the {what} {', '.join(sorted(meant))}: give one of them")
    raise UnknownValue(f"{option}: unknown {what} {value!r}{suggestion(value, list(names), what)}")


def suggestion(value: str, choices: list[str], what: str) -> str:
    """' (did you mean "x"?)', or the known names when none is close (a few of them if many)."""
    folded = {choice.casefold(): choice for choice in choices}
    close = difflib.get_close_matches(value.strip().casefold(), list(folded), n=3, cutoff=0.6)
    if close:
        return " (did you mean " + " or ".join(f'"{folded[c]}"' for c in close) + "?)"
    if not choices:
        return f" (there is no {what} yet)"
    shown = sorted(choices)
    return f" (known: {', '.join(shown[:15])}{', ...' if len(shown) > 15 else ''})"
