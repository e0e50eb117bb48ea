"""Poll cycles end to end against a real loopback server: what each response becomes in the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


from monitor.config import load_config
from monitor.daemon import open_store, poll

FR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "federal-register"
OWN = Path(__file__).parent / "fixtures"


def write_config(tmp_path: Path, sources: str, monitor: str = "", read_timeout: str = "1s",
                 total_timeout: str = "3s") -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[monitor]
state_dir = "state"
connect_timeout = "2s"
read_timeout = "{read_timeout}"
total_timeout = "{total_timeout}"
backoff_base = "1m"
backoff_cap = "1h"
{monitor}
{sources}
""", encoding="utf-8")
    return path


def feed_source(id: str, url: str, **extra) -> str:
    lines = [f'[[sources]]\nid = "{id}"\nkind = "feed"\nurl = "{url}"\nevery = "1m"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def fr_source(id: str, url: str, **extra) -> str:
    return feed_source(id, url, **extra).replace('kind = "feed"', 'kind = "federal_register"')


def cycle(config_path: Path, **options):
    config = load_config(config_path)
    return {r.source: r for r in poll(config, config.state_path, **options)}, config


def events(config, type=None):
    with open_store(config.state_path) as store:
        return [e for e in store.read(types=[type] if type else None)]


def serve_fr_pages(server):
    page1 = json.loads((FR / "fr_documents_bis_advanced_computing_page1.json").read_text())
    page1["next_page_url"] = server.url_for("/fr/page2.json")
    server.route("/api/v1/documents.json", body=json.dumps(page1), content_type="application/json")
    server.serve_file("/fr/page2.json", FR / "fr_documents_bis_advanced_computing_page2.json")
    return page1


def test_federal_register_search_walks_pages_and_records_each_document_once(http_server, tmp_path):
    page1 = serve_fr_pages(http_server)
    page2 = json.loads((FR / "fr_documents_bis_advanced_computing_page2.json").read_text())
    path = write_config(tmp_path, fr_source("fr-bis", http_server.url_for(
        "/api/v1/documents.json?conditions[agencies][]=industry-and-security-bureau&order=newest")))

    reports, config = cycle(path)
    expected = {d["document_number"] for d in page1["results"] + page2["results"]}
    assert reports["fr-bis"].status == "new" and reports["fr-bis"].new == len(expected)
    discovered = events(config, "ItemDiscovered")
    assert {e.data["key"] for e in discovered} == expected
    assert all(e.stream == f"item:fr-bis:{e.data['key']}" for e in discovered)
    (polled,) = events(config, "SourcePolled")
    assert polled.data["pages"] == 2 and polled.data["entries"] == len(expected)
    first = http_server.requests_for("/api/v1/documents.json")[0]
    assert "fields%5B%5D=document_number" in first.query or "fields[]=document_number" in first.query
    assert "export-control-monitor" in first.headers["user-agent"]

    again, _ = cycle(path)  # the same bytes: nothing parsed, nothing new
    assert again["fr-bis"].status == "unchanged"
    assert len(events(config, "ItemDiscovered")) == len(expected)
    assert len(events(config, "SourcePolled")) == 2


def test_conditional_get_sends_validators_from_the_log_and_a_304_parses_nothing(http_server, tmp_path):
    http_server.serve_file("/feed.rss", FR / "fr_bis_documents.rss", etag='"v1"', last_modified="Thu, 15 Jan 2026 00:00:00 GMT")
    path = write_config(tmp_path, feed_source("fr-rss", http_server.url_for("/feed.rss")))
    first, config = cycle(path)
    assert first["fr-rss"].status == "new" and first["fr-rss"].new > 0
    second, _ = cycle(path)  # a new process would read the validators from the log just the same
    assert second["fr-rss"].status == "not_modified"
    request = http_server.requests_for("/feed.rss")[-1]
    assert request.headers["if-none-match"] == '"v1"'
    assert request.headers["if-modified-since"] == "Thu, 15 Jan 2026 00:00:00 GMT"
    polled = events(config, "SourcePolled")[-1].data
    assert polled["not_modified"] and polled["status"] == 304


def test_a_revised_document_records_what_changed(http_server, tmp_path):
    doc = json.loads((FR / "fr_document_2026-00789.json").read_text())
    revised = {**doc, "title": doc["title"] + " (corrected)", "comments_close_on": "2026-03-16",
               "page_views": {"count": 99999, "last_updated": "whenever"}}
    http_server.route_sequence("/doc.json", [
        {"body": json.dumps(doc), "content_type": "application/json"},
        {"body": json.dumps({**doc, "page_views": {"count": 5}}), "content_type": "application/json"},
        {"body": json.dumps(revised), "content_type": "application/json"},
    ])
    path = write_config(tmp_path, fr_source("fr-doc", http_server.url_for("/doc.json")))
    cycle(path)
    reports, config = cycle(path)  # only page views moved: not a revision
    assert reports["fr-doc"].status == "no_change"
    reports, _ = cycle(path)
    assert reports["fr-doc"].revised == 1
    (revision,) = events(config, "ItemRevised")
    assert revision.data["changed"]["title"]["after"].endswith("(corrected)")
    assert revision.data["changed"]["fields.comments_close_on"] == {"before": doc["comments_close_on"], "after": "2026-03-16"}
    assert revision.stream_version == 2


def test_zero_hits_is_a_successful_empty_poll(http_server, tmp_path):
    http_server.serve_file("/empty.json", FR / "fr_documents_empty.json")
    path = write_config(tmp_path, fr_source("fr-empty", http_server.url_for("/empty.json")))
    reports, config = cycle(path)
    assert reports["fr-empty"].status == "no_change" and reports["fr-empty"].entries == 0
    assert not events(config, "SourceFailed")


FAULTS = {
    # source id: (route options, expected reason, text expected in the message)
    "timeout": ({"fault": "timeout"}, "timeout", ""),
    "drip": ({"fault": "slow_drip", "interval": 0.3}, "timeout", ""),
    "reset": ({"fault": "reset"}, "reset", ""),
    "server-error": ({"status": 500, "body": "oops"}, "http_status", "500"),
    "throttled": ({"fault": "retry_after", "retry_after": 120}, "http_status", "429"),
    "html-not-feed": ({"body": "<html><head><title>Access denied</title></head><body>no</body></html>",
                       "content_type": "text/html"}, "parse_error", "HTML"),
    "loop": ({"fault": "redirect_loop"}, "redirects", ""),
    "huge": ({"fault": "huge"}, "too_large", ""),
    "bomb": ({"fault": "gzip_bomb"}, "too_large", ""),
    "empty": ({"fault": "empty"}, "parse_error", ""),
}


def test_every_fault_becomes_its_failure_event_and_a_healthy_source_is_unaffected(http_server, tmp_path):
    http_server.serve_file("/healthy.rss", FR / "fr_bis_documents.rss")
    sources = [feed_source("healthy", http_server.url_for("/healthy.rss"))]
    for name, (options, _, _) in FAULTS.items():
        http_server.route(f"/{name}", **options)
        sources.append(feed_source(name, http_server.url_for(f"/{name}")))
    http_server.serve_file("/fr404.json", FR / "fr_document_404.json", status=404)
    http_server.serve_file("/fr400.json", FR / "fr_documents_400_bad_agency.json", status=400)
    sources.append(fr_source("fr-404", http_server.url_for("/fr404.json")))
    sources.append(fr_source("fr-400", http_server.url_for("/fr400.json")))
    sources.append(feed_source("refused", "http://127.0.0.1:9/closed"))
    # The hanging sources wait long enough for the healthy one to be parsed, detected and recorded
    # on a loaded machine (a 1 s read timeout lost that race on a busy CI box).
    path = write_config(tmp_path, "\n".join(sources), read_timeout="5s", total_timeout="8s")

    reports, config = cycle(path)
    assert reports["healthy"].status == "new" and reports["healthy"].new > 0
    failed = {e.data["source"]: e for e in events(config, "SourceFailed")}
    for name, (_, reason, text) in FAULTS.items():
        assert failed[name].data["reason"] == reason, (name, failed[name].data)
        assert text in failed[name].data["message"], (name, failed[name].data["message"])
    assert failed["fr-404"].data["status"] == 404 and "Not Found" in failed["fr-404"].data["message"]
    assert "not a valid agency" in failed["fr-400"].data["message"] or "agenc" in failed["fr-400"].data["message"]
    assert failed["refused"].data["reason"] == "connect"
    # The healthy source's outcome was recorded before the hanging sources gave up.
    seqs = {e.data["source"]: e.seq for e in events(config) if e.type in ("SourcePolled", "SourceFailed")}
    assert seqs["healthy"] < seqs["timeout"] and seqs["healthy"] < seqs["drip"]
    # Retry-After is honoured: the next attempt is at least two minutes away.
    throttled = failed["throttled"].data
    assert throttled["retry_after"] == 120
    from monitor.clock import parse_iso
    assert (parse_iso(throttled["retry_at"]) - parse_iso(throttled["at"])).total_seconds() >= 120


def test_backoff_skips_a_failing_source_until_forced_and_recovery_is_recorded(http_server, tmp_path):
    http_server.route_sequence("/flaky.rss", [{"status": 503, "body": "down"}, {"status": 503, "body": "down"}])
    path = write_config(tmp_path, feed_source("flaky", http_server.url_for("/flaky.rss")))
    first, config = cycle(path)
    assert first["flaky"].status == "failed" and first["flaky"].retry_at
    second, _ = cycle(path)
    assert second["flaky"].status == "skipped" and len(http_server.requests_for("/flaky.rss")) == 1
    third, _ = cycle(path, force=True)
    assert third["flaky"].status == "failed"
    failures = [e.data["consecutive_failures"] for e in events(config, "SourceFailed")]
    assert failures == [1, 2]

    http_server.serve_file("/flaky.rss", FR / "fr_bis_documents.rss")
    fourth, _ = cycle(path, force=True)
    assert fourth["flaky"].status == "new"
    (recovered,) = events(config, "SourceRecovered")
    assert recovered.data["after_failures"] == 2
    with open_store(config.state_path) as store:
        row = store.conn.execute("SELECT consecutive_failures, retry_at, failures FROM sources").fetchone()
    assert row == (0, None, 2)


def run_cli(config_path: Path, *args):
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(config_path), *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ})


