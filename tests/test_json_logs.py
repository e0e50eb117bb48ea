"""Under JSON logging every line the monitor prints is one JSON object, digests included (a log
shipper reading a container's output never sees a digest's lines apart); a refusal to start is one
line with its hint; `monitor --version` names the version, the lock and the commit.

`monitor poll` and `monitor run` run as real subprocesses against a loopback feed server, with no
apprise configuration: digests go to standard output, as in a fresh `docker compose up -d`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NEWS = """<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>
<item><title>US slows licences for Nvidia, AMD AI chip sales to UAE and Saudi Arabia</title>
<link>https://news.example/1</link><guid>n1</guid></item>
<item><title>美國放慢輝達晶片對阿聯酋出口許可審批</title><link>https://news.example/2</link><guid>n2</guid></item>
<item><title>U.S. adds China's SMIC to Entity List</title><link>https://news.example/3</link><guid>n3</guid></item>
</channel></rss>"""


def write_config(tmp_path: Path, http_server, extra: str = "") -> Path:
    http_server.route("/news.rss", body=NEWS, content_type="application/rss+xml")
    http_server.route("/broken", status=500, body="no")
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[monitor]
state_dir = "state"
[[sources]]
id = "news"
kind = "feed"
url = "{http_server.url_for('/news.rss')}"
every = "1h"
[[sources]]
id = "broken"
kind = "feed"
url = "{http_server.url_for('/broken')}"
every = "1h"
{extra}
[alerts]
digest_window = "0s"
relay_every = "1s"
[[alerts.routes]]
tag = "compliance"
group_by = "region"
[[alerts.routes]]
tag = "companies"
group_by = "company"
""", encoding="utf-8")
    return path


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def json_lines(text: str) -> list[dict]:
    """Every line of the text as one JSON object; a line that is not one fails, naming it."""
    objects = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"line {number} is not JSON: {line!r}\n--- the whole output:\n{text}")
        assert isinstance(value, dict), f"line {number} is not a JSON object: {line!r}"
        objects.append(value)
    return objects


def test_poll_under_json_logging_prints_only_json_lines_digests_included(tmp_path, http_server):
    path = write_config(tmp_path, http_server)
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "poll"],
                            capture_output=True, text=True, timeout=120, env=environment(MONITOR_LOG_FORMAT="json"))
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    json_lines(result.stderr)  # the log, if anything was logged, is JSON too

    reports = {line["source"]: line for line in lines if "source" in line and "event" not in line}
    assert reports["news"]["status"] == "new" and reports["broken"]["status"] == "failed"
    digests = [line for line in lines if line.get("event") == "digest"]
    assert digests, result.stdout
    titles = [d["title"] for d in digests]
    assert titles == ["Export controls: 2 incidents"] * 2, titles  # one digest per route
    for digest in digests:
        assert digest["level"] == "info" and digest["logger"] == "monitor.digest" and digest["time"]
        assert digest["tag"] in ("compliance", "companies")
        assert digest["message"] == f"digest: {digest['title']}"
        assert "\n" in digest["body"], "the digest's lines are kept, inside one JSON string"

    # The same poll in text mode prints the digests as text, as before.
    (tmp_path / "text").mkdir()
    again = write_config(tmp_path / "text", http_server)
    text = subprocess.run([sys.executable, "-m", "monitor", "--config", str(again), "poll"],
                          capture_output=True, text=True, timeout=120, env=environment())
    assert text.returncode == 0, text.stderr
    assert "=== Export controls: 2 incidents ===" in text.stdout
    assert not text.stdout.lstrip().startswith("{")


