"""Where a cluster's node logs live: the CloudWatch Logs group the service writes, one stream per node.

The watch (``watch.Reader``) reads it with every node listing, from the moment of the update
call on, so the log shown while an update runs, and the tail shown when it fails, belong to
this push only. Failing to read logs never hides the update's state.
"""

from __future__ import annotations


def log_group(environment: str, cluster: str) -> str:
    return f"/aws/vendedlogs/finspace/{environment}/{cluster}"
