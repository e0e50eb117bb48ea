"""How the monitor talks to apprise (2.2), proven against real loopback sinks.

Every fact the notifier relies on is one test here:
  a. YAML config with tags -> the plugins a tag selects -> send to ONE plugin at a time
  b. the mailto:// form for a plain SMTP server with AUTH; HTML and Markdown bodies
  c. identifying a service without secrets (privacy URL, service_name, tags, a stable id)
  d. failures: 500 / refused / hang -> False quickly; apprise's own retries and how to pin them
  e. capturing the failure reason, and whether the password leaks into it
  f. the TEXT ("tag=url") config format
"""

from __future__ import annotations

import hashlib
import logging
import socket
import time

import apprise
import pytest
from apprise import AppriseResultStatus, NotifyFormat

from sinks import JsonSink, SmtpSink

PASSWORD = "s3cret-pass"  # conftest's smtp_sink password

# apprise loads its PGP helper lazily on first use, which imports the deprecated imghdr.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


def yaml_config(compliance_json: str, mailto: str, watch_json: str) -> str:
    return f"""\
version: 1
urls:
  - "{compliance_json}":
      - tag: compliance
  - "{mailto}":
      - tag: compliance
  - "{watch_json}":
      - tag: company-watch
"""


def load(content: str, fmt: str) -> apprise.Apprise:
    config = apprise.AppriseConfig()
    assert config.add_config(content, format=fmt)
    apobj = apprise.Apprise()
    assert apobj.add(config)
    return apobj


def send_one(service, title: str, body: str, body_format=NotifyFormat.MARKDOWN):
    """What the monitor does per service: a fresh Apprise holding just this plugin."""
    one = apprise.Apprise()
    assert one.add(service)
    return one.notify(title=title, body=body, body_format=body_format)


@pytest.fixture
def watch_sink():
    with JsonSink() as sink:
        yield sink


# --- a. YAML config, tags, one service at a time --------------------------------------------


def test_yaml_config_tags_select_plugins_and_each_is_sent_alone(smtp_sink, json_sink, watch_sink):
    apobj = load(yaml_config(json_sink.url, smtp_sink.mailto_url(), watch_sink.url), "yaml")
    assert len(apobj) == 3

    compliance = list(apobj.find(tag="compliance"))
    assert [s.service_name for s in compliance] == ["JSON", "E-Mail"]
    assert [type(s).__name__ for s in compliance] == ["NotifyJSON", "NotifyEmail"]
    assert [s.service_name for s in apobj.find(tag="company-watch")] == ["JSON"]
    assert list(apobj.find(tag="no-such-tag")) == []

    outcomes = {}
    for service in compliance:
        result = send_one(service, "EAR update", "**New rule** on AI chips")
        assert isinstance(result, apprise.AppriseResult)
        assert len(result) == 1  # exactly one service was notified
        outcomes[service.service_name] = bool(result)
    assert outcomes == {"JSON": True, "E-Mail": True}

    [body] = json_sink.wait_for(1)
    assert body["title"] == "EAR update"
    assert body["message"] == "**New rule** on AI chips"  # json:// gets the markdown as is
    assert body["type"] == "info"
    [mail] = smtp_sink.wait_for(1)
    assert mail.subject == "EAR update"
    assert watch_sink.attempts == []  # the other tag's target was never touched


def test_notify_result_is_per_service(smtp_sink, json_sink):
    # One Apprise holding two services: the AppriseResult carries one NotifyResult each.
    json_sink.down()
    apobj = apprise.Apprise()
    apobj.add(json_sink.url, tag="compliance")
    apobj.add(smtp_sink.mailto_url(), tag="compliance")
    result = apobj.notify(title="t", body="b", tag="compliance")
    assert not result and result.status == AppriseResultStatus.PARTIAL  # some sent, some not
    by_name = {r.name: r for r in result}
    assert bool(by_name["E-Mail"]) is True
    assert bool(by_name["JSON"]) is False
    assert (result.success_count, result.failed_count) == (1, 1)


# --- b. mailto:// against plain SMTP with AUTH ---------------------------------------------


