"""Where digests go: the services of an apprise configuration, one target per service, or standard
output when no apprise configuration is given. This is the only module that calls apprise.

Each service is sent to on its own, so its outcome is its own; a target's id derives from its
position and its privacy-masked URL, so neither ids nor failure reasons ever carry a secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import unquote

from monitor.alerts.relay import Target
from monitor.alerts.render import Message

# apprise (and yaml, its dependency, for its YAML format) is imported by the functions that need
# it, not here: importing apprise loads every one of its plugins (~5 MB in the daemon, ~60 ms),
# and a daemon without an apprise configuration, or a command that sends nothing, never needs it.

# Every socket operation of a send (connect, the SMTP greeting, each command, each HTTP read) gives
# up after this long, whatever apprise's own default (15 s for e-mail): a stop must wait at most
# one such timeout for a digest in flight, inside the daemon's stop budget (runner.STOP_BUDGET).
SEND_TIMEOUT = 4.0

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STATUS = re.compile(r"error=(\d{3})|\b(?:HTTP|status)[ :=]+(\d{3})\b", re.IGNORECASE)


class AppriseConfigError(ValueError):
    """The apprise configuration file is missing, unreadable, not apprise's format, or names a
    service apprise cannot load. ``problems`` holds one line per problem; none shows a URL."""

    def __init__(self, problems: str | Sequence[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def apprise_targets(path: str | Path) -> Callable[[str], Sequence[Target]]:
    """Targets by tag, from an apprise configuration file (its YAML or TEXT format)."""
    notifier = load_services(path)
    cache: dict[str, list[Target]] = {}

    def for_tag(tag: str) -> Sequence[Target]:
        if tag not in cache:
            cache[tag] = [_target(plugin, index) for index, plugin in enumerate(notifier.find(tag, match_always=False))]
        return cache[tag]

    return for_tag


def load_services(path: str | Path) -> "apprise.Apprise":
    """The services of an apprise configuration file, its ``${NAME}`` placeholders filled from the
    environment: the file can then be kept in version control, and the passwords and tokens live
    in the environment (or the secret store that fills it). A placeholder without a value is an
    error that names the variable and never shows a value."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AppriseConfigError(f"{path}: no such apprise configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AppriseConfigError(f"{path}: cannot read the apprise configuration ({exc.__class__.__name__})") from None
    lines = text.splitlines(keepends=True)
    # Comments may mention ${NAME}: blanked (not dropped, so that line numbers stay true).
    used = ["\n" if line.lstrip().startswith("#") else line for line in lines]
    missing = sorted({name for line in used for name in _PLACEHOLDER.findall(line) if not os.environ.get(name)})
    if missing:
        raise AppriseConfigError(f"{path}: the environment variable {missing[0]} is not set "
                                 f"(the configuration uses ${{{missing[0]}}})")
    import apprise

    config = apprise.AppriseConfig()
    filled = "".join(_PLACEHOLDER.sub(lambda m: os.environ[m.group(1)], line) for line in used)
    problems = config_problems(filled)
    if problems:
        raise AppriseConfigError([f"{path}: {problem}" for problem in problems])
    if not config.add_config(filled):
        raise AppriseConfigError(f"{path}: apprise could not read this configuration")
    notifier = apprise.Apprise()
    notifier.add(config)
    return notifier


def config_problems(text: str) -> list[str]:
    """What apprise would silently skip in a configuration: a YAML file that does not parse or has
    no list of ``urls``, a line that is no entry, and each URL apprise cannot load (an unknown
    scheme, or parameters its service refuses). Each entry is tried with apprise's own parser,
    so this check and the relay cannot disagree. No URL is quoted: they hold the secrets."""
    import apprise
    from apprise.config.base import ConfigBase

    if not any(line.strip() and line.strip()[0] not in "#;" for line in text.splitlines()):
        return ["the file names no notification service"]
    config_format = ConfigBase.detect_config_format(text)
    if config_format is None:
        return ["neither apprise's YAML nor its TEXT format (each line a URL or TAGS=URL)"]
    if config_format is apprise.ConfigFormat.YAML:
        return _yaml_problems(text)
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry or entry[0] in "#;" or entry.startswith("include "):
            continue
        if "://" not in entry:
            if not _GROUP_LINE.fullmatch(entry):
                problems.append(f"line {number}: not a URL, a TAGS=URL line or a group assignment")
            continue
        if not ConfigBase.config_parse_text(line)[0]:
            tags, equals, rest = entry.partition("=")
            url = rest if equals and "://" not in tags else entry
            problems.append(f"line {number}: {_unloadable(url)}")
    return problems


_GROUP_LINE = re.compile(r"[\w, \t:-]*=[\w, \t-]+")
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]{0,31})://")


def _yaml_problems(text: str) -> list[str]:
    import yaml
    from apprise.config.base import ConfigBase

    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:  # the position only: yaml's words may quote a secret
        mark = exc.problem_mark or exc.context_mark
        return [f"not valid YAML (line {mark.line + 1}, column {mark.column + 1})" if mark else "not valid YAML"]
    except (yaml.YAMLError, RecursionError):
        return ["not valid YAML"]
    if not isinstance(data, dict):
        return ["not apprise's YAML format: expected a mapping with version: 1 and urls:"]
    urls = data.get("urls")
    if not isinstance(urls, list) or not urls:
        found = "missing" if urls is None else "empty" if isinstance(urls, list) else \
            {int: "a number", float: "a number", str: "a string", dict: "a mapping"}.get(type(urls), "not a list")
        return [f"urls: expected a list of notification URLs (it is {found})"]
    problems = []
    for number, entry in enumerate(urls, 1):
        # The entry alone, with the file's other keys (version, groups, asset), through apprise.
        alone = yaml.safe_dump({**data, "urls": [entry]}, allow_unicode=True)
        if not ConfigBase.config_parse_yaml(alone)[0]:
            url = entry if isinstance(entry, str) else next(iter(entry), "") if isinstance(entry, dict) else ""
            problems.append(f"urls #{number}: {_unloadable(url if isinstance(url, str) else '')}")
    return problems


