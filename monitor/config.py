"""The configuration: ``sources.toml``, validated once at start.

A bad file is refused as a whole with a ``ConfigError`` whose message names the file, the entry
and the key of every problem, one line each, e.g.::

    sources.toml: [[sources]] #3 (id "fr-bis"): every: invalid duration "5x" (use e.g. 30s, 15m, 2h)

Notification targets and their secrets live in an apprise config file, never here: any string that
looks like a notification URL or carries credentials is refused, and the value is never echoed.
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import json
import math
import os
import re
import tomllib
import types
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Iterable, Iterator, Literal, Mapping, Union, get_args, get_origin
from urllib.parse import urlsplit

import soupsieve
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.vocabulary import KINDS, SEVERITIES

__all__ = [
    "APPRISE_CONFIG_ENV",
    "CHANGE_KINDS",
    "DEFAULT_USER_AGENT",
    "SOURCE_KINDS",
    "AlertsConfig",
    "CompanyConfig",
    "Config",
    "ConfigError",
    "FederalRegisterSource",
    "FeedSource",
    "HostSettings",
    "HtmlListSource",
    "MonitorSettings",
    "RegionConfig",
    "RouteConfig",
    "RuleConfig",
    "RuleIdentifiers",
    "ScreeningListSource",
    "SourceConfig",
    "WatchlistConfig",
    "WatchlistEntry",
    "check_names",
    "format_duration",
    "load_config",
    "parse_duration",
    "parse_size",
    "validate_config",
]

APPRISE_CONFIG_ENV = "MONITOR_APPRISE_CONFIG"
ANCHOR_DIR_ENV = "MONITOR_ANCHOR_DIR"
DEFAULT_USER_AGENT = "export-control-monitor/0.1 (regulatory change monitor; +contact via config)"

ChangeKind = Literal[KINDS]  # type: ignore[valid-type]  # one list: monitor.vocabulary
CHANGE_KINDS: tuple[str, ...] = get_args(ChangeKind)
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
SOURCE_KINDS = ("federal_register", "feed", "html_list", "screening_list")
SCREENING_MAX_BYTES = 128 * 2**20  # the CSL JSON bulk file is about 33 MB; a cap above it, not unbounded


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` holds one line per problem."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(problems))


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- [monitor] -----------------------------------------------------------------------------------


class HostSettings(_Model):
    rate: float | None = Field(default=None, gt=0)  # maximum request starts per second; None: no spacing
    concurrency: int = Field(default=2, ge=1, le=64)


def _default_hosts() -> dict[str, HostSettings]:
    return {"www.federalregister.gov": HostSettings(rate=5)}  # the API's documented budget


class MonitorSettings(_Model):
    state_dir: Text = "state"
    every: PositiveDuration = dt.timedelta(minutes=30)
    user_agent: UserAgent = DEFAULT_USER_AGENT
    connect_timeout: PositiveDuration = dt.timedelta(seconds=10)
    read_timeout: PositiveDuration = dt.timedelta(seconds=30)
    total_timeout: PositiveDuration = dt.timedelta(seconds=120)
    max_bytes: Size = 10 * 2**20
    max_redirects: int = Field(default=5, ge=0, le=20)
    backoff_base: PositiveDuration = dt.timedelta(minutes=1)
    backoff_cap: PositiveDuration = Field(default=dt.timedelta(hours=6), validate_default=True)
    hosts: dict[HostName, HostSettings] = Field(default_factory=_default_hosts)
    listen: Listen | None = None  # HOST:PORT for `monitor run`'s /healthz, /metrics, /changes.atom, /deadlines.ics
    # The shared event log in PostgreSQL (MONITOR_DATABASE overrides); without it, <state_dir>/events.db.
    database: DatabaseUrl | None = None
    # How long a replica's claim on a source's poll (or on the relay) lasts without being renewed:
    # a replica that dies has its work taken over within this period.
    lease: PositiveDuration = dt.timedelta(minutes=2)
    anchor_dir: Text | None = None  # where `monitor run` writes its daily anchors; default <state_dir>/anchors
    topics: list[Text] = []  # terms added to monitor/data/topics.toml: what makes a change on topic
    # Reminders before comment-close, effective and compliance dates, in days.
    reminder_days: list[Annotated[int, Field(ge=0, le=365)]] = Field(default_factory=lambda: [14, 3, 0])

    @field_validator("hosts")
    @classmethod
    def _keep_default_hosts(cls, hosts: dict[str, HostSettings]) -> dict[str, HostSettings]:
        # A file that tunes one host must not silently drop the Federal Register's rate limit.
        return {**_default_hosts(), **hosts}

    @field_validator("backoff_cap")
    @classmethod
    def _cap_not_below_base(cls, cap: dt.timedelta, info: ValidationInfo) -> dt.timedelta:
        return _not_below(cap, info, "backoff_base")


# --- [[sources]] ---------------------------------------------------------------------------------


class _SourceBase(_Model):
    id: Slug
    url: HttpUrl
    every: PositiveDuration | None = None  # filled from [monitor] every at load
    language: Literal["en", "zh"] | None = None
    jurisdiction: Jurisdiction | None = None
    max_bytes: Size | None = None  # filled from [monitor] max_bytes at load
    enabled: bool = True
    name: str | None = None
    silence_alert_after: PositiveDuration | None = None


class FederalRegisterSource(_SourceBase):
    kind: Literal["federal_register"]
    fields: list[Text] = []  # empty: the collector's default fields[]
    max_pages: int = Field(default=5, ge=1, le=50)  # the API itself stops at page 50


class FeedSource(_SourceBase):
    kind: Literal["feed"]
    # "title": normalised title plus publisher, for news-search feeds whose links are redirectors.
    item_key: Literal["auto", "guid", "link", "title"] = "auto"


class HtmlListSource(_SourceBase):
    kind: Literal["html_list"]
    item: Selector  # one entry of the notice list
    link: Selector = "a"
    title: Selector | None = None  # None: the link text
    date: Selector | None = None
    encoding: Encoding | None = None  # overrides charset sniffing
    issuer: Text | None = None  # e.g. "商务部": announcement numbers are deduplicated per issuer


def _list_code(value: str) -> str:
    code = " ".join(value.split()).upper()
    if not re.fullmatch(r"[A-Z][A-Z0-9-]{0,15}", code):
        raise ValueError(f"invalid list code {_show(value)}: use the code in parentheses of the list's name, "
                         "e.g. EL, MEU, UVL, DPL, SDN")
    return code


ListCode = Annotated[str, AfterValidator(_list_code)]


class ScreeningListSource(_SourceBase):
    """The Consolidated Screening List bulk file (JSON, CSV or TSV), diffed at entity level."""

    kind: Literal["screening_list"]
    format: Literal["auto", "json", "csv", "tsv"] = "auto"  # auto: by Content-Type, then by the first byte
    lists: list[ListCode] = []  # empty: every list of the file


SourceConfig = Annotated[
    Union[FederalRegisterSource, FeedSource, HtmlListSource, ScreeningListSource], Field(discriminator="kind")
]


# --- [[rules]], [regions.*], [companies.*] -------------------------------------------------------


class RuleIdentifiers(_Model):
    fr_documents: list[Text] = []
    citations: list[Text] = []
    rins: list[Text] = []
    dockets: list[Text] = []
    bills: list[Text] = []
    announcements: list[Text] = []


class RuleConfig(_Model):
    id: Slug
    title: Text
    issuer: str | None = None
    jurisdiction: Jurisdiction | None = None
    kind: str | None = None
    identifiers: RuleIdentifiers = Field(default_factory=RuleIdentifiers)
    keywords: list[Text] = []
    # Words of the rule's subject ("HBM", "晶圆代工"): news in the weeks around the rule's dates
    # that states a change and names one of these (and the issuing country) is about this rule.
    topics: list[Text] = []
    regions: list[Slug] = []
    countries: list[Country] = []
    companies: list[Slug] = []
    dates: dict[str, dt.date] = {}


class RegionConfig(_Model):
    name: Text
    countries: list[Country] = Field(min_length=1)
    aliases: list[Text] = []


class CompanyConfig(_Model):
    name: Text
    aliases: list[Text] = []


# --- [alerts] ------------------------------------------------------------------------------------


class RouteConfig(_Model):
    tag: Tag
    group_by: Literal["region", "company", "none"] = "none"
    kinds: list[ChangeKind] = []
    min_severity: Severity = "low"
    regions: list[Slug] = []
    countries: list[Country] = []
    companies: list[Slug] = []
    sources: list[Slug] = []  # must name configured sources (checked at load)
    # Incidents that fall in none of the route's groups go to an "Other" section: by default for
    # region routes (a US rule that names no country still matters), not for company routes.
    other: bool | None = None

    @property
    def wants_other(self) -> bool:
        return self.other if self.other is not None else self.group_by != "company"


class AlertsConfig(_Model):
    apprise_config: Text | None = None
    digest_window: Duration = dt.timedelta(minutes=15)
    high_bypasses_window: bool = True
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base: PositiveDuration = dt.timedelta(minutes=1)
    retry_cap: PositiveDuration = Field(default=dt.timedelta(hours=1), validate_default=True)
    ops_tag: Tag | None = None
    relay_every: PositiveDuration = dt.timedelta(minutes=1)  # how often `monitor run` sends what is due
    routes: list[RouteConfig] = []

    @field_validator("retry_cap")
    @classmethod
    def _cap_not_below_base(cls, cap: dt.timedelta, info: ValidationInfo) -> dt.timedelta:
        return _not_below(cap, info, "retry_base")


# --- the whole file ------------------------------------------------------------------------------


class WatchlistEntry(_Model):
    name: Text
    name_zh: str | None = None
    country: Country | None = None
    ref: str | None = None  # your own reference (customer number, supplier id); default: the name


class WatchlistIgnore(_Model):
    """A match never to report: ``entity`` (an entity key or a listed name) for every entry, or
    only for the entry ``ref`` (its reference, or its name when it has none)."""

    entity: Text
    ref: str | None = None


class WatchlistConfig(_Model):
    """The counterparties a team screens against the screening lists."""

    file: Text | None = None  # a CSV (name, name_zh, country, ref), relative to this file
    threshold: int = Field(default=90, ge=50, le=100)  # rapidfuzz score (0-100) from which a name matches
    lists: list[ListCode] = []  # screen against these lists only; empty: every list the sources keep
    ignore: list[Union[Text, WatchlistIgnore]] = []
    entries: list[WatchlistEntry] = []


class Config(_Model):
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    sources: list[SourceConfig] = []
    watchlist: WatchlistConfig = Field(default_factory=WatchlistConfig)
    rules: list[RuleConfig] = []
    regions: dict[Slug, RegionConfig] = {}
    companies: dict[Slug, CompanyConfig] = {}
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    # Not a field, so a `path = ...` line in the file is refused as an unknown key.
    _path: Path = PrivateAttr(default_factory=lambda: Path("sources.toml").absolute())
    # The file as parsed and as named, so that later checks (check_names) word their problems
    # exactly as validation does.
    _raw: Mapping[str, Any] = PrivateAttr(default_factory=dict)
    _label: str = PrivateAttr(default="sources.toml")

    @model_validator(mode="after")
    def _fill_source_defaults(self) -> Config:
        for source in self.sources:
            if source.every is None:
                source.every = self.monitor.every
            if source.max_bytes is None:
                source.max_bytes = max(self.monitor.max_bytes, SCREENING_MAX_BYTES) \
                    if source.kind == "screening_list" else self.monitor.max_bytes
        return self

    @property
    def path(self) -> Path:
        """The configuration file (absolute): relative paths in it are relative to its directory."""
        return self._path

    @property
    def state_path(self) -> Path:
        return self._relative_to_file(self.monitor.state_dir)

    @property
    def apprise_config_path(self) -> Path | None:
        """``$MONITOR_APPRISE_CONFIG`` (relative to the working directory) if set, else [alerts]."""
        override = os.environ.get(APPRISE_CONFIG_ENV, "").strip()
        if override:
            return Path(override).expanduser().absolute()
        if self.alerts.apprise_config is None:
            return None
        return self._relative_to_file(self.alerts.apprise_config)

    @property
    def watchlist_path(self) -> Path | None:
        return self._relative_to_file(self.watchlist.file) if self.watchlist.file else None

    @property
    def database_url(self) -> str | None:
        """``$MONITOR_DATABASE`` if set, else [monitor] database; None: the log is <state_dir>/events.db."""
        from monitor.store.urls import DATABASE_ENV

        return os.environ.get(DATABASE_ENV, "").strip() or self.monitor.database

    def anchor_path(self, state_dir: Path) -> Path:
        """Where the daemon's daily anchors go: ``$MONITOR_ANCHOR_DIR``, else [monitor] anchor_dir,
        else ``anchors/`` in the state directory (better kept elsewhere: see the README)."""
        override = os.environ.get(ANCHOR_DIR_ENV, "").strip()
        if override:
            return Path(override).expanduser().absolute()
        if self.monitor.anchor_dir is None:
            return Path(state_dir) / "anchors"
        return self._relative_to_file(self.monitor.anchor_dir)

    def source(self, source_id: str) -> SourceConfig:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(f"unknown source id {source_id!r}")

    def _relative_to_file(self, name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else self.path.parent / path


def load_config(path: str | Path) -> Config:
    """Read and validate a configuration file; raise ``ConfigError`` naming every problem."""
    label = str(path)
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(label, [f"{label}: file not found"]) from None
    except OSError as error:
        raise ConfigError(label, [f"{label}: cannot read the file: {error.strerror or error}"]) from None
    try:
        text = data.decode("utf-8-sig")  # editors on Windows add a BOM; TOML itself is UTF-8
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(label, [f"{label}: line {line}: not valid UTF-8 (TOML files are UTF-8)"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(label, [f"{label}: {_describe_toml_error(error)}"]) from None
    return validate_config(raw, path, label=label)


def validate_config(raw: Mapping[str, Any], path: str | Path, *, label: str | None = None) -> Config:
    """Validate an already parsed TOML document as if it had been read from ``path``."""
    label = label or str(path)
    secrets = [_problem(label, loc, _SECRET_MESSAGE, raw) for loc in _secret_locations(raw)]
    if secrets:
        # Stop here: later messages may quote values, and these values must never be shown.
        raise ConfigError(label, secrets)
    problems: list[str] = []
    config = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        for detail in error.errors(include_url=False):
            loc, message = _explain(detail)
            problems.append(_problem(label, loc, message, raw))
    problems += [_problem(label, loc, message, raw) for loc, message in _cross_check(raw)]
    if problems or config is None:
        raise ConfigError(label, list(dict.fromkeys(problems)))
    config._path = Path(path).absolute()
    config._raw, config._label = raw, label
    return config


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