def test_mailto_plain_smtp_with_auth_delivers_html_part(smtp_sink):
    url = (
        f"mailto://monitor:{PASSWORD}@127.0.0.1:{smtp_sink.port}"
        "?smtp=127.0.0.1&mode=insecure&from=monitor@example.org&to=analyst@example.org"
    )
    result = send_one(url, "HTML alert", "<p>Rule <b>changed</b></p>", NotifyFormat.HTML)
    assert result

    [mail] = smtp_sink.wait_for(1)
    assert mail.auth_login == "monitor"  # apprise logged in (AUTH PLAIN over plain SMTP)
    assert mail.mail_from == "monitor@example.org"
    assert mail.rcpt_tos == ("analyst@example.org",)
    assert mail.subject == "HTML alert"
    assert mail.content_types == ["multipart/alternative", "text/plain", "text/html"]
    assert "<b>changed</b>" in mail.html
    assert mail.text.strip() == "Rule changed"
    assert smtp_sink.auth_attempts[0].success


def test_mailto_minimal_form_also_works(smtp_sink):
    # smtp= defaults to the URL host and mailto:// (not mailtos://) defaults to mode=insecure.
    url = f"mailto://monitor:{PASSWORD}@127.0.0.1:{smtp_sink.port}?from=monitor@example.org&to=analyst@example.org"
    service = apprise.Apprise.instantiate(url)
    assert service.secure_mode == "insecure" and service.smtp_host == "127.0.0.1"
    assert send_one(service, "t", "b", NotifyFormat.TEXT)
    [mail] = smtp_sink.wait_for(1)
    assert mail.auth_login == "monitor"


def test_mailtos_against_plain_server_fails(smtp_sink):
    # mailtos:// means STARTTLS (port 587 unless given): the plain sink cannot do it.
    url = smtp_sink.mailto_url().replace("mailto://", "mailtos://").replace("mode=insecure", "")
    assert not send_one(url, "t", "b")
    assert smtp_sink.messages == []


def test_markdown_body_to_mailto_arrives_as_html_and_text(smtp_sink):
    markdown = "# Entity List\n\n* added **Acme Corp**\n\n[notice](https://example.org/fr)"
    assert send_one(smtp_sink.mailto_url(), "MD", markdown, NotifyFormat.MARKDOWN)
    [mail] = smtp_sink.wait_for(1)
    assert mail.content_types == ["multipart/alternative", "text/plain", "text/html"]
    assert "<h1>Entity List</h1>" in mail.html
    assert "<strong>Acme Corp</strong>" in mail.html
    assert '<a href="https://example.org/fr">notice</a>' in mail.html
    assert "**" not in mail.text and "Acme Corp" in mail.text


def test_text_body_to_mailto_is_text_only(smtp_sink):
    assert send_one(smtp_sink.mailto_url(), "plain", "line one\nline <two> & x", NotifyFormat.TEXT)
    [mail] = smtp_sink.wait_for(1)
    assert mail.content_types == ["text/plain"]
    assert mail.text == "line one\r\nline <two> & x\r\n"


def test_no_body_format_to_mailto_is_taken_as_html(smtp_sink):
    # Without body_format the body is assumed HTML for email: newlines are lost in both parts.
    one = apprise.Apprise()
    one.add(smtp_sink.mailto_url())
    assert one.notify(title="nofmt", body="line one\nline two")
    [mail] = smtp_sink.wait_for(1)
    assert mail.content_types == ["multipart/alternative", "text/plain", "text/html"]
    assert mail.text == "line one line two"


def test_wrong_password_is_refused_and_reported_false(smtp_sink):
    url = smtp_sink.mailto_url(password="not-the-password", cto="2")
    assert not send_one(url, "t", "b")
    assert smtp_sink.messages == []
    assert smtp_sink.auth_attempts and not any(a.success for a in smtp_sink.auth_attempts)


# --- c. identifying a service without secrets ------------------------------------------------


def test_service_identity_without_secrets(smtp_sink, json_sink):
    apobj = load(yaml_config(json_sink.url, smtp_sink.mailto_url(), json_sink.url), "yaml")
    mail = next(s for s in apobj.find(tag="compliance") if s.service_name == "E-Mail")

    private = mail.url(privacy=True)
    assert PASSWORD not in private
    assert private.startswith(f"mailto://monitor:****@127.0.0.1:{smtp_sink.port}/analyst%40example.org?")
    assert PASSWORD in mail.url()  # url() without privacy holds the secret: never log it
    assert mail.service_name == "E-Mail"
    assert mail.protocol == "mailto"
    assert {str(t) for t in mail.tags} == {"compliance"}  # AppriseTag objects; str() -> name
    assert "compliance" in mail.tags  # AppriseTag == str by name

    # The privacy URL of a json:// target with credentials is masked too.
    hook = apprise.Apprise.instantiate(f"json://bob:{PASSWORD}@127.0.0.1:{json_sink.port}/hook")
    assert PASSWORD not in hook.url(privacy=True)
    assert "bob:****@" in hook.url(privacy=True)


