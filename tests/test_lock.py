"""The dependency locks agree with pyproject.toml, pin everything with hashes, and are what CI and
the image install.

requirements.lock (runtime: the image), requirements-test.lock (runtime and the test extra:
`make install`, so CI) and requirements-build.lock (the build backend) are made by `make lock`
(pip-compile --generate-hashes). Each pyproject requirement must be pinned at a version its
specifier admits, evaluated with packaging's own rules; a requirement added to or removed from
pyproject.toml without `make lock` fails here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
RUNTIME, TEST, BUILD = (ROOT / name for name in ("requirements.lock", "requirements-test.lock",
                                                 "requirements-build.lock"))
PROJECT = "export-control-monitor"


@dataclass
class Pin:
    version: Version
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)  # pip-compile's "# via" lines: who requires it


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;[^\\]*)?\\?$")
_HASH = re.compile(r"^--hash=sha256:([0-9a-f]{64})\s*\\?$")


def parse_lock(text: str) -> dict[str, Pin]:
    """name -> Pin, from pip-compile's output. Any requirement line that is not `name==version`
    (a range, a URL, an option) is an error: a lock pins."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            in_via = False
            continue
        if line.startswith("#"):
            comment = line[1:].strip()
            if current is not None and comment.startswith("via"):
                in_via = True
                rest = comment[3:].strip()
                if rest:
                    current.via.append(rest)
            elif current is not None and in_via and comment:
                current.via.append(comment)
            else:
                in_via = False
            continue
        in_via = False
        if raw[0].isspace():
            match = _HASH.match(line)
            assert match and current is not None, f"not a hash of a pinned requirement: {raw!r}"
            current.hashes.append(match.group(1))
            continue
        match = _PIN.match(line)
        assert match, f"not pinned as name==version: {raw!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{name} pinned twice"
        current = pins[name] = Pin(Version(match.group(2)))
    return pins


def disagreements(requirements: list[str], pins: dict[str, Pin], lock_name: str) -> list[str]:
    """What is wrong between pyproject requirements and a lock: a requirement missing from the
    lock, pinned at a version its specifier does not admit, or pinned without a hash."""
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": "test"}):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement.name}: in pyproject.toml, not in {lock_name} (run `make lock`)")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement.name}: {lock_name} pins {pin.version}, pyproject.toml asks for "
                            f"{requirement.specifier} (run `make lock`)")
    for name, pin in pins.items():
        if not pin.hashes:
            problems.append(f"{name}: pinned without a hash in {lock_name}")
    return problems


def direct(pins: dict[str, Pin], source: str) -> set[str]:
    """The packages pip-compile says it pinned for pyproject.toml itself (not for a dependency)."""
    return {name for name, pin in pins.items() if any(via.startswith(f"{PROJECT} ({source})") for via in pin.via)}


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def locks() -> dict[str, dict[str, Pin]]:
    return {path.name: parse_lock(path.read_text(encoding="utf-8")) for path in (RUNTIME, TEST, BUILD)}


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_the_runtime_lock_pins_every_dependency_of_pyproject(pyproject, locks):
    runtime = pyproject["project"]["dependencies"]
    assert disagreements(runtime, locks[RUNTIME.name], RUNTIME.name) == []
    # And nothing pyproject no longer asks for is still pinned as its own requirement.
    assert direct(locks[RUNTIME.name], "pyproject.toml") == _names(runtime)


def test_the_test_lock_pins_the_dependencies_and_the_test_extra(pyproject, locks):
    wanted = pyproject["project"]["dependencies"] + pyproject["project"]["optional-dependencies"]["test"]
    assert disagreements(wanted, locks[TEST.name], TEST.name) == []
    assert direct(locks[TEST.name], "pyproject.toml") == _names(wanted)


def test_the_build_lock_pins_the_build_backend(pyproject, locks):
    requires = pyproject["build-system"]["requires"]
    assert disagreements(requires, locks[BUILD.name], BUILD.name) == []
    assert direct(locks[BUILD.name], "pyproject.toml::build-system.requires") == _names(requires)


def test_the_tests_run_the_versions_the_image_runs(locks):
    runtime, test = locks[RUNTIME.name], locks[TEST.name]
    differ = {name: (str(pin.version), str(test[name].version) if name in test else None)
              for name, pin in runtime.items() if name not in test or test[name].version != pin.version}
    assert differ == {}, f"requirements.lock vs requirements-test.lock: {differ}"


def test_a_disagreement_is_found():
    """The check itself: a range the pin falls outside of, a requirement the lock lacks, a pin
    without a hash, and a requirement that is not pinned at all are each reported."""
    pins = parse_lock("httpx==0.28.1 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via export-control-monitor "
                      "(pyproject.toml)\nsniffio==1.3.1\n")
    problems = disagreements(["httpx>=0.29,<1", "click>=8.1", "sniffio>=1.3"], pins, "x.lock")
    assert any(p.startswith("httpx: x.lock pins 0.28.1") for p in problems), problems
    assert any(p.startswith("click: in pyproject.toml, not in x.lock") for p in problems), problems
    assert "sniffio: pinned without a hash in x.lock" in problems
    assert disagreements(["httpx>=0.27,<1"], {"httpx": pins["httpx"]}, "x.lock") == []
    assert direct(pins, "pyproject.toml") == {"httpx"}
    with pytest.raises(AssertionError, match="not pinned"):
        parse_lock("httpx>=0.27\n")


def test_this_environment_was_installed_from_the_test_lock(locks):
    """`make install` (so CI) installs exactly the test lock's versions."""
    wrong = {}
    for name, pin in locks[TEST.name].items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            installed = None
        if installed != pin.version:
            wrong[name] = (str(pin.version), str(installed))
    assert wrong == {}, f"locked vs installed: {wrong} (run `make install` after changing a lock)"


def test_install_and_image_use_the_locks_with_hashes():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    install = re.search(r"^\$\(STAMP\):(.*?)^\ttouch", makefile, re.MULTILINE | re.DOTALL).group(0)
    assert "--require-hashes -r requirements-test.lock -r requirements-build.lock" in install, install
    assert "--no-deps --no-build-isolation -e ." in install, "the project itself adds no unlocked dependency"
    assert re.search(r"^\$\(STAMP\):.*requirements-test\.lock", makefile, re.MULTILINE), "a new lock reinstalls"
    assert re.search(r"^lock:", makefile, re.MULTILINE), "the documented refresh: make lock"

    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--require-hashes -r requirements-build.lock" in dockerfile
    assert re.search(r"install .*--no-deps /wheels/export_control_monitor-\*\.whl", dockerfile)
