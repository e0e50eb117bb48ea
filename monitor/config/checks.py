"""Checks across the file, beyond each value's own: secrets (refused before anything else, and never
shown), duplicate ids, routes naming unknown sources, and names the gazetteer does not know."""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterable, Iterator, Mapping

from monitor.config.explain import ConfigError, _problem, _suggest, _toml_key
from monitor.config.models import Config
from monitor.config.values import _show


def check_names(config: Config, known: Mapping[str, Iterable[str]]) -> None:
    """Refuse region, country and company names that the gazetteer does not know.

    ``known`` maps "regions", "countries" and "companies" to the gazetteer's slugs and codes
    (shipped data plus this file's tables). A route filtering on "middle-eastt" passes every
    other check and then never sends anything; a rule or region naming one is silently weaker.
    Raises ``ConfigError`` naming the file, the entry and the key, with a did-you-mean.
    """
    choices = {kind: sorted(set(names)) for kind, names in known.items()}
    places = [(("alerts", "routes", i), route) for i, route in enumerate(config.alerts.routes)]
    places += [(("rules", i), rule) for i, rule in enumerate(config.rules)]
    problems = []
    for loc, entry in places:
        for kind in ("regions", "countries", "companies"):
            for position, name in enumerate(getattr(entry, kind)):
                if name not in choices[kind]:
                    problems.append(_unknown_name(config, (*loc, kind, position), kind, name, choices[kind]))
    for slug, region in config.regions.items():
        for position, code in enumerate(region.countries):
            if code not in choices["countries"]:
                problems.append(_unknown_name(config, ("regions", slug, "countries", position), "countries",
                                              code, choices["countries"]))
    if problems:
        raise ConfigError(config._label, problems)


def _unknown_name(config: Config, loc: tuple, kind: str, name: str, choices: list[str]) -> str:
    what = {"regions": "region", "countries": "country", "companies": "company"}[kind]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        hint = f' (did you mean "{close[0]}"?)'
    elif kind == "countries":
        hint = " (not a country of the gazetteer)"
    else:  # regions and companies can be added in this very file
        hint = f" (not in the gazetteer: define it as [{kind}.{_toml_key(name)}] in this file)"
    return _problem(config._label, loc, f"unknown {what} {_show(name)}{hint}", config._raw)


# --- secrets -------------------------------------------------------------------------------------

_SECRET_MESSAGE = (
    "looks like a notification URL or a credential (value not shown); put notification targets "
    "and secrets in the apprise config file, not in this file"
)
_PLAIN_SCHEMES = {"http", "https", "ftp", "ftps", "file"}
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^\s/?#]*)")
_WEBHOOK = re.compile(
    r"https?://(?:hooks\.slack\.com/|(?:[\w-]+\.)?discord(?:app)?\.com/api/webhooks/|"
    r"api\.telegram\.org/bot|[\w.-]*webhook\.office\.com/|chat\.googleapis\.com/)",
    re.IGNORECASE,
)
_SECRET_QUERY = re.compile(
    r"[?&](?:password|passwd|pwd|token|access_token|api_?key|secret|client_secret|"
    r"subscription-key|auth)=",
    re.IGNORECASE,
)


def _looks_secret(text: str) -> bool:
    for match in _URL.finditer(text):
        scheme, authority = match.groups()
        # Apprise has hundreds of schemes (slack://, mailto://, tgram://, ...) and sources are
        # http(s): refuse every scheme that is not plainly a file transfer.
        if "@" in authority or scheme.lower() not in _PLAIN_SCHEMES:
            return True
    return bool(_WEBHOOK.search(text) or _SECRET_QUERY.search(text))


def _database_secret(value: str) -> bool:
    from monitor.store.urls import is_postgres_url, url_password

    return not is_postgres_url(value) or bool(url_password(value)) or bool(_SECRET_QUERY.search(value))


def _secret_locations(value: Any, loc: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, str):
        if loc == ("monitor", "database") and not _database_secret(value):
            return  # a database URL names a user and a host; its password may not be here (checked)
        if _looks_secret(value):
            yield loc
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _secret_locations(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_locations(item, (*loc, index))


# --- checks across entries -----------------------------------------------------------------------


def _cross_check(raw: Mapping[str, Any]) -> Iterator[tuple[tuple, str]]:
    """Duplicate ids and routes naming unknown sources: checked on the raw document, so that they
    are reported together with any other problem of the file."""
    for section, header in (("sources", "[[sources]]"), ("rules", "[[rules]]")):
        first_seen: dict[str, int] = {}
        for index, entry in _entries(raw.get(section)):
            entry_id = entry.get("id")
            if not isinstance(entry_id, str):
                continue
            if entry_id in first_seen:
                yield (section, index, "id"), (
                    f"duplicate id {_show(entry_id)}: already used by {header} #{first_seen[entry_id] + 1}"
                )
            else:
                first_seen[entry_id] = index

    source_ids = [e["id"] for _, e in _entries(raw.get("sources")) if isinstance(e.get("id"), str)]
    alerts = raw.get("alerts")
    routes = alerts.get("routes") if isinstance(alerts, Mapping) else None
    for index, route in _entries(routes):
        names = route.get("sources")
        for position, name in enumerate(names if isinstance(names, list) else []):
            if isinstance(name, str) and name not in source_ids:
                yield ("alerts", "routes", index, "sources", position), (
                    f"unknown source {_show(name)}{_suggest(name, source_ids, 'configured sources')}"
                )


def _entries(value: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(value, list):
        for index, entry in enumerate(value):
            if isinstance(entry, Mapping):
                yield index, entry
