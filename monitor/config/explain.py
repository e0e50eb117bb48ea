"""The error explainer: ``ConfigError``, and every problem of a file worded as one line that names
the file, the entry (as the file writes it: ``[[sources]] #3 (id "fr-bis")``) and the key, e.g.::

    sources.toml: [[sources]] #3 (id "fr-bis"): every: invalid duration "5x" (use e.g. 30s, 15m, 2h)
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Union, get_args, get_origin

from pydantic import BaseModel

from monitor.config.models import SOURCE_KINDS, Config
from monitor.config.values import _SLUG, _TAG, _show


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` holds one line per problem."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(problems))


def _suggest(name: str, choices: list[str], what: str) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f' (did you mean "{close[0]}"?)'
    if not choices:
        return f" (no {what})"
    shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
    return f" ({what}: {shown})"


# --- error messages ------------------------------------------------------------------------------

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def _describe_toml_error(error: tomllib.TOMLDecodeError) -> str:
    message = str(error)
    if match := _TOML_POSITION.search(message):
        line, column = match.groups()
        return f"line {line}, column {column}: TOML syntax error: {message[: match.start()]}"
    if match := _TOML_END.search(message):
        return f"end of file: TOML syntax error: {message[: match.start()]}"
    return f"TOML syntax error: {message}"


def _explain(detail: Mapping[str, Any]) -> tuple[tuple, str]:
    """A pydantic error as (location in the file, message for a person)."""
    loc = tuple(part for part in detail["loc"] if not _is_pydantic_tag(part))
    kind, ctx, value = detail["type"], detail.get("ctx") or {}, detail.get("input")
    kinds = ", ".join(SOURCE_KINDS)
    if kind == "union_tag_not_found":
        return (*loc, "kind"), f"field required (one of {kinds})"
    if kind == "union_tag_invalid":
        return (*loc, "kind"), f"unknown kind {_show(ctx.get('tag'))} (expected one of {kinds})"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return loc, "unknown key" + (_suggest(str(loc[-1]), allowed, "allowed keys") if allowed else "")
    if kind == "missing":
        return loc, "field required"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = difflib.get_close_matches(str(value).lower(), allowed, n=1, cutoff=0.6) if isinstance(value, str) else []
        hint = f' (did you mean "{close[0]}"?)' if close else f" (expected {ctx.get('expected')})"
        return loc, f"unknown value {_show(value)}{hint}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, "expected a table"
    if kind == "list_type":
        header = {("sources",): "[[sources]]", ("rules",): "[[rules]]",
                  ("alerts", "routes"): "[[alerts.routes]]"}.get(loc)
        return loc, f"expected an array of tables: write {header} for each entry" if header else "expected an array"
    message = detail["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    message = message.replace("Input should be", "must be").replace("List should have", "must have")
    return loc, message[:1].lower() + message[1:]


def _is_pydantic_tag(part: Any) -> bool:
    # Internal schema names such as "function-after[...]" never name anything in the file.
    return isinstance(part, str) and part != "[key]" and re.fullmatch(r"[a-z-]+\[.*\]", part) is not None


def _allowed_keys(loc: tuple) -> list[str]:
    """The keys of the model found at ``loc`` (following list indexes, table names and kinds)."""
    current: Any = Config
    for part in loc:
        current = _unwrap(current, part)
        if part in _kinds_of(current):
            continue  # the part was pydantic's union tag, consumed by _unwrap
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current, None)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _unwrap(annotation: Any, part: Any) -> Any:
    """Strip Annotated and Optional; in the sources union, pick the member whose kind is ``part``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [member for member in get_args(annotation) if member is not type(None)]
            by_kind = [member for member in members if part in _kinds_of(member)]
            if by_kind or len(members) == 1:
                annotation = (by_kind or members)[0]
                continue
        return annotation


def _kinds_of(model: Any) -> tuple:
    if isinstance(model, type) and issubclass(model, BaseModel) and "kind" in model.model_fields:
        annotation = model.model_fields["kind"].annotation
        return get_args(annotation) if get_origin(annotation) is Literal else ()
    return ()


_LIST_SECTIONS = {("sources",): ("[[sources]]", "id", _SLUG), ("rules",): ("[[rules]]", "id", _SLUG),
                  ("watchlist", "entries"): ("[[watchlist.entries]]", "ref", re.compile(r"^[\w.:/-]{1,64}$")),
                  ("alerts", "routes"): ("[[alerts.routes]]", "tag", _TAG)}
_NAMED_TABLES = {("regions",): "regions", ("companies",): "companies", ("monitor", "hosts"): "monitor.hosts"}
_TABLES = {("monitor",): "[monitor]", ("alerts",): "[alerts]", ("watchlist",): "[watchlist]"}


def _problem(label: str, loc: tuple, message: str, raw: Mapping[str, Any]) -> str:
    entry, rest = _entry(loc, raw)
    key = _key_path(rest)
    return f"{label}: {entry}: {key}: {message}" if key else f"{label}: {entry}: {message}"


def _entry(loc: tuple, raw: Mapping[str, Any]) -> tuple[str, tuple]:
    """Split a location into the TOML table it is in (as written in the file) and the key path."""
    for prefix, (header, label_key, pattern) in _LIST_SECTIONS.items():
        size = len(prefix)
        if loc[:size] == prefix and len(loc) > size and isinstance(loc[size], int):
            index, rest = loc[size], loc[size + 1:]
            entry = _lookup(raw, loc[: size + 1])
            name = entry.get(label_key) if isinstance(entry, Mapping) else None
            # Only a well-formed name is shown: a malformed one might be the very secret refused.
            label = f' ({label_key} "{name}")' if isinstance(name, str) and pattern.fullmatch(name) else ""
            if prefix == ("sources",) and rest and rest[0] in SOURCE_KINDS:
                rest = rest[1:]  # pydantic's union tag, not a key in the file
            return f"{header} #{index + 1}{label}", rest
    for prefix, table in _NAMED_TABLES.items():
        size = len(prefix)
        if loc[:size] == prefix and len(loc) > size:
            return f"[{table}.{_toml_key(loc[size])}]", loc[size + 1:]
    for prefix, header in _TABLES.items():
        if loc[: len(prefix)] == prefix and len(loc) > len(prefix):
            return header, loc[len(prefix):]
    return "top level", loc


def _key_path(parts: tuple) -> str:
    text = ""
    for part in parts:
        if part == "[key]":
            text += (" " if text else "") + "table name"
        elif isinstance(part, int):
            text += f" #{part + 1}"
        else:
            text += ("." if text else "") + _toml_key(part)
    return text


def _toml_key(key: Any) -> str:
    key = str(key)
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _lookup(raw: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw
