"""Alerts end to end, with real sinks on 127.0.0.1: apprise json:// to an HTTP endpoint and
mailto:// to an SMTP server. Digests per route and group, a durable outbox, retries, no repeats."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.alerts.targets import service_secrets
from monitor.config import load_config
from monitor.daemon import make_relay, open_store, poll

FR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "federal-register"
PASSWORD = "s3cret-pass"

NEWS = """<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>
<item><title>US slows licences for Nvidia, AMD AI chip sales to UAE and Saudi Arabia</title>
<link>https://news.example/1</link><guid>n1</guid></item>
<item><title>美國放慢輝達晶片對阿聯酋出口許可審批</title><link>https://news.example/2</link><guid>n2</guid></item>
<item><title>U.S. adds China's SMIC to Entity List</title><link>https://news.example/3</link><guid>n3</guid></item>
</channel></rss>"""


@pytest.fixture(autouse=True)
def no_email_throttle(monkeypatch):
    """apprise waits 5.5 s between two e-mails of one service (its politeness default, kept in
    production); in-process tests send several to the loopback SMTP server without waiting."""
    from apprise.plugins.email.base import NotifyEmail

    monkeypatch.setattr(NotifyEmail, "request_rate_per_sec", 0)


def setup(tmp_path, http_server, apprise_lines: list[str], *, window="0s", max_attempts=3, items=NEWS) -> Path:
    http_server.route("/news.rss", body=items, content_type="application/rss+xml")
    http_server.serve_file("/doc.json", FR / "fr_document_2026-00789.json")
    apprise = tmp_path / "apprise.yml"
    apprise.write_text("version: 1\nurls:\n" + "".join(
        f'  - "{url}":\n      - tag: {tag}\n' for tag, url in apprise_lines), encoding="utf-8")
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[monitor]
state_dir = "state"
[[sources]]
id = "news"
kind = "feed"
url = "{http_server.url_for('/news.rss')}"
[[sources]]
id = "fr-doc"
kind = "federal_register"
url = "{http_server.url_for('/doc.json')}"
[alerts]
apprise_config = "apprise.yml"
digest_window = "{window}"
max_attempts = {max_attempts}
retry_base = "1m"
retry_cap = "10m"
[[alerts.routes]]
tag = "compliance"
group_by = "region"
min_severity = "medium"
[[alerts.routes]]
tag = "companies"
group_by = "company"
""", encoding="utf-8")
    return path


def relay_later(config, minutes: int):
    """A relay pass as if run later (past any retry backoff)."""
    later = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    with open_store(config.state_path) as store:
        return make_relay(config, store, clock=lambda: later).run_once()


def outbox(config) -> dict[str, str]:
    with open_store(config.state_path) as store:
        return dict(store.conn.execute("SELECT alert_id, status FROM outbox"))


def test_digests_reach_the_right_targets_grouped_as_configured_and_only_once(tmp_path, http_server, json_sink, smtp_sink):
    from sinks import JsonSink

    with JsonSink() as company_sink:
        path = setup(tmp_path, http_server, [("compliance", json_sink.url), ("compliance", smtp_sink.mailto_url()),
                                             ("companies", company_sink.url)])
        config = load_config(path)
        poll(config, config.state_path)
        # One digest per route, a section per group, each incident once: the English and the
        # Chinese report of the slowdown are one incident, listed under the Gulf (Middle East named).
        (digest,) = json_sink.received
        assert digest["title"] == "Export controls: 3 incidents (1 high)", digest["title"]
        body = digest["message"]
        assert body.index("Greater China") < body.index("Gulf states")
        assert body.lower().count("licence slowdown") == 1 and "also under: Middle East" in body
        assert "news (en, first report); news (zh, same subject and fortnight)" in body.replace("\\", "")
        assert len(smtp_sink.messages) == len(json_sink.received)
        assert all(m.html and "<a href=" in m.html for m in smtp_sink.messages)  # HTML for email
        (companies,) = company_sink.received
        assert companies["title"] == "Export controls: 3 incidents (1 high)"
        assert [line for line in companies["message"].splitlines() if line.startswith("== ")] == [
            "== AMD ==", "== Nvidia ==", "== SMIC =="]

        sent = (len(json_sink.received), len(smtp_sink.messages), len(company_sink.received))
        poll(config, config.state_path)  # a second cycle: nothing new, nothing sent
        assert (len(json_sink.received), len(smtp_sink.messages), len(company_sink.received)) == sent
        assert set(outbox(config).values()) == {"delivered"}


