"""Running a release: one bundle, checked per target, staged once, pushed stage by stage.

Each target's push is the engine's own (``Engine.plan_bundle`` + ``Engine.push``): its own
clientToken, a history row carrying the release id. Within a stage the updates are submitted
one after another from the calling thread (one API call each) and followed together, one
``Deployment.follow_in_background()`` thread per target: that is the engine's one driver, unchanged,
and a stage has a handful of targets. The calling thread waits for all of them; Ctrl-C detaches
every follower (each history row says still-updating) and ``--resume`` attaches to them again.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from ..deploy import bundle as bundles
from ..deploy.history import SUCCEEDED
from ..deploy.planning import args_of
from ..deploy.watch import code_matches, showing_nodes, shows_nodes
from ..errors import CheckFailed, KxError
from . import lock, record
from .manifest import Manifest, Target, check_clusters

WAITING, SKIPPED, UPDATING, SUCCEEDED_, FAILED, NOT_RUN = (
    "waiting",
    "skipped",
    "updating",
    "succeeded",
    "failed",
    "not run",
)
ROLLED_BACK, WOULD_UPDATE = "rolled back", "would update"


@dataclass
class Row:
    """One target's line in every view of a release."""

    target: str
    stage: int  # 1-based
    cluster: str
    environment: str
    phase: str = WAITING
    nodes_new: int = 0
    nodes: int = 0
    message: str = ""
    failing_line: str = ""
    history_id: int | None = None
    before_id: int | None = None  # the succeeded push it ran before this release (what a rollback restores)
    timeout: float | None = None  # seconds to watch its update (None: KxJupyter.timeout)

    def to_dict(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "target",
                "stage",
                "cluster",
                "environment",
                "phase",
                "nodes_new",
                "nodes",
                "message",
                "failing_line",
                "history_id",
                "before_id",
                "timeout",
            )
        }


