"""Going back: rolling a cluster back to an earlier push, restoring a recorded configuration, and
the diffs that show what either would change (a mixin of ``Engine``)."""

from __future__ import annotations

from ..errors import KxError
from ..zipread import read_bundle
from . import bundle as bundles
from . import stage as staging
from .diff import FileDiff, compare
from .history import FAILED, SUCCEEDED, HistoryEntry
from .planning import Plan, args_of, as_sent
from .watch import (
    Deployment,
    Event,
    code_matches,
)


class Rollbacks:
    """``rollback``, ``restore``, ``diff`` and ``rollback_diff``."""

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
        plan = self._plan_staged(
            env, cluster, entry.code(), entry.init_script, entry.arguments, entry.strategy, force, entry.id
        )
        plan.release_id = release_id  # a release's rollback is recorded under its id
        if dry_run:
            d = Deployment(env, cluster, self._base_result(plan), on_event, plan.started)
            d.emit(going_back_to(entry))
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
        plan = self._plan_staged(
            env,
            cluster,
            code,
            configuration.get("initializationScript"),
            args_of(configuration) or None,
            strategy or self.settings.strategy,
            True,
        )
        plan.release_id, plan.restoring = release_id, True
        return self.push(plan, wait=wait, on_event=on_event)

    def _plan_staged(self, env, cluster, code, init, args, strategy, force, rollback_of=None) -> Plan:
        """A plan that re-deploys an object already in the bucket (its exact version): nothing to
        check or bundle, only the object's existence and the cluster's preflight."""
        bucket, key, version = code["s3Bucket"], code["s3Key"], code.get("s3ObjectVersion")
        staging.exists(self.clients.s3, bucket, key, version, self.settings)
        request = self._request(env, cluster, code, init, args, strategy)
        desc = self._preflight(env, cluster, request)
        staged = staging.StagedObject(bucket, key, version, 0)
        return self._plan(env, cluster, request, desc, None, staged, force, [], rollback_of=rollback_of)

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


def going_back_to(entry: HistoryEntry) -> Event:
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
