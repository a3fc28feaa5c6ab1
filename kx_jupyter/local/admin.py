"""Signed admin routes of the plane, for tests and reliability suites (see ``kx_jupyter.local``)."""

from __future__ import annotations

import json

from .faults import FaultPlanError


def admin_response(app, method: str, path: str, body: bytes) -> tuple[int, dict]:
    if path == "/_kxlocal/faults":
        if method == "GET":
            return 200, app.faults.describe()
        if method in ("POST", "PUT"):
            try:
                app.faults.set(json.loads(body or b"{}"))
            except (ValueError, FaultPlanError) as exc:
                return 400, {"message": f"bad fault plan: {exc}"}
            return 200, app.faults.describe()
        if method == "DELETE":
            app.faults.set({})
            return 200, app.faults.describe()
    if path == "/_kxlocal/counters" and method == "GET":
        rows = app.plane.store.read("SELECT client_token, count FROM applied_updates")
        return 200, {
            "appliedUpdates": {r["client_token"]: r["count"] for r in rows},
            "requests": dict(app.requests),
        }
    return 404, {"message": f"no admin route {method} {path}; see the kx_jupyter.local docstring"}
