"""The deploy engine: check -> bundle -> stage -> update -> watch -> record.

``Engine(settings)`` is the one entry point (see docs/ARCHITECTURE.md, "Contract: the engine").

``Deployment.result`` (what ``--json`` prints) is a JSON object:

    status               succeeded | failed | unchanged | dry-run | submitted | detached | watching
    environment, cluster the target
    bundle               {"sha256", "bytes", "files": [...]} or null (rollback)
    code                 {"s3Bucket", "s3Key", "s3ObjectVersion"?} pushed (or that would be pushed)
    uploaded_bytes       0 when the object was already in the bucket
    initializationScript, commandLineArguments ({key: value}), strategy, clientToken
    history_id           id in `kx-jupyter history`, null when nothing was pushed
    elapsed              seconds from push to the end of the watch
    reason               why it failed (empty on success)
    log_tail             last lines of the cluster's log group on failure ["stream: message", ...]
    nodes                the nodes at the end [{"nodeId", "status", ...}]
    warnings, diagnostics  the bucket/versioning notes and the q checker's findings
    request              dry-run only: the UpdateKxClusterCodeConfiguration parameters
    rollback_of          history id a rollback re-deploys, else null

It never holds credentials.
"""

from .diff import FileDiff
from .engine import Engine, Plan, UpdateOutcomeUnknown
from .history import HistoryEntry
from .watch import Deployment, Event

__all__ = ["Engine", "Plan", "UpdateOutcomeUnknown", "Deployment", "Event", "HistoryEntry", "FileDiff"]
