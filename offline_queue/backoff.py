"""Retry timing while the link is down: exponential backoff with jitter, on an injectable clock.

Hours without coverage in the hills are normal; retrying every few seconds would drain the
battery and the data plan (billed per session), retrying hourly would leave payments waiting
after the signal returns.  So the delay doubles from ``base`` up to ``cap`` and each delay is
drawn from [delay/2, delay] ("equal jitter") so a village of terminals does not retry in step.
Pure arithmetic: time and randomness come from the caller, so tests need no sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 5.0
    cap: float = 600.0
    factor: float = 2.0
    uniform: Callable[[float, float], float] = field(default=random.uniform)
    failures: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap or self.factor < 1:
            raise ValueError("backoff needs 0 < base <= cap and factor >= 1")

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before the next attempt."""
        self.failures += 1
        # min() before the power would still overflow for huge counts: bound the exponent
        ceiling = min(self.cap, self.base * self.factor ** min(self.failures - 1, 64))
        return self.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0
