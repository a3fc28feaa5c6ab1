"""Planning a push: check and bundle the workspace, ask the cluster, and decide what the update
call would be (``Engine.plan``). Everything that can refuse a push happens here, before a byte is
uploaded, so a refusal (exit code 2) always means nothing changed."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from ..errors import CheckFailed, KxError
from ..finspace.rules import validate
from . import bundle as bundles
from . import stage as staging
from .watch import (
    Event,
    Progress,
    Recorder,
    code_matches,
    interrupted,
    jsonable,
)

CHECK_CACHE_DIR = "qcheck-cache"  # under settings.home
UPDATE_OPERATION = "UpdateKxClusterCodeConfiguration"


@dataclass
class Plan:
    """A checked, bundled push that has passed preflight; ``request`` is what ``push`` sends."""

    environment: str
    cluster: str
    request: dict  # UpdateKxClusterCodeConfiguration parameters, clientToken included
    bundle: bundles.Bundle | None  # None for a rollback (the code is already in S3)
    staged: staging.StagedObject | None  # the object when it is already in the bucket
    current: dict  # the cluster as preflight saw it (JSON-able)
    unchanged: bool  # the cluster already runs exactly this code, init script and arguments
    force: bool = False
    diagnostics: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rollback_of: int | None = None
    started: float = field(default_factory=time.time)  # the command's start: every elapsed counts from it
    timings: dict = field(default_factory=dict)  # {"bundle": s, "check": s}: when each ended, from started
    release_id: str | None = None  # the release this push is a target of (kx_jupyter.release)
    restoring: bool = False  # puts back a configuration no history entry holds (``Engine.restore``)
    events: list = field(default_factory=list)  # bundle and check (and their progress), as they happened
    told: bool = False  # ``events`` were told to a listener as they happened (plan's on_event)

    @property
    def arguments(self) -> dict:
        return args_of(self.request)

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "cluster": self.cluster,
            "request": self.request,
            "bundle": self.bundle.summary() if self.bundle else None,
            "already_staged": self.staged is not None,
            "unchanged": self.unchanged,
            "force": self.force,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "warnings": list(self.warnings),
            "rollback_of": self.rollback_of,
        }


def arg_list(args) -> list[dict]:
    return [{"key": str(k), "value": str(v)} for k, v in (args or {}).items()]


def as_sent(request: dict) -> dict:
    """The update as it goes on the wire. NO_RESTART carries code and deploymentConfiguration only,
    as AWS's published example sends it: the cluster keeps its init script and arguments (preflight
    has checked that the push asks for the same ones)."""
    if request["deploymentConfiguration"]["deploymentStrategy"] != "NO_RESTART":
        return request
    return {k: v for k, v in request.items() if k not in ("initializationScript", "commandLineArguments")}


def args_of(desc: dict) -> dict:
    return {a.get("key"): a.get("value") for a in desc.get("commandLineArguments") or []}


class Planning:
    """The engine's planning half (a mixin of ``Engine``): ``plan``, ``plan_bundle``, the preflight, and
    ``check`` (the same checks, offline, without a plan)."""

    def plan(
        self,
        cluster=None,
        env=None,
        src=None,
        init=None,
        args=None,
        strategy=None,
        force=False,
        check=True,
        on_event=None,
    ) -> Plan:
        """``on_event`` hears the bundle and check phases (and their progress on a large workspace)
        as they happen; the events are kept in ``Plan.events`` for the Deployment (``push``)."""
        started = time.time()
        init = self.settings.init_script if init is None else init
        said = Recorder(on_event)
        try:
            built = bundles.build(
                src or self.settings.workspace,
                self.settings.max_bundle_mb,
                init=init or None,
                progress=Progress(said, "bundle", started),
            )
            return self.plan_bundle(
                built, cluster, env, init, args, strategy, force, check, started, progress=said
            )
        except KeyboardInterrupt:
            raise interrupted(cluster or self.settings.cluster or "the cluster", "plan") from None

    def plan_bundle(
        self,
        built,
        cluster=None,
        env=None,
        init=None,
        args=None,
        strategy=None,
        force=False,
        check=True,
        started=None,
        progress=None,
    ) -> Plan:
        """``plan`` for a bundle already built: a release checks and preflights one bundle per target.
        ``progress``: a ``Recorder`` for the bundle and check events (see ``plan``)."""
        started = time.time() if started is None else started
        said = progress if progress is not None else Recorder()
        init = self.settings.init_script if init is None else init
        strategy = strategy or self.settings.strategy
        bucket = self.bucket()
        timings = {"bundle": time.time() - started}
        said(bundle_event(built, timings["bundle"]))
        hook = Progress(said, "check", started) if said.on_event is not None else None
        diagnostics = self._check(built, init, args, hook) if check else []  # offline, before any connection
        timings["check"] = time.time() - started if check else None
        said(check_event(diagnostics, timings["check"], timings["bundle"]))
        if init and init not in built.files:
            raise KxError(
                f"the init script {init} is not in the bundle (files: {', '.join(sorted(built.files)[:8])})",
                hint="Pass --init with a path relative to the workspace root, e.g. --init init.q.",
            )
        env, cluster = self.environment(env), self._cluster_name(cluster)
        key = staging.object_key(self.settings.code_prefix, built.sha256)
        request = self._request(env, cluster, {"s3Bucket": bucket, "s3Key": key}, init, args, strategy)
        desc = self._preflight(env, cluster, request)
        staged = staging.find(self.clients.s3, bucket, key, built.sha256, self.settings)
        if staged:
            request["code"] = staged.code()
        plan = self._plan(env, cluster, request, desc, built, staged, force, diagnostics)
        plan.started, plan.timings = started, timings
        plan.events, plan.told = said.events, said.on_event is not None
        return plan

    def _check(self, built, init, args, progress=None) -> list:
        from ..qcheck import check_bundle, format_text, has_errors

        diagnostics = check_bundle(
            built.files, init or None, args or {}, self._check_cache(), progress=progress
        )  # exactly what the push passes
        if has_errors(diagnostics):
            raise CheckFailed(
                f"the q checker found errors; nothing was uploaded:\n{format_text(diagnostics)}",
                diagnostics,
                hint="Fix them, or push anyway with --no-check.",
            )
        return diagnostics

    def _check_cache(self):
        """The checker's on-disk cache of per-file results (None when ``check_cache_mb`` is 0)."""
        from ..qcheck.cache import ReportCache

        limit = int(self.settings.check_cache_mb * 2**20)
        return ReportCache(self.settings.home_path / CHECK_CACHE_DIR, limit) if limit else None

    def _request(self, env, cluster, code, init, args, strategy) -> dict:
        request = {
            "environmentId": env,
            "clusterName": cluster,
            "clientToken": str(uuid.uuid4()),
            "code": code,
            "deploymentConfiguration": {"deploymentStrategy": strategy},
        }
        if init:
            request["initializationScript"] = init
        if args:
            request["commandLineArguments"] = arg_list(args)
        refuse(validate(UPDATE_OPERATION, request))
        return request

    def _preflight(self, env, cluster, request) -> dict:
        desc = self.describe(env, cluster)
        self.settle(env, cluster, desc)
        status = desc.get("status")
        if status != "RUNNING":
            since = desc.get("lastModifiedTimestamp")
            when = f" since {since:%Y-%m-%d %H:%M:%S %Z}".rstrip() if since else ""
            reason = f" ({desc['statusReason']})" if desc.get("statusReason") else ""
            raise KxError(
                f"cluster {cluster} is {status}{when}{reason}; it must be RUNNING to take new code",
                hint=f"Wait for it (`kx-jupyter status {cluster}`) and push again.",
            )
        if request["deploymentConfiguration"]["deploymentStrategy"] == "NO_RESTART":
            if desc.get("clusterType") != "GP":
                raise KxError(
                    f"NO_RESTART works only on GP clusters; {cluster} is {desc.get('clusterType')}",
                    hint="Use --strategy ROLLING or FORCE.",
                )
            if request.get("initializationScript") != desc.get("initializationScript") or args_of(
                {"commandLineArguments": request.get("commandLineArguments")}
            ) != args_of(desc):
                raise KxError(
                    "NO_RESTART cannot change the init script or the command-line arguments",
                    hint="Keep them as the cluster has them, or use --strategy ROLLING.",
                )
        return desc

    def _plan(self, env, cluster, request, desc, built, staged, force, diagnostics, rollback_of=None) -> Plan:
        unchanged = (
            code_matches(desc.get("code"), request["code"])
            and desc.get("initializationScript") == request.get("initializationScript")
            and args_of(desc) == args_of(request)
        )
        warnings = []
        if staged is not None and not staged.version_id:
            warnings.append(
                f"the bucket {staged.bucket} is not versioned: rollback and diff depend on this key "
                "never changing; turn on versioning"
            )
        return Plan(
            env,
            cluster,
            request,
            built,
            staged,
            jsonable(desc),
            unchanged,
            force,
            diagnostics,
            warnings,
            rollback_of,
        )

    def check(self, src=None, init=None, args=None) -> list:
        """The checker's diagnostics for exactly the files a push of ``src`` would bundle; offline."""
        from ..qcheck import check_bundle

        init = self.settings.init_script if init is None else init
        files = bundles.checked_files(
            src or self.settings.workspace, self.settings.max_bundle_mb, init=init or None
        )
        return check_bundle(files, init or None, args or {}, self._check_cache())  # no --arg: none passed


def bundle_event(built, at: float) -> Event:
    return Event(
        "bundle", "", [], at, f"{len(built.files)} files, {built.size} bytes, sha256 {built.sha256[:12]}"
    )


def check_event(diagnostics: list, at: float | None, bundled: float) -> Event:
    if at is None:
        return Event("check", "", [], bundled, "q checker skipped (--no-check)")
    if diagnostics:
        return Event(
            "check",
            "",
            [],
            at,
            f"q checker: {len(diagnostics)} warning(s)\n" + "\n".join(f"  {diag}" for diag in diagnostics),
        )
    return Event("check", "", [], at, "q checker: no problems")


def refuse(violations) -> None:
    if violations:
        raise KxError(
            "the request would be refused by the service: " + "; ".join(map(str, violations)),
            hint="Fix the values named above.",
        )
