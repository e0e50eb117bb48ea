"""The configuration: ``sources.toml``, validated once at start.

A bad file is refused as a whole with a ``ConfigError`` whose message names the file, the entry
and the key of every problem, one line each, e.g.::

    sources.toml: [[sources]] #3 (id "fr-bis"): every: invalid duration "5x" (use e.g. 30s, 15m, 2h)

Notification targets and their secrets live in an apprise config file, never here: any string that
looks like a notification URL or carries credentials is refused, and the value is never echoed.

The package, along its seams:

- ``values``: the value parsers and field types (durations, sizes, names, codes, URLs, selectors);
- ``models``: the pydantic models of the tables, and ``Config``, the whole file;
- ``loader``: ``load_config`` and ``validate_config``;
- ``checks``: checks across entries (secrets, duplicate ids, unknown sources and names);
- ``explain``: ``ConfigError`` and the wording of every problem.

Import from ``monitor.config``: the names below are the package's interface.
"""

from monitor.config.checks import check_names
from monitor.config.explain import ConfigError
from monitor.config.loader import load_config, validate_config
from monitor.config.models import (
    ANCHOR_DIR_ENV, APPRISE_CONFIG_ENV, DEFAULT_USER_AGENT, SCREENING_MAX_BYTES, SOURCE_KINDS, AlertsConfig,
    CompanyConfig, Config, FederalRegisterSource, FeedSource, HostSettings, HtmlListSource, MonitorSettings,
    RegionConfig, RouteConfig, RuleConfig, RuleIdentifiers, ScreeningListSource, SourceConfig, WatchlistConfig,
    WatchlistEntry, WatchlistIgnore,
)
from monitor.config.values import (
    CHANGE_KINDS, ChangeKind, Severity, _country, check_listen, format_duration, parse_duration, parse_size,
)

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
    "check_listen",
    "check_names",
    "format_duration",
    "load_config",
    "parse_duration",
    "parse_size",
    "validate_config",
]
