"""Loading ``sources.toml``: read, decode, parse the TOML, validate, check across entries; a bad file
is refused as a whole, every problem named."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from monitor.config.checks import _SECRET_MESSAGE, _cross_check, _secret_locations
from monitor.config.explain import ConfigError, _describe_toml_error, _explain, _problem
from monitor.config.models import Config


def load_config(path: str | Path) -> Config:
    """Read and validate a configuration file; raise ``ConfigError`` naming every problem."""
    label = str(path)
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(label, [f"{label}: file not found"]) from None
    except OSError as error:
        raise ConfigError(label, [f"{label}: cannot read the file: {error.strerror or error}"]) from None
    try:
        text = data.decode("utf-8-sig")  # editors on Windows add a BOM; TOML itself is UTF-8
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(label, [f"{label}: line {line}: not valid UTF-8 (TOML files are UTF-8)"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(label, [f"{label}: {_describe_toml_error(error)}"]) from None
    return validate_config(raw, path, label=label)


def validate_config(raw: Mapping[str, Any], path: str | Path, *, label: str | None = None) -> Config:
    """Validate an already parsed TOML document as if it had been read from ``path``."""
    label = label or str(path)
    secrets = [_problem(label, loc, _SECRET_MESSAGE, raw) for loc in _secret_locations(raw)]
    if secrets:
        # Stop here: later messages may quote values, and these values must never be shown.
        raise ConfigError(label, secrets)
    problems: list[str] = []
    config = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        for detail in error.errors(include_url=False):
            loc, message = _explain(detail)
            problems.append(_problem(label, loc, message, raw))
    problems += [_problem(label, loc, message, raw) for loc, message in _cross_check(raw)]
    if problems or config is None:
        raise ConfigError(label, list(dict.fromkeys(problems)))
    config._path = Path(path).absolute()
    config._raw, config._label = raw, label
    return config
