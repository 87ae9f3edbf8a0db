"""Jittered exponential backoff."""

from __future__ import annotations

import random as _random
from typing import Callable, Optional

__all__ = ["ExponentialBackoff"]


class ExponentialBackoff:
    """Full-jitter exponential backoff: a uniform delay in [0, min(cap, base * 2**(n-1))].

    Args:
        base: Upper bound of the first delay, in seconds.
        cap: Upper bound of any delay, in seconds.
        random: A callable returning a float in [0, 1); injected by tests.
    """

    def __init__(self, base: float, cap: float,
                 random: Optional[Callable[[], float]] = None) -> None:
        self._base = base
        self._cap = cap
        self._random = random or _random.random

    def delay(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1 for the first retry)."""
        bound = min(self._cap, self._base * (2 ** max(0, attempt - 1)))
        return self._random() * bound