def test_cli_poll_exits_0_with_failures_and_sources_shows_health(http_server, tmp_path):
    http_server.serve_file("/ok.rss", FR / "fr_bis_documents.rss")
    http_server.route("/broken", status=500, body="no")
    path = write_config(tmp_path, feed_source("ok", http_server.url_for("/ok.rss"))
                        + feed_source("broken", http_server.url_for("/broken")))
    result = run_cli(path, "poll")
    assert result.returncode == 0, result.stderr
    assert "broken" in result.stdout and "http_status" in result.stdout
    health = {row["source"]: row for row in map(json.loads, run_cli(path, "sources", "--json").stdout.splitlines())}
    assert health["ok"]["health"] == "ok" and health["ok"]["last_success_at"]
    assert health["broken"]["health"] == "failing" and health["broken"]["consecutive_failures"] == 1
    assert health["broken"]["last_error_reason"] == "http_status" and health["broken"]["next_attempt_at"]
    assert run_cli(path, "poll", "--source", "nope").returncode == 2
    assert run_cli(path, "verify").returncode == 0


def test_secrets_in_a_source_url_never_reach_the_log(http_server, tmp_path):
    http_server.route("/private", status=500, body="no")
    url = http_server.url_for("/private?token=hunter2secret")
    path = write_config(tmp_path, feed_source("private", url))
    try:
        reports, config = cycle(path)
    except Exception as exc:  # the configuration may refuse a credentialed URL outright: also fine
        assert "hunter2secret" not in str(exc)
        return
    raw = (config.state_path / "events.db").read_bytes()
    assert b"hunter2secret" not in raw


