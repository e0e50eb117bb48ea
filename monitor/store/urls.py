"""Database URLs: which backend a URL names, and how to show one without its password.

Kept apart from the PostgreSQL backend so the configuration can check a URL without importing
the driver.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

DATABASE_ENV = "MONITOR_DATABASE"


def is_postgres_url(value: str | None) -> bool:
    return bool(value) and value.split(":", 1)[0].lower() in ("postgresql", "postgres")


def shown_url(url: str) -> str:
    """The URL with its password (in the user part or a ``password=`` parameter) masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unreadable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_password(url: str) -> str | None:
    """The password a URL carries, if any (for the log's redaction list)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    found = [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    return parts.password or (found[0] if found else None)
