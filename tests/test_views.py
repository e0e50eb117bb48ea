"""The HTTP views' bodies, on a state made by the real pipeline: recorded Federal Register documents
and a news feed served on 127.0.0.1, polled twice, with alerts to one working and one broken
apprise json:// endpoint. Each body is read back with the parser its clients use."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest
from icalendar import Calendar
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor.clock import parse_iso
from monitor.config import load_config
from monitor.daemon import EVENTS_DB, open_store, poll
from monitor.store.schema import connect
from monitor.views import StoreCollector, changes, changes_feed, deadlines_calendar, render, upcoming_deadlines
from servers import LoopbackServer
from sinks import JsonSink

FR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "federal-register"
CHINESE_TITLE = "美國放慢輝達晶片對阿聯酋出口許可審批"
NEWS = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>
<item><title>US slows licences for Nvidia, AMD AI chip sales to UAE and Saudi Arabia</title>
<link>https://news.example/1</link><guid>n1</guid></item>
<item><title>{CHINESE_TITLE}</title><link>https://news.example/2</link><guid>n2</guid></item>
<item><title>Typhoon churns across South China Sea</title><link>https://news.example/3</link><guid>n3</guid></item>
</channel></rss>"""
FEED_URL = "http://127.0.0.1:8080/changes.atom"
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """The state directory and configuration after two poll cycles."""
    tmp = tmp_path_factory.mktemp("views")
    server = LoopbackServer()
    with JsonSink() as working, JsonSink() as broken:
        broken.down()
        server.serve_file("/doc.json", FR / "fr_document_2026-00789.json")
        server.serve_file("/kyc.json", FR / "fr_document_2024-01580.json")
        server.route("/news.rss", body=NEWS, content_type="application/rss+xml")
        (tmp / "apprise.yml").write_text(
            f'version: 1\nurls:\n  - "{working.url}":\n      - tag: compliance\n'
            f'  - "{broken.url}":\n      - tag: companies\n', encoding="utf-8")
        path = tmp / "sources.toml"
        path.write_text(f"""
[monitor]
state_dir = "state"
[[sources]]
id = "fr-doc"
kind = "federal_register"
url = "{server.url_for('/doc.json')}"
[[sources]]
id = "fr-kyc"
kind = "federal_register"
url = "{server.url_for('/kyc.json')}"
[[sources]]
id = "news"
kind = "feed"
url = "{server.url_for('/news.rss')}"
[[sources]]
id = "gone"
kind = "feed"
url = "{server.url_for('/gone.rss')}"
[[sources]]
id = "dormant"
kind = "feed"
url = "{server.url_for('/dormant.rss')}"
enabled = false
[alerts]
apprise_config = "apprise.yml"
digest_window = "0s"
max_attempts = 5
[[alerts.routes]]
tag = "compliance"
group_by = "region"
min_severity = "medium"
[[alerts.routes]]
tag = "companies"
group_by = "company"
""", encoding="utf-8")
        config = load_config(path)
        poll(config, config.state_path)
        poll(config, config.state_path, force=True)  # force: the failing source is polled again
    server.close()
    return config


@pytest.fixture
def conn(state):
    connection = connect(state.state_path / EVENTS_DB, readonly=True)
    yield connection
    connection.close()


def parse_feed(body: bytes):
    parsed = feedparser.parse(io.BytesIO(body))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def all_changes(conn) -> list[dict]:
    return [data for _seq, data in changes(conn)]


# --- /changes.atom ---------------------------------------------------------------------------


