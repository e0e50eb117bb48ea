"""The daemon's log lines: text for people or JSON lines for collectors, with secrets redacted.

Redaction happens on the finished line, so it covers the message, its fields and any traceback:
credentials in URLs, secret-looking query values, and the exact secrets the daemon knows of (the
apprise services' tokens and passwords, the anchor key) wherever they appear.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import threading
from datetime import datetime, timezone
from typing import Callable, Iterable

import click

from monitor.collectors.http import SECRET_PARAM

_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
# A query value is masked when its name looks secret, by the rule the HTTP client's messages use.
_SECRET_QUERY = re.compile(rf"([?&][^=&\s]*(?:{SECRET_PARAM.pattern})[^=&\s]*=)[^&\s\"']+", re.IGNORECASE)
# The daemon logs job errors and missed runs itself (one line each, counted): APScheduler's own
# lines for them would say it twice.
_QUIET = {"apscheduler": logging.ERROR, "apscheduler.executors": logging.CRITICAL, "apprise": logging.WARNING,
          "httpx": logging.WARNING, "httpcore": logging.WARNING}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    text = _USERINFO.sub(r"\1***@", text)
    return _SECRET_QUERY.sub(r"\1***", text)


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.render(record), self.secrets)

    @staticmethod
    def timestamp(record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def render(self, record: logging.LogRecord) -> str:
        raise NotImplementedError


class TextFormatter(_Redacting):
    def render(self, record: logging.LogRecord) -> str:
        line = f"{self.timestamp(record)} {record.levelname:<7} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(_Redacting):
    """One JSON object a line: time, level, logger, message, then the record's ``fields``."""

    def render(self, record: logging.LogRecord) -> str:
        line = {"time": self.timestamp(record), "level": record.levelname.lower(), "logger": record.name,
                "message": record.getMessage(), **getattr(record, "fields", {})}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(fmt: str = "text", *, level: int = logging.INFO, secrets: Iterable[str] = (),
                      stream=None) -> None:
    """Route every logger to one handler on stderr (the container's log) with the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(quiet)
    # Whatever else would write to stderr on its own (warnings, an exception escaping a thread) goes
    # through this handler too: one line, redacted, JSON under --log-format json.
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception


# Said with every refusal to start, so a crash loop in a container log says what to do.
REFUSAL_HINT = "nothing was started; `monitor check-config` checks the configuration without starting anything"


def refusal_line(message: str, fmt: str = "text", exit_code: int = 2) -> str:
    """A refusal to start as one line, every problem of the message on it, with the hint: JSON under
    JSON logging, so the container's log stays one object a line even when nothing starts. Written
    directly, not through logging: a refusal may come before logging is configured. Redacted like
    every log line (a refused URL may carry credentials)."""
    reason = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    if fmt == "json":
        moment = datetime.now(timezone.utc)
        line = json.dumps({"time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
                           "level": "error", "logger": "monitor", "message": reason, "event": "refused",
                           "exit_code": exit_code, "hint": REFUSAL_HINT}, ensure_ascii=False)
    else:
        line = f"Error: {reason} ({REFUSAL_HINT})"
    return redact(line)


def refusals_logged(command: Callable) -> Callable:
    """Decorate a click command that takes ``log_format``: a refusal it raises (a
    ``click.ClickException``: bad configuration, a taken address, a held state lock) is written
    once, as one line of that format, and the process exits with the refusal's code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except click.ClickException as exc:
            click.echo(refusal_line(exc.format_message(), kwargs.get("log_format", "text"), exc.exit_code), err=True)
            raise SystemExit(exc.exit_code) from None

    return wrapper


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    logging.getLogger("monitor").error(
        "thread %s failed: %s", getattr(args.thread, "name", "?"), args.exc_type.__name__,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        extra={"fields": {"event": "thread_error", "error": args.exc_type.__name__}})
