"""Each vocabulary is written once (monitor/vocabulary.py): everything that accepts, decides or
shows a kind, severity or status agrees with it."""

from typing import get_args

from monitor.alerts.render import KIND_WORDS, STATUS_WORDS
from monitor.config import CHANGE_KINDS, RouteConfig
from monitor.detect.classify import TEXT_KINDS, TRIGGERS
from monitor.vocabulary import (
    EXPLICIT_STATUSES, FAMILY, INCIDENT_STATUSES, KINDS, LIFECYCLE, SEVERITIES, SEVERITY_RANK, STAGE_RANK,
)


def test_the_config_accepts_exactly_the_kinds_and_severities_there_are():
    assert CHANGE_KINDS == KINDS
    assert set(get_args(RouteConfig.model_fields["min_severity"].annotation)) == set(SEVERITIES)


def test_every_kind_the_classifier_can_decide_is_a_kind_and_has_words():
    assert {kind for kind, _pattern in TEXT_KINDS} <= set(KINDS)
    assert set(TRIGGERS) == {kind for kind, _pattern in TEXT_KINDS}
    assert set(KIND_WORDS) == set(KINDS) == set(FAMILY)


def test_one_severity_order_and_one_status_list():
    assert [SEVERITY_RANK[s] for s in ("low", "medium", "high")] == [0, 1, 2]
    assert INCIDENT_STATUSES == LIFECYCLE + EXPLICIT_STATUSES and not set(LIFECYCLE) & set(EXPLICIT_STATUSES)
    assert list(STAGE_RANK) == list(LIFECYCLE)
    assert set(STATUS_WORDS) == set(INCIDENT_STATUSES)


def test_every_source_kind_the_config_accepts_has_one_registered_collector():
    from monitor.collectors.collect import KINDS as COLLECTORS
    from monitor.config import SOURCE_KINDS

    assert set(SOURCE_KINDS) == set(COLLECTORS)