@dataclass
class Release:
    id: str
    manifest: Manifest
    rows: dict[str, Row]
    status: str = "running"  # running | succeeded | failed | rolled back | dry-run | still-updating
    messages: list[str] = field(default_factory=list)
    listeners: list = field(default_factory=list)
    kind: str = "release"  # release | rollback (``--rollback``: "rolled back" is its success)

    def say(self, text: str) -> None:
        self.messages.append(text)
        self.changed()

    @property
    def shows_nodes(self) -> bool:
        """Someone sees the per-target node counts (a cell's or the form's table): each push then
        lists its node turns, which costs calls (``deploy.watch.showing_nodes``)."""
        return shows_nodes(self.listeners)

    def changed(self) -> None:
        for listener in list(self.listeners):
            listener(self)

    @property
    def exit_code(self) -> int:
        if self.kind == "rollback" and self.status == "rolled back":
            return 0
        return {"succeeded": 0, "dry-run": 0, "still-updating": 3}.get(self.status, 1)

    def to_dict(self) -> dict:
        return {
            "release_id": self.id,
            "kind": self.kind,
            "status": self.status,
            "manifest": str(self.manifest.path),
            "on_failure": self.manifest.on_failure,
            "targets": [r.to_dict() for r in self.rows.values()],
            "messages": list(self.messages),
        }

    def _repr_html_(self) -> str:  # a Release as a cell's value: the release view
        from .view import as_html

        return as_html(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        from .view import as_text

        printer.text(as_text(self))


def new_release_id() -> str:
    return time.strftime("rel-%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]


def run(
    engine,
    manifest: Manifest,
    src=None,
    only=None,
    dry_run=False,
    resume=False,
    check=True,
    on_change=None,
    timeout=None,
) -> Release:
    """Run ``manifest``'s release of ``src``; raises KxError (nothing deployed) for a refusal.
    ``timeout``: seconds to watch each target's update, for targets without their own ``timeout``."""
    default_env = engine.environment(manifest.environment)
    envs = {t.environment or default_env for t in manifest.targets.values()}
    check_clusters(manifest, {e: {c["clusterName"] for c in engine.clusters(e)} for e in envs}, default_env)
    targets = _selected(manifest, only)
    rows = {
        t.name: Row(
            t.name, t.stage + 1, t.cluster, t.environment or default_env, timeout=t.timeout or timeout
        )
        for t in targets
    }
    engine.clients.finspace, engine.clients.s3, engine.clients.logs  # noqa: B018 - created here, not in followers
    with lock.holding(engine.settings.home_path, [(r.environment, r.cluster) for r in rows.values()]):
        release_id = (_last_release(engine, rows.values()) if resume else None) or new_release_id()
        release = Release(release_id, manifest, rows, listeners=[on_change] if on_change else [])
        if resume:
            _reattach(engine, release)
        plans = _plans(engine, manifest, targets, rows, src, check)
        for name, plan in plans.items():
            plan.release_id = release_id
            rows[name].phase = SKIPPED if plan.unchanged else (WOULD_UPDATE if dry_run else WAITING)
            if plan.unchanged:
                rows[name].message = "already runs this code, init script and arguments"
            elif dry_run:
                rows[name].message = "would change " + _changes(plan)
        for name, plan in plans.items():  # each target was checked with its own init script and arguments
            for diagnostic in plan.diagnostics:
                release.say(f"{name} ({plan.cluster}): {diagnostic}")
        if dry_run:
            release.status = "dry-run"
            release.changed()
            return release
        _stage_once(engine, [p for p in plans.values() if not p.unchanged], release)
        for number, stage in enumerate(manifest.stages, start=1):
            names = [n for n in stage if n in plans and not plans[n].unchanged]
            if not names:
                continue
            release.say(f"stage {number}: {', '.join(names)}")
            if not _run_stage(engine, release, {n: plans[n] for n in names}):
                break
        _end(engine, release)
        return release


def _changes(plan) -> str:
    """What a push of ``plan`` changes on its cluster, for the dry run's detail column."""
    current, request = plan.current, plan.request
    changed = [] if code_matches(current.get("code"), request["code"]) else ["the code"]
    was, will = current.get("initializationScript"), request.get("initializationScript")
    if was != will:
        changed.append(f"the init script ({was or 'none'} → {will or 'none'})")
    if args_of(current) != plan.arguments:
        changed.append("the arguments")
    return ", ".join(changed) or "nothing"


def _selected(manifest: Manifest, only) -> list[Target]:
    if not only:
        return manifest.ordered()
    unknown = [n for n in only if n not in manifest.targets]
    if unknown:
        raise KxError(
            f"--only {', '.join(unknown)}: no such target in {manifest.path.name} "
            f"(targets: {', '.join(manifest.targets)})",
            hint="Name targets from the manifest.",
        )
    return [t for t in manifest.ordered() if t.name in only]


def _plans(engine, manifest, targets, rows, src, check) -> dict:
    """One bundle, checked and preflighted per target; every target's problem at once."""
    inits = [t.init for t in targets if t.init]
    built = bundles.build(
        src or engine.settings.workspace, engine.settings.max_bundle_mb, init=inits[0] if inits else None
    )
    plans, problems = {}, []
    for t in targets:
        try:
            plans[t.name] = engine.plan_bundle(
                built,
                t.cluster,
                rows[t.name].environment,
                t.init,
                t.arguments or None,
                t.strategy,
                check=check,
            )
        except CheckFailed as exc:
            problems.append(
                f"target {t.name} ({t.cluster}): the q checker found errors:\n"
                + "\n".join(f"  {d}" for d in exc.diagnostics if d.severity == "error")
            )
        except KxError as exc:
            problems.append(f"target {t.name} ({t.cluster}): {exc.message}")
    if problems:
        raise KxError(
            "the release was refused; nothing was uploaded or changed:\n" + "\n".join(problems),
            hint="Fix the targets named above (or run some with --only).",
        )
    return plans


def _stage_once(engine, plans, release: Release) -> None:
    """Upload the bundle once (content-addressed: every target's plan names the same object)."""
    if not plans:
        return
    first = plans[0]
    staged = first.staged
    if staged is None:
        staged = engine.stage(first)
        release.say(f"staged {staged.uploaded_bytes} bytes once to s3://{staged.bucket}/{staged.key}")
    else:
        release.say(f"bundle already in s3://{staged.bucket}/{staged.key}")
    for plan in plans:
        plan.staged = staged
        plan.request["code"] = staged.code()


def _before(engine, row: Row, current_code) -> int | None:
    """The newest succeeded push of ``row``'s cluster whose code it runs now: what a rollback restores."""
    for entry in engine.history_db.entries(row.cluster, row.environment, limit=100, outcome=SUCCEEDED):
        if code_matches(current_code, entry.code()):
            return entry.id
    return None


def _follow_rows(release: Release, row: Row):
    def on_event(event) -> None:
        if event.nodes:
            row.nodes = len(event.nodes)
            row.nodes_new = sum(1 for n in event.nodes if n.get("code") == "new code")
        if event.phase in ("stage", "update", "nodes") and row.phase == WAITING:
            row.phase = UPDATING
        if event.phase == "failed":
            row.message = event.message
        release.changed()

    return on_event


def _run_stage(engine, release: Release, plans: dict) -> bool:
    """Submit every target of the stage, follow them together; False when one did not succeed."""
    deployments = {}
    try:
        for name, plan in plans.items():
            row = release.rows[name]
            row.before_id = _before(engine, row, plan.current.get("code"))
            record.remember(engine.settings.home_path, release.id, row.environment, row.cluster, plan.current)
            try:
                follow = _follow_rows(release, row)
                if release.shows_nodes:
                    showing_nodes(follow)
                d = _watching(engine, row).push(plan, wait=True, on_event=follow)
            except KxError as exc:
                row.phase, row.message = FAILED, exc.message
                release.changed()
                continue
            row.history_id = d.result.get("history_id")
            deployments[name] = d
            d.follow_in_background()
        for name, d in deployments.items():
            d.wait()
            _ended(release.rows[name], d)
            release.changed()
    except KeyboardInterrupt:
        for d in deployments.values():
            d.detach()
        release.status = "still-updating"
        release.say("interrupted: the updates go on; continue with `kx-jupyter release --resume`")
        raise
    return all(release.rows[n].phase == SUCCEEDED_ for n in plans)


def _watching(engine, row: Row):
    """The engine that pushes ``row``'s target: the release's, or one watching for the target's timeout."""
    if row.timeout is None:
        return engine
    return type(engine)(engine.settings.with_overrides(timeout=row.timeout), clients=engine.clients)


def _ended(row: Row, d) -> None:
    result = d.result
    row.nodes = len(result.get("nodes") or []) or row.nodes
    if d.status == "succeeded":
        row.phase, row.nodes_new = SUCCEEDED_, row.nodes
        row.message = f"all nodes on the new code {result.get('elapsed', 0):.0f}s after the release began"
    elif d.status == "still-updating":
        row.phase = "still updating"
        row.message = (
            f"still updating when its {row.timeout:g} s timeout ended; the update goes on (--resume follows it)"
            if row.timeout
            else result.get("reason", "")
        )
    else:
        row.phase = FAILED
        row.message = result.get("reason") or (d.error.message if d.error else "failed")
        first = result.get("first_error") or {}
        row.failing_line = f"{first.get('node')}: {first.get('line')}" if first else ""


def _end(engine, release: Release) -> None:
    phases = [r.phase for r in release.rows.values()]
    if all(p in (SUCCEEDED_, SKIPPED) for p in phases):
        release.status = "succeeded"
    elif "still updating" in phases and FAILED not in phases:
        release.status = "still-updating"
        going = [r.target for r in release.rows.values() if r.phase == "still updating"]
        for row in release.rows.values():
            if row.phase == WAITING:
                row.phase, row.message = NOT_RUN, f"not run: waiting for {', '.join(going)}"
        release.say(
            f"stopped watching: {', '.join(going)} still updating; the updates go on: "
            "continue with `kx-jupyter release --resume`"
        )
    else:
        release.status = "failed"
        for row in release.rows.values():
            if row.phase in (WAITING,):
                row.phase, row.message = NOT_RUN, "not run: an earlier target failed"
        failed = [r.target for r in release.rows.values() if r.phase == FAILED]
        release.say(f"stopped: {', '.join(failed)} failed")
        if release.manifest.on_failure == "rollback":
            roll_back(engine, release)
    release.changed()


def roll_back(engine, release: Release) -> None:
    """Every updated target of ``release`` back to what it ran before, in reverse stage order."""
    done = [r for r in release.rows.values() if r.phase == SUCCEEDED_ and r.history_id]
    for stage in sorted({r.stage for r in done}, reverse=True):
        rows = [r for r in done if r.stage == stage]
        release.say(f"rolling back stage {stage}: {', '.join(r.target for r in rows)}")
        followed = []
        for row in rows:
            try:
                d = _going_back(engine, release, row)
            except KxError as exc:
                row.message = f"rollback refused: {exc.message}"
                continue
            if d is None:
                row.message = "cannot roll back: what this cluster ran before the release is not known"
                continue
            d.follow_in_background()
            followed.append((row, d))
        for row, d in followed:
            d.wait()
            row.phase = ROLLED_BACK if d.status in ("succeeded", "unchanged") else "rollback failed"
            back = (
                f"history entry #{row.before_id}" if row.before_id else "the code it ran before this release"
            )
            row.message = f"back on {back}" if d.ok else (d.result.get("reason") or "")
        release.changed()
    if done and all(r.phase == ROLLED_BACK for r in done):
        release.status = "rolled back"


def _going_back(engine, release: Release, row: Row):
    """Start putting ``row``'s cluster back: to its history entry from before the release, else to the
    configuration read from the cluster when the release began (e.g. its seed code); None: unknown."""
    if row.before_id is not None:
        return engine.rollback(
            row.cluster, to=row.before_id, env=row.environment, wait=True, force=True, release_id=release.id
        )
    configuration = record.before(engine.settings.home_path, release.id, row.environment, row.cluster)
    if configuration is None:
        return None
    target = release.manifest.targets.get(row.target)
    return engine.restore(
        row.cluster,
        configuration,
        env=row.environment,
        strategy=target.strategy if target else None,
        release_id=release.id,
    )


def _last_release(engine, rows) -> str | None:
    """The newest release id in the history of these clusters (the one ``--resume`` continues)."""
    found = [
        (e.id, e.release_id)
        for r in rows
        for e in engine.history_db.entries(r.cluster, r.environment, limit=20)
        if e.release_id
    ]
    return max(found)[1] if found else None


def _reattach(engine, release: Release) -> None:
    """Follow to their end the updates an interrupted run of this release left going."""
    for row in release.rows.values():
        last = engine.history_db.entries(row.cluster, row.environment, limit=1)
        if not last or last[0].release_id != release.id:
            continue
        release.say(f"resuming: following {row.cluster}'s update from the interrupted run")
        d = engine.attach(row.cluster, row.environment)
        d.wait()
        if d.status not in ("succeeded", "unchanged"):  # e.g. interrupted before the update call went out
            row.message = f"the interrupted run's update ended {d.status}; this run pushes it again"


def rollback_last(engine, manifest: Manifest, only=None, on_change=None) -> Release:
    """``--rollback``: the newest release of these targets, every updated target back, reverse stage order."""
    default_env = engine.environment(manifest.environment)
    targets = _selected(manifest, only)
    rows = {t.name: Row(t.name, t.stage + 1, t.cluster, t.environment or default_env) for t in targets}
    with lock.holding(engine.settings.home_path, [(r.environment, r.cluster) for r in rows.values()]):
        release_id = _last_release(engine, rows.values())
        if not release_id:
            raise KxError(
                "no release of these targets in the history to roll back",
                hint="Run `kx-jupyter release` first.",
            )
        release = Release(
            release_id, manifest, rows, listeners=[on_change] if on_change else [], kind="rollback"
        )
        for row in rows.values():
            pushes = [
                e
                for e in engine.history_db.entries(row.cluster, row.environment, limit=100)
                if e.release_id == release_id and e.kind == "push" and e.outcome == SUCCEEDED
            ]
            if not pushes:
                row.phase, row.message = SKIPPED, "not updated by this release"
                continue
            row.phase, row.history_id = SUCCEEDED_, pushes[-1].id
            recorded = record.before(engine.settings.home_path, release_id, row.environment, row.cluster)
            if recorded is not None:  # what it ran when the release began; a history entry of it if any
                row.before_id = _before(engine, row, recorded.get("code"))
                continue
            earlier = [  # a release run before releases recorded what each cluster ran before them
                e
                for e in engine.history_db.entries(row.cluster, row.environment, limit=200, outcome=SUCCEEDED)
                if e.id < pushes[-1].id and not code_matches(e.code(), pushes[-1].code())
            ]
            row.before_id = earlier[0].id if earlier else None
        roll_back(engine, release)
        if release.status != "rolled back":
            release.status = (
                "failed"
                if any(
                    r.phase == "rollback failed" or r.message.startswith(("cannot", "rollback"))
                    for r in rows.values()
                )
                else "rolled back"
            )
        release.changed()
        return release
