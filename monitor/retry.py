"""The one retry policy: exponential backoff with jitter, and a server's Retry-After honoured up to
a day. Failing sources (polling) and failing deliveries (the relay) both wait by it. Pure: no I/O,
no clock."""

from __future__ import annotations

import math
import random
from datetime import timedelta

RETRY_AFTER_LIMIT = timedelta(hours=24)  # a Retry-After beyond a day is treated as a day


def next_attempt_after(
    *,
    failures: int,
    base: timedelta,
    cap: timedelta,
    retry_after: float | None,
    rng: random.Random,
) -> timedelta:
    """The wait before the next attempt after `failures` (>= 1) consecutive failures.

    Our own part doubles per failure and stops growing at `cap`:
    ``delay = min(cap, base * 2**(failures - 1))``, then "equal jitter" picks uniformly in
    ``[delay/2, delay]`` so many failing sources do not retry in lockstep.
    A server's Retry-After (seconds, from a 429/503) is honoured even beyond `cap`, up to 24 hours:
    the result is ``max(jittered, min(retry_after, 24h))``.
    There is no maximum number of attempts: a source that keeps failing is retried every ~cap.
    """
    if failures < 1:
        raise ValueError(f"failures must be at least 1, not {failures}")
    base_s = max(base.total_seconds(), 0.0)
    cap_s = max(cap.total_seconds(), 0.0)
    # Bound the exponent so a long outage cannot overflow the float.
    delay = min(cap_s, base_s * 2.0 ** min(failures - 1, 1000))
    seconds = delay / 2 + rng.uniform(0, delay / 2)
    if retry_after is not None and not math.isnan(retry_after):
        honoured = min(max(retry_after, 0.0), RETRY_AFTER_LIMIT.total_seconds())
        seconds = max(seconds, honoured)
    return timedelta(seconds=seconds)
