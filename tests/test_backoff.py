"""Backoff: exponential growth, cap, equal jitter, Retry-After honoured up to a day."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, strategies as st

from monitor.retry import next_attempt_after

BASE = timedelta(minutes=1)
CAP = timedelta(hours=1)
DAY = timedelta(hours=24)


def delay(failures: int, retry_after: float | None = None, seed: int = 0) -> timedelta:
    return next_attempt_after(
        failures=failures, base=BASE, cap=CAP, retry_after=retry_after, rng=random.Random(seed)
    )


class _Fixed(random.Random):
    """uniform() always returns its low or high end."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def extremes(failures: int) -> tuple[timedelta, timedelta]:
    return tuple(  # type: ignore[return-value]
        next_attempt_after(
            failures=failures, base=BASE, cap=CAP, retry_after=None, rng=_Fixed(high)
        )
        for high in (False, True)
    )


def test_grows_exponentially():
    assert extremes(1) == (BASE / 2, BASE)
    assert extremes(2) == (BASE, 2 * BASE)
    assert extremes(3) == (2 * BASE, 4 * BASE)


def test_stops_growing_at_the_cap_and_never_gives_up():
    assert extremes(7) == (CAP / 2, CAP)  # 64 min would exceed the 60 min cap
    assert extremes(10_000) == (CAP / 2, CAP)


def test_jitter_spreads_sources_within_bounds():
    delays = {delay(5, seed=seed) for seed in range(50)}
    assert len(delays) > 40
    assert all(8 * BASE <= d <= 16 * BASE for d in delays)


def test_same_rng_seed_gives_the_same_delay():
    assert delay(4, seed=7) == delay(4, seed=7)


def test_retry_after_is_honoured_even_beyond_the_cap():
    assert delay(1, retry_after=7200) == timedelta(hours=2)
    assert delay(1, retry_after=600) == timedelta(minutes=10)


def test_retry_after_shorter_than_our_backoff_does_not_shorten_it():
    assert delay(6, retry_after=1) >= 16 * BASE


def test_retry_after_is_limited_to_a_day():
    assert delay(1, retry_after=10 * 86400) == DAY
    assert delay(1, retry_after=float("inf")) == DAY


def test_failures_must_be_positive():
    with pytest.raises(ValueError):
        delay(0)


@given(
    failures=st.integers(min_value=1, max_value=10_000),
    base_s=st.just(0.0) | st.floats(min_value=0.001, max_value=86400),
    cap_s=st.floats(min_value=0, max_value=7 * 86400),
    retry_after=st.none() | st.floats(min_value=-10, max_value=10 * 86400),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_delay_is_always_within_bounds(failures, base_s, cap_s, retry_after, seed):
    result = next_attempt_after(
        failures=failures,
        base=timedelta(seconds=base_s),
        cap=timedelta(seconds=cap_s),
        retry_after=retry_after,
        rng=random.Random(seed),
    ).total_seconds()
    if failures < 1000:
        ours = min(cap_s, base_s * 2.0 ** (failures - 1))
    else:  # 0.001 s doubled 999 times is far beyond any cap
        ours = cap_s if base_s > 0 else 0.0
    honoured = min(max(retry_after, 0.0), 86400.0) if retry_after is not None else 0.0
    slack = 1e-6  # timedelta keeps microseconds
    assert result >= max(ours / 2, honoured) - slack
    assert result <= max(ours, honoured) + slack
    assert result <= max(cap_s, 86400.0) + slack
