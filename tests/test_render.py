"""Digest rendering: titles, order, every field in every format, escaping, limits, determinism."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alerts.render import LIMITS, MIN_CHARS, Message, render_digest

FORMATS = ("markdown", "html", "text")
GROUP = {"group_label": "Middle East", "group_by": "region", "group": "middle-east"}


def alert(n: int = 1, **overrides) -> dict:
    base = {
        "id": f"chg-{n:012x}", "kind": "license_slowdown", "severity": "medium",
        "title": "US slows licences for Nvidia AI chip sales to UAE", "url": f"https://news.example/{n}",
        "source": "news-en", "key": f"k{n}", "published": "2024-05-30", "language": "en",
        "rule": "us-ai-diffusion", "rule_title": "Framework for Artificial Intelligence Diffusion",
        "regions": ["gulf", "middle-east"], "countries": ["AE", "US"], "companies": ["nvidia"],
        "deadlines": [{"kind": "comments_close", "date": "2025-05-15"}],
        "evidence": [
            {"kind": "country", "name": "AE", "value": "UAE", "field": "title", "start": 40, "end": 43},
            {"kind": "phrase", "name": "text:license_slowdown", "value": "slows licences", "field": "title",
             "start": 3, "end": 17},
            {"kind": "identifier", "name": "rin", "value": "0694-AJ90", "field": "fields.rins"},
            {"kind": "company", "name": "nvidia", "value": "Nvidia", "field": "title", "start": 21, "end": 27},
            {"kind": "region", "name": "gulf", "value": "Gulf", "field": "summary", "start": 0, "end": 4},
        ],
        "alert_id": f"alr-{n:012x}", "route": "compliance", "group_by": "region", "group": "middle-east",
        "group_label": "Middle East", "cause": "change",
    }
    base.update(overrides)
    return base


def reminder(n: int = 1, **overrides) -> dict:
    fields = {"cause": "deadline", "deadline": "comments_close", "date": "2025-05-15", "days_left": 3,
              "alert_id": f"alr-d{n:011x}"}
    return alert(n, **{**fields, **overrides})


def ids_in(body: str) -> list[str]:
    return re.findall(r"alr-[0-9a-f]{12}", body)


# --- titles ----------------------------------------------------------------------------------------

def test_title_region_counts_high():
    alerts = [alert(1, severity="high"), alert(2), alert(3, severity="low")]
    assert render_digest(alerts, **GROUP).title == "Export controls — Middle East: 3 changes (1 high)"


def test_title_company_single():
    m = render_digest([alert(1)], group_label="Nvidia", group_by="company", group="nvidia")
    assert m.title == "Export controls — Nvidia: 1 change"


def test_title_none():
    m = render_digest([alert(1), alert(2)], group_label="All", group_by="none", group="all")
    assert m.title == "Export controls: 2 changes"


def test_title_counts_reminders():
    alerts = [alert(1, severity="high"), alert(2), reminder(3)]
    assert render_digest(alerts, **GROUP).title == "Export controls — Middle East: 2 changes, 1 deadline (1 high)"
    assert render_digest([reminder(1)], **GROUP).title == "Export controls — Middle East: 1 deadline"


def test_title_keeps_count_with_huge_label():
    m = render_digest([alert(1)] * 2, group_label="X" * 5000, group_by="region", group="x")
    assert m.title.endswith(": 2 changes") and len(m.title) < 120


# --- order -----------------------------------------------------------------------------------------

def test_order_severity_then_published_desc_then_id():
    alerts = [
        alert(1, severity="low", published="2024-06-01"),
        alert(2, severity="medium", published="2024-05-01"),
        alert(3, severity="high", published="2024-01-01"),
        alert(4, severity="medium", published="2024-05-02"),
        alert(6, severity="medium", published="2024-05-01"),
        alert(5, severity="medium", published="2024-05-01"),
        alert(7, severity="high", published=None),
    ]
    order = [int(i[4:], 16) for i in dict.fromkeys(ids_in(render_digest(alerts, **GROUP, fmt="text").body))]
    assert order == [3, 7, 4, 2, 5, 6, 1]


# --- fields ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_every_field(fmt):
    body = render_digest([alert(1)], **GROUP, fmt=fmt).body
    for needle in ("MEDIUM", "licence slowdown", "US slows licences for Nvidia AI chip sales to UAE",
                   "https://news.example/1", "news-en", "2024-05-30", "Framework for Artificial Intelligence Diffusion",
                   "us-ai-diffusion", "comments close 2025-05-15", "chg-000000000001", "alr-000000000001"):
        assert needle in body, (fmt, needle)
    quote = "&quot;" if fmt == "html" else '"'
    assert f"why: RIN 0694-AJ90; {quote}slows licences{quote}; UAE; Nvidia" in body  # identifiers and phrase first, 4 pieces
    assert "Gulf" not in body


def test_markdown_link_and_html_link():
    assert "[US slows licences for Nvidia AI chip sales to UAE](https://news.example/1)" in \
        render_digest([alert(1)], **GROUP).body
    assert '<a href="https://news.example/1">US slows licences' in render_digest([alert(1)], **GROUP, fmt="html").body


@pytest.mark.parametrize("kind,words", [("entity_list", "Entity List"), ("proposed_rule", "proposed rule"),
                                        ("license_policy", "licence policy"), ("item_revised", "item revised")])
def test_kind_words(kind, words):
    assert words in render_digest([alert(1, kind=kind)], **GROUP).body


@pytest.mark.parametrize("fmt", FORMATS)
def test_reminder(fmt):
    body = render_digest([reminder(1, severity="high")], **GROUP, fmt=fmt).body
    assert "Deadline in 3 days: comments close 2025-05-15 — " in body
    assert "US slows licences for Nvidia AI chip sales to UAE" in body
    assert "alr-d00000000001" in body and "chg-000000000001" in body
    assert "deadlines:" not in body  # the reminded deadline is in the head, not repeated
    one = render_digest([reminder(1, days_left=1), reminder(2, days_left=0)], **GROUP, fmt=fmt).body
    assert "Deadline in 1 day: " in one and "Deadline today: " in one


def test_reminder_from_alert_queue_shape():
    # routes.queue copies the change id as change_id, not id
    a = reminder(1)
    a["change_id"] = a.pop("id")
    assert "chg-000000000001" in render_digest([a], **GROUP).body


def test_chinese_title_intact():
    title = "美国商务部收紧对华AI芯片出口管制，英伟达H20须申请许可证"
    for fmt in FORMATS:
        assert title in render_digest([alert(1, title=title, language="zh")], **GROUP, fmt=fmt).body


def test_missing_fields_render():
    bare = {"id": "chg-000000000009", "alert_id": "alr-000000000009"}
    for fmt in FORMATS:
        body = render_digest([bare], **GROUP, fmt=fmt).body
        assert "alr-000000000009" in body and "untitled" in body


# --- escaping --------------------------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script> & [click](javascript:alert(1)) <img src=x onerror=y>'


def test_html_escapes_hostile_text():
    evidence = [{"kind": "phrase", "name": "p", "value": "<b>bold</b>", "field": "title"}]
    body = render_digest([alert(1, title=HOSTILE, source="<i>src</i>", rule_title="<u>r</u>", evidence=evidence)],
                         **GROUP, fmt="html").body
    assert "<script" not in body and "<img" not in body and "<b>bold" not in body and "<i>" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; [click](javascript:alert(1))" in body
    assert "&lt;b&gt;bold&lt;/b&gt;" in body
    # tags stay balanced
    assert body.count("<li>") == body.count("</li>") == 1
    assert body.count("<a ") == body.count("</a>") == 1


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>x</script>", "ftp://x.example/a",
                                 "https://", "//evil.example/x", None, 42, "http://a.example/x y"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_links_only_for_http(url, fmt):
    body = render_digest([alert(1, url=url)], **GROUP, fmt=fmt).body
    assert "href" not in body and "](" not in body
    assert "javascript:" not in body and "data:" not in body


def test_url_quotes_cannot_break_href_or_link():
    url = 'https://x.example/a"onmouseover="b)c(d'
    assert '<a href="https://x.example/a%22onmouseover=%22b%29c%28d">' in \
        render_digest([alert(1, url=url)], **GROUP, fmt="html").body
    assert "](https://x.example/a%22onmouseover=%22b%29c%28d)" in render_digest([alert(1, url=url)], **GROUP).body


def test_markdown_escapes_brackets():
    body = render_digest([alert(1, title="Rule [draft] (v2) *now* `x`")], **GROUP).body
    assert r"[Rule \[draft\] \(v2\) \*now\* \`x\`](https://news.example/1)" in body


def test_no_line_breaks_from_untrusted_text():
    title = "line one\n# heading\r\n- item\u2028sep"
    for fmt in FORMATS:
        body = render_digest([alert(1, title=title, source="a\nb")], **GROUP, fmt=fmt).body
        assert "\n#" not in body and "\n- item" not in body and "\u2028" not in body
        assert "line one" in body


# --- limits ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("group_by,group,option", [("region", "middle-east", " --region middle-east"),
                                                   ("company", "nvidia", " --company nvidia"), ("none", "all", "")])
def test_limit_with_500_alerts(fmt, group_by, group, option):
    alerts = [alert(i, severity=("high", "medium", "low")[i % 3]) for i in range(500)]
    m = render_digest(alerts, group_label="G", group_by=group_by, group=group, fmt=fmt)
    assert len(m.body) <= LIMITS[fmt]
    shown = len(set(ids_in(m.body)))
    assert 0 < shown < 500
    last = m.body.rsplit("\n", 1)[-1]
    command = f"monitor changes{option}"
    expected = {"markdown": f"…and {500 - shown} more: `{command}`",
                "html": f"<p>…and {500 - shown} more: <code>{command}</code></p>",
                "text": f"…and {500 - shown} more: {command}"}[fmt]
    assert last == expected
    assert m.title == ("Export controls" if group_by == "none" else "Export controls — G") + ": 500 changes (167 high)"
    if fmt == "html":
        assert m.body.count("<li>") == m.body.count("</li>") == shown
        assert m.body.startswith("<ul>\n") and "</ul>\n<p>" in m.body


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_chars_override(fmt):
    alerts = [alert(i) for i in range(50)]
    m = render_digest(alerts, **GROUP, fmt=fmt, max_chars=1000)
    assert len(m.body) <= 1000 and "more: " in m.body


@pytest.mark.parametrize("fmt", FORMATS)
def test_single_oversized_entry_is_shortened_not_dropped(fmt):
    evidence = [{"kind": "phrase", "name": "p", "value": "w" * 40, "field": "title"}] * 4
    big = alert(1, title="Big " + "x" * 10000, evidence=evidence)
    m = render_digest([big, alert(2)], **GROUP, fmt=fmt, max_chars=MIN_CHARS + 200)
    assert len(m.body) <= MIN_CHARS + 200
    assert "alr-000000000001" in m.body and "Big x" in m.body and "…" in m.body
    assert "why:" not in m.body  # evidence goes first
    assert "…and 1 more" in m.body


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_are_whole(fmt):
    alerts = [alert(i) for i in range(100)]
    full = render_digest(alerts, **GROUP, fmt=fmt, max_chars=10**9).body
    cut = render_digest(alerts, **GROUP, fmt=fmt).body
    sep = "\n" if fmt == "html" else "\n\n"
    head = cut.rsplit(sep, 1)[0]
    if fmt == "html":
        head = head.removesuffix("\n</ul>")
    assert full.startswith(head + sep)


def test_unknown_format_and_tiny_limit():
    with pytest.raises(ValueError):
        render_digest([alert(1)], **GROUP, fmt="pdf")
    with pytest.raises(ValueError):
        render_digest([alert(1)], **GROUP, max_chars=10)


def test_hostile_group_gets_no_command():
    m = render_digest([alert(i) for i in range(500)], group_label="x", group_by="region", group="x; rm -rf /")
    assert m.body.endswith(" more") and "rm -rf" not in m.body


# --- determinism and speed -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_deterministic(fmt):
    alerts = [alert(i, severity=("high", "medium", "low")[i % 3], published=f"2024-05-{i % 28 + 1:02d}")
              for i in range(300)] + [reminder(i) for i in range(20)]
    first = render_digest(alerts, **GROUP, fmt=fmt)
    again = render_digest(list(reversed(alerts)), **GROUP, fmt=fmt)
    assert first == again and isinstance(first, Message) and first.format == fmt
    assert first.body.encode() == render_digest(alerts, **GROUP, fmt=fmt).body.encode()


# --- property --------------------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_characters="-", blacklist_categories=("Cs",)), max_size=300)
_value = st.one_of(st.none(), _text, st.integers())
_evidence = st.lists(st.fixed_dictionaries({
    "kind": st.sampled_from(["identifier", "phrase", "country", "company", "region", "keyword", "context", "x"]),
    "name": st.sampled_from(["rin", "fr_document", "docket", "date", "topic", "x"]),
    "value": _value}), max_size=8)


@st.composite
def alert_lists(draw):
    count = draw(st.integers(0, 60))
    alerts = []
    for n in range(count):
        a = {
            "id": f"chg-{n:012x}", "alert_id": f"alr-{n:012x}",
            "kind": draw(st.sampled_from(["new_rule", "mention", "entity_list", "odd_kind", None])),
            "severity": draw(st.sampled_from(["high", "medium", "low", "weird", None])),
            "title": draw(st.one_of(_text, st.text(max_size=3000).map(lambda s: s.replace("-", "")))),
            "url": draw(st.one_of(st.just(f"https://news.example/{n}"), _text, st.none())),
            "source": draw(_value), "published": draw(_value), "rule": draw(_value), "rule_title": draw(_value),
            "deadlines": draw(st.lists(st.fixed_dictionaries({"kind": _value, "date": _value}), max_size=3)),
            "evidence": draw(_evidence),
            "cause": draw(st.sampled_from(["change", "deadline"])),
            "deadline": "comments_close", "date": "2025-05-15", "days_left": draw(st.integers(-5, 30)),
        }
        alerts.append(a)
    return alerts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(alerts=alert_lists(), fmt=st.sampled_from(FORMATS), max_chars=st.one_of(st.none(), st.integers(MIN_CHARS, 6000)),
       group_by=st.sampled_from(["region", "company", "none"]))
def test_property_within_limit_and_all_accounted(alerts, fmt, max_chars, group_by):
    m = render_digest(alerts, group_label="L", group_by=group_by, group="g", fmt=fmt, max_chars=max_chars)
    assert len(m.body) <= (LIMITS[fmt] if max_chars is None else max_chars)
    shown = set(ids_in(m.body))
    tail = re.fullmatch(r"(?:<p>)?…and (\d+) more.*", m.body.rsplit("\n", 1)[-1])
    hidden = int(tail.group(1)) if tail else 0
    assert len(shown) + hidden == len(alerts)
    reminders = sum(a["cause"] == "deadline" for a in alerts)
    changes = len(alerts) - reminders
    assert f": {changes} change" in m.title if changes or not reminders else f": {reminders} deadline" in m.title
    if fmt == "html":
        assert m.body.count("<li>") == m.body.count("</li>") == len(shown)
        assert m.body.count("<a ") == m.body.count("</a>")
    # the shown entries are the first ones in order: the tail is a suffix
    again = render_digest(alerts, group_label="L", group_by=group_by, group="g", fmt=fmt, max_chars=10**9)
    assert set(ids_in(again.body)) == {a["alert_id"] for a in alerts}
    assert ids_in(again.body)[:len(ids_in(m.body))] == ids_in(m.body)
