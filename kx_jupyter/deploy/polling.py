"""When to read an update in progress, and what each read asks for.

Times here are seconds since the update call (``t``); a ``Poll`` says when the next read is
due and whether it reads the cluster (GetKxCluster), lists its nodes (ListKxClusterNodes,
which also brings the node logs along) or both. Every call is spent where something can be
seen; the figures are in bench/bench_watch.py.

* Expected length E known (the setting, this cluster's history, the embedded plane's node start
  time, or the environment's other clusters; see ``expected_seconds``), with an uncertainty
  ``spread``: no read right after the call (nothing but UPDATING can be seen then). Coarse reads
  of the cluster, evenly spaced and at most ``2 * maximum`` apart, lead up to the end window
  ``E +- spread``, read every ``fine`` seconds (at most 6 reads wide, at least 0.5 s apart) so the
  end is seen within ``fine`` of it. Short updates (window within ``COARSE_FROM`` s) get no
  coarse read at all: one read just after the expected end, one listing, and done.
  Node listings are paid for only where someone sees the node table (``turns``: the cell's view,
  the CLI's text lines; not ``--json``, a background push with no view, a release's targets):
  without it the only listing is the final one, which the result's node list and a failure's log
  tail need, so a known length costs at most the calls of a fixed 10 s poll. With it, in a ROLLING
  update of several nodes, the first listing lands inside the first node's restart (half-way
  through it, or ``fine`` after the call if that is sooner) and one more just after each node's
  expected turn (re-anchored on what the last listing showed), so every node's old -> restarting
  -> new is seen. Nodes that take at least ``NODE_POLL_FROM`` s each get up to ``NODE_RETRIES``
  more listings ``fine`` apart while one is still PROVISIONING; faster nodes get none (the next
  turn's listing comes soon), and at most ``TURN_LISTINGS`` turn listings in all, so showing the
  turns costs at most that many calls more than a fixed poll. A view that joins a watch started
  without the table (``%kx_status`` on a background push) turns the listings on from then on
  (``show_turns``): the nodes are listed within ``fine`` (at once, or with a read due by then), and
  each listing schedules the next turn's as above.
  An update that overruns the window is read ``fine`` apart again, doubling up to ``maximum``.
* Nothing known (a remote endpoint, no history, no setting): one read of the cluster at
  ``BLIND_FIRST`` s (a quick failure, or a very short update, is seen at once; the nodes are
  listed too when the node table is shown), then reads on AWS's helper's 30 s grid
  (``maximum``), skipping its first grid reads to pay for the blind read's listing and the final
  one: from ``2 * maximum`` without the node table, ``3 * maximum`` with it. So for any update
  longer than that: the same calls and the same detection delay as that helper (a fixed
  ``maximum`` poll). The price: an update that ends between ``BLIND_FIRST`` s and the first grid
  read is seen at that read. One push teaches the length, and the next one is followed closely.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

EPS = 1e-3  # times are differences of epoch seconds: ~1e-7 s of float noise


@dataclass(frozen=True)
class Poll:
    at: float  # seconds since the update call
    cluster: bool = True  # GetKxCluster
    nodes: bool = False  # ListKxClusterNodes (and the node logs since the last read)


class PollPolicy:
    """``first()``: the first read; ``after(t, nodes_left, anchor)``: the read after the one at ``t``;
    ``show_turns(t, pending)``: a view with the node table joined at ``t``.

    ``turns``: someone sees the node table, so each node's turn is listed (see the module docstring).
    ``nodes_left``: nodes of a ROLLING update still to restart as the read at ``t`` saw them
    (None when not listed); ``anchor``: when the last node change happened (seconds since the call)."""

    FINE_MIN = 0.5
    FINE_MAX = 10.0
    WINDOW_READS = 6
    COARSE_FROM = 10.0  # a window this close to the call needs no read before it
    NODE_POLL_FROM = 10.0  # per-node time from which a PROVISIONING node is listed again while it lasts
    NODE_RETRIES = 3
    TURN_LISTINGS = 8  # node-turn listings of one update at most (a large cluster of fast nodes)
    BLIND_FIRST = 2.0

    def __init__(
        self,
        initial: float,
        maximum: float,
        expected: float = 0.0,
        spread: float = 0.0,
        nodes: int | None = None,
        strategy: str = "ROLLING",
        turns: bool = True,
    ):
        self.initial = max(0.05, initial)
        self.maximum = max(self.initial, maximum)
        self.expected = max(0.0, expected)
        self.spread = max(0.1, spread) if self.expected else 0.0
        self.fine = min(self.FINE_MAX, max(self.FINE_MIN, 2 * self.spread / self.WINDOW_READS))
        self.window = (self.expected - self.spread, self.expected + self.spread)
        count = nodes or 1
        self.nodes = count
        self.per_node = self.expected / count if strategy == "ROLLING" and count > 1 else 0.0
        self._show(turns)
        self._retries = 0
        self._listings = 0
        self._overrun = 0.0

    def _show(self, turns: bool) -> None:
        """Set ``turns`` and what it drives."""
        self.turns = turns
        self._node_polls = turns and self.per_node > 0
        # the blind grid starts later by one helper read per listing the blind policy adds
        self.grid_from = self.maximum * (3 if turns else 2)

    def show_turns(self, t: float, pending: Poll) -> Poll:
        """Someone sees the node table from ``t`` on (a view joined the watch): list each node's turn.

        Returns the read to make instead of ``pending``: it lists the nodes, so the table fills within
        ``fine`` (``pending`` itself when it is due by then, else a listing at once), and each listing
        schedules the next turn's as usual. ``pending`` unchanged when the turns were listed already."""
        if self.turns:
            return pending
        self._show(True)
        if pending.nodes:
            return pending
        self._listings += 1
        if pending.at <= t + self.fine + EPS:
            return Poll(pending.at, cluster=pending.cluster, nodes=True)
        return Poll(t, cluster=False, nodes=True)

    @property
    def known(self) -> bool:
        return bool(self.expected)

    def first(self) -> Poll:
        if not self.known:
            return Poll(self.BLIND_FIRST, cluster=True, nodes=self.turns)
        inside = min(self.fine, self.per_node / 2)  # inside the first node's restart
        if self._node_polls and inside < self.window[0]:
            self._listings += 1
            return Poll(inside, cluster=False, nodes=True)  # the first node restarting
        return self.after(0.0, self.nodes if self._node_polls else None, 0.0)

    def after(self, t: float, nodes_left: int | None = None, anchor: float = 0.0) -> Poll:
        if not self.known:
            grid = self.maximum * math.floor(t / self.maximum + 1 + EPS)
            return Poll(max(grid, self.grid_from), cluster=True)
        end = self._end_read(t)
        node = self._node_read(t, nodes_left, anchor)
        if node is not None and node < end - EPS:
            self._listings += 1
            return Poll(node, cluster=False, nodes=True)
        if t + EPS < self.window[0] and end > self.COARSE_FROM:
            gap = 2 * self.maximum
            coarse = t + (end - t) / max(1, math.ceil((end - t) / gap - EPS))
            if coarse < end - EPS:
                return Poll(coarse)
        return Poll(end)

    def _end_read(self, t: float) -> float:
        """The next read in (or after) the end window: ``fine`` apart, then doubling once past it."""
        start, stop = self.window
        first = start + self.fine
        if t + EPS < first:
            return first
        if t + EPS < stop:
            return first + self.fine * (math.floor((t - first) / self.fine + EPS) + 1)
        self._overrun = min(self.maximum, max(self.fine, self._overrun * 2))
        return t + self._overrun

    def _node_read(self, t: float, nodes_left: int | None, anchor: float) -> float | None:
        """A listing just after the next node's expected turn in a ROLLING update (None: none due)."""
        if not self._node_polls or nodes_left is None or nodes_left <= 1:
            self._retries = 0
            return None
        if self._listings >= self.TURN_LISTINGS:
            return None
        due = anchor + self.per_node + self.fine
        if due > t + EPS:
            self._retries = 0
            return due
        if self.per_node < self.NODE_POLL_FROM:
            return t + max(self.per_node, self.FINE_MIN)  # behind the expected turns: one turn on
        if self._retries >= self.NODE_RETRIES:
            return None
        self._retries += 1
        return t + self.fine