def html_source(id: str, url: str, **extra) -> str:
    return feed_source(id, url, item="ul.txtList_01 li", link="a", date="span", issuer="商务部", language="zh",
                       **extra).replace('kind = "feed"', 'kind = "html_list"')


def test_mofcom_gbk_list_with_the_year_in_its_address(http_server, tmp_path):
    from datetime import datetime, timezone
    year = datetime.now(timezone.utc).year
    http_server.serve_file(f"/zcfb/blgg/gg/{year}/index.html", OWN / "mofcom_gg_list_gbk.html", content_type="text/html")
    path = write_config(tmp_path, html_source("mofcom", http_server.url_for("/zcfb/blgg/gg/{year}/index.html")))
    reports, config = cycle(path)
    assert reports["mofcom"].status == "new", reports["mofcom"]
    by_key = {e.data["key"]: e.data for e in events(config, "ItemDiscovered")}
    announcement = by_key["announcement:商务部:2024-46"]  # one item, though listed under two URLs
    assert "两用物项对美国出口管制" in announcement["title"]
    assert announcement["published"].startswith("2024-12-03") and announcement["language"] == "zh"
    assert "镓、锗" in by_key["announcement:商务部:2023-23"]["title"]  # the joint MOFCOM/GACC announcement
    again, _ = cycle(path)
    assert again["mofcom"].status == "unchanged"


