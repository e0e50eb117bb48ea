"""The models of ``sources.toml``: one pydantic model per table, and ``Config``, the whole file
with the paths it names resolved against its own directory."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from monitor.config.values import (
    ChangeKind, Country, DatabaseUrl, Duration, Encoding, HostName, HttpUrl, Jurisdiction, ListCode, Listen,
    PositiveDuration, Selector, Severity, Size, Slug, Tag, Text, UserAgent, _not_below,
)

APPRISE_CONFIG_ENV = "MONITOR_APPRISE_CONFIG"
ANCHOR_DIR_ENV = "MONITOR_ANCHOR_DIR"
DEFAULT_USER_AGENT = "export-control-monitor/0.1 (regulatory change monitor; +contact via config)"
SOURCE_KINDS = ("federal_register", "feed", "html_list", "screening_list")
SCREENING_MAX_BYTES = 128 * 2**20  # the CSL JSON bulk file is about 33 MB; a cap above it, not unbounded


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
