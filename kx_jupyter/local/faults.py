"""Deliberate failures on the plane's requests (FinSpace, S3 and CloudWatch Logs alike), so
retry, staging and watch logic can be tested for real.

A fault plan has per-request probabilities (``throttle``, ``error``, ``drop``, ``slow``,
``drop_after``: the request is carried out, then the connection drops before the answer) and/or
a ``sequence`` of faults applied to the next matching requests in order (deterministic
tests). ``operations`` limits faults to the named operations (API names: ``GetKxCluster``,
``PutObject``, ``FilterLogEvents``, ...); ``slow_seconds`` sets the delay. ``step_error`` (a list
of cluster names) makes the reconciler's step for those clusters raise an internal error, so
fault isolation between clusters can be shown on a running plane; ``hold`` (a list of cluster
names) keeps their operations where they are (an update stays UPDATING) until the plan changes,
so a test can act while an update surely runs.
"""

from __future__ import annotations

import random
import threading

KINDS = ("throttle", "error", "drop", "slow", "drop_after")


class FaultPlanError(ValueError):
    pass


class Faults:
    def __init__(self, plan: dict | None = None, seed: int | None = None):
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.set(plan or {})

    def set(self, plan: dict) -> None:
        if not isinstance(plan, dict):
            raise FaultPlanError("the fault plan must be a JSON object")
        unknown = set(plan) - {*KINDS, "sequence", "operations", "slow_seconds", "step_error", "hold"}
        if unknown:
            raise FaultPlanError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        for kind in KINDS:
            rate = plan.get(kind, 0)
            if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
                raise FaultPlanError(f"{kind} must be a share between 0 and 1")
        bad = [k for k in plan.get("sequence", []) if k not in (*KINDS, "ok")]
        if bad:
            raise FaultPlanError(f"sequence entries must be one of {', '.join((*KINDS, 'ok'))}; got {bad[0]}")
        for key in ("step_error", "hold"):
            clusters = plan.get(key, [])
            if not isinstance(clusters, list) or not all(isinstance(c, str) for c in clusters):
                raise FaultPlanError(f"{key} must be a list of cluster names")
        with self._lock:
            self.plan = dict(plan)
            self._sequence = list(plan.get("sequence", []))

    def describe(self) -> dict:
        with self._lock:
            return {**self.plan, "sequence": list(self._sequence)}

    def pick(self, operation: str) -> str | None:
        """The fault to inflict on this request, or ``None``."""
        with self._lock:
            only = self.plan.get("operations")
            if only and operation not in only:
                return None
            if self._sequence:
                kind = self._sequence.pop(0)
                return None if kind == "ok" else kind
            roll = self._random.random()
            for kind in KINDS:
                share = self.plan.get(kind, 0)
                if roll < share:
                    return kind
                roll -= share
            return None

    def step_fails(self, cluster: str) -> bool:
        """Whether the reconciler's step for ``cluster`` is to raise an internal error."""
        with self._lock:
            return cluster in self.plan.get("step_error", [])

    def holds(self, cluster: str) -> bool:
        """Whether the reconciler is to leave ``cluster``'s operations where they are for now."""
        with self._lock:
            return cluster in self.plan.get("hold", [])

    @property
    def slow_seconds(self) -> float:
        return float(self.plan.get("slow_seconds", 2.0))
