"""The release manifest (``kxrelease.toml`` in the workspace): targets, ordered stages, failure policy.

    on_failure = "rollback"            # or "stop" (the default)
    stages = [["tp"], ["rdb", "rts"], ["hdb"], ["gw"]]

    [targets.tp]
    cluster = "tick-tp"                # required
    environment = "kxlocaldev"         # optional (default: the release's environment)
    init = "tick.q"                    # optional (default: KxJupyter.init_script)
    strategy = "ROLLING"               # optional (default: KxJupyter.strategy)
    arguments = { s = "1", procName = "tp" }
    timeout = 1800                     # optional: seconds to watch its update (default: --timeout, KxJupyter.timeout)

Every mistake is one line ``kxrelease.toml:LINE: problem``; all of them are reported at once.
tomllib gives no positions, so lines are found in the text: the target's table header, the key's line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..config import STRATEGIES
from ..errors import KxError
from ..finspace.rules import check_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

MANIFEST_NAME = "kxrelease.toml"
TOP_KEYS = ("on_failure", "stages", "targets", "environment")
TARGET_KEYS = ("cluster", "environment", "init", "arguments", "strategy", "timeout")
TIMEOUT_RANGE = (0.1, 7 * 86400.0)  # KxJupyter.timeout's bounds
POLICIES = ("stop", "rollback")


@dataclass
class Target:
    name: str
    cluster: str
    environment: str | None = None
    init: str | None = None
    arguments: dict = field(default_factory=dict)
    strategy: str | None = None
    timeout: float | None = None  # seconds to watch its update; past it the target is still updating
    stage: int = 0  # index into Manifest.stages
    line: int = 0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "cluster": self.cluster,
            "environment": self.environment,
            "init": self.init,
            "arguments": dict(self.arguments),
            "strategy": self.strategy,
            "timeout": self.timeout,
            "stage": self.stage + 1,
        }


@dataclass
class Manifest:
    path: Path
    targets: dict[str, Target]
    stages: list[list[str]]
    on_failure: str = "stop"
    environment: str | None = None

    def ordered(self) -> list[Target]:
        return [self.targets[name] for stage in self.stages for name in stage]


class ManifestError(KxError):
    """The manifest's problems, one ``path:line: problem`` each (exit code 2: nothing was done)."""

    def __init__(self, path: Path, problems: list[tuple[int, str]]):
        self.problems = [f"{path.name}:{line}: {text}" for line, text in sorted(problems)]
        super().__init__(
            f"the release manifest {path} has {len(problems)} problem(s):\n" + "\n".join(self.problems),
            hint="Fix the lines named above.",
        )


class _Lines:
    """Where things are in the manifest's text (tomllib keeps no positions)."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def find(self, pattern: str, start: int = 0, stop: int | None = None) -> int:
        expr = re.compile(pattern)
        for number in range(start, len(self.lines) if stop is None else stop):
            if expr.search(self.lines[number]):
                return number + 1
        return 0

    def table(self, *names: str) -> int:
        dotted = r"\s*\.\s*".join(rf"(?:{re.escape(n)}|\"{re.escape(n)}\")" for n in names)
        return self.find(rf"^\s*\[\s*{dotted}\s*\]") or self.find(rf"^\s*{re.escape(names[-1])}\s*=")

    def key(self, key: str, table_line: int = 0) -> int:
        """The line of ``key = `` inside the table starting at ``table_line`` (1-based; 0: the top)."""
        stop = self.find(r"^\s*\[", table_line) - 1 if self.find(r"^\s*\[", table_line) else None
        found = self.find(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=", table_line, stop)
        if not found:  # inline tables and dotted keys: any mention after the table
            found = self.find(rf"(?:^|[\s{{,.]){re.escape(key)}\s*=", table_line)
        return found or table_line or 1


def load(path: Path | str) -> Manifest:
    """Read and check ``path``; raises ManifestError with every problem, or KxError if it is missing."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KxError(
            f"no release manifest at {path}",
            hint=f"Write a {MANIFEST_NAME} in the workspace (see README, Releases).",
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or int((re.search(r"line (\d+)", str(exc)) or [0, 0])[1])
        raise ManifestError(path, [(line, f"not valid TOML: {str(exc).split(' (at line')[0]}")]) from None
    return parse(path, data, _Lines(text))


def parse(path: Path, data: dict, lines: _Lines) -> Manifest:
    problems: list[tuple[int, str]] = []
    for key in data:
        if key not in TOP_KEYS:
            problems.append((lines.key(key), f"unknown key '{key}' (expected one of: {', '.join(TOP_KEYS)})"))
    policy = data.get("on_failure", "stop")
    if policy not in POLICIES:
        problems.append(
            (lines.key("on_failure"), f'on_failure is \'{policy}\'; it must be "stop" or "rollback"')
        )
    targets = {}
    raw_targets = data.get("targets", {})
    if not isinstance(raw_targets, dict) or not raw_targets:
        problems.append((lines.key("targets"), 'no targets: add a [targets.NAME] table with cluster = "..."'))
        raw_targets = {}
    for name, spec in raw_targets.items():
        target = _target(name, spec, lines, problems)
        if target:
            targets[name] = target
    stages = _stages(data.get("stages"), raw_targets, targets, lines, problems)
    if problems:
        raise ManifestError(path, problems)
    return Manifest(path, targets, stages, policy, data.get("environment"))