def test_run_under_json_logging_prints_only_json_lines_digests_included(tmp_path, http_server):
    path = write_config(tmp_path, http_server)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(path), "run", "--log-format", "json"],
                                cwd=tmp_path, stdout=stdout, stderr=stderr, env=environment())
        try:
            deadline = time.monotonic() + 90
            while '"event": "digest"' not in out.read_text(encoding="utf-8") and proc.poll() is None:
                assert time.monotonic() < deadline, f"no digest printed:\n{err.read_text()}"
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert code == 0, err.read_text()
    printed = out.read_text(encoding="utf-8")
    digests = [line for line in json_lines(printed) if line.get("event") == "digest"]
    assert digests and all("\n" in d["body"] for d in digests), printed
    log = json_lines(err.read_text(encoding="utf-8"))
    events = [line.get("event") for line in log]
    assert "started" in events and "stopped" in events, events


BAD = """
[monitor]
state_dir = "state"
every = "5x"
[[sources]]
id = "fr-bis"
kind = "feed"
url = "https://www.federalregister.gov/x"
every = "soon"
"""


def refuse(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    path = tmp_path / "sources.toml"
    path.write_text(BAD, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "run", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=environment(**env))


def test_a_configuration_error_is_one_json_line_with_the_hint(tmp_path):
    result = refuse(tmp_path, MONITOR_LOG_FORMAT="json")
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = json_lines(result.stderr)
    assert line["level"] == "error" and line["event"] == "refused" and line["exit_code"] == 2
    # Both problems, on the one line, naming the file, the entry and the key.
    assert "sources.toml" in line["message"] and "every" in line["message"] and "fr-bis" in line["message"]
    assert "5x" in line["message"] and "soon" in line["message"]
    assert "monitor check-config" in line["hint"]
    assert "Traceback" not in result.stderr


def test_a_configuration_error_is_one_text_line_with_the_hint(tmp_path):
    result = refuse(tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "5x" in line and "soon" in line
    assert "nothing was started" in line and "monitor check-config" in line


def test_a_refused_poll_under_json_logging_is_json_too(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(BAD, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), "poll", "--log-format", "json"],
                            capture_output=True, text=True, timeout=120, env=environment())
    assert result.returncode == 2
    [line] = json_lines(result.stderr)
    assert line["event"] == "refused"


def test_a_refusal_line_redacts_credentials():
    from monitor.service.logs import refusal_line

    line = json.loads(refusal_line("bad url https://user:hunter2pw@example.org/x?token=abcdef123", "json"))
    assert "hunter2pw" not in json.dumps(line) and "abcdef123" not in json.dumps(line)
    assert "hunter2pw" not in refusal_line("https://user:hunter2pw@example.org", "text")


# -- monitor --version ----------------------------------------------------------------------------


def version_output(**env: str) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "monitor", "--version"], capture_output=True, text=True,
                            timeout=60, env=environment(**env), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_version_names_the_version_the_lock_and_the_commit():
    from monitor import __version__

    name, lock, commit = version_output()
    assert name == f"monitor {__version__}"
    digest = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()
    assert lock == f"lock: sha256:{digest} (requirements.lock)"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
    if head.returncode != 0:
        assert commit == "commit: unknown"
    else:
        assert commit in (f"commit: {head.stdout.strip()}", f"commit: {head.stdout.strip()} (with uncommitted changes)")


def test_version_takes_the_commit_baked_into_the_image():
    assert version_output(MONITOR_GIT_COMMIT="0123abc")[2] == "commit: 0123abc"


def test_version_outside_a_checkout_says_unknown(tmp_path, monkeypatch):
    from monitor import version

    monkeypatch.setattr(version, "_checkout", lambda: None)
    monkeypatch.setattr(version.sys, "prefix", str(tmp_path))
    monkeypatch.delenv(version.COMMIT_ENV, raising=False)
    info = version.build_info()
    assert (info.lock_sha256, info.commit) == ("unknown", "unknown")
    assert "lock: unknown" in info.text()
    # The image's copy of the lock, in its virtualenv.
    (tmp_path / "requirements.lock").write_bytes(b"pinned\n")
    assert version.lock_sha256() == hashlib.sha256(b"pinned\n").hexdigest()
