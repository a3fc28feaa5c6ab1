"""The form's "Release…": the workspace's ``kxrelease.toml`` as a dry-run plan, then the release.

A click shows the manifest's targets and stages with the dry-run plan (each target checked with its
own init script and arguments, each cluster asked); "Release" runs it with the release view live in
the form's output area, and a release that did not succeed offers "Roll back this release". Work
runs in one daemon thread that only changes widget traits, as the form's pushes do. The form keeps
a few lines for it: ``release_button(form)`` in its header.
"""

from __future__ import annotations

import threading
from html import escape

import ipywidgets as w

from ..errors import KxError

ERROR = "color:#cf222e;white-space:pre-wrap;font-size:12px"


def release_button(form) -> w.Button:
    """The header's "Release…" button, shown while the workspace has a manifest; opens the panel."""
    button = w.Button(
        description="Release…",
        icon="layer-group",
        tooltip="Push the workspace to every target of its kxrelease.toml, stage by stage",
        layout=w.Layout(width="110px"),
    )
    button.add_class("kx-release-button")
    panel = ReleasePanel(form.settings, form.engine, on_close=lambda: setattr(form.activity, "children", ()))

    def shown(_=None) -> None:
        button.layout.display = None if panel.manifest_path().exists() else "none"

    def open_panel(_button) -> None:
        form.activity.children = (panel,)
        panel.plan()

    button.on_click(open_panel)
    form.refresh_button.on_click(shown)
    form.release_panel = panel
    shown()
    return button


class ReleasePanel(w.VBox):
    """Plan, confirm, release, and roll back when it failed; ``wait()`` for code that drives it."""

    def __init__(self, settings, engine, on_close=None):
        self.settings, self.engine, self.on_close = settings, engine, on_close
        self.release = None  # the last plan, release or rollback shown
        self._worker: threading.Thread | None = None
        self.title = w.HTML()
        self.view = w.HTML()
        self.go = w.Button(description="Release", icon="upload", button_style="primary")
        self.back = w.Button(description="Roll back this release", icon="undo", button_style="warning")
        self.close = w.Button(description="Close", layout=w.Layout(width="80px"))
        self.no_check = w.Checkbox(
            value=False,
            indent=False,
            layout=w.Layout(width="auto"),
            description="Push even when the q checker reports errors",
        )
        for b in (self.go, self.back):
            b.layout = w.Layout(width="auto")
        self.buttons = w.HBox()
        super().__init__([self.title, self.view, self.buttons])
        self.add_class("kx-release-panel")
        self.go.on_click(lambda _: self._start(self._release, "release"))
        self.back.on_click(lambda _: self._start(self._rollback, "rollback"))
        self.close.on_click(lambda _: self.on_close and self.on_close())
        self.no_check.observe(lambda _: self.plan(), names="value")  # plan again, with or without the checker

    def manifest_path(self):
        from pathlib import Path

        from ..release import MANIFEST_NAME

        return Path(self.settings.workspace).expanduser() / MANIFEST_NAME

    def plan(self) -> None:
        """Show the manifest's targets and stages, and the dry run of a release of them."""
        self._start(self._dry_run, "plan")

    def wait(self, timeout: float | None = None):
        """Block until the plan, release or rollback under way has ended; returns its Release."""
        if self._worker is not None:
            self._worker.join(timeout)
        return self.release

    # -- the worker's jobs ------------------------------------------------------------------

    def _start(self, job, what: str) -> None:
        if self._worker is not None and self._worker.is_alive():
            return  # a second click while one runs does nothing
        self.buttons.children = ()
        self.release = None
        self.title.value = f"<b>{escape(what)}</b> of {escape(str(self.manifest_path()))} …"
        self._worker = threading.Thread(target=self._guarded, args=(job,), name=f"kx-{what}", daemon=True)
        self._worker.start()

    def _guarded(self, job) -> None:
        try:
            job()
        except KxError as exc:
            self.title.value = f"<div style='{ERROR}'>{escape(str(exc))}</div>"
            self.buttons.children = (self.no_check, self.close)
        except Exception as exc:  # a widget thread's error would vanish: show it
            self.title.value = f"<div style='{ERROR}'>{escape(type(exc).__name__)}: {escape(str(exc))}</div>"
            self.buttons.children = (self.close,)

    def _show(self, release) -> None:
        from ..release.view import as_html

        self.release = release
        self.view.value = as_html(release)

    def _execute(self, dry_run=False):
        from ..deploy.watch import showing_nodes
        from ..release import load, run

        manifest = load(self.manifest_path())
        release = run(
            self.engine,
            manifest,
            src=self.settings.workspace,
            dry_run=dry_run,
            check=not self.no_check.value,
            on_change=showing_nodes(lambda release: self._show(release)),  # its table counts node turns
        )
        self._show(release)
        return release

    def _dry_run(self) -> None:
        release = self._execute(dry_run=True)
        stages = " → ".join(
            "[" + ", ".join(escape(n) for n in stage) + "]" for stage in release.manifest.stages
        )
        self.title.value = (
            f"<b>Release plan</b> ({len(release.rows)} targets; stages {stages}); nothing changed yet"
        )
        updating = [r for r in release.rows.values() if r.phase == "would update"]
        self.go.disabled = not updating
        self.go.description = f"Release to {len(updating)} target(s)" if updating else "Nothing to release"
        self.buttons.children = (self.go, self.no_check, self.close)

    def _release(self) -> None:
        release = self._execute()
        self.title.value = f"<b>Release</b> {escape(release.status)}"
        self.buttons.children = (self.close,) if release.status == "succeeded" else (self.back, self.close)

    def _rollback(self) -> None:
        from ..release import load, rollback_last

        release = rollback_last(self.engine, load(self.manifest_path()), on_change=self._show)
        self._show(release)
        self.title.value = f"<b>Rollback</b> {escape(release.status)}"
        self.buttons.children = (self.close,)
