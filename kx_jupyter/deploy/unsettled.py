"""Settling the history's unfinished pushes when someone looks at the history.

A push nobody saw end (``updating`` after ``--no-wait``, ``still-updating`` after a stopped watch)
is settled by the next look at its cluster. ``kx-jupyter history`` and ``%kx_history`` are such
looks, but they must work offline: each cluster is asked once, with one attempt and without
starting the embedded plane, and an entry whose cluster cannot be asked says so in its reason
("unknown (endpoint not reachable)") instead of failing the listing.
"""

from __future__ import annotations

from dataclasses import replace

from .aws_errors import error_code

NOT_REACHABLE = "unknown (endpoint not reachable)"


def settle_listed(engine, entries: list, unsettled: tuple[str, ...]) -> dict:
    """Settle the newest unfinished push of each cluster in ``entries``; {(env, cluster): why it could not be}."""
    unknown = {}
    clusters = {(e.environment, e.cluster) for e in entries if e.outcome in unsettled}
    if not clusters:
        return unknown
    clients, why = _quick_clients(engine)
    for env, cluster in sorted(clusters):
        if clients is None:
            unknown[(env, cluster)] = why
            continue
        desc, why_not = _describe(clients, env, cluster)
        if desc is None:
            unknown[(env, cluster)] = why_not
        else:
            engine.settle(env, cluster, desc)
    return unknown


def mark_unknown(entries: list, unknown: dict, unsettled: tuple[str, ...]) -> list:
    """``entries`` with each still unfinished one of an unreachable cluster saying why in its reason."""
    out = []
    for e in entries:
        why = unknown.get((e.environment, e.cluster))
        if why and e.outcome in unsettled:
            e = replace(e, reason=why + (f"; {e.reason}" if e.reason else ""))
        out.append(e)
    return out


def _quick_clients(engine):
    """(clients, None), or (None, why) when the endpoint is known to be down: one attempt, no plane start."""
    settings = engine.settings
    try:
        if settings.backend == "local":
            from ..local.daemon import state_dir_of, status

            if status(state_dir_of(settings)) is None:
                return None, NOT_REACHABLE
            return engine.clients, None
        from ..finspace.clients import Clients, connection

        return Clients(connection(settings), max_attempts=1), None
    except Exception as exc:  # noqa: BLE001 - a listing never fails because the endpoint is unusable
        return None, f"unknown ({type(exc).__name__})"


def _describe(clients, env: str, cluster: str):
    """(GetKxCluster's answer, None), or (None, why it could not be had)."""
    import botocore.exceptions as be

    try:
        return clients.finspace.get_kx_cluster(environmentId=env, clusterName=cluster), None
    except (be.EndpointConnectionError, be.ConnectTimeoutError, be.ReadTimeoutError, ConnectionError):
        return None, NOT_REACHABLE
    except be.ClientError as exc:
        return None, f"unknown (the endpoint answered {error_code(exc) or 'an error'})"
    except Exception as exc:  # noqa: BLE001 - missing credentials, a bad endpoint URL, ...
        return None, f"unknown ({type(exc).__name__})"
