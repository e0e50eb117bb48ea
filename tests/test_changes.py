"""Detection end to end: a poll records changes; the CLI filters them; reclassify and reminders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from monitor.config import load_config
from monitor.daemon import open_store, poll
from monitor.reminders import remind

FR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "federal-register"


def setup(http_server, tmp_path, extra: str = "") -> Path:
    http_server.serve_file("/doc.json", FR / "fr_document_2026-00789.json")
    http_server.serve_file("/kyc.json", FR / "fr_document_2024-01580.json")
    news = """<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>
<item><title>US slows licences for Nvidia, AMD AI chip sales to UAE and Saudi Arabia</title>
<link>https://news.example/1</link><guid>n1</guid><description>Officials are holding up export licences for shipments to the Gulf.</description></item>
<item><title>美國放慢輝達晶片對阿聯酋出口許可審批</title><link>https://news.example/2</link><guid>n2</guid></item>
<item><title>Typhoon churns across South China Sea</title><link>https://news.example/3</link><guid>n3</guid></item>
</channel></rss>"""
    http_server.route("/news.rss", body=news, content_type="application/rss+xml")
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[monitor]
state_dir = "state"
[[sources]]
id = "fr-doc"
kind = "federal_register"
url = "{http_server.url_for('/doc.json')}"
[[sources]]
id = "fr-kyc"
kind = "federal_register"
url = "{http_server.url_for('/kyc.json')}"
[[sources]]
id = "news"
kind = "feed"
url = "{http_server.url_for('/news.rss')}"
{extra}
""", encoding="utf-8")
    return path


def cli(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ})


def changes(path: Path, *args: str) -> list[dict]:
    result = cli(path, "changes", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_poll_records_changes_with_kind_rule_tags_and_evidence(http_server, tmp_path):
    path = setup(http_server, tmp_path)
    config = load_config(path)
    reports = {r.source: r for r in poll(config, config.state_path)}
    assert reports["news"].changes == 2  # the typhoon is not news for export controls

    found = {c["source"] + ":" + (c["title"] or "")[:20]: c for c in changes(path)}
    policy = next(c for c in found.values() if c["source"] == "fr-doc")
    assert policy["kind"] == "license_policy" and policy["rule"] == "us-license-review-advanced-computing"
    assert policy["severity"] == "high"
    assert {"CN", "MO"} <= set(policy["countries"])
    assert any(e["kind"] == "identifier" for e in policy["evidence"])

    kyc = next(c for c in found.values() if c["source"] == "fr-kyc")
    assert kyc["kind"] == "proposed_rule" and kyc["rule"] == "us-iaas-kyc" and kyc["severity"] == "medium"
    assert any(d["kind"] == "comments_close" for d in kyc["deadlines"])

    slowdowns = [c for c in found.values() if c["kind"] == "license_slowdown"]
    assert len(slowdowns) == 2 and all("nvidia" in c["companies"] and "AE" in c["countries"] for c in slowdowns)
    assert all("middle-east" in c["regions"] for c in slowdowns)
    assert {c["severity"] for c in slowdowns} == {"medium"}  # reported by the press, not official

    nvidia = changes(path, "--company", "nvidia")
    assert {c["id"] for c in slowdowns} <= {c["id"] for c in nvidia}
    assert all("nvidia" in c["companies"] for c in nvidia) and len(nvidia) < len(changes(path))
    assert {c["id"] for c in changes(path, "--region", "middle-east")} == {c["id"] for c in slowdowns}
    assert [c["id"] for c in changes(path, "--rule", "us-iaas-kyc")] == [kyc["id"]]
    assert [c["kind"] for c in changes(path, "--min-severity", "high")] == ["license_policy"]

    again = {r.source: r for r in poll(config, config.state_path)}  # nothing new: nothing twice
    assert sum(r.changes for r in again.values()) == 0
    assert len(changes(path)) == 4

    replayed = json.loads(cli(path, "replay", "--json").stdout)  # changes and deadlines rebuild exactly
    assert {p["projection"] for p in replayed["projections"]} >= {"changes", "deadlines", "items", "sources"}
    assert all(p["matches_live"] for p in replayed["projections"]), replayed


def test_rules_lists_the_catalog_with_the_last_change(http_server, tmp_path):
    path = setup(http_server, tmp_path)
    config = load_config(path)
    poll(config, config.state_path)
    rules = {r["id"]: r for r in map(json.loads, cli(path, "rules", "--json").stdout.splitlines())}
    assert rules["us-iaas-kyc"]["changes"] == 1 and rules["us-iaas-kyc"]["last_change"]["kind"] == "proposed_rule"
    assert rules["cn-gallium-germanium"]["changes"] == 0 and rules["cn-gallium-germanium"]["last_change"] is None


def test_reclassify_shows_what_todays_catalog_would_change_and_appends_nothing(http_server, tmp_path):
    path = setup(http_server, tmp_path)
    config = load_config(path)
    poll(config, config.state_path)
    with open_store(config.state_path) as store:
        head = store.head().seq
    same = cli(path, "replay", "--reclassify")
    assert same.returncode == 0 and "0 would be added, 0 removed, 0 changed" in same.stdout

    path.write_text(path.read_text() + """
[[rules]]
id = "gulf-licensing-slowdown-2024"
title = "Reported slowdown of AI accelerator licences to the Gulf"
keywords = ["slows licences + Nvidia"]
""", encoding="utf-8")
    result = cli(path, "replay", "--reclassify", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    changed = [line for line in lines if line.get("change") == "changed"]
    assert changed and changed[0]["fields"]["rule"] == [None, "gulf-licensing-slowdown-2024"]
    with open_store(config.state_path) as store:
        assert store.head().seq == head


def test_deadline_reminders_are_appended_once(http_server, tmp_path):
    path = setup(http_server, tmp_path)
    config = load_config(path)
    poll(config, config.state_path)
    with open_store(config.state_path) as store:
        (close,) = [row[0] for row in store.conn.execute(
            "SELECT date FROM deadlines WHERE key = '2024-01580' AND kind = 'comments_close'")]
        day = date.fromisoformat(close)
        first = remind(store, date.fromordinal(day.toordinal() - 3))
        again = remind(store, date.fromordinal(day.toordinal() - 3))
        last = remind(store, day)
    assert [e.data["days_before"] for e in first] == [3] and again == []
    assert [e.data["days_before"] for e in last] == [0]
    assert first[0].data["rule"] == "us-iaas-kyc"


def test_a_bad_rule_identifier_in_the_config_is_refused_before_anything_runs(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text('[[sources]]\nid = "x"\nkind = "feed"\nurl = "http://127.0.0.1:9/feed"\n'
                    '[[rules]]\nid = "bad-rule"\ntitle = "Bad"\nidentifiers = { rins = ["not-a-rin"] }\n')
    for command in ("check-config", "poll"):
        result = cli(path, command)
        assert result.returncode == 2 and 'rule "bad-rule": identifiers.rins' in result.stderr
    assert not (tmp_path / "state").exists()
