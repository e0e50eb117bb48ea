"""Prometheus metrics read from the projections at each scrape.

The numbers come from the event log's read tables, not from counters kept in the daemon's memory:
they survive restarts, agree with `monitor sources` and `monitor alerts`, and a `poll` run from the
command line shows up too. Counters only grow as events are appended (a `replay` rebuilds them to
the same values). Each scrape opens its own connection and reads every table in one snapshot, so
the numbers of one scrape agree with each other.
"""

from __future__ import annotations

import sqlite3
from typing import Callable, Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from monitor.clock import parse_iso
from monitor.events import ALERT_DELIVERED, ALERT_FAILED, ALERT_QUEUED, ITEM_DISCOVERED, ITEM_REVISED
from monitor.projections.log_summary import event_counts, log_head_seq, projection_counts

CONTENT_TYPE = CONTENT_TYPE_LATEST
ALERT_STATUSES = ("queued", "delivered", "failed", "dead")

# Every metric, as exposed: name -> (type, help, labels). A counter's family is named without
# "_total" by prometheus_client and written with it.
METRICS: dict[str, tuple[type[Metric], str, tuple[str, ...]]] = {
    "monitor_events_total": (CounterMetricFamily, "Events appended to the log, by type.", ("type",)),
    "monitor_log_head_seq": (GaugeMetricFamily, "Position (seq) of the last event in the log (0 when empty).", ()),
    "monitor_polls_total": (CounterMetricFamily, "Successful polls of a source (SourcePolled events).",
                            ("source",)),
    "monitor_poll_failures_total": (CounterMetricFamily, "Failed polls of a source (SourceFailed events).",
                                    ("source",)),
    "monitor_source_consecutive_failures": (GaugeMetricFamily, "Failed polls of a source since its last success.",
                                            ("source",)),
    "monitor_source_last_success_timestamp_seconds": (
        GaugeMetricFamily, "Unix time of a source's last successful poll (absent if it never succeeded).",
        ("source",)),
    "monitor_items_total": (CounterMetricFamily, "Items seen in the sources: first sightings and revisions.",
                            ("event",)),
    "monitor_items_tracked": (GaugeMetricFamily, "Items currently tracked, over all sources.", ()),
    "monitor_changes_total": (CounterMetricFamily, "Changes detected, by kind and severity.", ("kind", "severity")),
    "monitor_alerts": (GaugeMetricFamily, "Alerts in the outbox, by status (queued, delivered, failed, dead).",
                       ("status",)),
    "monitor_alerts_queued_total": (CounterMetricFamily, "Alerts queued for delivery (AlertQueued events).", ()),
    "monitor_alert_digests_total": (CounterMetricFamily, "Digests sent (AlertDelivered) or failed (AlertFailed).",
                                    ("outcome",)),
}


def _family(name: str) -> Metric:
    kind, documentation, labels = METRICS[name]
    return kind(name, documentation, labels=labels)


def render(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in the Prometheus text format (serve with ``CONTENT_TYPE``)."""
    return generate_latest(registry)


class StoreCollector(Collector):
    """Metrics of the monitor's state, read from ``events.db`` at each scrape.

    ``connect`` opens a connection to the database (read-only is enough); it is called once per
    scrape and the connection is closed afterwards. ``source_ids`` are the configured sources, so a
    source that was never polled still reports 0 polls instead of being absent.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], source_ids: Sequence[str]) -> None:
        self._connect = connect
        self._source_ids = tuple(source_ids)

    def describe(self) -> list[Metric]:
        """The metrics without samples: registering checks their names without opening the database."""
        return [_family(name) for name in METRICS]

    def collect(self) -> Iterator[Metric]:
        conn = self._connect()
        try:
            began = not conn.in_transaction
            if began:
                conn.execute("BEGIN")  # one read snapshot for the whole scrape
            try:
                families = self._read(conn)
            finally:
                if began:
                    conn.execute("ROLLBACK")
        finally:
            conn.close()
        yield from families.values()

    def _read(self, conn: sqlite3.Connection) -> dict[str, Metric]:
        families = {name: _family(name) for name in METRICS}

        def sample(name: str, labels: Sequence[str], value: float) -> None:
            families[name].add_metric(list(labels), value)

        types = event_counts(conn)
        counts = projection_counts(conn)
        for event_type, count in sorted(types.items()):
            sample("monitor_events_total", [event_type], count)
        sample("monitor_log_head_seq", [], log_head_seq(conn))

        sources = counts["sources"]
        # Configured sources first, in their order; then sources only the log still knows of.
        for source in dict.fromkeys([*self._source_ids, *sorted(sources)]):
            polls, failures, consecutive, last_success = sources.get(source, (0, 0, 0, None))
            sample("monitor_polls_total", [source], polls)
            sample("monitor_poll_failures_total", [source], failures)
            sample("monitor_source_consecutive_failures", [source], consecutive)
            if last_success:
                sample("monitor_source_last_success_timestamp_seconds", [source], parse_iso(last_success).timestamp())

        sample("monitor_items_total", ["discovered"], types.get(ITEM_DISCOVERED, 0))
        sample("monitor_items_total", ["revised"], types.get(ITEM_REVISED, 0))
        sample("monitor_items_tracked", [], counts["items"])

        for kind, severity, count in counts["changes"]:
            sample("monitor_changes_total", [kind, severity], count)

        statuses = dict.fromkeys(ALERT_STATUSES, 0)  # all four always, so an empty state reads as 0
        statuses.update(counts["alerts"])
        for status, count in statuses.items():
            sample("monitor_alerts", [status], count)
        sample("monitor_alerts_queued_total", [], types.get(ALERT_QUEUED, 0))
        sample("monitor_alert_digests_total", ["delivered"], types.get(ALERT_DELIVERED, 0))
        sample("monitor_alert_digests_total", ["failed"], types.get(ALERT_FAILED, 0))
        return families