def _target(name: str, spec, lines: _Lines, problems) -> Target | None:
    at = lines.table("targets", name)
    if not isinstance(spec, dict):
        problems.append((at, f"target {name} must be a table ([targets.{name}])"))
        return None
    for key in spec:
        if key not in TARGET_KEYS:
            problems.append(
                (
                    lines.key(key, at),
                    f"target {name}: unknown key '{key}' (expected one of: {', '.join(TARGET_KEYS)})",
                )
            )
    cluster = spec.get("cluster")
    if not isinstance(cluster, str) or not cluster:
        problems.append((at, f'target {name}: no cluster (add cluster = "NAME")'))
    else:
        for v in check_value("KxClusterName", cluster, f"target {name}: cluster"):
            problems.append((lines.key("cluster", at), str(v)))
    strategy = spec.get("strategy")
    if strategy is not None and str(strategy).upper() not in STRATEGIES:
        problems.append(
            (
                lines.key("strategy", at),
                f"target {name}: strategy '{strategy}' is not one of {', '.join(STRATEGIES)}",
            )
        )
    timeout = spec.get("timeout")
    low, high = TIMEOUT_RANGE
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not low <= timeout <= high
    ):
        problems.append(
            (
                lines.key("timeout", at),
                f"target {name}: timeout {timeout!r} is not a number of seconds from {low:g} to {high:g} "
                "(e.g. timeout = 1800)",
            )
        )
        timeout = None
    arguments = spec.get("arguments", {})
    if not isinstance(arguments, dict):
        problems.append(
            (lines.key("arguments", at), f'target {name}: arguments must be a table of KEY = "value"')
        )
        arguments = {}
    args_at = (
        lines.table("targets", name, "arguments") if lines.table("targets", name, "arguments") > at else at
    )
    for key, value in arguments.items():
        for v in check_value(
            "KxCommandLineArgument", {"key": str(key), "value": str(value)}, f"target {name}: argument {key}"
        ):
            problems.append((lines.key(str(key), args_at), str(v)))
    return Target(
        name,
        cluster if isinstance(cluster, str) else "",
        spec.get("environment"),
        spec.get("init"),
        {str(k): str(v) for k, v in arguments.items()},
        str(strategy).upper() if strategy else None,
        float(timeout) if timeout is not None else None,
        line=at,
    )


def _stages(raw, raw_targets, targets, lines: _Lines, problems) -> list[list[str]]:
    at = lines.key("stages")
    if raw is None:  # no stages: one stage per target, in the order written
        return [[name] for name in targets]
    if not isinstance(raw, list) or not all(isinstance(s, list) and s for s in raw):
        problems.append(
            (at, 'stages must be a list of non-empty lists of target names, e.g. [["tp"], ["rdb", "rts"]]')
        )
        return []
    seen: set[str] = set()
    for stage in raw:
        for name in stage:
            if name not in raw_targets:
                problems.append(
                    (
                        lines.find(rf"[\"']{re.escape(str(name))}[\"']", max(at - 1, 0)) or at,
                        f"stages: '{name}' is not a target (targets: {', '.join(raw_targets) or 'none'})",
                    )
                )
            elif name in seen:
                problems.append((at, f"stages: target '{name}' is listed twice"))
            seen.add(name)
    for name, target in targets.items():
        if name not in seen:
            problems.append((target.line, f"target {name} is in no stage (add it to stages)"))
    for number, stage in enumerate(raw):
        for name in stage:
            if name in targets:
                targets[name].stage = number
    return [list(stage) for stage in raw]


def check_clusters(manifest: Manifest, known: dict[str, set[str]], default_env: str) -> None:
    """Refuse targets whose cluster the environment does not have: ``known`` maps env -> cluster names."""
    problems = []
    lines = _Lines(manifest.path.read_text(encoding="utf-8"))
    for target in manifest.targets.values():
        env = target.environment or manifest.environment or default_env
        if target.cluster not in known.get(env, set()):
            names = ", ".join(sorted(known.get(env, ()))) or "none"
            problems.append(
                (
                    lines.key("cluster", target.line),
                    f"target {target.name}: cluster {target.cluster} does not exist in {env} (clusters: {names})",
                )
            )
    clusters = [
        ((t.environment or manifest.environment or default_env), t.cluster) for t in manifest.targets.values()
    ]
    for env_cluster in sorted({c for c in clusters if clusters.count(c) > 1}):
        names = [
            t.name
            for t in manifest.targets.values()
            if ((t.environment or manifest.environment or default_env), t.cluster) == env_cluster
        ]
        problems.append(
            (
                manifest.targets[names[1]].line,
                f"targets {', '.join(names)} all name cluster {env_cluster[1]}: a cluster runs one target",
            )
        )
    if problems:
        raise ManifestError(manifest.path, problems)