def test_the_feed_has_every_change_newest_first_with_stable_ids_links_and_intact_chinese(conn):
    body = changes_feed(conn, feed_url=FEED_URL, now=NOW)
    assert body.startswith(b"<?xml") and CHINESE_TITLE.encode("utf-8") in body  # raw UTF-8, not entities
    feed = parse_feed(body)
    expected = [data for _seq, data in changes(conn, newest_first=True)]
    assert len(expected) == 4
    entries = [e for e in feed.entries if ":change/" in e.id]  # the rest are incident updates (test_incidents)
    assert [e.id for e in entries] == [f"tag:export-control-monitor,2024:change/{c['id']}" for c in expected]
    assert [e.link for e in entries] == [c["url"] for c in expected]
    assert feed.feed.title == "Export-control changes"
    assert feed.feed.links[0].rel == "self" and feed.feed.links[0].href == FEED_URL

    by_id = {e.id.rsplit("/", 1)[1]: e for e in feed.entries}
    chinese = next(e for e in feed.entries if e.title.endswith(CHINESE_TITLE))
    assert chinese.title == f"[MEDIUM] licence slowdown: {CHINESE_TITLE}"
    policy = next(c for c in expected if c["kind"] == "license_policy")
    entry = by_id[policy["id"]]
    assert entry.title == f"[HIGH] licence policy: {policy['title']}"
    assert entry.published.startswith("2026-01-15")
    terms = {(t.scheme.rsplit(":", 1)[1], t.term) for t in entry.tags}
    assert {("kind", "license_policy"), ("severity", "high"), ("rule", policy["rule"]), ("company", "nvidia"),
            ("region", "china"), ("country", "CN")} <= terms
    kyc = by_id[next(c["id"] for c in expected if c["rule"] == "us-iaas-kyc")]
    assert "Rule: " in kyc.summary and "(us-iaas-kyc)" in kyc.summary
    assert "Deadlines: comments close 2024-04-29" in kyc.summary and "Countries: US" in kyc.summary
    recorded = dict(conn.execute("SELECT id, recorded_at FROM changes"))
    assert parse_iso(entry.updated) == parse_iso(recorded[policy["id"]])


def test_the_same_state_renders_the_same_feed_whatever_the_time(conn):
    first = changes_feed(conn, feed_url=FEED_URL, now=NOW)
    assert changes_feed(conn, feed_url=FEED_URL, now=NOW + timedelta(days=3)) == first


def test_region_company_severity_and_limit_filters_filter(conn):
    everything = {c["id"] for c in all_changes(conn)}
    cases = [({"region": "middle-east"}, lambda c: "middle-east" in c["regions"]),
             ({"company": "amd"}, lambda c: "amd" in c["companies"]),
             ({"min_severity": "high"}, lambda c: c["severity"] == "high"),
             ({"kinds": ["proposed_rule"]}, lambda c: c["kind"] == "proposed_rule")]
    for filters, wanted in cases:
        feed = parse_feed(changes_feed(conn, feed_url=FEED_URL, now=NOW, **filters))
        ids = {e.id.rsplit("/", 1)[1] for e in feed.entries if ":change/" in e.id}
        assert ids == {c["id"] for c in all_changes(conn) if wanted(c)}, filters
        assert ids and ids < everything, filters
    nvidia = parse_feed(changes_feed(conn, company="nvidia", region="middle-east", feed_url=FEED_URL, now=NOW))
    assert nvidia.feed.title == "Export-control changes: region middle-east, company nvidia"
    assert len([e for e in nvidia.entries if ":change/" in e.id]) == 2
    newest = parse_feed(changes_feed(conn, limit=1, feed_url=FEED_URL, now=NOW))
    assert [e.id for e in newest.entries] == [parse_feed(changes_feed(conn, feed_url=FEED_URL, now=NOW)).entries[0].id]


def test_an_unknown_region_gives_a_valid_empty_feed(conn):
    feed = parse_feed(changes_feed(conn, region="atlantis", feed_url=FEED_URL, now=NOW))
    assert feed.entries == [] and "atlantis" in feed.feed.title
    assert parse_iso(feed.feed.updated) == NOW
    assert feed.feed.id != parse_feed(changes_feed(conn, feed_url=FEED_URL, now=NOW)).feed.id


# --- /deadlines.ics --------------------------------------------------------------------------


def events_of(body: bytes):
    return Calendar.from_ical(body).walk("VEVENT")


def test_the_calendar_has_an_all_day_event_for_each_upcoming_deadline(conn):
    today = date(2024, 3, 1)
    events = events_of(deadlines_calendar(conn, today=today, now=NOW))
    expected = {(c["id"], d["kind"], d["date"]) for c in all_changes(conn) for d in c["deadlines"]
                if d["date"] >= today.isoformat()}
    assert len(expected) == 2 and len(events) == len(expected)
    summaries = {str(e["SUMMARY"]) for e in events}
    titles = {c["id"]: c["title"] for c in all_changes(conn)}
    words = {"comments_close": "Comments close", "effective": "Takes effect"}
    assert summaries == {f"{words[kind]}: {titles[change]}" for change, kind, _on in expected}
    for event in events:
        start = event.decoded("DTSTART")
        assert type(start) is date  # all-day: a DATE, not a DATE-TIME
        assert event.decoded("DTEND") == start + timedelta(days=1)
        assert str(event["URL"]).startswith("https://www.federalregister.gov/")
        assert "Change chg-" in str(event["DESCRIPTION"])
    assert {(e.decoded("DTSTART").isoformat()) for e in events} == {on for _c, _k, on in expected}


