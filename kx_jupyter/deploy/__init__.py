"""The deploy engine: check -> bundle -> stage -> update -> watch -> record.

``Engine(settings)`` is the one entry point (see docs/ARCHITECTURE.md, "Contract: the engine").

``Deployment.result`` (what ``--json`` prints) is a JSON object:

    status               succeeded | failed | unchanged | dry-run | submitted | still-updating | watching
                         (still-updating: the watch stopped (timeout, Ctrl-C, detach); the update goes on)
    environment, cluster the target
    bundle               {"sha256", "bytes", "files": [...]} or null (rollback)
    code                 {"s3Bucket", "s3Key", "s3ObjectVersion"?} pushed (or that would be pushed)
    uploaded_bytes       0 when the object was already in the bucket
    initializationScript, commandLineArguments ({key: value}), strategy, clientToken
    history_id           id in `kx-jupyter history`, null when nothing was pushed
    elapsed              seconds from the command's start to the end of the watch
    expected_seconds     how long the watch expected the update to take (0: nothing known)
    reason               why it failed, or why the watch stopped (empty on success)
    first_error          {"node", "line"}: the first error line in a node's log since this push, verbatim
    status_reason        the cluster's statusReason at the end
    log_tail             the node log since this push on failure ["node: message", ...]
    nodes                the nodes at the end [{"nodeId", "status", "code", ...}],
                         code: old code | restarting | new code | failed
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
