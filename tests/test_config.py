"""The configuration layer: sources.toml is validated at start and a bad file names file, entry, key."""

from __future__ import annotations

import re
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import (
    APPRISE_CONFIG_ENV,
    CHANGE_KINDS,
    Config,
    ConfigError,
    FederalRegisterSource,
    FeedSource,
    HtmlListSource,
    format_duration,
    load_config,
    parse_duration,
    parse_size,
)

REPO = Path(__file__).resolve().parents[1]

FR_SOURCE = """
[[sources]]
id = "fr-bis"
kind = "federal_register"
url = "https://www.federalregister.gov/api/v1/documents.json?conditions[agencies][]=industry-and-security-bureau"
"""


def write(tmp_path: Path, text: str, name: str = "sources.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> str:
    """Load ``text`` as sources.toml, expect a refusal, and return its message."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message


# --- the shipped file ----------------------------------------------------------------------------


def test_shipped_sources_toml_loads():
    config = load_config(REPO / "sources.toml")
    ids = [source.id for source in config.sources]
    assert len(ids) == len(set(ids))
    assert {"fr-bis", "fr-public-inspection", "news-en", "news-zh", "mofcom-announcements"} <= set(ids)

    fr = config.source("fr-bis")
    assert isinstance(fr, FederalRegisterSource)
    assert "conditions[agencies][]=industry-and-security-bureau" in fr.url
    assert fr.every == timedelta(minutes=30)

    mofcom = config.source("mofcom-announcements")
    assert isinstance(mofcom, HtmlListSource)
    assert (mofcom.language, mofcom.jurisdiction, mofcom.issuer) == ("zh", "CN", "商务部")
    assert mofcom.every == timedelta(hours=2)

    news = [s for s in config.sources if isinstance(s, FeedSource) and s.id.startswith("news-")]
    assert {s.language for s in news} == {"en", "zh"}
    assert all(s.item_key == "title" and s.every >= timedelta(hours=1) for s in news)

    assert {route.group_by for route in config.alerts.routes} == {"region", "company"}
    assert config.alerts.apprise_config is None
    assert config.state_path == REPO / "state"


def test_shipped_examples_are_valid_when_uncommented(tmp_path):
    # An analyst who uncomments an example must get a working file.
    text = (REPO / "sources.toml").read_text(encoding="utf-8")
    uncommented = re.sub(r"(?m)^# ?(?=\[|[a-z_]+ = )", "", text)
    assert "[[rules]]\nid" in uncommented
    config = load_config(write(tmp_path, uncommented))
    assert config.rules and config.regions and config.companies
    assert config.rules[0].dates["published"] == date(2025, 1, 15)
    assert config.alerts.ops_tag == "ops"


# --- every kind and every section ----------------------------------------------------------------


def test_every_kind_and_section_validates(tmp_path):
    path = write(
        tmp_path,
        """
        [monitor]
        every = "10m"
        max_bytes = "2MiB"
        listen = "127.0.0.1:8080"
        [monitor.hosts."News.Google.com"]
        rate = 0.5

        [[sources]]
        id = "fr-bis"
        kind = "federal_register"
        url = "https://www.federalregister.gov/api/v1/documents.json"
        fields = ["document_number", "title"]
        max_pages = 3

        [[sources]]
        id = "news-en"
        kind = "feed"
        url = "https://news.google.com/rss/search?q=export+controls"
        item_key = "title"
        every = "1h"
        language = "en"
        silence_alert_after = "1d"

        [[sources]]
        id = "mofcom"
        kind = "html_list"
        url = "http://127.0.0.1:8000/gg/index.html"
        item = "ul.txtList_01 li"
        date = "span"
        encoding = "gb18030"
        issuer = "商务部"
        language = "zh"
        jurisdiction = "cn"
        max_bytes = 4096
        enabled = false

        [[rules]]
        id = "us-ai-diffusion"
        title = "Framework for Artificial Intelligence Diffusion"
        countries = ["cn", "AE"]
        dates = { published = 2025-01-15, comments_close = "2025-05-15" }
        [rules.identifiers]
        fr_documents = ["2025-00636"]
        rins = ["0694-AJ90"]

        [regions.gulf]
        name = "Gulf"
        countries = ["AE", "SA", "QA"]
        aliases = ["海湾"]

        [companies.nvidia]
        name = "NVIDIA"
        aliases = ["英伟达", "輝達"]

        [alerts]
        digest_window = "0s"
        ops_tag = "ops"
        [[alerts.routes]]
        tag = "mideast"
        group_by = "region"
        kinds = ["license_slowdown", "entity_list"]
        min_severity = "medium"
        regions = ["gulf"]
        sources = ["fr-bis", "news-en"]
        """,
    )
    config = load_config(path)
    fr, feed, html = config.sources
    assert isinstance(fr, FederalRegisterSource) and fr.max_pages == 3 and fr.fields == ["document_number", "title"]
    assert isinstance(feed, FeedSource) and feed.every == timedelta(hours=1)
    assert feed.silence_alert_after == timedelta(days=1)
    assert isinstance(html, HtmlListSource) and html.link == "a" and html.title is None
    assert (html.jurisdiction, html.enabled, html.max_bytes) == ("CN", False, 4096)
    # Defaults from [monitor] are filled in at load, so every source has an interval and a cap.
    assert fr.every == timedelta(minutes=10) and fr.max_bytes == 2 * 2**20
    assert config.source("news-en") is feed
    with pytest.raises(KeyError):
        config.source("nope")

    assert config.rules[0].countries == ["CN", "AE"]
    assert config.rules[0].dates == {"published": date(2025, 1, 15), "comments_close": date(2025, 5, 15)}
    assert config.rules[0].identifiers.rins == ["0694-AJ90"]
    assert config.regions["gulf"].countries == ["AE", "SA", "QA"]
    assert config.companies["nvidia"].aliases == ["英伟达", "輝達"]
    assert config.alerts.digest_window == timedelta(0)
    # Tuning one host keeps the Federal Register's default rate limit.
    assert config.monitor.hosts["news.google.com"].rate == 0.5
    assert config.monitor.hosts["www.federalregister.gov"].rate == 5
    assert config.monitor.listen == "127.0.0.1:8080"


def test_defaults(tmp_path):
    config = load_config(write(tmp_path, FR_SOURCE))
    monitor = config.monitor
    assert monitor.every == timedelta(minutes=30)
    assert (monitor.connect_timeout, monitor.read_timeout, monitor.total_timeout) == (
        timedelta(seconds=10), timedelta(seconds=30), timedelta(seconds=120))
    assert monitor.max_bytes == 10 * 2**20 and monitor.max_redirects == 5
    assert (monitor.backoff_base, monitor.backoff_cap) == (timedelta(minutes=1), timedelta(hours=6))
    assert monitor.user_agent.startswith("export-control-monitor/")
    assert monitor.listen is None
    alerts = config.alerts
    assert alerts.digest_window == timedelta(minutes=15) and alerts.high_bypasses_window
    assert (alerts.max_attempts, alerts.retry_base, alerts.retry_cap) == (8, timedelta(minutes=1), timedelta(hours=1))
    assert alerts.routes == [] and alerts.apprise_config is None
    source = config.sources[0]
    assert source.every == timedelta(minutes=30) and source.enabled and source.language is None
    assert config.path == (tmp_path / "sources.toml").absolute()


# --- refusals: the message names the file, the entry and the key ---------------------------------


def test_unknown_top_level_key(tmp_path):
    message = refused(tmp_path, FR_SOURCE.replace("[[sources]]", 'sourcs = 1\n[[sources]]', 1))
    assert "top level: sourcs: unknown key" in message
    assert 'did you mean "sources"' in message


def test_unknown_key_in_monitor(tmp_path):
    message = refused(tmp_path, '[monitor]\nevry = "5m"\n' + FR_SOURCE)
    assert '[monitor]: evry: unknown key (did you mean "every"?)' in message


def test_unknown_key_in_source(tmp_path):
    message = refused(tmp_path, FR_SOURCE + 'colour = "blue"\n')
    assert '[[sources]] #1 (id "fr-bis"): colour: unknown key' in message
    # pydantic's union tag ("federal_register") is not a key of the file and is not shown.
    assert "federal_register.colour" not in message


def test_path_is_not_a_key(tmp_path):
    message = refused(tmp_path, 'path = "/etc"\n' + FR_SOURCE)
    assert "top level: path: unknown key" in message


def test_bad_duration(tmp_path):
    text = FR_SOURCE + FR_SOURCE.replace('"fr-bis"', '"fr-2"') + FR_SOURCE.replace('"fr-bis"', '"fr-3"')
    message = refused(tmp_path, text + 'every = "5x"\n')
    assert message.endswith(
        '[[sources]] #3 (id "fr-3"): every: invalid duration "5x" (use e.g. 30s, 15m, 2h)'
    ), message
    assert "\n" not in message


def test_bad_duration_in_monitor(tmp_path):
    message = refused(tmp_path, '[monitor]\nread_timeout = "-5s"\n' + FR_SOURCE)
    assert '[monitor]: read_timeout: negative duration "-5s"' in message


def test_zero_poll_interval_refused(tmp_path):
    message = refused(tmp_path, FR_SOURCE + 'every = "0s"\n')
    assert '[[sources]] #1 (id "fr-bis"): every: must be longer than 0s' in message


def test_cap_shorter_than_base_names_the_key(tmp_path):
    message = refused(tmp_path, '[monitor]\nbackoff_cap = "10s"\n[alerts]\nretry_base = "2h"\n' + FR_SOURCE)
    assert "[monitor]: backoff_cap: must not be shorter than backoff_base (1m)" in message
    assert "[alerts]: retry_cap: must not be shorter than retry_base (2h)" in message


def test_bad_source_id(tmp_path):
    message = refused(tmp_path, FR_SOURCE.replace('"fr-bis"', '"FR BIS"'))
    assert '[[sources]] #1: id: invalid name "FR BIS"' in message


def test_duplicate_id_names_both_positions(tmp_path):
    feed = '[[sources]]\nid = "news"\nkind = "feed"\nurl = "https://example.org/feed"\n'
    message = refused(tmp_path, FR_SOURCE + feed + FR_SOURCE)
    assert '[[sources]] #3 (id "fr-bis"): id: duplicate id "fr-bis": already used by [[sources]] #1' in message


def test_missing_url(tmp_path):
    message = refused(tmp_path, FR_SOURCE + '[[sources]]\nid = "news"\nkind = "feed"\n')
    assert message == f'{tmp_path / "sources.toml"}: [[sources]] #2 (id "news"): url: field required'


def test_non_http_url(tmp_path):
    message = refused(tmp_path, '[[sources]]\nid = "x"\nkind = "feed"\nurl = "ftp://example.org/feed.xml"\n')
    assert '[[sources]] #1 (id "x"): url: must be an http:// or https:// URL' in message


def test_bad_kind(tmp_path):
    message = refused(tmp_path, FR_SOURCE + '[[sources]]\nid = "x"\nkind = "rss"\nurl = "https://e.org/"\n')
    assert '[[sources]] #2 (id "x"): kind: unknown kind "rss" (expected one of federal_register, feed, html_list, screening_list)' in message


def test_missing_kind(tmp_path):
    message = refused(tmp_path, '[[sources]]\nid = "x"\nurl = "https://e.org/"\n')
    assert '[[sources]] #1 (id "x"): kind: field required' in message


def test_html_list_requires_item_and_a_valid_selector(tmp_path):
    base = '[[sources]]\nid = "m"\nkind = "html_list"\nurl = "https://www.mofcom.gov.cn/"\n'
    assert '[[sources]] #1 (id "m"): item: field required' in refused(tmp_path, base)
    message = refused(tmp_path, base + 'item = "ul >> li"\n')
    assert '[[sources]] #1 (id "m"): item: invalid CSS selector "ul >> li"' in message


def test_bad_country_code(tmp_path):
    message = refused(tmp_path, FR_SOURCE + '[[rules]]\nid = "r1"\ntitle = "T"\ncountries = ["CN", "CHN"]\n')
    assert '[[rules]] #1 (id "r1"): countries #2: invalid country code "CHN"' in message
    message = refused(tmp_path, FR_SOURCE + '[regions.europe]\nname = "Europe"\ncountries = ["UK"]\n')
    assert "[regions.europe]: countries #1: country \"UK\": use the ISO 3166 code 'GB'" in message


def test_route_naming_an_unknown_source(tmp_path):
    message = refused(tmp_path, FR_SOURCE + '[[alerts.routes]]\ntag = "team"\nsources = ["fr-bis", "fr-bsi"]\n')
    assert '[[alerts.routes]] #1 (tag "team"): sources #2: unknown source "fr-bsi" (did you mean "fr-bis"?)' in message


def test_route_with_an_unknown_change_kind(tmp_path):
    message = refused(tmp_path, FR_SOURCE + '[[alerts.routes]]\ntag = "team"\nkinds = ["new_rules", "Entity_List"]\n')
    assert '[[alerts.routes]] #1 (tag "team"): kinds #1: unknown value "new_rules" (did you mean "new_rule"?)' in message
    assert 'kinds #2: unknown value "Entity_List" (did you mean "entity_list"?)' in message


def test_an_unknown_change_kind_far_from_any_lists_them_all(tmp_path):
    message = refused(tmp_path, FR_SOURCE + '[[alerts.routes]]\ntag = "team"\nkinds = ["zzz"]\n')
    assert 'kinds #1: unknown value "zzz" (expected' in message
    assert all(kind in message for kind in CHANGE_KINDS)


def test_credentialed_url_is_refused_without_showing_it(tmp_path):
    message = refused(
        tmp_path,
        FR_SOURCE + '[alerts]\napprise_config = "json://bob:hunter2secret@alerts.example.org/hook"\n',
    )
    assert "[alerts]: apprise_config: looks like a notification URL or a credential" in message
    assert "hunter2secret" not in message and "bob" not in message


@pytest.mark.parametrize(
    "value",
    [
        "mailto://ops:Pa55word@gmail.com",
        "slack://TokenA/TokenB/TokenC",
        "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "tgram://123456789:AAHtoken/987654321",
        "https://user:Pa55word@feeds.example.org/rss",
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        "https://example.org/rss?api_key=XXXXXXXX",
    ],
)
def test_notification_urls_are_refused_anywhere(tmp_path, value):
    # Inside a known key, an unknown key and a list item: the value is never echoed.
    for text in (
        FR_SOURCE + f'name = "{value}"\n',
        FR_SOURCE + f'token = "{value}"\n',
        FR_SOURCE + f'fields = ["title", "{value}"]\n',
    ):
        message = refused(tmp_path, text)
        assert '[[sources]] #1 (id "fr-bis"): ' in message
        assert "value not shown" in message
        assert value not in message
        for secret in ("Pa55word", "TokenB", "JHMHI8", "AAHtoken", "XXXXXXXX"):
            assert secret not in message


def test_ordinary_strings_are_not_mistaken_for_secrets(tmp_path):
    config = load_config(write(tmp_path, '[monitor]\nuser_agent = "monitor/1 (+https://example.org; ops@example.org)"\n' + FR_SOURCE))
    assert "ops@example.org" in config.monitor.user_agent


def test_toml_syntax_error_names_the_line(tmp_path):
    message = refused(tmp_path, FR_SOURCE + "every = 30m\n")
    assert re.search(r"sources\.toml: line 6, column \d+: TOML syntax error", message), message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="sources.toml: file not found"):
        load_config(tmp_path / "sources.toml")


def test_sources_written_as_a_table(tmp_path):
    message = refused(tmp_path, '[sources]\nid = "x"\n')
    assert "top level: sources: expected an array of tables: write [[sources]] for each entry" in message


def test_several_problems_one_line_each(tmp_path):
    message = refused(tmp_path, '[monitor]\nevery = "soon"\nmax_bytes = "10 parsecs"\n' + FR_SOURCE + 'max_pages = 99\n')
    lines = message.splitlines()
    assert len(lines) == 3
    assert any("[monitor]: every: invalid duration" in line for line in lines)
    assert any("[monitor]: max_bytes: invalid size" in line for line in lines)
    assert any('[[sources]] #1 (id "fr-bis"): max_pages: must be less than or equal to 50' in line for line in lines)


# --- paths ---------------------------------------------------------------------------------------


def test_relative_state_dir_resolves_against_the_config_directory(tmp_path, monkeypatch):
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    path = write(conf_dir, '[monitor]\nstate_dir = "var/state"\n' + FR_SOURCE)
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("etc/sources.toml")).state_path == conf_dir.absolute() / "var" / "state"
    absolute = write(conf_dir, f'[monitor]\nstate_dir = "{tmp_path / "elsewhere"}"\n' + FR_SOURCE)
    assert load_config(absolute).state_path == tmp_path / "elsewhere"
    assert load_config(path).path == path.absolute()


def test_apprise_config_from_file_and_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(APPRISE_CONFIG_ENV, raising=False)
    assert load_config(write(tmp_path, FR_SOURCE)).apprise_config_path is None

    config = load_config(write(tmp_path, FR_SOURCE + '[alerts]\napprise_config = "apprise.yml"\n'))
    assert config.apprise_config_path == tmp_path.absolute() / "apprise.yml"

    monkeypatch.setenv(APPRISE_CONFIG_ENV, str(tmp_path / "secret" / "apprise.txt"))
    assert config.apprise_config_path == tmp_path / "secret" / "apprise.txt"


# --- durations and sizes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("0s", timedelta(0)),
        ("500ms", timedelta(milliseconds=500)),
        ("1.5h", timedelta(minutes=90)),
        ("2H", timedelta(hours=2)),
        ("90", timedelta(seconds=90)),
        (90, timedelta(seconds=90)),
        (0, timedelta(0)),
        (timedelta(minutes=1), timedelta(minutes=1)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["5x", "", "m", "1h1h", "-5m", "1.2.3s", "h1", "10 minutes", -5, True, None, [1]])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert "duration" in str(caught.value)


def test_parse_duration_messages():
    with pytest.raises(ValueError, match=r'invalid duration "5x" \(use e\.g\. 30s, 15m, 2h\)'):
        parse_duration("5x")
    with pytest.raises(ValueError, match="negative"):
        parse_duration("-1h")
    with pytest.raises(ValueError, match="too long"):
        parse_duration("9" * 30 + "d")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10MiB", 10 * 2**20),
        ("10 MiB", 10 * 2**20),
        ("512KiB", 512 * 1024),
        ("1KB", 1000),
        ("2MB", 2_000_000),
        ("1GB", 10**9),
        ("1GiB", 2**30),
        ("100B", 100),
        ("4096", 4096),
        (4096, 4096),
        ("1.5KiB", 1536),
        ("10mib", 10 * 2**20),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["10 parsecs", "", "MiB", "-1KB", -1, 1.5, True, "1TB"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


durations = st.builds(
    timedelta,
    days=st.integers(0, 10_000),
    seconds=st.integers(0, 86_399),
    microseconds=st.integers(0, 999_999),
)


@given(durations)
def test_duration_round_trip(value):
    assert parse_duration(format_duration(value)) == value


@given(
    st.fixed_dictionaries(
        {},
        optional={unit: st.integers(0, 10_000) for unit in ("d", "h", "m", "s", "ms")},
    ),
    st.booleans(),
)
def test_generated_duration_strings(parts, spaced):
    expected = timedelta(
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
        milliseconds=parts.get("ms", 0),
    )
    text = (" " if spaced else "").join(f"{count}{unit}" for unit, count in parts.items()) or "0s"
    assert parse_duration(text) == expected


@given(st.integers(0, 10**6), st.sampled_from(["B", "KB", "KiB", "MB", "MiB", "GB", "GiB"]))
def test_size_units(count, unit):
    factor = {"B": 1, "KB": 10**3, "KiB": 2**10, "MB": 10**6, "MiB": 2**20, "GB": 10**9, "GiB": 2**30}[unit]
    assert parse_size(f"{count}{unit}") == count * factor


def test_config_can_be_built_without_a_file():
    # Other modules' tests may build a Config in memory; defaults must then be filled the same way.
    config = Config.model_validate({"sources": [{"id": "x", "kind": "feed", "url": "https://e.org/f"}]})
    assert config.sources[0].every == timedelta(minutes=30)
    assert config.state_path.is_absolute()