def test_calendar_uids_are_stable_and_unique(conn):
    first = [str(e["UID"]) for e in events_of(deadlines_calendar(conn, today=date(2024, 3, 1), now=NOW))]
    later = [str(e["UID"]) for e in events_of(
        deadlines_calendar(conn, today=date(2024, 3, 2), now=NOW + timedelta(hours=5)))]
    assert first == later and len(set(first)) == len(first) == 2


def test_past_deadlines_are_left_out(conn):
    def days(today: date) -> list[str]:
        return [e.decoded("DTSTART").isoformat() for e in events_of(deadlines_calendar(conn, today=today, now=NOW))]

    assert days(date(2024, 4, 29)) == ["2024-04-29", "2026-01-15"]  # the day itself is still upcoming
    assert days(date(2024, 4, 30)) == ["2026-01-15"]
    assert days(date(2026, 1, 16)) == []


def test_an_extended_comment_period_moves_the_event_instead_of_adding_one(http_server, fr_fixtures, tmp_path):
    document = json.loads((fr_fixtures / "fr_document_2024-01580.json").read_text(encoding="utf-8"))
    http_server.route("/kyc.json", body=json.dumps(document), content_type="application/json")
    path = tmp_path / "sources.toml"
    path.write_text(f'[monitor]\nstate_dir = "state"\n[[sources]]\nid = "fr-kyc"\nkind = "federal_register"\n'
                    f'url = "{http_server.url_for("/kyc.json")}"\n', encoding="utf-8")
    config = load_config(path)
    poll(config, config.state_path)
    with connect(config.state_path / EVENTS_DB, readonly=True) as db:
        (before,) = events_of(deadlines_calendar(db, today=date(2024, 3, 1), now=NOW))
        document["comments_close_on"] = "2024-05-29"  # the comment period is extended by a month
        http_server.route("/kyc.json", body=json.dumps(document), content_type="application/json")
        poll(config, config.state_path, force=True)
        (after,) = events_of(deadlines_calendar(db, today=date(2024, 3, 1), now=NOW))
    db.close()
    assert before.decoded("DTSTART") == date(2024, 4, 29) and after.decoded("DTSTART") == date(2024, 5, 29)
    assert str(after["UID"]) == str(before["UID"])


def test_calendar_filters_by_company_and_region(conn):
    today = date(2024, 3, 1)
    nvidia = events_of(deadlines_calendar(conn, today=today, now=NOW, company="nvidia"))
    assert [str(e["SUMMARY"]).split(":")[0] for e in nvidia] == ["Takes effect"]
    assert len(events_of(deadlines_calendar(conn, today=today, now=NOW, region="north-america"))) == 2
    assert events_of(deadlines_calendar(conn, today=today, now=NOW, region="atlantis")) == []
    rows = upcoming_deadlines(conn, today, company="nvidia")
    assert [(r["deadline"], r["date"], r["rule"]) for r in rows] == [
        ("effective", date(2026, 1, 15), "us-license-review-advanced-computing")]


# --- /metrics --------------------------------------------------------------------------------


