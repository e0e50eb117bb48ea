"""Alert throughput: queueing (routing), grouping and rendering of N changes, and a relay pass to
a loopback apprise json:// sink.

    python bench/alerts.py --changes 10000 --json

Changes are spread over 12 regions and 20 companies, routed to a region route and a company route
(so each change becomes about four alerts). "queue_render_s" is routing every change, grouping
the alerts into digests and rendering each digest as markdown, in memory; the reference measured
in the same run is json.dumps of the same changes. The relay pass appends the alerts to a real
event log first (not timed), then sends every digest to the sink and records each outcome. The
last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from report import finish  # bench/report.py, beside this script
from monitor.alerts.relay import Relay
from monitor.alerts.render import render_digest
from monitor.alerts.routes import queue
from monitor.alerts.targets import apprise_targets
from monitor.config import AlertsConfig, RouteConfig
from monitor.daemon import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import LoopbackServer  # noqa: E402  (the test suite's loopback HTTP server)

REGIONS = ["middle-east", "gulf", "china", "eu", "east-asia", "southeast-asia", "south-asia", "europe",
           "north-america", "ai-diffusion-tier-1", "ai-diffusion-tier-2", "ai-diffusion-tier-3"]
COMPANIES = ["nvidia", "amd", "intel", "micron", "huawei", "smic", "tsmc", "asml", "samsung", "sk-hynix",
             "cerebras", "amazon", "microsoft", "google", "oracle", "alibaba", "baidu", "tencent", "g42", "humain"]


def change(n: int) -> dict:
    return {
        "id": f"chg-{n:012d}", "kind": ["license_slowdown", "entity_list", "new_rule", "countermeasure"][n % 4],
        "severity": ["high", "medium", "low"][n % 3], "title": f"US slows licences for AI chip sales, report {n}",
        "url": f"https://news.example/{n}", "source": "news-en", "published": "2026-01-15", "rule": None,
        "rule_title": None, "regions": [REGIONS[n % 12], REGIONS[(n * 7) % 12]], "countries": ["AE", "US"],
        "companies": [COMPANIES[n % 20], COMPANIES[(n * 3) % 20]], "deadlines": [],
        "evidence": [{"kind": "phrase", "name": "text:license_slowdown", "value": "slows licences", "field": "title"},
                     {"kind": "country", "name": "AE", "value": "UAE", "field": "title"}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    changes = [change(n) for n in range(args.changes)]
    routes = [RouteConfig(tag="compliance", group_by="region"), RouteConfig(tag="companies", group_by="company")]
    now = datetime(2026, 1, 15, tzinfo=timezone.utc)

    began = time.process_time()
    alerts = [a for c in changes for a in queue(c, routes, lambda kind, slug: slug.title(), now=now,
                                                  window=timedelta(0), high_now=True)]
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for alert in alerts:
        groups[(alert.data["route"], alert.data["group"])].append(alert.data)
    messages = [render_digest(items, group_label=items[0]["group_label"], group_by=items[0]["group_by"], group=group)
                for (_route, group), items in groups.items()]
    queue_render_s = time.process_time() - began
    began = time.process_time()
    for c in changes:
        json.dumps(c)
    dumps_s = time.process_time() - began

    server = LoopbackServer()
    server.route("/hook", status=200, body=b"{}")
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        config_file = Path(tmp) / "apprise.yml"
        config_file.write_text("version: 1\nurls:\n" + "".join(
            f'  - "json://127.0.0.1:{server.port}/hook":\n      - tag: {tag}\n' for tag in ("compliance", "companies")))
        with open_store(Path(tmp) / "state") as store:
            for start in range(0, len(alerts), 1000):
                store.append(alerts[start:start + 1000])
            relay = Relay(store, AlertsConfig(), apprise_targets(config_file), lambda: now + timedelta(minutes=1))
            began = time.perf_counter()
            reports = relay.run_once()
            relay_s = time.perf_counter() - began
    server.close()

    finish({
        "changes": args.changes,
        "alerts": len(alerts),
        "digests": len(messages),
        "queue_render_s": round(queue_render_s, 3),
        "json_dumps_reference_s": round(dumps_s, 3),
        "relay_s": round(relay_s, 3),
        "relay_digests_delivered": sum(r.delivered for r in reports),
        "relay_ms_per_digest": round(relay_s * 1000 / max(1, len(reports)), 2),
    }, as_json=args.json)


if __name__ == "__main__":
    main()
