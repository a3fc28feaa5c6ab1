"""The tail of a cluster's CloudWatch log group, shown when an update fails.

A failed init script says why in the node logs, not in ``statusReason``; showing the last
lines saves a trip to the console. Failing to read logs never hides the failure itself.
"""

from __future__ import annotations

from ..errors import KxError
from .aws_errors import calling


def log_group(environment: str, cluster: str) -> str:
    return f"/aws/vendedlogs/finspace/{environment}/{cluster}"


def tail(logs, environment: str, cluster: str, since_ms: int, lines: int = 40, settings=None) -> list[str]:
    """The last ``lines`` log lines since ``since_ms``, oldest first, each "stream: message"."""
    group = log_group(environment, cluster)
    events: list[dict] = []
    kwargs = {"logGroupName": group, "startTime": int(since_ms)}
    try:
        with calling(f"reading the log group {group}", settings):
            for _ in range(20):  # pages; a tail never needs more
                page = logs.filter_log_events(**kwargs)
                events.extend(page.get("events", []))
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
    except KxError as exc:
        return [f"(could not read the log group {group}: {exc.message})"]
    events.sort(key=lambda e: (e.get("timestamp", 0), e.get("eventId", "")))
    return [f"{e.get('logStreamName', '')}: {e.get('message', '').rstrip()}" for e in events[-lines:]]