def test_an_endpoint_down_for_several_cycles_gets_every_digest_once_when_back(tmp_path, http_server, json_sink):
    path = setup(tmp_path, http_server, [("compliance", json_sink.url), ("companies", json_sink.url)], max_attempts=10)
    config = load_config(path)
    json_sink.down()
    poll(config, config.state_path)
    for minutes in (20, 40, 80):
        reports = relay_later(config, minutes)
        assert reports and not any(r.delivered for r in reports)
    assert not json_sink.received and set(outbox(config).values()) == {"failed"}
    json_sink.up()
    relay_later(config, 200)
    assert set(outbox(config).values()) == {"delivered"}
    bodies = [m["message"] for m in json_sink.received]
    alert_ids = [line for body in bodies for line in body.split() if line.startswith("alr-")]
    assert len(alert_ids) == len(set(alert_ids)) == len(outbox(config))  # every alert once


def test_a_partial_success_is_never_sent_again_to_the_target_that_succeeded(tmp_path, http_server, json_sink, smtp_sink):
    path = setup(tmp_path, http_server, [("compliance", json_sink.url), ("compliance", smtp_sink.mailto_url())])
    config = load_config(path)
    json_sink.down()
    poll(config, config.state_path)
    emails = len(smtp_sink.messages)
    assert emails > 0 and not json_sink.received
    json_sink.up()
    relay_later(config, 30)
    assert len(smtp_sink.messages) == emails  # the email target already had them
    assert len(json_sink.received) == emails


def test_dead_alerts_are_shown_and_retried_on_request(tmp_path, http_server, json_sink):
    path = setup(tmp_path, http_server, [("compliance", json_sink.url), ("companies", json_sink.url)], max_attempts=2)
    config = load_config(path)
    json_sink.down()
    poll(config, config.state_path)
    relay_later(config, 30)
    assert set(outbox(config).values()) == {"dead"}
    shown = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "alerts", "--json"],
                           capture_output=True, text=True, timeout=60)
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert rows and all(r["status"] == "dead" and "JSON delivery failed (HTTP 500)" in r["last_error"] for r in rows)
    json_sink.up()
    retried = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "alerts", "retry"],
                             capture_output=True, text=True, timeout=60)
    assert f"queued again: {len(rows)} alerts" in retried.stdout
    relay_later(config, 1)
    assert set(outbox(config).values()) == {"delivered"}


def test_without_targets_digests_are_printed(tmp_path, http_server):
    path = setup(tmp_path, http_server, [])
    path.write_text(path.read_text().replace('apprise_config = "apprise.yml"\n', ""), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "poll"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "=== Export controls: 3 incidents (1 high) ===" in result.stdout and "== Gulf states ==" in result.stdout


def test_the_smtp_password_never_reaches_the_log_the_database_or_the_output(tmp_path, http_server, smtp_sink, capsys):
    path = setup(tmp_path, http_server, [("compliance", smtp_sink.mailto_url()),
                                         ("companies", smtp_sink.mailto_url(password="wrong-" + PASSWORD))])
    config = load_config(path)
    poll(config, config.state_path)  # in process, so the e-mail throttle is off (see no_email_throttle)
    printed = capsys.readouterr()
    assert PASSWORD not in printed.out + printed.err
    outputs = [subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), *args],
                              capture_output=True, text=True, timeout=120)
               for args in (["alerts", "--json"], ["events", "--json"], ["check-config"], ["sources"])]
    assert smtp_sink.messages  # the right password works; the wrong one fails and is recorded
    with open_store(config.state_path) as store:
        failures = [e.data for e in store.read(types=["AlertFailed"])]
    assert failures and all("E-Mail delivery failed" in f["error"] for f in failures)
    for output in outputs:
        assert PASSWORD not in output.stdout + output.stderr
    for file in config.state_path.iterdir():
        assert PASSWORD.encode() not in file.read_bytes(), file


