"""The watch's reads, logged (see ``kx_jupyter.logs``): the poll decisions.

A ``LoggedReader`` stands in for ``watch.Reader`` in ``Deployment.follow``: each read says what
it asks for and when the poll policy made it due (INFO, the poll decisions), and what it saw
(DEBUG). Nodes and statuses only: no request, token or credential.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class LoggedReader:
    """The watch's reads, logged: what each asked for and when it was due (INFO), what it saw (DEBUG)."""

    def __init__(self, reader):
        self._reader = reader

    def read(self, poll):
        reader = self._reader
        asks = " + ".join(
            name
            for name, asked in (("GetKxCluster", poll.cluster), ("ListKxClusterNodes", poll.nodes))
            if asked
        )
        log.info("poll %s: %s, due %.2f s after the update call", reader.cluster, asks, poll.at)
        obs = reader.read(poll)
        if obs.error:
            log.info("poll %s: the read failed (%s); the next poll reads again", reader.cluster, obs.error)
        elif log.isEnabledFor(logging.DEBUG):
            nodes = ", ".join(f"{n.get('nodeId')} {n.get('status')}" for n in obs.nodes or [])
            status = (obs.cluster or {}).get("status", "-")
            log.debug(
                "poll %s: cluster %s; nodes %s; %d new log lines",
                reader.cluster,
                status,
                nodes or "-",
                len(obs.logs or []),
            )
        return obs
