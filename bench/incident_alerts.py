"""What one poll of the demo recordings sends with the shipped sources.toml routes.

    python bench/incident_alerts.py [--json]

The demo's recorded sources (Federal Register search, public inspection, one document, an
English/Chinese news feed) are served on 127.0.0.1 and polled once, with the `[alerts]` routes of
the shipped sources.toml (news-en, news-zh and mofcom-announcements in its `sources` filter become the demo's `news`).
Prints changes, incidents, alerts, digests, the most alerts one incident made for one tag, and how
many times the AI Diffusion rule reached each tag (alerts, and entries in the messages sent).
Run it from a checkout of any version to compare. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sqlite3
import tempfile
import tomllib
from collections import Counter
from pathlib import Path

from report import finish  # bench/report.py, beside this script
from monitor.config import load_config
from monitor.daemon import poll
from monitor.demo import _write_sources
from monitor.demo.server import DemoServer

ROOT = Path(__file__).resolve().parents[1]


def shipped_alerts() -> str:
    """The [alerts] part of the shipped sources.toml, routes included, sources renamed to the demo's."""
    text = (ROOT / "sources.toml").read_text(encoding="utf-8")
    part = text[text.index("\n[alerts]"):]
    part = part.replace('"news-en", "news-zh", "mofcom-announcements"', '"news"')
    tomllib.loads(part)  # still valid TOML
    return part


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, DemoServer() as server:
        state = Path(tmp)
        path = _write_sources(state, server)
        text = path.read_text(encoding="utf-8")
        text = text[:text.index("\n# No apprise_config")] + "\n" + shipped_alerts().replace(
            'digest_window = "15m"', 'digest_window = "0s"')
        path.write_text(text, encoding="utf-8")
        config = load_config(path)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            poll(config, config.state_path)
        conn = sqlite3.connect(state / "events.db")
        rows = [json.loads(r[0]) for r in conn.execute("SELECT data FROM outbox")]
        changes = conn.execute("SELECT count(*) FROM changes").fetchone()[0]
        try:
            incidents = conn.execute("SELECT count(*) FROM incidents WHERE merged_into IS NULL").fetchone()[0]
        except sqlite3.OperationalError:
            incidents = None  # a version without incidents
    messages = re.split(r"\n=== ", printed.getvalue())[1:]
    per_thing = Counter((r["route"], r.get("incident") or r["change_id"]) for r in rows)
    diffusion_alerts = Counter(r["route"] for r in rows if r.get("rule") == "us-ai-diffusion")
    # entries of the rule in the messages sent: each entry names its linked rule once, on its facts line
    diffusion_entries = sum(len(re.findall(r"rule: [^\n]*us-ai-diffusion", message)) for message in messages)
    finish({
        "changes": changes,
        "incidents": incidents,
        "alerts": len(rows),
        "digests": len(messages),
        "alerts_per_tag": dict(Counter(r["route"] for r in rows)),
        "most_alerts_for_one_thing_and_tag": max(per_thing.values(), default=0),
        "ai_diffusion_alerts_per_tag": dict(diffusion_alerts),
        "ai_diffusion_entries_in_messages": diffusion_entries,
    }, as_json=args.json)


if __name__ == "__main__":
    main()