def test_url_id_ignores_mail_recipients_so_hash_the_privacy_url(smtp_sink):
    to_a = apprise.Apprise.instantiate(smtp_sink.mailto_url(to="a@example.org"))
    to_b = apprise.Apprise.instantiate(smtp_sink.mailto_url(to="b@example.org"))
    # apprise's own url_id() hashes credentials + host + port, NOT the recipients:
    assert to_a.url_id() == to_b.url_id()
    assert len(to_a.url_id()) == 8

    def stable_id(service) -> str:
        return hashlib.sha256(service.url(privacy=True).encode()).hexdigest()[:16]

    assert stable_id(to_a) != stable_id(to_b)
    # ... and it is stable: same config -> same id; a password change does not change it.
    again = apprise.Apprise.instantiate(smtp_sink.mailto_url(to="a@example.org"))
    rotated = apprise.Apprise.instantiate(smtp_sink.mailto_url(to="a@example.org", password="new"))
    assert stable_id(again) == stable_id(to_a) == stable_id(rotated)


# --- d. failures, timeouts, retries ---------------------------------------------------------


def test_json_500_is_false_quickly_with_one_attempt(json_sink):
    json_sink.down()  # 500
    started = time.monotonic()
    result = send_one(json_sink.url, "t", "b")
    assert not result
    assert time.monotonic() - started < 1.0
    assert len(json_sink.attempts) == 1  # default retry=0: no apprise-internal retry
    [service_result] = result
    assert service_result.max_attempts == 1 and len(service_result.attempts) == 1


def test_json_refused_is_false_quickly_then_recovers(json_sink):
    json_sink.down("refuse")
    started = time.monotonic()
    assert not send_one(json_sink.url, "t", "b")
    assert time.monotonic() - started < 1.0
    assert json_sink.attempts == []

    json_sink.up()  # same URL again
    assert send_one(json_sink.url, "t", "back")
    assert [b["message"] for b in json_sink.received] == ["back"]


def test_json_down_500_then_up(json_sink):
    plugin = apprise.Apprise.instantiate(json_sink.url)
    json_sink.down()
    assert not send_one(plugin, "t", "first")
    json_sink.up()
    assert send_one(plugin, "t", "second")
    assert json_sink.statuses == [500, 200]
    assert [b["message"] for b in json_sink.received] == ["second"]


def test_default_timeouts_and_url_overrides():
    hook = apprise.Apprise.instantiate("json://127.0.0.1:9/hook")
    assert hook.request_timeout == (4.0, 4.0)  # (connect, read) seconds, requests-style
    hook = apprise.Apprise.instantiate("json://127.0.0.1:9/hook?cto=2&rto=3")
    assert (hook.socket_connect_timeout, hook.socket_read_timeout) == (2.0, 3.0)
    mail = apprise.Apprise.instantiate("mailto://u:p@127.0.0.1:9?from=a@example.org")
    assert mail.socket_connect_timeout == 15  # smtplib timeout (connect AND each read)
    mail = apprise.Apprise.instantiate("mailto://u:p@127.0.0.1:9?from=a@example.org&cto=2")
    assert mail.socket_connect_timeout == 2.0
    # Both may also be set on the plugin object after loading a config:
    hook.socket_read_timeout = 1.5
    assert hook.request_timeout == (2.0, 1.5)


def test_json_hanging_server_is_bounded_by_rto(http_server):
    http_server.route("/hang", fault="timeout", hold=30)
    url = f"json://127.0.0.1:{http_server.port}/hang?cto=0.5&rto=0.5"
    started = time.monotonic()
    result = send_one(url, "t", "b")
    elapsed = time.monotonic() - started
    assert not result
    assert 0.4 < elapsed < 2.0
    assert len(http_server.requests_for("/hang")) == 1


def test_smtp_silent_server_is_bounded_by_cto():
    # A listening socket that never answers: TCP connects, the SMTP greeting never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        url = f"mailto://monitor:x@127.0.0.1:{port}?from=m@example.org&to=a@example.org&cto=0.5"
        started = time.monotonic()
        assert not send_one(url, "t", "b")
        assert 0.4 < time.monotonic() - started < 2.0


