"""Following a Deployment from a cell: in the cell's thread, or in the background.

Widgets and displays are created in the cell's thread. A foreground push is followed there
(``Deployment.wait``); ``--background`` follows it in the Deployment's one thread, which only
changes widget traits or updates a display by id, and ends when the update ends or the watch
is stopped (``Follower.stop``, on ``%unload_ext``). One listener per Deployment feeds every
view shown for it, so ``%kx_status`` can show a background push again, late.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..errors import KxError
from .view import PUSH_STEPS, StatusView

REATTACH = "the update goes on; re-attach with %kx_status {cluster}"
PLANNING = ("bundle", "check", "checked")  # quick steps that may still end in a refusal: no view yet


class PushFailed(Exception):
    """Ends the cell of a foreground push that failed on the cluster. The view above already
    says why, so it shows as one line, not a traceback; ``deployment`` holds the result."""

    def __init__(self, deployment):
        super().__init__(
            deployment.error.message if deployment.error else deployment.result.get("reason", "")
        )
        self.deployment = deployment

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        hint = "(--no-raise returns the failed Deployment instead)"
        return [f"\x1b[0;31mPushFailed\x1b[0m: {self}", hint]


class Fanout:
    """The listener of one Deployment feeding every view shown for it (a late view catches up)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.views: list[StatusView] = []

    def _views(self) -> list[StatusView]:
        with self._lock:
            return list(self.views)

    def __call__(self, event) -> None:
        for view in self._views():
            view.update(event)

    def add(self, view: StatusView, past_events=()) -> None:
        """A view joins, late or not: it catches up on what it missed, the end included."""
        with self._lock:
            for event in past_events:
                view.update(event)
            self.views.append(view)

    def flush(self) -> None:
        for view in self._views():
            view.flush()

    def tick(self) -> None:
        for view in self._views():
            view.tick()


@dataclass
class _Watched:
    """A deployment followed in the background, and the views shown for it."""

    deployment: object
    fanout: Fanout


class Follower:
    """The deployments one shell follows; ``new_view(title, steps)`` makes a view in its mode."""

    def __init__(self, new_view):
        self._new_view = new_view
        self._watched: dict[tuple[str, str], _Watched] = {}

    def follow(self, start, title: str, background: bool, raise_failure: bool = False, steps=PUSH_STEPS):
        """Run ``start(on_event)`` (an engine call returning a Deployment) with a live view, then follow it:
        in this (the cell's) thread, or with ``background`` in the Deployment's one thread.

        The view is shown on the first event delivered in the cell's thread after the check and
        bundle (or on their progress, for a large workspace), or after ``start`` returns, so a
        refusal before anything happened shows only the error line. The following
        thread only changes widget traits or updates a display by id; text is printed from here.
        ``raise_failure``: a foreground deployment that failed raises ``PushFailed`` at the end.
        """
        from ..deploy.watch import showing_nodes

        view, fanout, owner = self._new_view(title, steps), Fanout(), threading.get_ident()
        fanout.add(view)
        shown = not (background and view.mode == "text")  # a background text push shows no view

        def on_event(event):
            in_cell = threading.get_ident() == owner
            fanout(event)
            if not view.shown and in_cell and shown and event.phase not in PLANNING:
                view.show()
            if in_cell:  # text views may print here; the following thread never does
                fanout.flush()

        if shown:  # the view draws the node table: the watch lists each node's turn for it
            showing_nodes(on_event)

        try:
            deployment = start(on_event)
        except KxError as exc:
            if view.shown:  # the view says where it stopped; the error line says what to do
                from ..deploy import Event

                said = (
                    "stopped before anything was deployed" if exc.exit_code == 2 else "the outcome is unknown"
                )
                fanout(Event("failed", "", [], view.elapsed, said, exc.message))
            raise
        except KeyboardInterrupt as exc:
            from ..deploy.watch import Interrupted

            if isinstance(exc, Interrupted):  # the engine knows how far the push got
                print(exc)
            else:
                print(
                    f"Interrupted before the update of {title} was confirmed; "
                    f"%kx_status {title} shows whether it started."
                )
            return None
        deployment.on_tick(fanout.tick)
        if background and deployment.following:
            self._watched[(deployment.environment, deployment.cluster)] = _Watched(deployment, fanout)
            if view.mode == "text":
                print(
                    f"watching {deployment.cluster} in the background; %kx_status {deployment.cluster} shows progress"
                )
            elif not view.shown:
                view.show()
            deployment.follow_in_background()
            return deployment
        if not view.shown:
            view.show()
        try:
            deployment.wait()  # follows the update here: events, ticks and text lines come from this thread
        except KeyboardInterrupt:
            fanout.flush()
            print(
                f"Stopped watching {deployment.cluster}: still updating; {REATTACH.format(cluster=deployment.cluster)}."
            )
            return deployment
        fanout.flush()
        if raise_failure and deployment.status == "failed":
            raise PushFailed(deployment)
        return deployment

    def rejoin(self, env: str, cluster: str, background: bool):
        """Show again a background watch of this shell on ``cluster`` that is still going, and (unless
        ``background``) wait for its end here; None when there is none."""
        watched = self._watched.get((env, cluster))
        if watched is None or watched.deployment.done:
            return None
        view = self._new_view(cluster)
        watched.fanout.add(view, past_events=list(watched.deployment.events))
        if not (background and view.mode == "text"):
            view.show()
            watched.deployment.show_nodes()  # its node table: a watch started without one lists turns now
        if not background:
            try:  # the background thread follows it; this cell waits and prints text views' lines
                while not watched.deployment.done:
                    watched.deployment.wait(timeout=0.25)
                    watched.fanout.flush()
                watched.fanout.flush()
            except KeyboardInterrupt:  # the watch belongs to the cell that started it: keep it
                print(f"Stopped waiting here; the background watch of {cluster} goes on.")
        return watched.deployment

    def stop(self, timeout: float = 10.0) -> None:
        """Stop following every background watch (their threads end): the extension is unloaded."""
        watched = list(self._watched.values())
        self._watched.clear()
        for w in watched:
            w.deployment.detach(timeout)
