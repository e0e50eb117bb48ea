"""The console and the audit report in a real browser: Debian's chromium driven by Playwright, a real
`monitor run` subprocess serving a real demo log on 127.0.0.1 (and on 0.0.0.0 for the token rules,
reached through 127.0.0.1 only), and real `monitor audit` subprocesses.

Browser tests never skip: without /usr/bin/chromium they fail (`.ci/run` installs it; locally
`apt-get install -y chromium chromium-driver fonts-noto-cjk`). Screenshots go to tests/screenshots/
(git-ignored) to be looked at; each is also checked not to be blank.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from monitor.daemon import open_store
from monitor.events import ALERT_FAILED, NewEvent, derive_event_id

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parent / "screenshots"
TOKEN = "console-token-for-tests-0123456789"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def monitor(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def demo_state(tmp_path_factory) -> Path:
    """A demo log (two polls of the recorded sources) with one alert made dead through the store."""
    state = tmp_path_factory.mktemp("console") / "state"
    done = monitor("demo", "--state", str(state))
    assert done.returncode == 0, done.stdout + done.stderr
    with open_store(state) as store:
        alert_id = store.conn.execute("SELECT alert_id FROM outbox WHERE route = 'compliance' "
                                      "ORDER BY queued_seq LIMIT 1").fetchone()[0]
        data = {"alert_ids": [alert_id], "at": "2026-01-01T00:00:00.000000Z", "attempt": 8, "digest_id": "dig-test",
                "group": "china", "route": "compliance", "delivered_targets": [], "dead": True,
                "failed": [{"service": "json", "error": "delivery failed (HTTP 500)"}],
                "error": "JSON: delivery failed (HTTP 500)", "next_attempt_at": "2026-01-01T01:00:00.000000Z"}
        store.append([NewEvent(ALERT_FAILED, "route:compliance", data,
                               derive_event_id("route:compliance", ALERT_FAILED, "dig-test"), occurred_at=data["at"])])
    return state


class Console:
    def __init__(self, state: Path, listen_host: str, env: dict | None = None):
        self.port = free_port()
        self.state = state
        self.log_path = state.parent / f"console-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(state / "sources.toml"), "--state", str(state), "run",
             "--listen", f"{listen_host}:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=self._log, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.get("/healthz")[0] in (200, 503):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the console did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes]:
        status, _headers, body = self.request("GET", path, headers)
        return status, body

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def copy_state(state: Path, name: str) -> Path:
    target = state.parent.parent / name / "state"
    shutil.copytree(state, target)
    for lock in target.glob("monitor.lock"):
        lock.unlink()
    return target


@pytest.fixture(scope="module")
def console(demo_state):
    running = Console(demo_state, "127.0.0.1")
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (/usr/bin/chromium): apt-get install -y chromium "
                    "chromium-driver fonts-noto-cjk (.ci/run does it)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="monitor-chromium-") as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), headless=True,
                                                       args=FLAGS, viewport={"width": 1200, "height": 900})
        try:
            yield context
        finally:
            context.close()


def shot(page, name: str, *, full_page: bool = False) -> Path:
    path = SHOTS / f"{name}.png"
    data = page.screenshot(path=str(path), full_page=full_page)
    assert len(data) > 5000, f"{name}: the screenshot is nearly empty"
    text = page.evaluate("document.body.innerText")
    assert len(text.strip()) > 50, f"{name}: the page shows almost no text"
    return path


def local_only(page) -> list[str]:
    """Abort any request that would leave 127.0.0.1 (none should be made); returns what was asked."""
    asked: list[str] = []

    def route(r):
        url = r.request.url
        asked.append(url)
        host = urllib.parse.urlsplit(url).hostname
        if url.startswith("file://") or host == "127.0.0.1":
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    return asked


# --- the console in the browser --------------------------------------------------------------------


def test_filter_by_region_then_company_is_reflected_in_the_url(console, browser):
    page = browser.new_page()
    asked = local_only(page)
    page.goto(console.url + "/")
    assert page.locator("#incident-list li").count() >= 10
    page.select_option("#f-region", "gulf")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**region=gulf**")
    gulf = page.locator("#incident-list li")
    assert gulf.count() >= 1
    for i in range(gulf.count()):
        assert "gulf" in gulf.nth(i).inner_text()
    changes = page.locator("#change-list li")
    assert changes.count() >= 2 and all("gulf" in changes.nth(i).inner_text() for i in range(changes.count()))
    page.select_option("#f-company", "nvidia")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**company=nvidia**")
    assert "region=gulf" in page.url
    items = page.locator("#change-list li")
    assert items.count() >= 2
    for i in range(items.count()):
        text = items.nth(i).inner_text()
        assert "gulf" in text and "nvidia" in text
    # the bookmarked address gives the same view in a fresh page
    again = browser.new_page()
    again.goto(page.url)
    assert again.locator("#change-list li").count() == items.count()
    shot(page, "console-filtered")
    assert all(urllib.parse.urlsplit(u).hostname == "127.0.0.1" for u in asked), asked


def test_an_incident_shows_its_timeline_with_the_evidence_marked_in_each_items_text(console, browser):
    page = browser.new_page()
    page.goto(console.url + "/?company=nvidia&region=gulf")
    page.locator("#incident-list a.incident-link").first.click()
    page.wait_for_url("**/incidents/inc-**")
    entries = page.locator("#timeline li.item-entry")
    assert entries.count() == 2  # the Chinese and the English report of one slowdown, across languages
    marks = page.locator("#timeline mark.ev")
    marked = [marks.nth(i).inner_text() for i in range(marks.count())]
    assert "輝達" in marked and "超微" in marked  # Nvidia and AMD in the Traditional Chinese title
    assert "UAE" in marked and "Saudi Arabia" in marked
    labels = [marks.nth(i).get_attribute("data-evidence") for i in range(marks.count())]
    assert "company nvidia" in labels and "country AE" in labels
    slowdown = [m for m, label in zip(marked, labels) if "phrase text:license_slowdown" in label]
    assert "slows licenses" in "".join(slowdown)  # the phrase that gave the kind, marked where it stands
    # the marks are inside the item's own text, not a list beside it
    title = page.locator("#timeline .item-title").first.inner_text()
    assert "美國放慢對中東AI晶片出口許可" in title
    assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '美國放慢')"), \
        "no CJK font: install fonts-noto-cjk"
    shot(page, "incident-evidence", full_page=True)


def test_pages_work_at_phone_width_with_long_titles_wrapping(console, browser):
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/sources", "/alerts", "/deadlines", "/log"):
        page.goto(console.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is wider than the phone ({overflow}px)"
        shot(page, "phone" + (path.replace("/", "-") if path != "/" else "-index"))
    page.goto(console.url + "/")
    title = page.locator("#incident-list .title").first
    assert title.bounding_box()["width"] <= 390


def test_sources_alerts_deadlines_and_log_pages(console, browser):
    page = browser.new_page()
    page.goto(console.url + "/sources")
    assert page.locator("#sources tbody tr").count() == 4
    assert page.locator("svg.chart rect").count() >= 4  # uptime cells
    shot(page, "sources")
    page.goto(console.url + "/alerts?status=dead")
    row = page.locator("#alerts tbody tr")
    assert row.count() == 1 and "JSON: delivery failed (HTTP 500)" in row.inner_text()
    assert "needs MONITOR_CONSOLE_TOKEN" in row.inner_text()  # loopback without a token: reading only
    page.goto(console.url + "/alerts?status=delivered")
    assert "stdout" in page.locator("#alerts").inner_text()
    page.goto(console.url + "/log")
    facts = page.locator("#log-facts").inner_text()
    assert "ok at" in facts and "head seq" in facts
    shot(page, "log")
    page.goto(console.url + "/deadlines")
    assert page.locator("a[href='/deadlines.ics']").count() == 1


def test_the_api_answers_in_the_clis_json_shapes(console, demo_state):
    status, body = console.get("/api/changes?region=gulf&limit=1000")
    assert status == 200
    api = json.loads(body)
    cli = [json.loads(line) for line in monitor("--state", str(demo_state), "changes", "--region", "gulf",
                                                "--json").stdout.splitlines()]
    assert sorted(api, key=lambda c: c["seq"]) == cli
    status, body = console.get("/api/incidents?company=nvidia")
    cli = [json.loads(line) for line in monitor("--state", str(demo_state), "incidents", "--company", "nvidia",
                                                "--json").stdout.splitlines()]
    assert json.loads(body) == cli
    status, body = console.get("/api/alerts")
    cli = [json.loads(line) for line in monitor("--state", str(demo_state), "alerts", "--json").stdout.splitlines()]
    assert json.loads(body) == cli
    one = cli[0]["incident"]
    timeline = [json.loads(line) for line in monitor("--state", str(demo_state), "incident", one,
                                                     "--json").stdout.splitlines()]
    assert json.loads(console.get(f"/api/incidents/{one}")[1]) == timeline


@pytest.mark.parametrize("target", [
    "/?region=gulff", "/?kind=entity_lst", "/?from=2025-13-01", "/?from=2025-02-01&to=2025-01-01",
    "/?q=%00", "/?limit=0", "/?before=x", "/?region=gulf&region=china", "/?nosuch=1", "/?q=" + "x" * 300,
    "/incidents/inc-000000000000", "/incidents/../../etc/passwd", "/incidents/%3Cscript%3E", "/api/changes?country=zz",
    "/api/incidents/inc-ffffffffffff", "/alerts?status=sent", "/sources?x=1", "/%ff", "/api/nothing",
    "/?q=%3Cscript%3Ealert(1)%3C/script%3E", "/login?next=//evil.example", "/?source=%E2%80%AE",
])
def test_no_request_makes_a_500_and_values_come_back_escaped(console, target):
    status, body = console.get(target)
    assert status in (200, 400, 404), (target, status, body[:300])
    assert b"Traceback" not in body
    assert b"<script>" not in body  # every value is escaped by the templates
    if status == 400:
        assert b"unknown" in body or b"must" in body or b"longer" in body or b"control" in body or b"after" in body


def test_the_free_text_filter_finds_chinese_and_english_titles(console):
    zh = json.loads(console.get("/api/changes?q=" + urllib.parse.quote("实体清单"))[1])
    assert zh and all("实体清单" in c["title"] for c in zh)
    en = json.loads(console.get("/api/changes?q=SLOWS")[1])
    assert en and all("slows" in c["title"].lower() for c in en)


# --- the token rules ---------------------------------------------------------------------------------


def test_off_loopback_without_a_token_every_page_but_healthz_is_403_and_the_log_says_how(demo_state):
    running = Console(copy_state(demo_state, "no-token"), "0.0.0.0")
    try:
        for path in ("/", "/api/changes", "/incidents/inc-000000000000", "/metrics", "/changes.atom", "/log"):
            status, body = running.get(path)
            assert status == 403, (path, status)
            assert b"MONITOR_CONSOLE_TOKEN" in body
        assert running.get("/healthz")[0] in (200, 503)
        assert "MONITOR_CONSOLE_TOKEN" in running.log() and "403" in running.log()
    finally:
        running.close()


def signed_in_dead_alert(page):
    """Sign in on the page the console showed (the alerts of status dead): (its one alert id, its row)."""
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/alerts?status=dead"))
    row = page.locator("#alerts tbody tr")
    assert row.count() == 1
    return row.get_attribute("data-alert"), row


def test_off_loopback_the_token_opens_by_bearer_or_login_and_retry_needs_it_and_csrf(demo_state, browser):
    running = Console(copy_state(demo_state, "token"), "0.0.0.0", env={"MONITOR_CONSOLE_TOKEN": TOKEN})
    try:
        assert running.get("/api/changes")[0] == 401
        assert running.get("/api/changes", {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
        assert running.get("/api/changes", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        # a POST without the CSRF value is refused even with the token
        form = urllib.parse.urlencode({"id": "alr-000000000000"}).encode()
        status, _h, body = running.request("POST", "/alerts/retry", {
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-www-form-urlencoded"}, form)
        assert status == 403 and b"CSRF" in body

        page = browser.new_page()
        page.goto(running.url + "/alerts?status=dead")
        assert "sign in" in page.title().lower()
        page.fill("#token", "not-the-token-at-all")
        page.click("button[type=submit]")
        assert "not the console token" in page.locator("main").inner_text()
        alert_id, row = signed_in_dead_alert(page)
        cookies = {c["name"]: c for c in browser.cookies(running.url)}
        assert TOKEN not in cookies["monitor_console"]["value"] and cookies["monitor_console"]["httpOnly"]
        shot(page, "alerts-dead-signed-in")
        row.locator("button", has_text="Retry").click()
        page.wait_for_url(lambda url: url.endswith("/alerts?status=queued"))
        requeued = monitor("--state", str(running.state), "events", "--type", "AlertRequeued", "--json")
        assert [json.loads(line)["data"]["alert_ids"] for line in requeued.stdout.splitlines()] == [[alert_id]]
        status, body = running.get("/api/alerts", {"Authorization": f"Bearer {TOKEN}"})
        # queued again, and the woken relay may already have sent it to its target (standard output)
        assert {a["alert_id"]: a["status"] for a in json.loads(body)}[alert_id] in ("queued", "delivered")
        assert TOKEN not in running.log()
        page.context.clear_cookies()
    finally:
        running.close()


def test_a_console_retry_on_a_shared_log_goes_to_the_shared_log(demo_state, browser, postgres_server, tmp_path):
    # The console of a replica writes the AlertRequeued event to PostgreSQL, where every replica
    # reads it, not to its local mirror of the log.
    source = copy_state(demo_state, "to-migrate")
    shared = postgres_server.url(postgres_server.new_database(schema=False), "postgres")
    done = monitor("--config", str(source / "sources.toml"), "--state", str(source), "migrate", "--to", shared)
    assert done.returncode == 0, done.stdout + done.stderr
    replica = tmp_path / "replica" / "state"
    replica.mkdir(parents=True)
    shutil.copy(source / "sources.toml", replica / "sources.toml")
    running = Console(replica, "0.0.0.0", env={"MONITOR_CONSOLE_TOKEN": TOKEN, "MONITOR_DATABASE": shared})
    try:
        page = browser.new_page()
        page.goto(running.url + "/alerts?status=dead")
        alert_id, row = signed_in_dead_alert(page)
        row.locator("button", has_text="Retry").click()
        page.wait_for_url(lambda url: url.endswith("/alerts?status=queued"))
        page.context.clear_cookies()
    finally:
        running.close()
    elsewhere = tmp_path / "elsewhere"
    requeued = monitor("--config", str(replica / "sources.toml"), "--state", str(elsewhere), "events", "--type",
                       "AlertRequeued", "--json", env={"MONITOR_DATABASE": shared})
    assert requeued.returncode == 0, requeued.stderr
    assert [json.loads(line)["data"]["alert_ids"] for line in requeued.stdout.splitlines()] == [[alert_id]]


# --- the audit report ---------------------------------------------------------------------------------


def test_the_audit_report_is_byte_identical_twice_and_renders_offline_completely(demo_state, tmp_path, browser):
    outputs = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        out = tmp_path / name / "report.html"
        done = monitor("--config", str(demo_state / "sources.toml"), "--state", str(demo_state), "audit",
                       "--to", "2099-12-31", "--out", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert hashlib.sha256(outputs[0]).hexdigest() == hashlib.sha256(outputs[1]).hexdigest()
    html = outputs[0].decode()
    for forbidden in ("http-equiv=\"refresh\"", "<script", "<link", "@import", "src=\"http"):
        assert forbidden not in html

    context = browser
    page = context.new_page()
    asked: list[str] = []

    def block(r):
        asked.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    page.route("**/*", block)
    context.set_offline(True)
    try:
        page.goto((tmp_path / "one" / "report.html").as_uri())
        for section in ("#summary", "#configuration", "#sources", "#incidents", "#changes", "#alerts", "#reminders",
                        "#anchors", "#end"):
            assert page.locator(section).count() == 1, section
        assert page.locator("#verification").inner_text().startswith("ok")
        assert page.locator("section.incident").count() == 12
        assert page.locator("mark.ev").count() > 20
        assert "monitor audit --to 2099-12-31 --out report.html" in page.locator("#recreate").inner_text()
        assert page.locator("#head").inner_text().startswith("log head seq")
        assert [u for u in asked if not u.startswith("file://")] == []
        shot(page, "audit-top")
    finally:
        context.set_offline(False)


def test_the_audit_report_as_of_a_time_holds_only_what_was_known_then(demo_state, tmp_path):
    first_poll_end = monitor("--state", str(demo_state), "events", "--type", "ItemRevised", "--json")
    revised = json.loads(first_poll_end.stdout.splitlines()[0])
    done = monitor("--config", str(demo_state / "sources.toml"), "--state", str(demo_state), "audit",
                   "--as-of", "2000-01-01", "--out", str(tmp_path / "early.html"), "--json")
    assert done.returncode == 0, done.stderr
    early = json.loads(done.stdout)
    assert early["head"]["seq"] == 0 and early["changes"] == [] and early["incidents"] == []
    full = json.loads(monitor("--config", str(demo_state / "sources.toml"), "--state", str(demo_state), "audit",
                              "--out", str(tmp_path / "full.html"), "--json").stdout)
    assert full["head"]["seq"] > revised["seq"]
    assert any(c["kind"] == "item_revised" for c in full["changes"])
    secretless = (tmp_path / "full.html").read_text()
    assert "s3cret" not in secretless


def test_audit_refusals_are_one_line_with_exit_2(demo_state, tmp_path):
    for args, reason in ((["--from", "2025-02-30"], "--from: not a date"),
                         (["--from", "2025-02-02", "--to", "2025-01-01"], "is after --to"),
                         (["--witness", "12:nothex"], "--witness: not SEQ:HASH")):
        done = monitor("--config", str(demo_state / "sources.toml"), "--state", str(demo_state), "audit", *args,
                       "--out", str(tmp_path / "x.html"))
        assert done.returncode == 2 and reason in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = monitor("--config", str(demo_state / "sources.toml"), "--state", str(demo_state), "audit",
                   "--out", str(tmp_path / "missing" / "x.html"))
    assert done.returncode == 2 and "does not exist" in done.stderr