def _unloadable(url: str) -> str:
    from apprise.manager_plugins import NotificationManager  # apprise's registry of service schemes

    scheme = _SCHEME.match(url)
    if scheme is None:
        why = "not a URL (SCHEME://...)"
    elif scheme.group(1).lower() not in NotificationManager():
        why = f'unknown scheme "{scheme.group(1).lower()}://"'
    else:
        why = f"the {scheme.group(1).lower()}:// service refuses the URL as written"
    return f"apprise cannot load this URL: {why} (the URL is not shown: it may hold a secret)"


def service_secrets(path: str | Path) -> set[str]:
    """The secret parts of every service URL in an apprise configuration (what its privacy URL
    masks: passwords, tokens, keys), for redacting them from anything the daemon writes."""
    try:
        notifier = load_services(path)
    except AppriseConfigError:
        return set()
    secrets: set[str] = set()
    for plugin in notifier:
        shown = set(_url_parts(plugin.url(privacy=True)))
        secrets.update(part for part in _url_parts(plugin.url()) if part not in shown and len(part) >= 4)
    return secrets


def _url_parts(url: str) -> list[str]:
    parts = re.split(r"[/:@?&=#]+", url)
    return parts + [unquote(p) for p in parts if "%" in p] + [q for p in parts for q in re.split(r"[/:@?&=#]+", unquote(p))]


def _target(plugin, index: int) -> Target:
    import apprise

    # The privacy URL masks passwords and tokens, and still differs per recipient (url_id() does not).
    masked = plugin.url(privacy=True)
    identifier = f"{plugin.protocol}-{hashlib.sha256(masked.encode()).hexdigest()[:16]}"
    plugin.retry = 0  # retries live in the relay only
    plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout or SEND_TIMEOUT), SEND_TIMEOUT)
    plugin.socket_read_timeout = min(float(plugin.socket_read_timeout or SEND_TIMEOUT), SEND_TIMEOUT)
    # apprise spaces two sends to one service (5.5 s for e-mail) with an uninterruptible sleep; the
    # relay keeps that spacing itself, in a wait that a stop interrupts.
    spacing, plugin.request_rate_per_sec = float(plugin.request_rate_per_sec or 0), 0
    last_sent = [float("-inf")]
    notify_format = getattr(plugin, "notify_format", apprise.NotifyFormat.TEXT)
    if isinstance(notify_format, (tuple, list)):  # e-mail declares (HTML, TEXT): its first is its own
        notify_format = notify_format[0]
    fmt = {apprise.NotifyFormat.HTML: "html", apprise.NotifyFormat.MARKDOWN: "markdown"}.get(notify_format, "text")
    formats = {"markdown": apprise.NotifyFormat.MARKDOWN, "html": apprise.NotifyFormat.HTML,
               "text": apprise.NotifyFormat.TEXT}

    def send(message: Message) -> str | None:
        single = apprise.Apprise()
        single.add(plugin)
        try:
            result = single.notify(title=message.title, body=message.body, body_format=formats[message.format])
        finally:
            last_sent[0] = time.monotonic()
        if result:
            return None
        return f"{plugin.service_name} delivery failed{_reason(' '.join(e.message for e in result.logs()))}"

    def ready_in() -> float:
        return max(0.0, last_sent[0] + spacing - time.monotonic())

    return Target(identifier, plugin.service_name, fmt, send, ready_in)


def _reason(log: str) -> str:
    """A failure's class from apprise's words, which are not repeated: they may name a host or path."""
    status = _STATUS.search(log)
    if status:
        return f" (HTTP {status.group(1) or status.group(2)})"
    lowered = log.lower()
    for word in ("timeout", "timed out", "connection", "authentication", "refused"):
        if word in lowered:
            return f" ({'timeout' if 'time' in word else word + ' error'})"
    return ""


STDOUT_MAX_CHARS = 20000  # a terminal or a log is not a chat message: room for a whole digest


def stdout_targets(tag: str) -> Sequence[Target]:
    """Without an apprise configuration, every route's digests are printed, so a first run shows them."""
    return [Target("stdout", "standard output", "text", _print, max_chars=STDOUT_MAX_CHARS)]


def json_stdout_targets(tag: str) -> Sequence[Target]:
    """The same under JSON logging: each digest is one JSON object on one line, shaped like the log's
    lines, so a log shipper reading the container's output never sees a digest's lines apart."""
    return [Target("stdout", "standard output", "text", lambda message: _print_json(tag, message),
                   max_chars=STDOUT_MAX_CHARS)]


def printed_targets(log_format: str = "text") -> Callable[[str], Sequence[Target]]:
    return json_stdout_targets if log_format == "json" else stdout_targets


def _print(message: Message) -> None:
    sys.stdout.write(f"\n=== {message.title} ===\n{message.body}\n")
    sys.stdout.flush()
    return None


def _print_json(tag: str, message: Message) -> None:
    now = datetime.now(timezone.utc)
    line = {"time": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z", "level": "info",
            "logger": "monitor.digest", "message": f"digest: {message.title}", "event": "digest", "tag": tag,
            "title": message.title, "format": message.format, "body": message.body}
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return None
