"""One writer process per state directory: an advisory lock that the kernel releases when the
holder dies, even by SIGKILL, so a crashed daemon never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "monitor.lock"


class StateLocked(RuntimeError):
    """Another monitor process holds the state directory."""


class StateLock:
    def __init__(self, state_dir: str | Path, purpose: str):
        self.path = Path(state_dir) / LOCK_FILE
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> "StateLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise StateLocked(f"{self.path.parent} is in use by {holder}; one monitor process per state "
                              "directory (stop it first, or use another --state)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} (monitor {self.purpose})\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays (removing it would race)
            self._fd = None

    def __enter__(self) -> "StateLock":
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
