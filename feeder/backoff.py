"""Exponential back-off, the one rule every retry in feeder follows: link
checks, unknown link results, failing sources and WebSub pings.

The n-th wait is `base · 2^(n-1)`, capped; with `jitter`, a uniform draw in
[0, that] ("full jitter"), so that many clients retrying at once spread out.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

__all__ = ["delay", "jittered"]

T = TypeVar("T", float, timedelta)

# Past this many doublings every cap is reached; it also keeps 2**n small.
_MAX_DOUBLINGS = 30


def delay(attempt: int, base: T, cap: T) -> T:
    """The wait before retry number `attempt` (1 is the first retry): base, 2·base, 4·base... at most `cap`."""
    doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
    return min(base * (2 ** doublings), cap)


def jittered(attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """`delay` with full jitter: uniform in [0, delay(attempt, base, cap)] seconds."""
    return rng() * delay(attempt, base, cap)
