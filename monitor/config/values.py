"""The values of ``sources.toml``: durations, sizes, names, tags, codes, URLs, selectors, as
pydantic field types; each parser's ``ValueError`` is the message a person reads for that key."""

from __future__ import annotations

import codecs
import datetime as dt
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from monitor.vocabulary import KINDS, SEVERITIES

ChangeKind = Literal[KINDS]  # type: ignore[valid-type]  # one list: monitor.vocabulary
CHANGE_KINDS: tuple[str, ...] = get_args(ChangeKind)
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]


# --- durations and sizes -------------------------------------------------------------------------

_DURATION_HINT = "(use e.g. 30s, 15m, 2h)"
_MICROSECONDS = {"w": 604_800_000_000, "d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000,
                 "s": 1_000_000, "ms": 1_000}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|w|d|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _show(value: Any, limit: int = 60) -> str:
    """A value quoted for an error message, cut short so a message stays one readable line."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= limit else text[: limit - 2] + '…"'
    return repr(value)[:limit]


def parse_duration(value: str | int | float | dt.timedelta) -> dt.timedelta:
    """``"30s"``, ``"15m"``, ``"2h"``, ``"1d"``, ``"1h30m"``, ``"500ms"``; a bare number is seconds."""
    if isinstance(value, dt.timedelta):
        if value < dt.timedelta(0):
            raise ValueError(f"negative duration -{format_duration(-value)} is not allowed")
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"invalid duration {_show(value)} {_DURATION_HINT}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"invalid duration {_show(value)}: must be 0 or more seconds")
        return _microseconds(Decimal(str(value)) * _MICROSECONDS["s"], value)
    text = value.strip().lower()
    if not text:
        raise ValueError(f"empty duration {_DURATION_HINT}")
    if text.startswith("-"):
        raise ValueError(f"negative duration {_show(value)} is not allowed")
    if _NUMBER.fullmatch(text):
        return _microseconds(Decimal(text) * _MICROSECONDS["s"], value)
    total, seen, position = Decimal(0), set(), 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if not match:
            raise ValueError(f"invalid duration {_show(value)} {_DURATION_HINT}")
        number, unit = match.groups()
        if unit in seen:
            raise ValueError(f"invalid duration {_show(value)}: unit {unit!r} given twice")
        seen.add(unit)
        total += Decimal(number) * _MICROSECONDS[unit]
        position = match.end()
    return _microseconds(total, value)


def _microseconds(total: Decimal, original: Any) -> dt.timedelta:
    try:
        return dt.timedelta(microseconds=int(total.to_integral_value()))
    except (OverflowError, InvalidOperation):
        raise ValueError(f"duration {_show(original)} is too long") from None


def format_duration(value: dt.timedelta) -> str:
    """The inverse of ``parse_duration``: ``timedelta(minutes=90)`` -> ``"1h30m"``."""
    if value < dt.timedelta(0):
        raise ValueError("negative durations have no configuration form")
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    parts = []
    for unit in ("d", "h", "m"):
        count, micros = divmod(micros, _MICROSECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    if micros or not parts:
        seconds = (Decimal(micros) / 1_000_000).normalize()
        parts.append(f"{seconds:f}s")
    return "".join(parts)


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "kib": 2**10, "mb": 10**6, "mib": 2**20,
               "gb": 10**9, "gib": 2**30}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
_SIZE_HINT = "(use e.g. 512KiB, 10MiB, 1GB or a number of bytes)"


def parse_size(value: str | int) -> int:
    """``"10MiB"`` -> 10485760. Units B, KB, KiB, MB, MiB, GB, GiB (any case); a bare int is bytes."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"invalid size {_show(value)} {_SIZE_HINT}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid size {value}: must be 0 or more bytes")
        return value
    text = value.strip().lower()
    if text.startswith("-"):
        raise ValueError(f"negative size {_show(value)} is not allowed")
    match = _SIZE.fullmatch(text)
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"invalid size {_show(value)} {_SIZE_HINT}")
    number, unit = match.groups()
    return int(Decimal(number) * _SIZE_UNITS[unit])


# --- field types ---------------------------------------------------------------------------------

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
# ISO 3166 reserves UK; detection and the gazetteer use GB, so a route on "UK" would never match.
_COUNTRY_HINTS = {"UK": "GB", "EL": "GR"}


