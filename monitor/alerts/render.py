"""Digests: a group's alerts as one message, in Markdown (chat), HTML (email) or plain text.

Pure: alerts (changes plus routing, or deadline reminders) go in, a ``Message`` comes out; no I/O,
no clock, and the same alerts give the same bytes. Titles, evidence and every other field of an
alert are untrusted text: HTML is escaped, Markdown escapes what would break its syntax, links are
made only for http(s) URLs, and line breaks or control characters never reach the output.

A body stays within ``max_chars`` (default ``LIMITS[fmt]``): as many whole entries as fit, in
order (high first), then one line counting the rest and naming the command that lists them. An
entry is never cut in half; only a first entry that alone exceeds the limit is shortened (its
evidence dropped, then its title truncated, then its details), so a digest always says something.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from collections.abc import Mapping
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from monitor.alerts.alert import Alert, Evidence, Match, as_alert
from monitor.vocabulary import INCIDENT_STATUSES, KINDS, SEVERITY_RANK

LIMITS = {"markdown": 3800, "html": 20000, "text": 3800}
MIN_CHARS = 300  # the smallest max_chars accepted: always room for the tail line

KIND_WORDS = {
    "license_slowdown": "licence slowdown", "new_rule": "new rule", "proposed_rule": "proposed rule",
    "rule_amended": "rule amended", "correction": "correction", "comment_period": "comment period",
    "effective_date": "effective date", "rescission": "rescission", "entity_list": "Entity List",
    "license_policy": "licence policy", "countermeasure": "countermeasure", "legislation": "legislation",
    "item_revised": "item revised", "mention": "mention",
}
DEADLINE_WORDS = {"comments_close": "comments close", "effective": "effective", "compliance": "compliance"}
IDENTIFIER_LABELS = {"rin": "RIN", "fr_document": "FR Doc.", "docket": "Docket", "correction_of": "correction of"}
GROUP_OPTIONS = {"region": "--region", "company": "--company", "country": "--country", "rule": "--rule"}

MAX_WHY = 4  # evidence pieces on the "why:" line
MAX_PIECE = 48  # characters of one evidence piece
MAX_LABEL = 60  # characters of the group label in the title
MAX_FIELD = 160  # characters of a rule title, source, or other secondary field
MAX_ID = 80
MAX_DEADLINES = 4
MAX_REPORTS = 6
MAX_ALSO = 6
STATUS_WORDS = {status: status.replace("_", " ") for status in INCIDENT_STATUSES}
ATTACHED_WORDS = {"opened": "first report", "item": "same item", "subject": "same subject and fortnight"}

_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\u061c\ufeff]+")
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]()<>~|"})
_URL_ESCAPES = str.maketrans({" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", '"': "%22",
                              "'": "%27", "`": "%60", "\\": "%5C", "[": "%5B", "]": "%5D", "|": "%7C"})


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    format: str  # "markdown" | "html" | "text"


# --- plain values ---------------------------------------------------------------------------------

def clean(value: Any, limit: int | None = None) -> str:
    """One line of text: whitespace and control characters collapsed, at most ``limit`` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    # isprintable() is False for every character _SPACE matches except the ASCII space: a fast path
    text = text.strip() if text.isprintable() else _SPACE.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return text


