"""Typos that would silently send or show nothing are refused (exit 2, with a did-you-mean), names
are matched whatever their case, and `poll` shows a delivery that failed. Real CLI (click's runner
in-process, one subprocess), real configuration files, a real log made by the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.daemon import run_demo

SECRET = "pw-S3CRET-42"


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output + (result.stderr or ""), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


# --- check-config: names the gazetteer does not know ------------------------------------------------


def config_file(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text('[[sources]]\nid = "fr-bis"\nkind = "feed"\nurl = "https://example.org/feed.xml"\n' + extra,
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("extra, line", [
    ('[[alerts.routes]]\ntag = "compliance"\nregions = ["middle-eastt"]\n',
     '[[alerts.routes]] #1 (tag "compliance"): regions #1: unknown region "middle-eastt" (did you mean "middle-east"?)'),
    ('[[alerts.routes]]\ntag = "compliance"\ncompanies = ["nvdia"]\n',
     '[[alerts.routes]] #1 (tag "compliance"): companies #1: unknown company "nvdia" (did you mean "nvidia"?)'),
    ('[[alerts.routes]]\ntag = "compliance"\ncountries = ["XX"]\n',
     '[[alerts.routes]] #1 (tag "compliance"): countries #1: unknown country "XX" (not a country of the gazetteer)'),
    ('[[alerts.routes]]\ntag = "compliance"\ncompanies = ["acme-chips"]\n',
     '[[alerts.routes]] #1 (tag "compliance"): companies #1: unknown company "acme-chips" (not in the gazetteer: define it as [companies.acme-chips] in this file)'),
    ('[[alerts.routes]]\ntag = "compliance"\nkinds = ["entity-list"]\n',
     '[[alerts.routes]] #1 (tag "compliance"): kinds #1: unknown value "entity-list" (did you mean "entity_list"?)'),
    ('[[alerts.routes]]\ntag = "compliance"\nsources = ["fr-bsi"]\n',
     '[[alerts.routes]] #1 (tag "compliance"): sources #1: unknown source "fr-bsi" (did you mean "fr-bis"?)'),
    ('[[rules]]\nid = "my-rule"\ntitle = "x"\nregions = ["gulff"]\ncompanies = ["huawie"]\n',
     '[[rules]] #1 (id "my-rule"): regions #1: unknown region "gulff" (did you mean "gulf"?)'),
    ('[[rules]]\nid = "my-rule"\ntitle = "x"\ncompanies = ["huawie"]\n',
     '[[rules]] #1 (id "my-rule"): companies #1: unknown company "huawie" (did you mean "huawei"?)'),
    ('[regions.my-gulf]\nname = "My Gulf"\ncountries = ["AE", "QQ"]\n',
     '[regions.my-gulf]: countries #2: unknown country "QQ" (not a country of the gazetteer)'),
])
def test_check_config_refuses_names_the_gazetteer_does_not_know(tmp_path, extra, line):
    path = config_file(tmp_path, extra)
    result = invoke("--config", str(path), "check-config")
    assert result.exit_code == 2
    assert f"{path}: {line}" in result.stderr, result.stderr


def test_names_the_file_itself_defines_are_known(tmp_path):
    path = config_file(tmp_path, '[companies.acme-chips]\nname = "Acme Chips"\n[regions.my-gulf]\nname = "G"\n'
                                 'countries = ["AE"]\n[[alerts.routes]]\ntag = "c"\ncompanies = ["acme-chips"]\n'
                                 'regions = ["my-gulf", "gulf"]\ncountries = ["AE"]\n')
    result = invoke("--config", str(path), "check-config")
    assert result.exit_code == 0, result.stderr


# --- check-config: the apprise file ---------------------------------------------------------------


def with_apprise(tmp_path: Path, text: str, route_tag: str | None = "compliance") -> Path:
    (tmp_path / "apprise.yml").write_text(text, encoding="utf-8")
    route = f'[[alerts.routes]]\ntag = "{route_tag}"\n' if route_tag else ""
    return config_file(tmp_path, f'[alerts]\napprise_config = "apprise.yml"\n{route}')


@pytest.mark.parametrize("text, route_tag, problem", [
    ("version: 1\nurls:\n  - json://127.0.0.1:9/h: [\n", "compliance", "not valid YAML (line 4, column 1)"),
    ("version: 1\nurls: 42\n", None, "urls: expected a list of notification URLs (it is a number)"),
    (f"version: 1\nurls:\n  - json://127.0.0.1:9/h:\n      - tag: compliance\n  - nosuch://u:{SECRET}@h/x:\n"
     "      - tag: compliance\n", "compliance",
     'urls #2: apprise cannot load this URL: unknown scheme "nosuch://" (the URL is not shown: it may hold a secret)'),
    (f"compliance=json://127.0.0.1:9/h\ncompliance=nosuch://u:{SECRET}@h/x\n", "compliance",
     'line 2: apprise cannot load this URL: unknown scheme "nosuch://"'),
    ("compliance=json://127.0.0.1:9/h\nnot an entry at all\n", "compliance",
     "line 2: not a URL, a TAGS=URL line or a group assignment"),
])
def test_check_config_names_what_apprise_would_skip_without_echoing_secrets(tmp_path, text, route_tag, problem):
    path = with_apprise(tmp_path, text, route_tag)
    result = invoke("--config", str(path), "check-config")
    assert result.exit_code == 2
    assert f"{tmp_path / 'apprise.yml'}: {problem}" in result.stderr, result.stderr
    assert SECRET not in result.output + result.stderr
    assert "no notification service has the tag" not in result.stderr  # the real cause, not its symptom


def test_a_good_apprise_file_passes(tmp_path):
    path = with_apprise(tmp_path, "version: 1\nurls:\n  - json://127.0.0.1:9/h:\n      - tag: compliance\n")
    assert invoke("--config", str(path), "check-config").exit_code == 0


# --- filters on a real log ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_state(tmp_path_factory) -> Path:
    state = tmp_path_factory.mktemp("demo") / "state"
    assert run_demo(state) == 0
    return state


def lines(result) -> list[dict]:
    return [json.loads(line) for line in result.output.splitlines()]


@pytest.mark.parametrize("option, value, canonical", [
    ("--region", "Gulf", "gulf"),
    ("--region", "Middle East", "middle-east"),
    ("--region", "中东", "middle-east"),
    ("--company", "NVIDIA", "nvidia"),
    ("--country", "China", "CN"),
    ("--country", "ae", "AE"),
])
def test_change_filters_match_whatever_the_case_name_or_alias(demo_state, tmp_path, monkeypatch, option, value,
                                                              canonical):
    monkeypatch.chdir(tmp_path)  # no sources.toml here: the shipped gazetteer
    field = {"--region": "regions", "--company": "companies", "--country": "countries"}[option]
    found = lines(invoke("--state", str(demo_state), "changes", option, value, "--json"))
    assert found and all(canonical in change[field] for change in found)
    assert found == lines(invoke("--state", str(demo_state), "changes", option, canonical, "--json"))


@pytest.mark.parametrize("args, message", [
    (["changes", "--region", "nosuch"], "--region: unknown region 'nosuch' (known: "),
    (["changes", "--region", "midle-east"], "--region: unknown region 'midle-east' (did you mean \"middle-east\""),
    (["changes", "--company", "nvdia"], "--company: unknown company 'nvdia' (did you mean \"nvidia\"?)"),
    (["changes", "--rule", "us-ai-difusion"], "--rule: unknown rule 'us-ai-difusion' (did you mean \"us-ai-diffusion\""),
    (["changes", "--kind", "nosuch"], "Invalid value for '--kind'"),
    (["events", "--type", "NoSuchType"], "--type: unknown event type 'NoSuchType' (known: AlertDelivered"),
    (["events", "--type", "SourcePoled"], "--type: unknown event type 'SourcePoled' (did you mean \"SourcePolled\""),
    (["events", "--stream", "source:nosuch"], "--stream: no events on stream 'source:nosuch'"),
    (["alerts", "retry", "--id", "alr-nosuch"], "--id: no alert 'alr-nosuch' in the outbox"),
    (["replay", "--reclassify", "--out", "x.db"], "--out cannot be used with it"),
    (["replay", "--reclassify", "--as-of-seq", "3"], "--as-of-seq cannot be used with it"),
])
def test_a_filter_or_option_that_would_quietly_do_nothing_is_refused(demo_state, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke("--state", str(demo_state), *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "x.db").exists()


def test_event_types_and_kinds_match_whatever_the_case(demo_state, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    polled = lines(invoke("--state", str(demo_state), "events", "--type", "sourcepolled", "--json"))
    assert polled and {e["type"] for e in polled} == {"SourcePolled"}
    upper = lines(invoke("--state", str(demo_state), "changes", "--kind", "ENTITY_LIST", "--json"))
    assert upper and {c["kind"] for c in upper} == {"entity_list"}


def test_retrying_a_delivered_alert_is_refused(demo_state, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    delivered = lines(invoke("--state", str(demo_state), "alerts", "--status", "delivered", "--json"))[0]["alert_id"]
    result = invoke("--state", str(demo_state), "alerts", "retry", "--id", delivered)
    assert result.exit_code == 2 and "was delivered already" in result.stderr
    typo = delivered[:-1] + ("0" if delivered[-1] != "0" else "1")
    result = invoke("--state", str(demo_state), "alerts", "retry", "--id", typo)
    assert result.exit_code == 2 and f'did you mean "{delivered}"?' in result.stderr


# --- poll shows what its relay pass could not deliver --------------------------------------------------


def test_poll_prints_a_delivery_that_failed(tmp_path, http_server, json_sink):
    http_server.route("/news.rss", content_type="application/rss+xml", body=(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>n</title><item><title>US slows licences for '
        'Nvidia AI chip sales to UAE</title><link>https://news.example/1</link><guid>n1</guid></item></channel></rss>'))
    (tmp_path / "apprise.yml").write_text(f'version: 1\nurls:\n  - "{json_sink.url}":\n      - tag: team\n')
    path = tmp_path / "sources.toml"
    path.write_text(f'[monitor]\nstate_dir = "state"\n[[sources]]\nid = "news"\nkind = "feed"\n'
                    f'url = "{http_server.url_for("/news.rss")}"\n[alerts]\napprise_config = "apprise.yml"\n'
                    'digest_window = "0s"\n[[alerts.routes]]\ntag = "team"\n', encoding="utf-8")
    json_sink.down()
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "poll"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("digest team/")]
    assert failed and "failed" in failed[0] and "delivery failed (HTTP" in failed[0], result.stdout
    json_sink.up()
    again = invoke("--config", str(path), "poll", "--json", "--force")
    digests = [d for d in lines(again) if "digest" in d]
    assert digests == [] or all(d["delivered"] for d in digests)  # not due yet, or delivered now