def test_smtp_refused_is_false_quickly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connect is refused
        started = time.monotonic()
        assert not send_one(f"mailto://m:x@127.0.0.1:{port}?from=m@example.org", "t", "b")
        assert time.monotonic() - started < 1.0


def test_apprise_retries_only_when_asked_and_plugin_retry_pins_it(json_sink):
    json_sink.down()
    # retry=N in the URL (or "retry:" in YAML) makes apprise retry N more times itself,
    # waiting `wait` seconds (default 0.5) between attempts.
    assert not send_one(json_sink.url + "?retry=2&wait=0", "t", "b")
    assert len(json_sink.attempts) == 3

    config = (
        "version: 1\nurls:\n"
        f"  - {json_sink.url}:\n      - tag: compliance\n        retry: 2\n        wait: 0\n"
    )
    [service] = load(config, "yaml").find(tag="compliance")
    assert service.retry == 2
    service.retry = 0  # the monitor pins it: exactly one attempt per send
    result = send_one(service, "t", "b")
    assert len(json_sink.attempts) == 4
    assert [r.max_attempts for r in result] == [1]


def test_tag_retry_suffix_is_a_call_time_retry(json_sink):
    # notify(tag="compliance:2") retries too -- so the monitor never passes a tag with ":N"
    # (sending to a fresh single-plugin Apprise without tag= avoids it entirely).
    json_sink.down()
    apobj = apprise.Apprise()
    apobj.add(json_sink.url + "?wait=0", tag="compliance")
    assert not apobj.notify(body="b", tag="compliance:2")
    assert len(json_sink.attempts) == 3


def test_call_level_timeout_reports_timeout_status(http_server):
    http_server.route("/hang", fault="timeout", hold=30)
    url = f"json://127.0.0.1:{http_server.port}/hang?rto=3"
    one = apprise.Apprise()
    one.add(url)
    started = time.monotonic()
    result = one.notify(body="b", timeout=0.5)
    assert time.monotonic() - started < 2.0
    assert result.status == AppriseResultStatus.TIMEOUT
    assert "did not finish" in " ".join(e.message for e in result.logs())


# --- e. failure reasons and secrets in logs -------------------------------------------------


def test_failure_reason_from_result_logs(json_sink, smtp_sink):
    json_sink.down()
    result = send_one(json_sink.url, "t", "b")
    reasons = [(e.level, e.message) for e in result.logs()]
    assert reasons == [
        ("WARNING", "Failed to send JSON POST notification: Internal server error., error=500.")
    ]

    json_sink.down("refuse")
    result = send_one(json_sink.url, "t", "b")
    assert [e.message for e in result.logs()] == [
        "A Connection error occurred sending JSON notification to 127.0.0.1."
    ]

    result = send_one(smtp_sink.mailto_url(password="wrong-pass-123"), "t", "b")
    assert [e.message for e in result.logs()] == [
        'Connection error while submitting email to "127.0.0.1"'
    ]


def test_debug_reason_per_call_needs_the_apprise_logger_at_debug(smtp_sink):
    # notify(log_level=DEBUG) only sees DEBUG records if the "apprise" logger emits them.
    secret = "Wr0ng-Secret-99"
    apprise_logger = logging.getLogger("apprise")
    before = apprise_logger.level
    apprise_logger.setLevel(logging.DEBUG)
    try:
        one = apprise.Apprise()
        one.add(smtp_sink.mailto_url(password=secret, cto="2"))
        result = one.notify(title="t", body="b", log_level=logging.DEBUG)
    finally:
        apprise_logger.setLevel(before)
    messages = [e.message for e in result.logs()]
    assert 'Connection error while submitting email to "127.0.0.1"' in messages
    assert "Socket Exception: (535, b'5.7.8 Authentication credentials invalid')" in messages
    assert not any(secret in m for m in messages)


def test_failure_reason_via_logcapture_and_no_password_at_info(smtp_sink, json_sink):
    secret = "Sup3r-Secret-PW-77"
    json_sink.down()
    with apprise.LogCapture(level=logging.INFO) as captured:
        assert not send_one(smtp_sink.mailto_url(password=secret, cto="2"), "t", "b")
        assert not send_one(f"json://bob:{secret}@127.0.0.1:{json_sink.port}/hook", "t", "b")
        # a bad entry in a YAML config (invalid mode) is reported, not fatal
        apobj = load(
            f"version: 1\nurls:\n  - mailto://monitor:{secret}@127.0.0.1:25/?mode=bogus"
            "&from=m@example.org\n",
            "yaml",
        )
        assert len(apobj) == 0
    log = captured.getvalue()
    assert 'Connection error while submitting email to "127.0.0.1"' in log
    assert "error=500" in log
    assert "The secure mode specified (bogus) is invalid." in log
    assert secret not in log


