"""`monitor demo` as a user runs it: a real subprocess, its own loopback server, the real pipeline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# A proxy that refuses every connection: if the demo's requests did not bypass proxies for
# 127.0.0.1, every source would fail and the demo would exit 1.
DEAD_PROXY = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9",
              "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}


def monitor(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("MONITOR_CONFIG", "MONITOR_STATE", "MONITOR_APPRISE_CONFIG", "NO_PROXY", "no_proxy")}
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**environment, **(env or {})})


def section(output: str, heading: str) -> str:
    """The text under a demo heading, up to the next one."""
    match = re.search(rf"^{re.escape(heading)}.*?\n─+\n(.*?)(?=\n─{{20,}}\n|\Z)", output, re.M | re.S)
    assert match, f"no section {heading!r} in:\n{output}"
    return match.group(1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo run with its state kept: (completed process, state directory, working directory)."""
    root = tmp_path_factory.mktemp("demo")
    cwd, state = root / "cwd", root / "state"
    cwd.mkdir()
    result = monitor("demo", "--state", str(state), cwd=cwd, env=DEAD_PROXY)
    return result, state, cwd


def test_the_demo_polls_twice_and_exits_0(demo):
    result, state, cwd = demo
    assert result.returncode == 0, result.stdout + result.stderr
    poll_1 = section(result.stdout, "Poll 1")
    assert all(re.search(rf"^  {s}\s+new\s", poll_1, re.M) for s in ("fr-bis", "fr-public-inspection", "fr-iaas-kyc", "news"))
    poll_2 = section(result.stdout, "Poll 2")
    assert len(re.findall(r"not_modified", poll_2)) == 3  # ETag answered with 304
    assert re.search(r"^  fr-bis\s+new\s+0 new, 1 revised", poll_2, re.M)
    assert "fields.citation: None -> '91 FR 1684'" in poll_2
    assert list(cwd.iterdir()) == []  # everything went to the state directory


def test_the_changes_name_each_kind_of_story_with_chinese_titles_intact(demo):
    result, state, cwd = demo
    changes = section(result.stdout, "Changes detected")
    for kind in ("license_slowdown", "entity_list", "countermeasure", "legislation", "rescission", "new_rule",
                 "proposed_rule", "license_policy", "item_revised"):
        assert re.search(rf"\b{kind}\b", changes), kind
    assert "US slows licenses for Nvidia, AMD AI accelerator shipments to UAE, Saudi Arabia" in changes
    assert "美國放慢對中東AI晶片出口許可" in changes  # Traditional Chinese, as published
    assert "对镓、锗相关物项实施出口管制" in changes  # the MOFCOM/GACC countermeasure, Simplified
    assert "中國商務部宣布禁止鎵、鍺、銻等兩用物項對美國出口" in changes
    assert "壁仞科技、摩尔线程" in changes

    # The same from the log, through the command line.
    listed = [json.loads(line) for line in monitor("--state", str(state), "changes", "--json", cwd=cwd).stdout.splitlines()]
    by_title = {c["title"]: c for c in listed}
    gallium = next(c for t, c in by_title.items() if "镓、锗" in t)
    assert (gallium["kind"], gallium["rule"]) == ("countermeasure", "cn-gallium-germanium")
    slowdown = by_title["US slows licenses for Nvidia, AMD AI accelerator shipments to UAE, Saudi Arabia"]
    assert slowdown["kind"] == "license_slowdown" and "middle-east" in slowdown["regions"]
    assert {"nvidia", "amd"} <= set(slowdown["companies"]) and {"AE", "SA"} <= set(slowdown["countries"])
    # the story reports the Entity List additions and, as a further event, the HBM controls of that day
    reports = {c["kind"]: c for c in listed if c["title"].startswith("US adds 140 entities")}
    assert sorted(reports) == ["entity_list", "new_rule"] and reports["new_rule"]["rule"] == "us-fdp-hbm-2024"
    assert "china" in reports["entity_list"]["regions"]
    assert reports["entity_list"]["incident"] != reports["new_rule"]["incident"]
    # The noise in the feed is recorded as items but is no change.
    assert not [t for t in by_title if re.search(r"Typhoon|TSMC|居民消费价格", t)]
    assert len(listed) == len(re.findall(r"^  seq \d+", section(result.stdout, "Changes detected"), re.M))