def scrape(state, source_ids) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(StoreCollector(lambda: connect(state.state_path / EVENTS_DB, readonly=True), source_ids))
    body = render(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def count(conn, sql: str, *params) -> int:
    return conn.execute(sql, params).fetchone()[0]


def test_metrics_match_the_log(state, conn):
    ids = [source.id for source in state.sources]
    samples = scrape(state, ids)

    def value(name: str, **labels) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    polled = "SELECT count(*) FROM events WHERE type = 'SourcePolled' AND json_extract(data, '$.source') = ?"
    assert value("monitor_polls_total", source="fr-doc") == count(conn, polled, "fr-doc") == 2
    assert value("monitor_polls_total", source="dormant") == 0  # configured, never polled
    assert value("monitor_source_last_success_timestamp_seconds", source="dormant") is None
    failed = "SELECT count(*) FROM events WHERE type = 'SourceFailed' AND json_extract(data, '$.source') = ?"
    assert value("monitor_poll_failures_total", source="gone") == count(conn, failed, "gone") == 2
    assert value("monitor_source_consecutive_failures", source="gone") == 2
    assert value("monitor_source_last_success_timestamp_seconds", source="gone") is None
    last_at = conn.execute("SELECT json_extract(data, '$.at') FROM events WHERE type = 'SourcePolled' AND "
                           "json_extract(data, '$.source') = 'news' ORDER BY seq DESC LIMIT 1").fetchone()[0]
    assert value("monitor_source_last_success_timestamp_seconds", source="news") == pytest.approx(
        parse_iso(last_at).timestamp())

    for event_type, n in conn.execute("SELECT type, count(*) FROM events GROUP BY type"):
        assert value("monitor_events_total", type=event_type) == n, event_type
    assert value("monitor_log_head_seq") == count(conn, "SELECT max(seq) FROM events")
    assert value("monitor_items_total", event="discovered") == count(
        conn, "SELECT count(*) FROM events WHERE type = 'ItemDiscovered'") == value("monitor_items_tracked") == 5
    changes_total = sum(v for (name, _labels), v in samples.items() if name == "monitor_changes_total")
    assert changes_total == count(conn, "SELECT count(*) FROM events WHERE type = 'ChangeDetected'") == 4
    assert value("monitor_changes_total", kind="license_slowdown", severity="medium") == 2

    statuses = {dict(labels)["status"]: v for (name, labels), v in samples.items() if name == "monitor_alerts"}
    assert set(statuses) == {"queued", "delivered", "failed", "dead"}
    assert sum(statuses.values()) == count(conn, "SELECT count(*) FROM outbox")
    assert statuses["delivered"] > 0 and statuses["failed"] > 0  # one endpoint works, one is down
    assert value("monitor_alerts_queued_total") == count(conn, "SELECT count(*) FROM events WHERE type = 'AlertQueued'")
    assert value("monitor_alert_digests_total", outcome="delivered") == count(
        conn, "SELECT count(*) FROM events WHERE type = 'AlertDelivered'") > 0
    assert value("monitor_alert_digests_total", outcome="failed") == count(
        conn, "SELECT count(*) FROM events WHERE type = 'AlertFailed'") > 0


def test_metric_types_and_help(state):
    registry = CollectorRegistry()
    registry.register(StoreCollector(lambda: connect(state.state_path / EVENTS_DB, readonly=True), ["fr-doc"]))
    families = {f.name: f for f in text_string_to_metric_families(render(registry).decode())}
    counters = {"monitor_events", "monitor_polls", "monitor_poll_failures", "monitor_changes", "monitor_alerts_queued",
                "monitor_alert_digests"}
    gauges = {"monitor_log_head_seq", "monitor_source_consecutive_failures",
              "monitor_source_last_success_timestamp_seconds", "monitor_alerts"}
    assert {name for name, f in families.items() if f.type == "counter"} >= counters
    assert {name for name, f in families.items() if f.type == "gauge"} >= gauges
    assert all(f.documentation for f in families.values())


def test_each_scrape_opens_and_closes_its_own_connection(state, tmp_path):
    opened: list[sqlite3.Connection] = []

    def connect_empty() -> sqlite3.Connection:
        opened.append(connect(tmp_path / "state" / EVENTS_DB, readonly=True))
        return opened[-1]

    with open_store(tmp_path / "state"):
        pass  # a fresh state: the log and the projections' tables, nothing in them
    registry = CollectorRegistry()
    registry.register(StoreCollector(connect_empty, ["fr-doc"]))
    assert opened == []  # registering reads nothing
    body = render(registry).decode()
    assert len(opened) == 1
    with pytest.raises(sqlite3.ProgrammingError):
        opened[0].execute("SELECT 1")  # closed
    samples = {(s.name, json.dumps(s.labels, sort_keys=True)): s.value
               for f in text_string_to_metric_families(body) for s in f.samples}
    assert samples[("monitor_polls_total", '{"source": "fr-doc"}')] == 0
    assert samples[("monitor_log_head_seq", "{}")] == 0
    assert [v for (name, _), v in samples.items() if name == "monitor_alerts"] == [0, 0, 0, 0]
    render(registry)
    assert len(opened) == 2
