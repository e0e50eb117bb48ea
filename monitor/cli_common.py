"""What every command shares: the refusal (exit 2), the settings of the command line (which
configuration, which state directory, its event log) and the parser of ``--as-of``.

Apart from monitor.cli so that the command modules (monitor.cli, monitor.cli_screening) import it
and not each other; the event log is opened with the functions the command group is given (the
composition root's), not by knowing how a store is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Callable

import click

from monitor.clock import Clock, parse_iso, system_clock, to_iso
from monitor.config import Config, ConfigError, load_config
from monitor.store import EVENTS_DB, ChainBroken, EventStore, StoreNotBegun

class Refused(click.ClickException):
    """Bad usage or configuration: exit 2 with the reason."""

    exit_code = 2


DEFAULT_CONFIG = "sources.toml"


@dataclass
class Settings:
    config_path: str | None
    state_override: str | None
    _config: Config | None = None
    # (state_dir, database=): the log opened for appending, its projections live
    open_writer: Callable[..., EventStore] = field(kw_only=True, repr=False)
    # (state_dir, database): the log opened read-only, and the projections behind it
    open_reader: Callable[..., tuple[EventStore, list[str]]] = field(kw_only=True, repr=False)
    # What every command takes the time from (events appended, anchors, retries, today's deadlines).
    clock: Clock = field(default=system_clock, kw_only=True, repr=False)

    def config(self) -> Config:
        """The validated configuration; a missing or bad file exits 2 with the reason."""
        if self._config is None:
            try:
                self._config = load_config(self.config_path or DEFAULT_CONFIG)
            except ConfigError as exc:
                raise Refused(str(exc)) from None
        return self._config

    @property
    def state_dir(self) -> Path:
        """--state / MONITOR_STATE, else the config's state_dir, else ./state; refused (exit 2) when it
        names something that is not a directory."""
        if self.state_override:
            path = Path(self.state_override)
        elif self.config_path or Path(DEFAULT_CONFIG).exists():
            path = self.config().state_path
        else:
            path = Path("state")
        if path.exists() and not path.is_dir():
            raise Refused(f"the state directory {path} is not a directory (set by --state, MONITOR_STATE or "
                          "[monitor] state_dir): point it at the directory that holds events.db")
        return path

    @property
    def db_path(self) -> Path:
        return self.state_dir / EVENTS_DB

    @property
    def database(self) -> str | None:
        """The shared log's URL (MONITOR_DATABASE, else the config's [monitor] database), or None."""
        from monitor.store.urls import DATABASE_ENV

        if os.environ.get(DATABASE_ENV, "").strip():
            return os.environ[DATABASE_ENV].strip()
        if self.config_path or Path(DEFAULT_CONFIG).exists():
            return self.config().database_url
        return None

    def has_log(self) -> bool:
        """Is there a log to read? A shared one always is (opening it says if it cannot be used)."""
        return bool(self.database) or self.db_path.exists()

    def open_store(self, *, write: bool = False, check: bool = True, purpose: str = "write to it") -> EventStore:
        """The state's event log. Read commands open it read-only (so they work on a read-only copy)
        and warn on stderr when its chain is broken; ``write`` opens it for appending and refuses a
        broken chain (exit 1): nothing is added to, or vouched for on, a log that is not sound."""
        path, database = self.db_path, self.database
        if not database and not path.exists():
            raise Refused(f"no event log at {path} (run `monitor poll` first, or pass --state)")
        if write:
            store = self.open_writer(self.state_dir, clock=self.clock, database=database)
        else:
            store, behind = self.open_reader(self.state_dir, database)
            if behind:
                click.echo(f"warning: projections {', '.join(behind)} are behind the log and this state is "
                           "read-only, so what follows may be out of date (`monitor replay` rebuilds them from "
                           "the log)", err=True)
        if check:
            try:
                self.check_chain(store, refuse=write, purpose=purpose)
            except BaseException:
                store.close()
                raise
        return store

    @staticmethod
    def check_chain(store: EventStore, *, refuse: bool, purpose: str) -> None:
        report = store.verify()
        if report.ok:
            return
        problem = f"the event log fails verification at seq {report.bad_seq} ({report.problem})"
        if refuse:
            raise ChainBroken(f"{problem}: refusing to {purpose}; see `monitor verify`, and restore the last "
                              "good backup")
        click.echo(f"warning: {problem}; what follows comes from a log that is not sound (see `monitor verify`)",
                   err=True)

    def refuse_broken_chain(self, purpose: str) -> None:
        """Before a command that will append (run, poll): an existing log must verify."""
        if self.has_log():
            try:
                store, _ = self.open_reader(self.state_dir, self.database)
            except StoreNotBegun:
                return  # a first poll killed before it committed: nothing was written to vouch for
            with store:
                self.check_chain(store, refuse=True, purpose=purpose)

pass_settings = click.make_pass_decorator(Settings)


def as_of_time(text: str) -> str:
    """``--as-of``: an ISO datetime, or a date meaning the end of that day (UTC)."""
    try:
        if len(text.strip()) == 10:  # a bare date: everything recorded during that day (UTC)
            day = datetime.fromisoformat(text.strip()).date()
            return to_iso(datetime.combine(day, time.max, tzinfo=timezone.utc))
        return to_iso(parse_iso(text))
    except ValueError:
        raise Refused(f"--as-of: not an ISO date or datetime: {text!r}") from None
