"""The monitor's words, written once: change kinds, severities, incident statuses, ops kinds.

Every module that accepts, decides or shows one of these imports it from here, so a new kind or
status is one edit (tests/test_vocabulary.py ties the config schema and the classifier to it).
"""

from __future__ import annotations

# What an item says happened (DESIGN.md, "Change kinds and severity").
KINDS: tuple[str, ...] = (
    "new_rule", "proposed_rule", "rule_amended", "correction", "comment_period", "effective_date",
    "rescission", "entity_list", "license_policy", "license_slowdown", "countermeasure",
    "legislation", "item_revised", "mention",
)

# Alerts about the monitor itself, for the ops route (never produced by the classifier).
SOURCE_FAILING, ALERT_DEAD = "source_failing", "alert_dead"
OPS_KINDS: tuple[str, ...] = (SOURCE_FAILING, ALERT_DEAD)

# Ascending: a minimum severity is a suffix of this tuple; the rank is the position.
SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}

# An incident's lifecycle. The main line only moves forward; the explicit statuses are set by an
# event that says so (a correction, an extension, a rescission) and never by a later report.
LIFECYCLE: tuple[str, ...] = ("reported", "proposed", "on_public_inspection", "published", "effective")
EXPLICIT_STATUSES: tuple[str, ...] = (
    "amended", "corrected", "comment_period_extended", "rescinded", "suspended", "withdrawn",
)
INCIDENT_STATUSES: tuple[str, ...] = LIFECYCLE + EXPLICIT_STATUSES
STAGE_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LIFECYCLE)}

# The kind of regulatory event an incident is: news that names no identifier may join an
# incident of its own family only.
FAMILY: dict[str, str] = {
    "new_rule": "rule", "proposed_rule": "rule", "rule_amended": "rule", "correction": "rule",
    "comment_period": "rule", "effective_date": "rule", "rescission": "rule", "item_revised": "rule",
    "mention": "rule", "entity_list": "entity_list", "license_policy": "license_policy",
    "license_slowdown": "license_slowdown", "countermeasure": "countermeasure", "legislation": "legislation",
}

# Outbox statuses of an alert.
ALERT_STATUSES: tuple[str, ...] = ("queued", "delivered", "failed", "dead")

assert set(FAMILY) == set(KINDS), "every kind has a family"