def test_debug_logs_the_password_from_add_config_and_trace_from_url_parsing(smtp_sink):
    secret = "Sup3r-Secret-PW-77"
    config = f"compliance={smtp_sink.mailto_url(password=secret, cto='2')}\n"

    with apprise.LogCapture(level=logging.DEBUG) as debug:
        apobj = load(config, "text")
        assert not send_one(next(apobj.find(tag="compliance")), "t", "b")
    # AppriseConfig.add_config() logs the raw content at DEBUG ("Loading raw configuration:")
    assert secret in debug.getvalue()

    with apprise.LogCapture(level=logging.TRACE) as trace:  # apprise's level 9
        apprise.Apprise.instantiate(smtp_sink.mailto_url(password=secret))
    assert f'password="{secret}"' in trace.getvalue()  # URL unpacking dumps every field


def test_debug_when_loading_from_a_file_and_sending_keeps_the_password_out(smtp_sink, tmp_path):
    secret = "Sup3r-Secret-PW-77"
    path = tmp_path / "apprise.yml"
    path.write_text(
        f"version: 1\nurls:\n  - \"{smtp_sink.mailto_url(password=secret, cto='2')}\":\n"
        "      - tag: compliance\n"
    )
    with apprise.LogCapture(level=logging.DEBUG) as debug:
        config = apprise.AppriseConfig()
        assert config.add(str(path))
        apobj = apprise.Apprise()
        apobj.add(config)
        [service] = apobj.find(tag="compliance")
        assert not send_one(service, "t", "b")
    log = debug.getvalue()
    assert "(535, b'5.7.8 Authentication credentials invalid')" in log  # the real reason: DEBUG
    assert secret not in log


# --- f. TEXT config ---------------------------------------------------------------------------


def test_text_config_with_tags(smtp_sink, json_sink, watch_sink):
    text = (
        "# tag(s)=url\n"
        f"compliance={json_sink.url}\n"
        f"compliance, company-watch={smtp_sink.mailto_url()}\n"
        f"company-watch={watch_sink.url}\n"
    )
    apobj = load(text, "text")
    assert [s.service_name for s in apobj.find(tag="compliance")] == ["JSON", "E-Mail"]
    assert [s.service_name for s in apobj.find(tag="company-watch")] == ["E-Mail", "JSON"]
    for service in apobj.find(tag="company-watch"):
        assert send_one(service, "watch", "Acme Corp added")
    assert smtp_sink.wait_for(1)[0].subject == "watch"
    assert watch_sink.wait_for(1)[0]["message"] == "Acme Corp added"
    assert json_sink.attempts == []


def test_config_file_format_follows_extension(smtp_sink, json_sink, tmp_path):
    (tmp_path / "apprise.yml").write_text(
        yaml_config(json_sink.url, smtp_sink.mailto_url(), json_sink.url)
    )
    (tmp_path / "apprise.txt").write_text(f"compliance={json_sink.url}\n")
    for name, expected in [("apprise.yml", 3), ("apprise.txt", 1)]:
        config = apprise.AppriseConfig()
        assert config.add(str(tmp_path / name))
        apobj = apprise.Apprise()
        apobj.add(config)
        assert len(apobj) == expected


# --- the sinks themselves -------------------------------------------------------------------


def test_smtp_sink_refuses_other_users():
    with SmtpSink(password="pw-1") as sink:
        assert not send_one(sink.mailto_url(user="intruder", password="pw-1", cto="2"), "t", "b")
        assert send_one(sink.mailto_url(), "t", "b")
        assert [a.login for a in sink.auth_attempts if a.success] == ["monitor"]
        assert len(sink.wait_for(1)) == 1
    assert sink.port is not None


def test_json_sink_respond_sequence(json_sink):
    json_sink.respond_sequence([500, 200])
    plugin = apprise.Apprise.instantiate(json_sink.url)
    assert not send_one(plugin, "t", "one")
    assert send_one(plugin, "t", "two")
    assert json_sink.statuses == [500, 200]
    assert len(json_sink.received) == 1


def test_json_sink_wait_for_times_out(json_sink):
    with pytest.raises(AssertionError):
        json_sink.wait_for(1, timeout=0.05)