def test_digests_are_grouped_by_region_and_by_company(demo):
    result, state, cwd = demo
    digests = section(result.stdout, "Digests")
    region_part, _, company_part = digests.partition(">>> Route 'company-watch'")
    assert ">>> Route 'compliance': one digest a window, a section per region" in region_part
    assert re.search(r"=== Export controls: \d+ incidents \(\d+ high\) ===", region_part)
    assert "== Greater China ==" in region_part and "== Middle East ==" in region_part  # the route watches these two
    # the English and both Chinese reports of the Gulf slowdown are one incident, listed once
    assert region_part.count("licence slowdown") == 1 and "inc-" in region_part and "alr-" in region_part
    assert "a section per company" in company_part
    sections = re.findall(r"^== (.+) ==$", company_part, re.M)
    assert {"Nvidia", "AMD", "Biren"} <= set(sections) and len(sections) == len(set(sections))
    # The AI Diffusion rule (public inspection, publication, the press) reaches each tag once.
    assert company_part.count("Framework for Artificial Intelligence Diffusion\n") <= 1
    # The revision of the second poll (a citation assigned) moves no incident: nothing more is sent.
    assert "after poll 2: nothing to send" in region_part and "after poll 2: nothing to send" in company_part
    alerts = [json.loads(line) for line in monitor("--state", str(state), "alerts", "--json", cwd=cwd).stdout.splitlines()]
    assert alerts and {a["status"] for a in alerts} == {"delivered"}
    assert {a["route"] for a in alerts} == {"compliance", "company-watch"}


def test_verify_is_ok_and_the_revision_is_in_the_log(demo):
    result, state, cwd = demo
    assert re.match(r"\s*ok: \d+ events, head seq \d+", section(result.stdout, "Verify"))
    assert monitor("--state", str(state), "verify", cwd=cwd).returncode == 0
    events = monitor("--state", str(state), "events", "--type", "ItemRevised", "--json", cwd=cwd)
    (revised,) = [json.loads(line) for line in events.stdout.splitlines()]
    assert revised["stream"] == "item:fr-bis:2026-00789"
    assert revised["data"]["changed"] == {"fields.citation": {"before": None, "after": "91 FR 1684"}}
    nexts = section(result.stdout, "What next")
    assert f"monitor --state {state} changes" in nexts and "monitor run" in nexts and "apprise" in nexts
    assert "replay --as-of" in nexts


def test_the_demo_configuration_names_only_the_loopback_server(demo):
    result, state, cwd = demo
    text = (state / "sources.toml").read_text(encoding="utf-8")
    config = tomllib.loads(text)
    assert len(config["sources"]) == 4
    assert {urlsplit(s["url"]).hostname for s in config["sources"]} == {"127.0.0.1"}
    assert {urlsplit(u).hostname for u in re.findall(r"\w+://[^\s\"']+", text)} == {"127.0.0.1"}
    assert "apprise_config" not in config["alerts"]
    printed = re.findall(r"^  \S+\s+(?:federal_register|feed)\s+(\S+)$", result.stdout, re.M)
    assert len(printed) == 4 and all(urlsplit(u).hostname == "127.0.0.1" for u in printed)


def test_without_state_it_leaves_nothing_behind_and_ignores_the_environment(tmp_path):
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    env = {"TMPDIR": str(tmp), "MONITOR_STATE": str(tmp_path / "real-state"),
           # A real deployment's apprise configuration must never receive the demo's digests.
           "MONITOR_APPRISE_CONFIG": str(tmp_path / "missing-apprise.yml")}
    result = monitor("demo", cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "temporary" in result.stdout and "=== Export controls: " in result.stdout
    assert list(cwd.iterdir()) == [] and list(tmp.iterdir()) == []
    assert not (tmp_path / "real-state").exists()


def test_the_demo_never_records_into_an_existing_log(demo):
    result, state, cwd = demo
    before = monitor("--state", str(state), "verify", "--json", cwd=cwd).stdout
    for args in (("demo", "--state", str(state)), ("--state", str(state), "demo")):
        again = monitor(*args, cwd=cwd)
        assert again.returncode == 2 and "already exists" in again.stderr
    assert monitor("--state", str(state), "verify", "--json", cwd=cwd).stdout == before
