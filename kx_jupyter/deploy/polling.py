"""When to poll an update in progress, and when a poll also lists the cluster's nodes.

Every poll is a GetKxCluster call; a real update takes 10-13 minutes, so the policy spends
calls where something can be seen (the start, node changes, the expected end) and few in
between. Once the length is roughly known it costs fewer calls than a fixed 10 s poll for any
update longer than a minute:

* Expected length unknown (a remote endpoint, nothing pushed yet to its environment from here,
  and ``expected_update_seconds`` unset, as on a fresh CI machine): start at ``initial`` and double each
  time (jittered +-20 % so many watchers do not poll in step) up to ``maximum``; a 3 s update
  is seen within a fraction of a second, a long one soon costs one call per ``maximum``. That
  fast start is why a 1-2 minute update costs more calls than the fixed poll here: seeing
  short updates at once and polling long ones sparsely cannot both hold without a prior.
* Expected length E known (the setting, the median of recent successful updates, or for a first
  push the embedded plane's node start time or what the environment's other clusters took;
  see ``expected_seconds``): the
  first sleep is already E/2 (at least ``initial``, at most ``maximum``): right after the call
  nothing but UPDATING can be seen. Sleeps double as above, each shortened just enough that a
  whole number of them lands exactly on a window around E: WINDOW_POLLS polls ``w = E/10``
  apart (E - w, E, E + w). After it the doubling resumes from ``w``, so an overrunning update
  is still seen, at a falling rate. The window is that wide because E is a median (or another
  cluster's length): a narrower one costs more calls as soon as an update runs 10 % long.
* Nodes (ListKxClusterNodes) go with a poll only when polls are close together (the sleep
  before it under NODES_FAST s), when the update is expected to last under NODES_EVERY s (it
  is a handful of polls: each shows how far the nodes are), when the cluster's status
  changed, or when the last listing is NODES_EVERY s old outside the end window (the final
  listing is due there anyway).
"""

from __future__ import annotations

import math
import random
import statistics


class PollPolicy:
    """``next(elapsed)``: the next sleep in seconds, within [initial, maximum] (only the last
    steps into and through the end window may be shorter); ``list_nodes(elapsed, changed)``:
    whether the poll made at ``elapsed`` also lists the nodes."""

    GROWTH = 2.0
    JITTER = 0.2             # +-20 % on the free-running sleeps
    FIRST_SHARE = 1 / 2      # first sleep as a share of the expected length
    WINDOW_STEP = 1 / 10     # spacing of the polls around the expected end, as a share of it
    WINDOW_POLLS = 3         # E - w, E, E + w
    NODES_FAST = 2.0         # list the nodes with every poll that came sooner than this after the last
    NODES_EVERY = 60.0       # otherwise at most this often (unless the cluster's status changed)

    def __init__(self, initial: float, maximum: float, expected: float = 0.0, rng: random.Random | None = None):
        self.initial = max(0.05, initial)
        self.maximum = max(self.initial, maximum)
        self.expected = max(0.0, expected)
        self._rng = rng or random.Random()
        self.step = self._clamp(self.expected * self.WINDOW_STEP)
        self.window = (self.expected - self.step, self.expected + (self.WINDOW_POLLS - 2) * self.step)
        self._base = self._clamp(self.expected * self.FIRST_SHARE)
        self._short = 0 < self.expected < self.NODES_EVERY  # a handful of polls: each lists the nodes
        self._past_window = False
        self._last_sleep = 0.0
        self._listed_at: float | None = None

    def _clamp(self, seconds: float) -> float:
        return min(self.maximum, max(self.initial, seconds))

    def _in_window(self, elapsed: float) -> bool:
        return bool(self.expected) and self.window[0] - 1e-9 <= elapsed < self.window[1] - 1e-9

    def _doubling(self) -> float:
        base = self._base
        self._base = min(self.maximum, self._base * self.GROWTH)
        return self._clamp(base * (1 + self._rng.uniform(-self.JITTER, self.JITTER)))

    def next(self, elapsed: float) -> float:
        self._last_sleep = self._next(elapsed)
        return self._last_sleep

    def _next(self, elapsed: float) -> float:
        start, _ = self.window
        if not self.expected:
            return self._doubling()
        if elapsed < start - 1e-9:       # a whole number of sleeps ends exactly at the window
            remaining = start - elapsed
            return remaining / math.ceil(remaining / self._doubling() - 1e-9)
        if self._in_window(elapsed):     # the window's next poll
            k = math.floor((elapsed - start) / self.step + 1e-9) + 1
            return start + k * self.step - elapsed
        if not self._past_window:        # overrunning: double again, from w
            self._past_window, self._base = True, self.step
        return self._doubling()

    def list_nodes(self, elapsed: float, changed: bool = False) -> bool:
        """Whether the poll at ``elapsed`` also lists the nodes (remembered when it does)."""
        due = (self._listed_at is None or changed or self._short or self._last_sleep < self.NODES_FAST
               or (elapsed - self._listed_at >= self.NODES_EVERY and not self._in_window(elapsed)))
        if due:
            self._listed_at = elapsed
        return due


def expected_seconds(configured: float, own: list[float], peers: list[tuple[float, int | None]] = (),
                     nodes: int | None = None, strategy: str = "ROLLING", node_seconds: float = 0.0) -> float:
    """The expected update length: the setting; else the median of this cluster's recent successful
    updates with the same strategy; else, on the embedded plane, how long it takes to start a node
    (``node_seconds``); else one learned from the environment's other clusters; else 0 (unknown).
    A ROLLING update restarts the nodes one after another, so the last two count per node."""
    if configured > 0:
        return configured
    if own:
        return statistics.median(own)
    rolling = strategy == "ROLLING"
    if node_seconds > 0:
        return node_seconds * ((nodes or 1) if rolling else 1)
    if rolling:
        per_node = [duration / count for duration, count in peers if count]
        return statistics.median(per_node) * nodes if per_node and nodes else 0.0
    return statistics.median([duration for duration, _ in peers]) if peers else 0.0