def expected_seconds(
    configured: float,
    own: list[float],
    peers: list[tuple[float, int | None]] = (),
    nodes: int | None = None,
    strategy: str = "ROLLING",
    node_seconds: float = 0.0,
) -> tuple[float, float]:
    """(expected update length, its uncertainty), both in seconds; (0, 0) when nothing is known.

    The setting (+-5 %); else the median of this cluster's recent successful updates with the
    same strategy (+- their largest deviation, at least 1 %; +-2 % from a single one); else, on
    the embedded plane, how long it takes to start a node (the plane adds a few ticks per node);
    else one learned from the environment's other clusters (+-25 %). A ROLLING update restarts
    the nodes one after another, so the last two count per node."""
    if configured > 0:
        return configured, 0.05 * configured
    if own:
        median = statistics.median(own)
        deviation = max(abs(d - median) for d in own) if len(own) > 1 else 0.02 * median
        return median, max(deviation, 0.01 * median)
    rolling = strategy == "ROLLING"
    count = (nodes or 1) if rolling else 1
    if node_seconds > 0:
        return node_seconds * count + 0.1 * count, 0.1 * count
    if rolling:
        per_node = [duration / n for duration, n in peers if n]
        expected = statistics.median(per_node) * nodes if per_node and nodes else 0.0
    else:
        expected = statistics.median([duration for duration, _ in peers]) if peers else 0.0
    return expected, 0.25 * expected