def _positive(value: dt.timedelta) -> dt.timedelta:
    if value <= dt.timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"invalid name {_show(value)}: use 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def _tag(value: str) -> str:
    # apprise splits tag lists on spaces and commas, so a tag may contain neither.
    if not _TAG.fullmatch(value):
        raise ValueError(f"invalid apprise tag {_show(value)}: use letters, digits, '.', '_', ':' or '-'")
    return value


def _country(value: str) -> str:
    code = value.strip().upper()
    if code in _COUNTRY_HINTS:
        raise ValueError(f"country {_show(value)}: use the ISO 3166 code {_COUNTRY_HINTS[code]!r}")
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise ValueError(f"invalid country code {_show(value)}: use ISO 3166 alpha-2, e.g. CN, AE, NL")
    return code


def _jurisdiction(value: str) -> str:
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise ValueError(f"invalid jurisdiction {_show(value)}: use a two-letter code, e.g. US, CN, EU")
    return code


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.strip()


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _selector(value: str) -> str:
    import soupsieve  # here: only `html_list` sources have selectors (it loads bs4, megabytes)

    try:
        soupsieve.compile(value)
    except Exception as error:  # soupsieve raises SelectorSyntaxError and, for odd input, others
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"invalid CSS selector {_show(value)}: {first_line}") from None
    return value


def _encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {_show(value)} (e.g. utf-8, gb18030, gbk)") from None
    return value


def _host(value: str) -> str:
    host = value.strip().lower()
    if not _HOST.fullmatch(host):
        raise ValueError(f"invalid host name {_show(value)}: write the bare host, e.g. www.federalregister.gov")
    return host


def check_listen(value: str) -> str:
    """A HOST:PORT listen address (an IPv6 host in brackets), or ValueError saying what is expected."""
    host, sep, port = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535 \
            or (":" in host and not bracketed) or re.search(r"\s", host):
        raise ValueError(f"invalid listen address {_show(value)}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return value


def _user_agent(value: str) -> str:
    if not value.strip() or re.search(r"[\r\n]", value):
        raise ValueError("must be one non-empty line")
    return value


Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[dt.timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
Size = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]
Slug = Annotated[str, AfterValidator(_slug)]
Tag = Annotated[str, AfterValidator(_tag)]
Country = Annotated[str, AfterValidator(_country)]
Jurisdiction = Annotated[str, AfterValidator(_jurisdiction)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Text = Annotated[str, AfterValidator(_not_blank)]


def _database_url(value: str) -> str:
    from monitor.store.urls import is_postgres_url, url_password

    if not is_postgres_url(value):
        raise ValueError("must be a postgresql:// URL (leave it out to keep the log in <state_dir>/events.db)")
    if url_password(value):
        # The message must not repeat the value: it holds the password.
        raise ValueError("must not carry a password (this file is tracked): give it in PGPASSWORD or a "
                         "passfile (~/.pgpass, PGPASSFILE), or the whole URL in MONITOR_DATABASE")
    return value


DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
Selector = Annotated[str, AfterValidator(_not_blank), AfterValidator(_selector)]
Encoding = Annotated[str, AfterValidator(_encoding)]
HostName = Annotated[str, AfterValidator(_host)]
Listen = Annotated[str, AfterValidator(check_listen)]
UserAgent = Annotated[str, AfterValidator(_user_agent)]


def _not_below(cap: dt.timedelta, info: ValidationInfo, base_name: str) -> dt.timedelta:
    # A field validator (not a model validator) so that the error names the key; the base is
    # declared first, so it is in info.data when it was valid.
    base = info.data.get(base_name)
    if base is not None and cap < base:
        raise ValueError(f"must not be shorter than {base_name} ({format_duration(base)})")
    return cap


def _list_code(value: str) -> str:
    code = " ".join(value.split()).upper()
    if not re.fullmatch(r"[A-Z][A-Z0-9-]{0,15}", code):
        raise ValueError(f"invalid list code {_show(value)}: use the code in parentheses of the list's name, "
                         "e.g. EL, MEU, UVL, DPL, SDN")
    return code


ListCode = Annotated[str, AfterValidator(_list_code)]