def test_apprise_secrets_come_from_the_environment_and_an_unset_one_is_refused(tmp_path, http_server, smtp_sink,
                                                                              monkeypatch):
    url = smtp_sink.mailto_url().replace(f":{PASSWORD}@", ":${MONITOR_TEST_SMTP_PASSWORD}@")
    path = setup(tmp_path, http_server, [("compliance", url), ("companies", url)])
    assert PASSWORD not in (tmp_path / "apprise.yml").read_text()
    command = [sys.executable, "-m", "monitor", "--config", str(path), "check-config"]
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_TEST_SMTP_PASSWORD"}
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 2 and "MONITOR_TEST_SMTP_PASSWORD is not set" in refused.stderr

    monkeypatch.setenv("MONITOR_TEST_SMTP_PASSWORD", PASSWORD)
    config = load_config(path)
    poll(config, config.state_path)
    assert smtp_sink.messages and all(a.success for a in smtp_sink.auth_attempts)
    assert PASSWORD in service_secrets(tmp_path / "apprise.yml")  # so the daemon's log lines mask it
    for file in config.state_path.iterdir():
        assert PASSWORD.encode() not in file.read_bytes(), file


COMPANIES = ["Nvidia", "AMD", "Intel", "Micron", "Huawei", "SMIC", "TSMC", "ASML", "Samsung", "Cerebras"]


def growing_feed(upto: int) -> str:
    """A feed that keeps its old entries and gains new ones, as real feeds do."""
    items = "".join(f"<item><title>US slows licences for {COMPANIES[i % 10]} AI chip sales to UAE ({i})</title>"
                    f"<link>https://news.example/{i}</link><guid>c{i}</guid></item>" for i in range(upto))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>{items}</channel></rss>'


def test_sigkill_during_the_relay_loses_nothing_and_repeats_at_most_one_digest_per_kill(tmp_path, http_server, json_sink):
    path = setup(tmp_path, http_server, [("companies", json_sink.url)], items=growing_feed(10), max_attempts=50)
    # Fast retries, and only the company route: small digests, so every alert id shows in them.
    path.write_text(path.read_text().replace('retry_base = "1m"', 'retry_base = "1s"').replace('retry_cap = "10m"', 'retry_cap = "1s"')
                    .replace('[[alerts.routes]]\ntag = "compliance"\ngroup_by = "region"\nmin_severity = "medium"\n', ""))
    # Every poll finds new entries (ten more each time), and the endpoint is slow: each child has a
    # relay pass in progress for most of its life.
    http_server.route_sequence("/news.rss", [{"body": growing_feed(10 * n), "content_type": "application/rss+xml"}
                                             for n in range(1, 301)])
    json_sink._server.route(json_sink.path, status=200, body=b"{}", delay=0.08)
    config = load_config(path)
    rng = random.Random(20261121)
    kills = attempts = 0
    # How many children are still in their relay pass when the kill comes depends on the machine's
    # speed and load: keep polling until 30 have been killed, not for a fixed number of polls.
    while kills < 30 and attempts < 300:
        attempts += 1
        child = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(path), "poll"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 1.5))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait(timeout=30)
    time.sleep(1.1)  # past the retry backoff of anything a killed relay recorded as failed
    http_server.route("/news.rss", body=growing_feed(10 * attempts), content_type="application/rss+xml")
    final = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "poll"],
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    with open_store(config.state_path) as store:
        incidents = {r[0] for r in store.conn.execute("SELECT json_extract(data, '$.incident') FROM changes")}
        queued = {r[0] for r in store.conn.execute("SELECT json_extract(data, '$.incident') FROM outbox")}
        errors = [r[0] for r in store.conn.execute("SELECT DISTINCT last_error FROM outbox WHERE status != 'delivered'")]
        items = store.conn.execute("SELECT count(*) FROM items WHERE source = 'news'").fetchone()[0]
    statuses = outbox(config)
    # every entry recorded, every change in an incident, every incident queued for the route
    assert items == 10 * attempts and None not in incidents and incidents == queued
    assert set(statuses.values()) == {"delivered"}, errors  # and every alert delivered: nothing lost
    delivered = [word for m in json_sink.received for word in m["message"].split() if word.startswith("alr-")]
    # A digest that grew over several killed relays is cut at the chat-size limit: its tail is
    # counted ("…and 3 more"), not listed, so those alerts reached the sink without their ids.
    summarised = sum(int(n) for m in json_sink.received for n in re.findall(r"…and (\d+) more", m["message"]))
    repeats = len(delivered) - len(set(delivered))
    assert set(delivered) <= set(statuses)
    assert len(set(delivered)) + summarised >= len(statuses)
    print(f"\n{kills} SIGKILLs in {attempts} polls; {len(statuses)} alerts; {repeats} delivered twice")
    assert kills >= 30
    assert repeats <= kills * 10  # at most one digest repeated per kill (a digest here holds at most ten)