def safe_url(value: Any) -> str | None:
    """The URL to link to, when it is http(s) with a host; characters that would end a link encoded."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if _SPACE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url.translate(_URL_ESCAPES)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _days(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> str:
    text = clean(value, 32)
    return text[:10] if re.match(r"\d{4}-\d{2}-\d{2}", text) else text


def kind_words(kind: Any) -> str:
    return KIND_WORDS.get(kind) or clean(kind, 40).replace("_", " ") or "change"


def status_words(status: Any) -> str:
    return STATUS_WORDS.get(status) or clean(status, 40).replace("_", " ")


def attached_words(by: Any) -> str:
    """Why an item was attached, for people: "FR Doc. 2025-00636", "rule us-ai-diffusion"."""
    text = clean(by, MAX_PIECE)
    if text in ATTACHED_WORDS:
        return ATTACHED_WORDS[text]
    name, _, value = text.partition(":")
    if not value:
        return text
    return f"{IDENTIFIER_LABELS.get(name, name.replace('_', ' '))} {value}"


def deadline_words(kind: Any, on: Any) -> str:
    words = DEADLINE_WORDS.get(kind) or clean(kind, 40).replace("_", " ") or "deadline"
    day = _date(on)
    return f"{words} {day}" if day else words


def is_reminder(alert: Alert) -> bool:
    return alert.cause == "deadline"


def order(alerts: Sequence[Alert]) -> list[Alert]:
    """High first, then medium, low (anything else last); newest published first; then by id."""
    def ident(a: Alert) -> tuple[str, str, str, str]:
        return (str(a.change_id or ""), str(a.alert_id or ""), str(a.deadline or ""), str(a.date or ""))

    def newest(a: Alert) -> tuple[bool, str]:
        published = a.published
        return published is not None, str(published or "")

    ordered = sorted(alerts, key=ident)  # stable sorts, least significant key first
    ordered.sort(key=newest, reverse=True)
    ordered.sort(key=lambda a: -SEVERITY_RANK.get(a.severity, -1))
    return ordered


def why_pieces(evidence: Sequence[Evidence]) -> list[str]:
    """At most MAX_WHY pieces of evidence: identifiers, then kind phrases, then the rest (tags)."""
    ranked: list[tuple[int, int, str]] = []
    for position, item in enumerate(evidence):
        kind, name, value = item.kind, item.name, clean(item.value, MAX_PIECE)
        if not value:
            continue
        if kind == "identifier":
            label = IDENTIFIER_LABELS.get(name)
            ranked.append((0, position, f"{label} {value}" if label else value))
        elif kind == "phrase":
            ranked.append((1, position, f'"{value}"'))
        elif kind == "context" and name == "date":
            continue  # the published date, shown anyway
        else:
            ranked.append((2, position, value))
    ranked.sort()
    pieces, seen = [], set()
    for _rank, _position, piece in ranked:
        folded = piece.casefold()
        if folded not in seen:
            seen.add(folded)
            pieces.append(piece)
            if len(pieces) == MAX_WHY:
                break
    return pieces


# --- one entry, format-independent ----------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    severity: str  # as given, cleaned
    kind: str  # human words
    title: str
    url: str | None
    source: str
    published: str
    rule: str
    rule_title: str
    deadlines: tuple[str, ...]
    why: tuple[str, ...]
    ids: tuple[str, ...]
    reminder: str | None  # "Deadline in 3 days: comments close 2025-05-15"
    status: str | None = None  # the incident's status, in words
    moved: str | None = None  # "on public inspection → published", "new"
    reports: tuple[str, ...] = ()  # "fr-bis (en, by FR Doc. 2025-00636)"
    also: tuple[str, ...] = ()  # the other groups of the route it belongs to
    parties: tuple[str, ...] = ()  # screening-list changes: "CN (3): A; B; C", one line per country
    match: str | None = None  # a watchlist match: both names, the score and what matched

    @classmethod
    def of(cls, alert: Alert | Mapping[str, Any]) -> "Entry":
        """The entry of an alert (or of its JSON, or of a change's: the Atom feed shows changes)."""
        alert = as_alert(alert)
        reminder = None
        deadlines_seen = set()
        if is_reminder(alert):
            reminded = deadline_words(alert.deadline, alert.date)
            deadlines_seen.add(reminded)
            days = _days(alert.days_left)
            if days is None:
                when = "Deadline"
            elif days == 0:
                when = "Deadline today"
            elif days > 0:
                when = f"Deadline in {_plural(days, 'day')}"
            else:
                when = f"Deadline passed {_plural(-days, 'day')} ago"
            reminder = f"{when}: {reminded}"
        deadlines = []
        for item in alert.deadlines:
            words = deadline_words(item.kind, item.date)
            if words not in deadlines_seen:
                deadlines_seen.add(words)
                deadlines.append(words)
        alert_ids = alert.alert_ids or (alert.alert_id,)  # every alert an entry stands for
        ids = tuple(dict.fromkeys(i for i in (clean(alert.incident, MAX_ID), clean(alert.change_id, MAX_ID),
                                              *(clean(a, MAX_ID) for a in alert_ids)) if i))
        status = alert.incident_status
        moved = alert.moved
        if status and not moved:
            before = alert.status_from
            moved = f"{status_words(before)} → {status_words(status)}" if before else f"new: {status_words(status)}"
        reports = []
        for report in alert.reports:
            language = clean(report.language, 8)
            by = attached_words(report.attached_by)
            detail = ", ".join(p for p in (language, by) if p)
            reports.append(f"{clean(report.source, 40)} ({detail})" if detail else clean(report.source, 40))
        also = alert.also
        return cls(
            parties=_party_lines(alert.parties_by_country, alert.party_count),
            match=_match_line(alert.match),
            severity=clean(alert.severity, 20) or "unknown",
            kind=kind_words(alert.kind),
            title=clean(alert.title) or "untitled",
            url=safe_url(alert.url),
            source=clean(alert.source, MAX_FIELD),
            published=_date(alert.published),
            rule=clean(alert.rule, MAX_ID),
            rule_title=clean(alert.rule_title, MAX_FIELD),
            deadlines=tuple(deadlines[:MAX_DEADLINES]),
            why=tuple(why_pieces(alert.evidence)),
            ids=ids,
            reminder=reminder,
            status=status_words(status) if status else None,
            moved=clean(moved, MAX_FIELD) if moved else None,
            reports=tuple(dict.fromkeys(reports))[:MAX_REPORTS],
            also=tuple(clean(a, MAX_LABEL) for a in also if isinstance(a, str))[:MAX_ALSO] if isinstance(also, (list, tuple)) else (),
        )


MAX_PARTY_LINES = 12
MAX_PARTY_NAMES = 8


def _party_lines(groups: Any, count: Any) -> tuple[str, ...]:
    """Parties by country: "CN (22): Chongqing Optel Telecom; GRG Metrology & Test …; … 14 more"."""
    if not isinstance(groups, Mapping):
        return ()
    lines = []
    ordered = sorted(((str(c), n) for c, n in groups.items() if isinstance(n, (list, tuple))),
                     key=lambda kv: (-len(kv[1]), kv[0]))  # the log stores keys sorted: most parties first here
    for country, names in ordered[:MAX_PARTY_LINES]:
        shown = "; ".join(clean(n, MAX_PIECE) for n in names[:MAX_PARTY_NAMES])
        more = f"; … {len(names) - MAX_PARTY_NAMES} more" if len(names) > MAX_PARTY_NAMES else ""
        lines.append(f"{clean(country, 8)} ({len(names)}): {shown}{more}")
    listed = sum(len(v) for v in groups.values() if isinstance(v, (list, tuple)))
    if isinstance(count, int) and count > listed:
        lines.append(f"… and {count - listed} more parties (`monitor changes --kind entity_list --json`)")
    return tuple(lines)


def _match_line(match: Match | None) -> str | None:
    if match is None:
        return None
    entry = clean(match.entry_name, MAX_FIELD)
    country = f", {clean(match.entry_country, 4)}" if match.entry_country else ""
    listed = clean(match.matched_name, MAX_FIELD)
    where = ", ".join(clean(c, 4) for c in match.countries or () if isinstance(c, str))
    return (f"watchlist: {entry} ({clean(match.ref, MAX_ID)}{country}) matches {listed}"
            f"{f' ({where})' if where else ''} — {clean(match.matched_on, 20)} on the "
            f"{clean(match.list, 12)} list, score {clean(match.score, 6)}, entity "
            f"{clean(match.entity, MAX_FIELD)}")


# --- formats --------------------------------------------------------------------------------------

class Format:
    """How a format writes an entry; subclasses set the markup."""

    name = ""
    open = close = ""
    sep = "\n\n"
    tail_sep = "\n\n"

    def esc(self, text: str) -> str:
        return text

    def code(self, text: str) -> str:
        return text

    def link(self, title: str, url: str | None) -> str:
        raise NotImplementedError

    def badge(self, severity: str) -> str:
        raise NotImplementedError

    def lines(self, head: str, rest: list[str]) -> str:
        raise NotImplementedError

    def tail(self, count: int, command: str | None) -> str:
        raise NotImplementedError

    def section(self, label: str) -> str:
        return f"== {self.esc(label)} ==\n"

    def entry(self, e: Entry, *, title: str | None = None, why: bool = True, details: bool = True,
              link: bool = True) -> str:
        text = e.title if title is None else title
        linked = self.link(text, e.url if link else None)
        if e.reminder is not None:
            head = f"{self.badge(e.severity)} {self.esc(e.reminder)} — {linked}"
        elif e.status is not None:
            head = f"{self.badge(e.severity)} · {self.esc(e.status)} · {linked}"
        else:
            head = f"{self.badge(e.severity)} · {self.esc(e.kind)} · {linked}"
        rest = []
        if details:
            if link and e.url and self.name == "text":
                rest.append(e.url)  # plain text has no links: the URL on its own line
            facts = [self.esc(e.kind)] if e.reminder is not None or e.status is not None else []
            if e.moved:
                facts.append(f"moved: {self.esc(e.moved)}")
            if e.source:
                facts.append(f"source: {self.esc(e.source)}")
            if e.published:
                facts.append(f"published {self.esc(e.published)}")
            if e.rule or e.rule_title:
                # the rule's title only when the entry's own title does not already say it
                rule = self.esc(e.rule_title) if e.rule_title and e.rule_title != e.title else ""
                if e.rule:
                    rule = f"{rule} ({self.code(e.rule)})" if rule else self.code(e.rule)
                facts.append(f"rule: {rule}")
            if facts:
                rest.append(" · ".join(facts))
            if e.deadlines:
                rest.append("deadlines: " + "; ".join(self.esc(d) for d in e.deadlines))
            if e.reports:
                rest.append("reported by: " + "; ".join(self.esc(r) for r in e.reports))
            if e.also:
                rest.append("also under: " + ", ".join(self.esc(a) for a in e.also))
            rest.extend(self.esc(line) for line in e.parties)
        if e.match:  # the point of the alert: kept however short the entry must be
            rest.append(self.esc(e.match))
        if why and e.why:
            rest.append("why: " + "; ".join(self.esc(p) for p in e.why))
        if e.ids:
            rest.append(" · ".join(self.code(i) for i in e.ids))
        return self.lines(head, rest)


class Markdown(Format):
    name = "markdown"
    BADGES = {"high": "🔴 **HIGH**", "medium": "🟠 **MEDIUM**", "low": "⚪ **LOW**"}

    def esc(self, text: str) -> str:
        return text.translate(_MD_SPECIAL)

    def code(self, text: str) -> str:
        return "`" + text.replace("`", "'") + "`"

    def link(self, title: str, url: str | None) -> str:
        return f"[{self.esc(title)}]({url})" if url else self.esc(title)

    def badge(self, severity: str) -> str:
        return self.BADGES.get(severity) or f"**{self.esc(severity.upper())}**"

    def lines(self, head: str, rest: list[str]) -> str:
        return "\n".join([head, *rest])

    def tail(self, count: int, command: str | None) -> str:
        return f"…and {count} more: {self.code(command)}" if command else f"…and {count} more"

    def section(self, label: str) -> str:
        return f"**{self.esc(label)}**\n"


class Html(Format):
    name = "html"
    open, close = "<ul>\n", "\n</ul>"
    sep = tail_sep = "\n"
    COLORS = {"high": "#c00000", "medium": "#b35900", "low": "#555555"}

    def esc(self, text: str) -> str:
        return html.escape(text, quote=True)

    def code(self, text: str) -> str:
        return f"<code>{self.esc(text)}</code>"

    def link(self, title: str, url: str | None) -> str:
        return f'<a href="{self.esc(url)}">{self.esc(title)}</a>' if url else self.esc(title)

    def badge(self, severity: str) -> str:
        color = self.COLORS.get(severity)
        label = self.esc(severity.upper())
        return f'<b style="color:{color}">{label}</b>' if color else f"<b>{label}</b>"

    def lines(self, head: str, rest: list[str]) -> str:
        return "<li>" + "<br>\n".join([head, *rest]) + "</li>"

    def tail(self, count: int, command: str | None) -> str:
        return f"<p>…and {count} more: {self.code(command)}</p>" if command else f"<p>…and {count} more</p>"

    def section(self, label: str) -> str:
        return f"<li><b>{self.esc(label)}</b></li>\n"


class Text(Format):
    name = "text"
    BADGES = {"high": "[HIGH]", "medium": "[MEDIUM]", "low": "[LOW]"}

    def link(self, title: str, url: str | None) -> str:
        return title  # the URL gets its own line

    def badge(self, severity: str) -> str:
        return self.BADGES.get(severity) or f"[{severity.upper()}]"

    def lines(self, head: str, rest: list[str]) -> str:
        return "\n  ".join([head, *rest])

    def tail(self, count: int, command: str | None) -> str:
        return f"…and {count} more: {command}" if command else f"…and {count} more"


FORMATS: dict[str, Format] = {f.name: f for f in (Markdown(), Html(), Text())}


# --- the digest -----------------------------------------------------------------------------------

def digest_title(alerts: Sequence[Alert], *, group_label: str, group_by: str) -> str:
    causes = [a.cause for a in alerts]
    reminders, incidents = causes.count("deadline"), causes.count("incident")
    changes = len(alerts) - reminders - incidents
    high = sum(1 for a in alerts if a.severity == "high")
    counts = []
    if incidents:
        counts.append(_plural(incidents, "incident"))
    if changes or not (reminders or incidents):
        counts.append(_plural(changes, "change"))
    if reminders:
        counts.append(_plural(reminders, "deadline"))
    label = clean(group_label, MAX_LABEL) if group_by != "none" else ""
    name = f"Export controls — {label}" if label else "Export controls"
    return f"{name}: {', '.join(counts)}" + (f" ({high} high)" if high else "")


def collapse(alerts: Sequence[Alert]) -> list[Alert]:
    """One entry per incident: its latest status, the path it moved along, its highest severity."""
    out: list[Alert] = []
    where: dict[str, int] = {}
    paths: dict[int, list[Any]] = {}  # by position in out: the statuses an incident's alerts name
    for alert in alerts:
        incident = alert.incident if alert.cause == "incident" else None
        if not isinstance(incident, str):
            out.append(alert)
            continue
        if incident not in where:
            where[incident] = len(out)
            paths[len(out)] = [alert.status_from, alert.incident_status]
            out.append(alert)
            continue
        position = where[incident]
        first = out[position]
        severity = max(first.severity, alert.severity, key=lambda v: SEVERITY_RANK.get(v, -1))
        paths[position].append(alert.incident_status)
        out[position] = replace(alert.with_severity(severity),
                                alert_ids=(*(first.alert_ids or (first.alert_id,)), alert.alert_id))
    for position, path in paths.items():
        if len(path) > 2:
            start, *steps = path
            words = [status_words(step) for step in dict.fromkeys(steps)]
            out[position] = replace(out[position], moved=(" → ".join([status_words(start), *words]) if start
                                                          else "new: " + " → ".join(words)))
    return out


def tail_command(group_by: str, group: str, noun: str = "changes") -> str | None:
    """The command listing a group's changes (or incidents); none when the group is not a plain slug."""
    if group_by == "none":
        return f"monitor {noun}"
    option = GROUP_OPTIONS.get(group_by)
    if option is None or not isinstance(group, str) or not _SLUG.fullmatch(group):
        return None
    return f"monitor {noun} {option} {group.upper() if group_by == 'country' else group}"


def _longest(render: Callable[[int], str], size: int, budget: int) -> str | None:
    """The longest render(k), k in 0..size, within budget (render's length grows with k); None if none."""
    best = render(0)
    if len(best) > budget:
        return None
    low, high = 1, size
    while low <= high:
        mid = (low + high) // 2
        candidate = render(mid)
        if len(candidate) <= budget:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    return best


def shorten(fmt: Format, e: Entry, budget: int) -> str | None:
    """An entry within budget: without its evidence, then with a shorter title, then without details."""
    text = fmt.entry(e, why=False)
    if len(text) <= budget:
        return text

    def titled(k: int, **options: bool) -> str:
        return fmt.entry(e, title=e.title[:k].rstrip() + "…", why=False, **options)

    size = len(e.title) - 1
    return (_longest(titled, size, budget)
            or _longest(lambda k: titled(k, details=False, link=False), size, budget))


def witness_footer(form: Format, head: tuple[int, str]) -> str:
    """The log head a digest was sent at, in the words `monitor verify --witness` reads: every
    mailbox that keeps the digest then holds a copy of the log's state outside the monitor."""
    seq, digest = head
    words = f"Log head when sent: seq {seq}, hash {digest}. Check: "
    footer = form.esc(words) + form.code(f"monitor verify --witness {seq}:{digest}")
    return f"<p><small>{footer}</small></p>" if form.name == "html" else footer


def render_digest(alerts: Sequence[Alert | Mapping[str, Any]], *, group_label: str, group_by: str, group: str,
                  fmt: str = "markdown", max_chars: int | None = None,
                  witness: tuple[int, str] | None = None) -> Message:
    """One message for a group's alerts; the body within max_chars (default LIMITS[fmt]); with
    ``witness`` (seq, hash), a footer naming the log head it was sent at."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    limit = LIMITS[fmt] if max_chars is None else max_chars
    if limit < MIN_CHARS:
        raise ValueError(f"max_chars must be at least {MIN_CHARS}, got {limit}")
    form = FORMATS[fmt]
    footer = witness_footer(form, witness) if witness else ""
    if footer and limit - len(footer) - len(form.tail_sep) >= MIN_CHARS:
        limit -= len(footer) + len(form.tail_sep)  # the footer is never what gets cut
    else:
        footer = ""
    alerts = collapse([as_alert(a) for a in alerts])
    labels = list(dict.fromkeys(clean(a.group_label, MAX_LABEL) for a in alerts))
    sections = len(labels) > 1
    title = digest_title(alerts, group_label="" if sections else group_label, group_by=group_by)
    ordered = order(alerts)
    if sections:  # one section per group, "Other" last; within a section, the usual order
        ordered.sort(key=lambda a: (clean(a.group_label, MAX_LABEL) == "Other", clean(a.group_label, MAX_LABEL)))
    total = len(ordered)
    noun = "incidents" if any(a.cause == "incident" for a in alerts) else "changes"
    command = tail_command(group_by, group, noun) if not sections else tail_command("none", "all", noun)
    heading: dict[int, str] = {}
    if sections:
        previous = None
        for position, alert in enumerate(ordered):
            label = clean(alert.group_label, MAX_LABEL)
            if label != previous:
                heading[position] = form.section(label)
                previous = label

    def tail_cost(rest: int) -> int:
        return len(form.tail_sep) + len(form.tail(rest, command)) if rest else 0

    entries: list[str] = []
    used = len(form.open) + len(form.close)  # counted once the first entry is in
    for position, alert in enumerate(ordered):
        reserve = tail_cost(total - position - 1)
        text = heading.get(position, "") + form.entry(Entry.of(alert))
        cost = len(text) + (len(form.sep) if entries else 0)
        if used + cost + reserve <= limit:
            entries.append(text)
            used += cost
            continue
        if not entries:
            head = heading.get(position, "")
            shortened = shorten(form, Entry.of(alert), limit - used - reserve - len(head))
            if shortened is not None:
                shortened = head + shortened
                entries.append(shortened)
                used += len(shortened)
                continue
        break
    rest = total - len(entries)
    parts = [form.open, form.sep.join(entries), form.close] if entries else []
    if rest:
        parts.extend([form.tail_sep, form.tail(rest, command)] if entries else [form.tail(rest, command)])
    if footer:
        parts.extend([form.tail_sep, footer])
    return Message(title=title, body="".join(parts), format=fmt)