def test_a_page_served_with_the_wrong_charset_is_still_read_with_a_warning(http_server, tmp_path):
    http_server.serve_file("/list.html", OWN / "mofcom_gg_list_gbk.html", content_type="text/html; charset=utf-8")
    path = write_config(tmp_path, html_source("mofcom", http_server.url_for("/list.html")))
    reports, config = cycle(path)
    assert reports["mofcom"].new >= 5
    titles = [e.data["title"] for e in events(config, "ItemDiscovered")]
    assert any("镓、锗" in t for t in titles)  # decoded as GBK, not mojibake


def test_a_search_that_repeats_a_page_stops_instead_of_looping(http_server, tmp_path):
    page1 = json.loads((FR / "fr_documents_bis_advanced_computing_page1.json").read_text())
    page1["next_page_url"] = http_server.url_for("/fr/again.json")
    clamped = {**page1, "next_page_url": http_server.url_for("/fr/again2.json")}  # the clamp: page 1 again
    http_server.route("/fr/search.json", body=json.dumps(page1), content_type="application/json")
    http_server.route("/fr/again.json", body=json.dumps(clamped), content_type="application/json")
    http_server.route("/fr/again2.json", body=json.dumps(clamped), content_type="application/json")
    path = write_config(tmp_path, fr_source("fr-bis", http_server.url_for("/fr/search.json"), max_pages=10))
    reports, config = cycle(path)
    assert reports["fr-bis"].new == len(page1["results"])
    (polled,) = events(config, "SourcePolled")
    assert polled.data["pages"] == 2 and any("repeats" in w for w in polled.data["warnings"])
    assert not http_server.requests_for("/fr/again2.json")


def test_public_inspection_desk(http_server, tmp_path):
    http_server.serve_file("/api/v1/public-inspection-documents/current.json", FR / "fr_public_inspection_current.json")
    path = write_config(tmp_path, fr_source("fr-pi", http_server.url_for("/api/v1/public-inspection-documents/current.json")))
    reports, config = cycle(path)
    assert reports["fr-pi"].new >= 1
    request = http_server.requests_for("/api/v1/public-inspection-documents/current.json")[0]
    assert "fields" not in request.query  # document field names would be refused by this endpoint
    item = events(config, "ItemDiscovered")[0].data
    assert item["fields"].get("public_inspection") is True


def rss(*entries: tuple[str, str, str]) -> str:
    items = "".join(f"<item><title>{t}</title><link>{l}</link><guid>{g}</guid></item>" for g, l, t in entries)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{items}</channel></rss>'


def test_a_feed_that_reissues_guids_is_keyed_by_link_and_says_so(http_server, tmp_path):
    first = rss(("g1", "https://n.example/a", "Alpha"), ("g2", "https://n.example/b", "Beta"))
    reissued = rss(("g9", "https://n.example/a", "Alpha"), ("g8", "https://n.example/b", "Beta"),
                   ("g7", "https://n.example/c", "Gamma"))
    http_server.route_sequence("/unstable.rss", [{"body": first, "content_type": "application/rss+xml"},
                                                 {"body": reissued, "content_type": "application/rss+xml"}])
    path = write_config(tmp_path, feed_source("unstable", http_server.url_for("/unstable.rss")))
    cycle(path)
    reports, config = cycle(path)
    assert (reports["unstable"].new, reports["unstable"].revised) == (1, 0)
    assert [e.data["title"] for e in events(config, "ItemDiscovered")] == ["Alpha", "Beta", "Gamma"]
    assert any("guids unstable: 2 entries" in w for w in events(config, "SourcePolled")[-1].data["warnings"])
