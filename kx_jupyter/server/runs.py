"""Pushes and rollbacks started from the sidebar, followed to their end in the server.

A run's thread does what ``%kx_update`` does in a cell: plan, push, then wait on the
Deployment. The sidebar polls ``snapshot()``; a refusal (a KxError before anything was
deployed) ends the run with its message, since it never reaches the history.
"""

from __future__ import annotations

import itertools
import threading
import time

from ..errors import KxError

KEEP = 50  # finished runs kept for the sidebar; older ones are in the history


class Runs:
    def __init__(self):
        self._lock = threading.Lock()
        self._runs: dict[int, dict] = {}
        self._ids = itertools.count(1)

    def start(self, kind: str, cluster: str, strategy: str, deploy) -> dict:
        """Run ``deploy(on_event) -> Deployment`` in a thread of its own; returns the run's first snapshot."""
        run = {
            "id": next(self._ids),
            "kind": kind,
            "cluster": cluster,
            "strategy": strategy,
            "status": "running",
            "started_at": time.time(),
            "finished_at": None,
            "events": [],
            "message": "",
            "hint": "",
            "history_id": None,
        }
        with self._lock:
            self._runs[run["id"]] = run
            self._forget_old()
        threading.Thread(
            target=self._follow, args=(run, deploy), name=f"kx-lab-{kind}-{cluster}", daemon=True
        ).start()
        return dict(run)

    def _follow(self, run: dict, deploy) -> None:
        from ..deploy.watch import showing_nodes

        @showing_nodes  # the sidebar's card and the status bar say each node's turn
        def on_event(event):
            with self._lock:
                run["events"].append(event.to_dict())

        hint = ""
        try:
            deployment = deploy(on_event)
            with self._lock:
                run["history_id"] = deployment.result.get("history_id")
            result = deployment.wait()
            status, message = deployment.status, result.get("reason") or _last_message(run)
        except KxError as exc:
            status, message, hint = "refused", exc.message, exc.hint
        except Exception as exc:  # noqa: BLE001 - the sidebar must learn the run ended, whatever broke
            status, message = "failed", f"{type(exc).__name__}: {exc}"
        with self._lock:
            run.update(status=status, message=message, hint=hint, finished_at=time.time())

    def _forget_old(self) -> None:
        finished = sorted(i for i, r in self._runs.items() if r["status"] != "running")
        for run_id in finished[:-KEEP]:
            del self._runs[run_id]

    def snapshot(self) -> list[dict]:
        """Every kept run, newest first (copies: the threads keep writing)."""
        with self._lock:
            return [
                dict(r, events=list(r["events"])) for r in sorted(self._runs.values(), key=lambda r: -r["id"])
            ]


def _last_message(run: dict) -> str:
    return run["events"][-1]["message"] if run["events"] else ""
