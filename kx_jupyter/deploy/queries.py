"""What the engine reads without changing anything: environments, clusters, status and history,
and the settling of pushes nobody saw end (a mixin of ``Engine``)."""

from __future__ import annotations

import logging
import time

from ..errors import KxError
from ..finspace.rules import check_value
from .aws_errors import calling, error_code
from .history import FAILED, IN_PROGRESS, REFUSED, SUCCEEDED, TIMED_OUT, UNKNOWN, HistoryEntry
from .planning import refuse
from .watch import (
    STILL_UPDATING,
    jsonable,
    judge,
    node_view,
    not_taken,
    running_since,
)

UNSETTLED = (IN_PROGRESS, STILL_UPDATING, TIMED_OUT, UNKNOWN)  # outcomes nobody has seen the end of
log = logging.getLogger(__name__)  # decisions at INFO, every read at DEBUG (kx_jupyter.logs)

LOCAL_BUCKET = "kx-local-code"


class Queries:
    """Names, listings, a cluster's state and its pushes; ``settle`` records the end of an unwatched push."""

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
            refuse(check_value("KxEnvironmentId", env, "--env"))
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
        refuse(check_value("KxClusterName", cluster, "--cluster"))
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
