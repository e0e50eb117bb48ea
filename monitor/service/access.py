"""Who may read the console: open on a loopback address; on any other, only with the token
(``MONITOR_CONSOLE_TOKEN``), sent as ``Authorization: Bearer …`` or as the session cookie the login
form sets. Without a token configured, a console on a non-loopback address answers 403 to every
page but ``/healthz``. The one action, retrying a dead alert, always needs the token and a CSRF
value tied to it, on loopback too.

Pure: the decision is made from the bind address, the token and the request's headers.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

TOKEN_ENV = "MONITOR_CONSOLE_TOKEN"
COOKIE = "monitor_console"
OPEN_PATHS = frozenset({"/healthz", "/login"})
MIN_TOKEN = 16
HOW_TO = (f"set {TOKEN_ENV} (at least {MIN_TOKEN} characters, e.g. `python -c 'import secrets; "
          f"print(secrets.token_urlsafe(24))'`) in the daemon's environment and restart it, or listen on 127.0.0.1")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _mac(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Access:
    loopback: bool
    token: str | None

    @classmethod
    def of(cls, host: str, token: str | None) -> "Access":
        return cls(is_loopback(host), token or None)

    @property
    def session_value(self) -> str | None:
        """The cookie the login form sets: a MAC of the token, never the token itself."""
        return _mac(self.token, "console-session") if self.token else None

    @property
    def csrf(self) -> str:
        return _mac(self.token, "console-csrf")[:32] if self.token else ""

    def presented(self, headers) -> bool:
        """Does the request carry the token (bearer) or the session cookie?"""
        if not self.token:
            return False
        auth = headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode()):
            return True
        try:
            cookie = SimpleCookie(headers.get("Cookie") or "")
        except CookieError:
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self.session_value.encode())

    def check_token(self, text: str) -> bool:
        return bool(self.token) and hmac.compare_digest(text.encode(), self.token.encode())

    def decide(self, path: str, headers) -> str:
        """``open`` (serve), ``login`` (needs the token: 401), or ``forbidden`` (no token configured: 403)."""
        if path in OPEN_PATHS or self.loopback:
            return "open"
        if not self.token:
            return "forbidden"
        return "open" if self.presented(headers) else "login"

    def may_act(self, headers, csrf: str) -> str | None:
        """None when a POST may change state, else the reason it may not."""
        if not self.token:
            return f"retrying from the console needs a token: {HOW_TO.split(' or listen')[0]}"
        if not self.presented(headers):
            return "sign in with the console token first"
        if not hmac.compare_digest((csrf or "").encode(), self.csrf.encode()):
            return "the form is stale or did not come from this console (CSRF check failed): reload the page"
        return None
