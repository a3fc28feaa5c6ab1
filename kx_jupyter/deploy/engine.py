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

from ..config import KxJupyter, load_settings
from ..errors import KxError
from . import stage as staging
from .aws_errors import calling, error_code, outcome_unknown, translate
from .history import FAILED, REFUSED, SUCCEEDED, UNKNOWN, History
from .planning import Plan, Planning, as_sent
from .polling import PollPolicy, expected_seconds
from .queries import UNSETTLED, Queries
from .readlog import LoggedReader
from .rollbacks import Rollbacks, going_back_to
from .watch import (
    STILL_UPDATING,
    Deployment,
    Event,
    Progress,
    Reader,
    failure,
    interrupted,
    jsonable,
    log_tail,
    modified_at,
    new_state,
    took_update,
)

log = logging.getLogger(__name__)  # decisions at INFO, every read at DEBUG (kx_jupyter.logs)


class UpdateOutcomeUnknown(KxError):
    """The update call's answer was lost and the cluster could not be asked: it may be updating.
    Exit code 1, because "nothing was deployed" (2) may be false."""

    exit_code = 1


class Engine(Queries, Planning, Rollbacks):
    """The one engine under the magics, the widget form and the ``kx-jupyter`` command: its reads
    (``Queries``), ``plan`` (``Planning``), ``push`` and ``attach`` here, and going back (``Rollbacks``)."""

    def __init__(self, settings: KxJupyter | None = None, clients=None, origin: str = ""):
        """``origin``: where this engine's pushes come from (``cli``, ``lab``, a notebook cell), for the
        history, unless a push names its own."""
        self.settings = settings if settings is not None else load_settings()
        self.origin = origin
        self._clients = clients
        self._lock = threading.Lock()
        self.history_db = History(self.settings.home_path / "history.sqlite")

    @property
    def clients(self):
        with self._lock:
            if self._clients is None:
                from ..finspace.clients import Clients, connection

                self._clients = Clients(connection(self.settings), self.settings.max_attempts)
            return self._clients

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
            nodes=node_count(plan.current),
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
                d.emit(going_back_to(entry))
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
            nodes=node_count(desc),
            modified_before=entry.modified_before if entry else None,
        )
        return d


def node_count(desc: dict) -> int | None:
    return (desc.get("capacityConfiguration") or {}).get("nodeCount")
