"""One time format for every table and view (light to import: the magics' start-up uses it)."""

from __future__ import annotations

import datetime as dt


def utc(value) -> str:
    """A launch/modified time as 'YYYY-MM-DD HH:MM:SS' (UTC) whatever form the API gave it."""
    if value in (None, ""):
        return "—"
    if isinstance(value, (int, float)):
        value = dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S")
