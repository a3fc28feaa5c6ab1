"""The engine: check -> bundle -> preflight (``plan``), then stage -> update -> watch -> record (``push``).

Everything that can stop a push happens in ``plan``, before a byte is uploaded, so a
refusal (exit code 2) always means nothing changed. ``push`` stages and submits in the
caller's thread (failures raise KxError) and watches in a background thread. When the update
call's answer is lost, the cluster itself says whether it took the update; only when it
cannot be asked either is the outcome reported as unknown (UpdateOutcomeUnknown, exit code 1).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from ..config import KxJupyter, load_settings
from ..errors import CheckFailed, KxError
from ..finspace.rules import check_value, validate
from ..zipread import read_bundle
from . import bundle as bundles
from . import stage as staging
from .aws_errors import calling, error_code, outcome_unknown, translate
from .diff import FileDiff, compare
from .history import FAILED, IN_PROGRESS, REFUSED, SUCCEEDED, TIMED_OUT, UNKNOWN, History, HistoryEntry
from .polling import PollPolicy, expected_seconds
from .readlog import LoggedReader
from .watch import (
    STILL_UPDATING,
    Deployment,
    Event,
    Progress,
    Reader,
    Recorder,
    code_matches,
    failure,
    interrupted,
    jsonable,
    judge,
    log_tail,
    modified_at,
    new_state,
    node_view,
    not_taken,
    running_since,
    took_update,
)

UNSETTLED = (IN_PROGRESS, STILL_UPDATING, TIMED_OUT, UNKNOWN)  # outcomes nobody has seen the end of
log = logging.getLogger(__name__)  # decisions at INFO, every read at DEBUG (kx_jupyter.logs)

LOCAL_BUCKET = "kx-local-code"
CHECK_CACHE_DIR = "qcheck-cache"  # under settings.home
UPDATE_OPERATION = "UpdateKxClusterCodeConfiguration"


class UpdateOutcomeUnknown(KxError):
    """The update call's answer was lost and the cluster could not be asked: it may be updating.
    Exit code 1, because "nothing was deployed" (2) may be false."""

    exit_code = 1


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
        return {a["key"]: a["value"] for a in self.request.get("commandLineArguments", [])}

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


def _arg_list(args) -> list[dict]:
    return [{"key": str(k), "value": str(v)} for k, v in (args or {}).items()]


def as_sent(request: dict) -> dict:
    """The update as it goes on the wire. NO_RESTART carries code and deploymentConfiguration only,
    as AWS's published example sends it: the cluster keeps its init script and arguments (preflight
    has checked that the push asks for the same ones)."""
    if request["deploymentConfiguration"]["deploymentStrategy"] != "NO_RESTART":
        return request
    return {k: v for k, v in request.items() if k not in ("initializationScript", "commandLineArguments")}


def _args_of(desc: dict) -> dict:
    return {a.get("key"): a.get("value") for a in desc.get("commandLineArguments") or []}


class Engine:
    """The one engine under the magics, the widget form and the ``kx-jupyter`` command."""

    def __init__(self, settings: KxJupyter | None = None, clients=None, origin: str = ""):
        """``origin``: where this engine's pushes come from (``cli``, ``lab``, a notebook cell), for the
        history, unless a push names its own."""
        self.settings = settings if settings is not None else load_settings()
        self.origin = origin
        self._clients = clients
        self._lock = threading.Lock()
        self.history_db = History(self.settings.home_path / "history.sqlite")

    # -- connections and names
    @property
    def clients(self):
        with self._lock:
            if self._clients is None:
                from ..finspace.clients import Clients, connection

                self._clients = Clients(connection(self.settings), self.settings.max_attempts)
            return self._clients

    def _listing(self, doing: str, method: str, key: str, **params) -> list[dict]:
        """Every item of a paged FinSpace listing: botocore's paginator, all pages, no cap."""
        with calling(doing, self.settings):
            return (
                self.clients.finspace.get_paginator(method)
                .paginate(**params)
                .build_full_result()
                .get(key, [])
            )

    def environments(self) -> list[dict]:
        """Every kdb environment of the backend (environmentId, name, status, ...)."""
        return [
            jsonable(e)
            for e in self._listing("listing kdb environments", "list_kx_environments", "environments")
        ]

    def environment(self, env: str | None = None) -> str:
        """The environment id to use: the argument, the setting, or the backend's only one."""
        env = env or self.settings.environment
        if env:
            _refuse(check_value("KxEnvironmentId", env, "--env"))
            return env
        found = self.environments()
        if len(found) == 1:
            return found[0]["environmentId"]
        names = ", ".join(f"{e['environmentId']} ({e.get('name', '')})" for e in found) or "none"
        raise KxError(
            f"cannot pick a kdb environment: the backend has {len(found)} ({names})",
            hint="Name one with --env or KxJupyter.environment.",
        )

    def _cluster_name(self, cluster: str | None) -> str:
        cluster = cluster or self.settings.cluster
        if not cluster:
            raise KxError(
                "no cluster named",
                hint="Pass --cluster NAME (see `kx-jupyter clusters`) or set KxJupyter.cluster.",
            )
        _refuse(check_value("KxClusterName", cluster, "--cluster"))
        return cluster

    def bucket(self) -> str:
        if self.settings.code_bucket:
            return self.settings.code_bucket
        if self.settings.backend == "local":
            return LOCAL_BUCKET
        raise KxError(
            "no code bucket configured for the 'aws' backend",
            hint="Pass --bucket NAME or set KxJupyter.code_bucket (a versioned bucket FinSpace can read).",
        )

    def describe(self, env: str, cluster: str) -> dict:
        import botocore.exceptions as be

        try:
            return self.clients.finspace.get_kx_cluster(environmentId=env, clusterName=cluster)
        except be.ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                names = ", ".join(c["clusterName"] for c in self.clusters(env)) or "none"
                raise KxError(
                    f"cluster {cluster} does not exist in environment {env} (clusters: {names})",
                    hint="Pick one with --cluster, or create it first.",
                ) from None
            with calling(f"reading cluster {cluster}", self.settings):
                raise
        except be.BotoCoreError:
            with calling(f"reading cluster {cluster}", self.settings):
                raise

    # -- read-only views
    def clusters(self, env: str | None = None) -> list[dict]:
        env = self.environment(env)
        found = self._listing(
            f"listing the clusters of {env}", "list_kx_clusters", "kxClusterSummaries", environmentId=env
        )
        keep = (
            "clusterName",
            "clusterType",
            "status",
            "statusReason",
            "releaseLabel",
            "initializationScript",
            "lastModifiedTimestamp",
            "createdTimestamp",
            "azMode",
        )
        return [dict(jsonable({k: c[k] for k in keep if k in c}), environmentId=env) for c in found]

    def status(self, cluster: str | None = None, env: str | None = None) -> dict:
        env, cluster = self.environment(env), self._cluster_name(cluster)
        desc = self.describe(env, cluster)
        self.settle(env, cluster, desc)
        nodes = self._listing(
            f"listing the nodes of {cluster}",
            "list_kx_cluster_nodes",
            "nodes",
            environmentId=env,
            clusterName=cluster,
        )
        last = self.history_db.entries(cluster, env, limit=1)
        keep = (
            "clusterName",
            "clusterType",
            "status",
            "statusReason",
            "code",
            "initializationScript",
            "commandLineArguments",
            "capacityConfiguration",
            "releaseLabel",
            "lastModifiedTimestamp",
        )
        return dict(
            jsonable({k: desc[k] for k in keep if k in desc}),
            environmentId=env,
            nodes=node_view(nodes),
            last_push=last[0].to_dict() if last else None,
        )

    def history(
        self, cluster: str | None = None, env: str | None = None, limit: int = 50, settle: bool = False
    ) -> list[HistoryEntry]:
        """Newest first. With ``settle``, unfinished pushes are settled when their cluster answers;
        when it cannot be asked their reason says so (see ``deploy/unsettled.py``)."""
        entries = self.history_db.entries(cluster, env, limit)
        if not settle or not any(e.outcome in UNSETTLED for e in entries):
            return entries
        from .unsettled import mark_unknown, settle_listed

        unknown = settle_listed(self, entries, UNSETTLED)
        return mark_unknown(self.history_db.entries(cluster, env, limit), unknown, UNSETTLED)

    def settle(self, env: str, cluster: str, desc: dict) -> HistoryEntry | None:
        """Record the end of the newest push to ``cluster`` when nobody watched it end (``--no-wait``,
        a stopped watch, a lost answer) and ``desc`` (GetKxCluster now) shows it ended; returns it."""
        reached = [e for e in self.history_db.entries(cluster, env, limit=10) if e.outcome != REFUSED]
        if not reached or reached[0].outcome not in UNSETTLED:
            return None
        if desc.get("status") in ("UPDATING", "PENDING"):
            log.info(
                "settle %s: push #%s left %s: the cluster is %s",
                cluster,
                reached[0].id,
                reached[0].outcome,
                desc.get("status"),
            )
            return None
        entry = reached[0]
        if entry.outcome == UNKNOWN and not_taken(desc, entry.code(), entry.modified_before):
            reason = f"{cluster} did not take the update (unchanged since the push): nothing was deployed"
            self.history_db.finish(entry.id, REFUSED, f"{entry.reason}; {reason}" if entry.reason else reason)
            log.info("settle %s: push #%s (unknown) recorded as not taken", cluster, entry.id)
            return self.history_db.get(entry.id)
        verdict, reason = judge(
            desc, entry.code(), False, entry.started_at, time.time(), entry.modified_before
        )
        if verdict == "succeeded":
            self.history_db.finish(entry.id, SUCCEEDED, finished_at=running_since(desc))
        elif verdict == "failed":
            self.history_db.finish(entry.id, FAILED, reason)
        else:
            log.info("settle %s: push #%s stays %s: %s", cluster, entry.id, entry.outcome, reason)
            return None
        log.info(
            "settle %s: push #%s (%s) recorded as %s%s",
            cluster,
            entry.id,
            entry.outcome,
            verdict,
            f": {reason}" if reason else "",
        )
        return self.history_db.get(entry.id)

    # -- plan
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
        said(_bundle_event(built, timings["bundle"]))
        hook = Progress(said, "check", started) if said.on_event is not None else None
        diagnostics = self._check(built, init, args, hook) if check else []  # offline, before any connection
        timings["check"] = time.time() - started if check else None
        said(_check_event(diagnostics, timings["check"], timings["bundle"]))
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
            request["commandLineArguments"] = _arg_list(args)
        _refuse(validate(UPDATE_OPERATION, request))
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
            if request.get("initializationScript") != desc.get("initializationScript") or _args_of(
                {"commandLineArguments": request.get("commandLineArguments")}
            ) != _args_of(desc):
                raise KxError(
                    "NO_RESTART cannot change the init script or the command-line arguments",
                    hint="Keep them as the cluster has them, or use --strategy ROLLING.",
                )
        return desc

    def _plan(self, env, cluster, request, desc, built, staged, force, diagnostics, rollback_of=None) -> Plan:
        unchanged = (
            code_matches(desc.get("code"), request["code"])
            and desc.get("initializationScript") == request.get("initializationScript")
            and _args_of(desc) == _args_of(request)
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

    # -- push and watch
    def update(
        self,
        cluster=None,
        env=None,
        src=None,
        init=None,
        args=None,
        strategy=None,
        force=False,
        check=True,
        wait=True,
        on_event=None,
        dry_run=False,
        note: str = "",
        origin: str = "",
    ) -> Deployment:
        """``note``: the user's words for this push, kept in the history with the workspace's git commit;
        ``origin``: where the push came from (``push``'s)."""
        plan = self.plan(cluster, env, src, init, args, strategy, force, check, on_event=on_event)
        if dry_run:
            deployment = Deployment(
                plan.environment, plan.cluster, self._base_result(plan), on_event, plan.started
            )
            self._announce(plan, deployment)
            note = "" if plan.staged else " (s3ObjectVersion is added from the upload's answer)"
            if plan.unchanged:
                note += "; the cluster already runs this code, so a push changes nothing unless forced"
            deployment.emit(
                Event(
                    "update",
                    plan.current.get("status", ""),
                    [],
                    time.time() - plan.started,
                    f"dry run: this request would be sent{note}; nothing was uploaded or changed",
                )
            )
            deployment.finish("dry-run", request=as_sent(plan.request))
            return deployment
        return self.push(plan, wait=wait, on_event=on_event, origin=origin, **self.provenance(src, note))

    def provenance(self, src=None, note: str = "") -> dict:
        """``push``'s note and git keywords: the user's note, the workspace's git commit and dirty flag."""
        from .gitinfo import git_state

        commit, dirty = git_state(src or self.settings.workspace)
        return {"note": note, "git_commit": commit, "git_dirty": dirty}

    def _base_result(self, plan: Plan) -> dict:
        return {
            "bundle": plan.bundle.summary() if plan.bundle else None,
            "code": dict(plan.request["code"]),
            "uploaded_bytes": 0,
            "initializationScript": plan.request.get("initializationScript"),
            "commandLineArguments": plan.arguments,
            "strategy": plan.request["deploymentConfiguration"]["deploymentStrategy"],
            "clientToken": plan.request["clientToken"],
            "history_id": None,
            "elapsed": 0.0,
            "reason": "",
            "log_tail": [],
            "nodes": [],
            "warnings": list(plan.warnings),
            "diagnostics": [d.to_dict() for d in plan.diagnostics],
            "rollback_of": plan.rollback_of,
        }

    def push(
        self,
        plan: Plan,
        wait: bool = True,
        on_event=None,
        note: str = "",
        git_commit=None,
        git_dirty=None,
        origin: str = "",
    ) -> Deployment:
        """Stage and submit in the caller's thread; with ``wait`` the Deployment then has the update
        to follow: ``wait()`` follows it in the calling thread, ``follow_in_background()`` in one thread.
        ``origin`` goes to the history as is: ``cli``, ``lab``, ``notebook:<path>#<cell id>``.

        A plan carries one clientToken, so pushing the same plan again within the service's
        10 minutes is a harmless repeat, never a second deployment.
        """
        d = Deployment(plan.environment, plan.cluster, self._base_result(plan), on_event, plan.started)
        start = plan.started
        self._announce(plan, d)
        if plan.unchanged and not plan.force:
            d.emit(
                Event(
                    "unchanged",
                    plan.current.get("status", ""),
                    [],
                    time.time() - start,
                    f"{plan.cluster} already runs this code, init script and arguments; nothing changed",
                    "use --force to redeploy the same object",
                )
            )
            d.finish("unchanged")
            return d
        try:
            staged = self._stage(plan, d, start)
        except KeyboardInterrupt:
            raise interrupted(plan.cluster, "upload") from None
        request = dict(plan.request, code=staged.code())
        token = request["clientToken"]
        try:
            return self._request_and_watch(
                plan, d, staged, request, wait, note, git_commit, git_dirty, origin or self.origin
            )
        except KeyboardInterrupt:
            raise self._interrupted(plan, d, staged, token) from None

    def _interrupted(self, plan: Plan, d: Deployment, staged, token: str) -> KeyboardInterrupt:
        """Ctrl-C after the upload and before the watch: the history says how far the push got."""
        entry_id = d.result.get("history_id")
        where = f"s3://{staged.bucket}/{staged.key}"
        if entry_id is None:
            return interrupted(plan.cluster, "uploaded", uploaded=where)
        if not any(e.phase == "update" for e in d.events):
            self.history_db.finish(entry_id, UNKNOWN, "interrupted (Ctrl-C) during the update call")
            return interrupted(plan.cluster, "call", token=token)
        self.history_db.finish(entry_id, STILL_UPDATING, "interrupted (Ctrl-C) before the watch started")
        return interrupted(plan.cluster, "requested", token=token)

    def _request_and_watch(
        self, plan: Plan, d: Deployment, staged, request: dict, wait, note, git_commit, git_dirty, origin
    ) -> Deployment:
        """Record the push, send the update and give ``d`` the update to follow."""
        start = plan.started
        entry = self.history_db.start(
            backend=self.settings.backend,
            environment=plan.environment,
            cluster=plan.cluster,
            bundle_sha256=plan.bundle.sha256 if plan.bundle else self._sha_of_rollback(plan),
            bucket=staged.bucket,
            key=staged.key,
            version=staged.version_id,
            init_script=request.get("initializationScript"),
            arguments=plan.arguments,
            strategy=request["deploymentConfiguration"]["deploymentStrategy"],
            client_token=request["clientToken"],
            kind="rollback" if plan.rollback_of or plan.restoring else "push",
            rollback_of=plan.rollback_of,
            nodes=_node_count(plan.current),
            release_id=plan.release_id,
            note=note,
            git_commit=git_commit,
            git_dirty=git_dirty,
            origin=origin,
            modified_before=modified_at(plan.current),
        )
        d.result.update(code=staged.code(), uploaded_bytes=staged.uploaded_bytes, history_id=entry.id)
        try:
            taken = self._submit(plan, request)
        except UpdateOutcomeUnknown as exc:
            self.history_db.finish(entry.id, UNKNOWN, exc.message)
            raise
        except KxError as exc:
            self.history_db.finish(entry.id, REFUSED, exc.message)
            raise
        what = f"{request['deploymentConfiguration']['deploymentStrategy']}, clientToken {request['clientToken']}"
        if taken is None:
            d.emit(Event("update", "", [], time.time() - start, f"update accepted ({what})"))
        else:
            lost, desc = taken
            warning = (
                f"the answer to the update call was lost ({lost.message}), but {plan.cluster} took the "
                f"update ({what}; the cluster is {desc.get('status')})"
            )
            d.result["warnings"].append(warning)
            d.emit(Event("update", desc.get("status", ""), [], time.time() - start, "warning: " + warning))
        if not wait:
            d.finish("submitted", elapsed=time.time() - start)
            return d
        self._watch(
            d,
            expected_code=staged.code(),
            submitted=entry.started_at,
            seen_updating=taken is not None and taken[1].get("status") == "UPDATING",
            entry_id=entry.id,
            strategy=entry.strategy,
            nodes=entry.nodes,
            modified_before=entry.modified_before,
        )
        return d

    def _announce(self, plan: Plan, d: Deployment) -> None:
        """The rollback's target, then the bundle and check phases, timed from the command's start
        (told again only when the plan's listener did not hear them as they happened)."""
        if plan.rollback_of is not None:
            entry = self.history_db.get(plan.rollback_of)
            if entry is not None:
                d.emit(_going_back_to(entry))
        if plan.told:
            d.record(plan.events)
        else:
            for event in plan.events:
                d.emit(event)

    def _sha_of_rollback(self, plan: Plan) -> str | None:
        source = self.history_db.get(plan.rollback_of) if plan.rollback_of else None
        return source.bundle_sha256 if source else None

    def stage(self, plan: Plan, progress=None) -> staging.StagedObject:
        """The plan's bundle in the bucket it names: the object preflight found, or uploaded now
        (``progress(sent, total)`` hears a large upload's bytes as they go)."""
        if plan.staged is not None:
            return plan.staged
        code = plan.request["code"]
        return staging.upload(
            self.clients.s3,
            plan.bundle.open(),
            plan.bundle.sha256,
            code["s3Bucket"],
            code["s3Key"],
            self.settings,
            size=plan.bundle.size,
            progress=progress,
        )

    def _stage(self, plan: Plan, d: Deployment, start: float) -> staging.StagedObject:
        code = plan.request["code"]
        if plan.staged is not None:
            d.emit(
                Event(
                    "stage",
                    "",
                    [],
                    time.time() - start,
                    f"already in s3://{code['s3Bucket']}/{code['s3Key']}; 0 bytes uploaded",
                )
            )
            return plan.staged
        staged = self.stage(plan, progress=Progress(d.emit, "stage", start).sent)  # bytes sent, once a second
        d.emit(
            Event(
                "stage",
                "",
                [],
                time.time() - start,
                f"uploaded {staged.uploaded_bytes} bytes to s3://{staged.bucket}/{staged.key}"
                + (f" (version {staged.version_id})" if staged.version_id else ""),
            )
        )
        if not staged.version_id:
            warning = (
                f"the bucket {staged.bucket} is not versioned: rollback and diff depend on this key "
                "never changing; turn on versioning"
            )
            d.result["warnings"].append(warning)
            d.emit(Event("stage", "", [], time.time() - start, "warning: " + warning))
        return staged

    def _submit(self, plan: Plan, request: dict) -> tuple[KxError, dict] | None:
        """Send the update. None: accepted. (what went wrong, the cluster now): the answer was
        lost but the cluster took the update. Raises KxError when it was not taken (nothing
        deployed) and UpdateOutcomeUnknown when that cannot be found out."""
        import botocore.exceptions as be

        cluster = request["clusterName"]
        try:
            self.clients.finspace.update_kx_cluster_code_configuration(**as_sent(request))
            return None
        except be.ClientError as exc:
            if error_code(exc) == "ConflictException":  # retries reuse the clientToken: never our own update
                detail = exc.response.get("Error", {}).get("Message", "")
                raise KxError(
                    f"cluster {cluster} is already being updated; this push was refused ({detail})",
                    hint=f"Wait for the running update (`kx-jupyter status {cluster}`), then push again.",
                ) from None
            failure = exc
        except be.BotoCoreError as exc:
            failure = exc
        error = translate(failure, f"updating cluster {cluster}", self.settings)
        if not outcome_unknown(failure):
            raise error
        log.info(
            "update %s: the answer was lost (%s); asking the cluster whether it took the update",
            cluster,
            error.message,
        )
        return error, self._took_update(plan, request, error)

    def _took_update(self, plan: Plan, request: dict, error: KxError) -> dict:
        """The cluster's state when it took the update whose answer was lost; raises otherwise."""
        cluster, code = plan.cluster, request["code"]
        try:
            with calling(f"checking whether {cluster} took the update", self.settings):
                desc = self.clients.finspace.get_kx_cluster(
                    environmentId=plan.environment, clusterName=cluster
                )
        except KxError as check:
            raise UpdateOutcomeUnknown(
                f"the outcome of the update of {cluster} is UNKNOWN: {error.message}, so the service may or may "
                f"not have carried it out, and {check.message}",
                hint=f"Find out with `kx-jupyter status {cluster} --watch` (or `%kx_status {cluster}` in a notebook): "
                f"it shows whether {cluster} is updating to s3://{code['s3Bucket']}/{code['s3Key']} and follows "
                "the update to its end. Do not push again before you know.",
            ) from None
        if took_update(desc, code, plan.current):
            log.info("update %s: the cluster took it (%s)", cluster, desc.get("status"))
            return desc
        log.info("update %s: not taken; the cluster is %s on its previous code", cluster, desc.get("status"))
        raise KxError(
            f"{error.message}; {cluster} is {desc.get('status')} with its previous code and no update "
            "in progress: the update was not taken, nothing was deployed",
            hint=error.hint,
        )

    def _watch(
        self,
        d: Deployment,
        *,
        expected_code,
        submitted,
        seen_updating,
        entry_id,
        strategy,
        nodes,
        modified_before=None,
    ) -> None:
        """Give ``d`` its update to follow (the caller picks the thread; see ``Deployment``)."""
        history = self.history_db
        expected, spread = expected_seconds(
            self.settings.expected_update_seconds,
            history.durations(d.cluster, d.environment, strategy),
            history.peer_durations(d.cluster, d.environment, self.settings.backend, strategy),
            nodes,
            strategy,
            self._plane_node_seconds(),
        )
        _ = self.clients.logs  # create every client here: boto3 does not create clients thread-safely
        policy = PollPolicy(
            self.settings.poll_initial,
            self.settings.poll_max,
            expected,
            spread,
            nodes,
            strategy,
            d.shows_nodes,  # turns: node listings cost calls, made only when a listener shows the node table
        )
        state = new_state(
            policy,
            started=d.started,
            submitted=submitted,
            deadline=time.time() + self.settings.timeout,
            expected_code=expected_code,
            seen_updating=seen_updating,
            modified_before=modified_before,
        )
        reader = LoggedReader(Reader(self.clients, self.settings, d.environment, d.cluster, since=submitted))
        d.result["expected_seconds"] = round(expected, 3)
        log.info(
            "watch %s: %s update expected to take %s, first read at %.2f s%s",
            d.cluster,
            strategy,
            f"{expected:.1f} s +- {spread:.1f} s" if expected else "an unknown time (no history)",
            state.poll.at,
            ", node turns listed" if policy.turns else "",
        )

        def record(verdict, state):
            log.info(
                "watch %s: %s%s", d.cluster, verdict.status, f" ({verdict.reason})" if verdict.reason else ""
            )
            if verdict.status == "failed":
                error = failure(d.cluster, verdict, state)
                if entry_id:
                    history.finish(entry_id, FAILED, verdict.reason, "\n".join(log_tail(state)))
                return error
            if entry_id:
                outcome = SUCCEEDED if verdict.status == "succeeded" else STILL_UPDATING
                history.finish(entry_id, outcome, verdict.reason, finished_at=verdict.finished_at)
            return None

        d.follow(state, reader, record)

    def _plane_node_seconds(self) -> float:
        """On the embedded plane, how long it takes to start a node (0 elsewhere)."""
        if self.settings.backend != "local":
            return 0.0
        from ..local.daemon import node_start_seconds, state_dir_of

        return node_start_seconds(state_dir_of(self.settings))

    def attach(self, cluster=None, env=None, on_event=None) -> Deployment:
        """Watch an update in progress (started here or elsewhere); never changes anything."""
        env, cluster = self.environment(env), self._cluster_name(cluster)
        desc = self.describe(env, cluster)
        # the newest push that reached the cluster, when its watch ended early (detached, timed out, answer lost)
        reached = [e for e in self.history_db.entries(cluster, env, limit=10) if e.outcome != REFUSED]
        entry = reached[0] if reached and reached[0].outcome in UNSETTLED else None
        d = Deployment(
            env,
            cluster,
            {
                "code": entry.code() if entry else jsonable(desc.get("code")),
                "history_id": entry.id if entry else None,
                "reason": "",
                "log_tail": [],
                "nodes": [],
                "elapsed": 0.0,
            },
            on_event,
        )
        if desc.get("status") != "UPDATING" and entry is None:
            d.emit(Event("unchanged", desc.get("status", ""), [], 0.0, f"no update in progress on {cluster}"))
            d.finish("unchanged")
            return d
        self._watch(
            d,
            expected_code=entry.code() if entry else None,
            submitted=entry.started_at if entry else time.time(),
            seen_updating=desc.get("status") == "UPDATING",
            entry_id=entry.id if entry else None,
            strategy=entry.strategy if entry else self.settings.strategy,
            nodes=_node_count(desc),
            modified_before=entry.modified_before if entry else None,
        )
        return d

    # -- rollback and diff
    def rollback(
        self,
        cluster=None,
        to: int | None = None,
        env=None,
        wait=True,
        on_event=None,
        force=False,
        dry_run=False,
        release_id=None,
        origin: str = "",
    ) -> Deployment:
        """Re-deploy an earlier entry's exact object version, init script, arguments and strategy.

        ``to`` is a history id; by default the newest successful push whose code differs from
        what the cluster runs now.
        """
        env, cluster = self.environment(env), self._cluster_name(cluster)
        desc = self.describe(env, cluster)
        entry = self._rollback_target(env, cluster, to, desc)
        staging.exists(self.clients.s3, entry.bucket, entry.key, entry.version, self.settings)
        request = self._request(
            env, cluster, entry.code(), entry.init_script, entry.arguments, entry.strategy
        )
        desc = self._preflight(env, cluster, request)
        staged = staging.StagedObject(entry.bucket, entry.key, entry.version, 0)
        plan = self._plan(env, cluster, request, desc, None, staged, force, [], rollback_of=entry.id)
        plan.release_id = release_id  # a release's rollback is recorded under its id
        if dry_run:
            d = Deployment(env, cluster, self._base_result(plan), on_event, plan.started)
            d.emit(_going_back_to(entry))
            d.finish("dry-run", request=as_sent(plan.request))
            return d
        return self.push(plan, wait=wait, on_event=on_event, origin=origin)

    def restore(
        self, cluster, configuration: dict, env=None, strategy=None, wait=True, on_event=None, release_id=None
    ) -> Deployment:
        """Put back a code configuration read from the cluster earlier (``code``, ``initializationScript``,
        ``commandLineArguments`` as GetKxCluster gives them) that no history entry holds, such as the
        code a cluster was created with: what a release's rollback restores for such a cluster."""
        env, cluster = self.environment(env), self._cluster_name(cluster)
        code = {
            k: v for k, v in configuration["code"].items() if k in ("s3Bucket", "s3Key", "s3ObjectVersion")
        }
        staging.exists(
            self.clients.s3, code["s3Bucket"], code["s3Key"], code.get("s3ObjectVersion"), self.settings
        )
        request = self._request(
            env,
            cluster,
            code,
            configuration.get("initializationScript"),
            _args_of(configuration) or None,
            strategy or self.settings.strategy,
        )
        desc = self._preflight(env, cluster, request)
        staged = staging.StagedObject(code["s3Bucket"], code["s3Key"], code.get("s3ObjectVersion"), 0)
        plan = self._plan(env, cluster, request, desc, None, staged, True, [])
        plan.release_id, plan.restoring = release_id, True
        return self.push(plan, wait=wait, on_event=on_event)

    def _rollback_target(self, env, cluster, to, desc) -> HistoryEntry:
        if to is not None:
            entry = self.history_db.get(int(to))
            if entry is None or entry.cluster != cluster or entry.environment != env:
                raise KxError(
                    f"history entry {to} is not a push to {env}/{cluster}",
                    hint=f"List them with `kx-jupyter history --cluster {cluster}`.",
                )
            if entry.outcome == FAILED:
                raise KxError(
                    f"history entry {to} failed on the cluster; rolling back to it would fail again",
                    hint="Pick a succeeded entry from `kx-jupyter history`.",
                )
            return entry
        succeeded = self.history_db.entries(cluster, env, limit=200, outcome=SUCCEEDED)
        for entry in succeeded:
            if not code_matches(desc.get("code"), entry.code()):
                return entry
        if succeeded:
            ids = ", ".join(f"#{e.id}" for e in succeeded[:5]) + (" …" if len(succeeded) > 5 else "")
            raise KxError(
                f"every successful deployment of {cluster} in the history ({ids}) is the code it runs now: "
                "there is nothing earlier to roll back to",
                hint=f"Push the code you want, or redeploy one of them with --to {succeeded[0].id} --force.",
            )
        raise KxError(
            f"no successful deployment of {cluster} in the history to roll back to",
            hint="Roll back by pushing the old code, or name an entry with --to.",
        )

    def check(self, src=None, init=None, args=None) -> list:
        """The checker's diagnostics for exactly the files a push of ``src`` would bundle; offline."""
        from ..qcheck import check_bundle

        init = self.settings.init_script if init is None else init
        files = bundles.checked_files(
            src or self.settings.workspace, self.settings.max_bundle_mb, init=init or None
        )
        return check_bundle(
            files, init or None, args or {}, self._check_cache()
        )  # no --arg: the push passes none

    def diff(self, cluster=None, env=None, src=None) -> list[FileDiff]:
        """The workspace against the code the cluster runs (by its S3 object version)."""
        env, cluster = self.environment(env), self._cluster_name(cluster)
        code = self.describe(env, cluster).get("code") or {}
        if not code.get("s3Bucket"):
            raise KxError(
                f"cluster {cluster} runs no code from S3", hint="Push some first with `kx-jupyter update`."
            )
        deployed, unsafe = self._read_code(code)
        workspace = bundles.read_all(src or self.settings.workspace, self.settings.max_bundle_mb)
        return compare(deployed, workspace, unsafe)

    def rollback_diff(
        self, cluster=None, to: int | None = None, env=None
    ) -> tuple[HistoryEntry, list[FileDiff]]:
        """What a rollback would change before it starts: (the entry it goes to, the code running now → that entry's)."""
        env, cluster = self.environment(env), self._cluster_name(cluster)
        desc = self.describe(env, cluster)
        entry = self._rollback_target(env, cluster, to, desc)
        running = desc.get("code") or {}
        now, unsafe = self._read_code(running) if running.get("s3Bucket") else ({}, [])
        then, unsafe_then = self._read_code(entry.code())
        return entry, compare(now, then, sorted(set(unsafe) | set(unsafe_then)))

    def _read_code(self, code: dict) -> tuple[dict[str, bytes], list[str]]:
        limit = int(self.settings.max_bundle_mb * 2**20)
        data = staging.fetch(
            self.clients.s3,
            code["s3Bucket"],
            code["s3Key"],
            code.get("s3ObjectVersion"),
            self.settings,
            limit,
        )
        return read_bundle(data, limit, "the deployed code")


def _bundle_event(built, at: float) -> Event:
    return Event(
        "bundle", "", [], at, f"{len(built.files)} files, {built.size} bytes, sha256 {built.sha256[:12]}"
    )


def _check_event(diagnostics: list, at: float | None, bundled: float) -> Event:
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


def _going_back_to(entry: HistoryEntry) -> Event:
    """The event that opens a rollback: which history entry it re-deploys."""
    import datetime as dt

    when = dt.datetime.fromtimestamp(entry.started_at, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Event(
        "stage",
        "",
        [],
        0.0,
        f"rolling back to history entry #{entry.id}: the {entry.kind} of {when} by "
        f"{entry.user} (sha256 {(entry.bundle_sha256 or '?')[:12]}, init {entry.init_script or '—'})",
    )


def _node_count(desc: dict) -> int | None:
    return (desc.get("capacityConfiguration") or {}).get("nodeCount")


def _refuse(violations) -> None:
    if violations:
        raise KxError(
            "the request would be refused by the service: " + "; ".join(map(str, violations)),
            hint="Fix the values named above.",
        )
