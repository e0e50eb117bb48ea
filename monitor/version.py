"""What this build of the monitor is: its version, the sha256 of the dependency lock it was
installed from, and the commit of its source. `monitor --version` prints them; the image carries
the same as labels, so an auditor can name exactly what a deployment ran.

- lock: ``requirements.lock`` of the checkout (an editable install), else the copy the image
  keeps in its virtualenv (``/opt/venv/requirements.lock``); "unknown" for any other install.
- commit: ``$MONITOR_GIT_COMMIT`` (the image bakes it in from its ``GIT_COMMIT`` build argument),
  else ``git rev-parse HEAD`` of the checkout, marked when tracked files differ from it;
  "unknown" otherwise.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from monitor import __version__

LOCK_FILE = "requirements.lock"
COMMIT_ENV = "MONITOR_GIT_COMMIT"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class BuildInfo:
    version: str
    lock_sha256: str
    commit: str

    def text(self) -> str:
        lock = f"sha256:{self.lock_sha256}" if self.lock_sha256 != UNKNOWN else UNKNOWN
        return f"monitor {self.version}\nlock: {lock} ({LOCK_FILE})\ncommit: {self.commit}"


def build_info() -> BuildInfo:
    return BuildInfo(__version__, lock_sha256(), commit())


def _checkout() -> Path | None:
    """The source tree this package is imported from, when it is one (an editable install)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def lock_sha256() -> str:
    root = _checkout()
    candidates = ([root / LOCK_FILE] if root else []) + [Path(sys.prefix) / LOCK_FILE]
    for path in candidates:
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
    return UNKNOWN


def commit() -> str:
    baked = os.environ.get(COMMIT_ENV, "").strip()
    if baked and baked != UNKNOWN:
        return baked
    root = _checkout()
    if root is None or not (root / ".git").exists():  # .git is a file in a worktree
        return UNKNOWN
    head = _git(root, "rev-parse", "--verify", "HEAD")
    if head is None:
        return UNKNOWN
    # Tracked files that differ from HEAD: the commit alone does not describe what runs.
    changed = _git(root, "status", "--porcelain", "--untracked-files=no")
    return f"{head} (with uncommitted changes)" if changed else head


def _git(root: Path, *args: str) -> str | None:
    """git's output, or None when git is missing, fails (not a repository, an unsafe owner) or hangs."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def show(ctx, _param, value: bool) -> None:
    """The callback of `monitor --version` (an eager click option: it prints and exits before any
    command runs, so no configuration is needed)."""
    if value and not ctx.resilient_parsing:
        print(build_info().text())
        ctx.exit()