def test_ops_route_hears_of_a_failing_source_and_of_dead_alerts(tmp_path, http_server, json_sink):
    from sinks import JsonSink

    with JsonSink() as ops_sink:
        path = setup(tmp_path, http_server, [("compliance", json_sink.url), ("companies", json_sink.url),
                                             ("ops", ops_sink.url)], max_attempts=1)
        text = path.read_text().replace("[alerts]\n", '[alerts]\nops_tag = "ops"\n')
        text = text.replace('id = "news"\n', 'id = "news"\nsilence_alert_after = "1h"\n')
        path.write_text(text, encoding="utf-8")
        config = load_config(path)
        json_sink.down()
        poll(config, config.state_path)  # the news digests fail once: with max_attempts 1 they are dead
        relay_later(config, 0)  # the ops alerts were queued by that relay pass; the next one sends them
        dead = [m["title"] for m in ops_sink.received]
        assert dead and all(t.startswith("Export controls — Monitor operations") for t in dead)
        assert any("could not be delivered" in m["message"] for m in ops_sink.received)

        http_server.route("/news.rss", status=500, body="down")
        start = datetime.now(timezone.utc)
        for hours in (0, 2, 3, 4):  # failing for two hours, then three, four: one ops alert for the outage
            poll(config, config.state_path, force=True, clock=lambda h=hours: start + timedelta(hours=h))
        outage = [m for m in ops_sink.received if "has not been polled successfully" in m["message"]]
        assert len(outage) == 1 and "news" in outage[0]["message"]


def test_check_config_names_a_route_tag_no_service_has_and_hides_secrets(tmp_path, http_server, smtp_sink):
    path = setup(tmp_path, http_server, [("compliance", smtp_sink.mailto_url())])
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "check-config"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no notification service has the tag 'companies'" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    (tmp_path / "apprise.yml").write_text((tmp_path / "apprise.yml").read_text() + f'  - "{smtp_sink.mailto_url()}":\n      - tag: companies\n')
    ok = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "check-config"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr


def test_a_missing_apprise_config_is_refused_before_polling(tmp_path, http_server):
    path = setup(tmp_path, http_server, [("compliance", "json://127.0.0.1:9/x"), ("companies", "json://127.0.0.1:9/y")])
    (tmp_path / "apprise.yml").unlink()
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "poll"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no such apprise configuration file" in result.stderr
    assert not (tmp_path / "state").exists() and not http_server.requests
