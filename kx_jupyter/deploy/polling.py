"""How long to wait between polls of an update in progress.

Fast at first (the status flips to UPDATING right after the call and the user is looking),
then backing off with jitter so long updates (10-13 minutes on the real service) cost few
calls and many watchers do not poll in step, then fast again around the expected end so
the finish is seen promptly.
"""

from __future__ import annotations

import random
import statistics


class PollPolicy:
    """``next(elapsed)`` gives the next sleep in seconds, always within [initial, maximum]."""

    GROWTH = 1.5
    JITTER = 0.2             # +-20 %
    NEAR_END = (0.8, 1.5)    # poll fast while elapsed is within these fractions of the expected time

    def __init__(self, initial: float, maximum: float, expected: float = 0.0, rng: random.Random | None = None):
        self.initial = max(0.05, initial)
        self.maximum = max(self.initial, maximum)
        self.expected = max(0.0, expected)
        self._rng = rng or random.Random()
        self._base = self.initial

    def near_end(self, elapsed: float) -> bool:
        low, high = self.NEAR_END
        return bool(self.expected) and low * self.expected <= elapsed <= high * self.expected

    def next(self, elapsed: float) -> float:
        if self.near_end(elapsed):
            base = min(self.maximum, max(self.initial, self.expected / 200))
        else:
            base = self._base
            self._base = min(self.maximum, self._base * self.GROWTH)
        jittered = base * (1 + self._rng.uniform(-self.JITTER, self.JITTER))
        return min(self.maximum, max(self.initial, jittered))


def expected_seconds(configured: float, past_durations: list[float]) -> float:
    """The configured expectation, else the median of recent successful updates, else 0 (unknown)."""
    if configured > 0:
        return configured
    return statistics.median(past_durations) if past_durations else 0.0
