"""The deploy form: pick a cluster, edit the workspace's files, push, watch, roll back.

One widget (``form()``) over the engine. Everything slow (plan, upload, following the update,
a rollback) runs in one daemon thread that only changes widget traits, so the kernel keeps
running cells during an update; the clicks themselves are handled in the kernel's thread,
which is what makes "a double click pushes once" hold: the first click marks the form busy
before the second one is read.
"""

from __future__ import annotations

import threading
from html import escape

import ipywidgets as w

from ..errors import KxError
from ..finspace.rules import check_value
from . import render as r
from .filepanel import FilePanel, Quiet, note_html
from .historytable import HistoryTable
from .view import PUSH_STEPS, ROLLBACK_STEPS, StatusView
from .workspace import Workspace

STRATEGIES = ("ROLLING", "FORCE")
GP_ONLY_STRATEGY = "NO_RESTART"  # the API allows it on general-purpose clusters only
PUSHABLE = "RUNNING"
NARROW = {"description_width": "initial"}
ERROR_FG, ERROR_BG = "#cf222e", "#ffebe9"


def form(settings=None, engine=None) -> KxForm:
    """The form as a widget; ``engine`` lets a caller share one (default: ``Engine(settings)``)."""
    if settings is None:
        settings = session_settings()
    if engine is None:
        from ..deploy.engine import Engine

        engine = Engine(settings, origin=_cell_origin())
    return KxForm(settings, engine)


def _cell_origin() -> str:
    """The cell that opened the form, for the history of the pushes made from it."""
    import sys

    from .origin import cell_origin

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return cell_origin(shell) if shell is not None else ""


def session_settings():
    """The settings ``%kx_form`` would use: with an IPython shell active, its ``%config KxJupyter.*``
    (and the extension's session values when loaded) apply, so both ways of opening agree."""
    import sys

    from ..config import load_settings

    ipython = sys.modules.get("IPython")  # never import IPython just to find out there is no shell
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return load_settings()
    loaded = sys.modules.get("kx_jupyter.ui.magics")  # imported by %load_ext kx_jupyter
    magics = loaded.loaded_magics(shell) if loaded is not None else None
    return magics.settings() if magics is not None else load_settings(parent_config=shell.config)


def _error_html(text: str) -> str:
    return (
        f'<div style="font-family:{r.FONT};font-size:12px;white-space:pre-wrap;color:{ERROR_FG};'
        f'background:{ERROR_BG};padding:6px 10px;border-radius:4px">{escape(text)}</div>'
    )


class ArgumentRow(w.HBox):
    """One command-line argument: key and value, checked live against the API's patterns."""

    def __init__(self, on_change, on_remove, key: str = "", value: str = ""):
        self.key = w.Text(
            value=key, placeholder="key", continuous_update=True, layout=w.Layout(width="200px")
        )
        self.value = w.Text(
            value=value, placeholder="value", continuous_update=True, layout=w.Layout(width="260px")
        )
        self.remove = w.Button(icon="times", tooltip="Remove this argument", layout=w.Layout(width="34px"))
        self.problem = w.HTML()
        self.key.observe(lambda _: on_change(), names="value")
        self.value.observe(lambda _: on_change(), names="value")
        self.remove.on_click(lambda _: on_remove(self))
        super().__init__(
            [self.key, self.value, self.remove, self.problem], layout=w.Layout(align_items="center")
        )

    @property
    def empty(self) -> bool:
        return not self.key.value.strip() and not self.value.value.strip()

    def problems(self) -> list[str]:
        if self.empty:
            return []
        found = check_value("KxCommandLineArgumentKey", self.key.value, "key")
        found += check_value("KxCommandLineArgumentValue", self.value.value, "value")
        return [str(v) for v in found]


class KxForm(Quiet, w.VBox):
    """Environment/cluster pickers, a workspace file panel with the q editor, push, history."""

    def __init__(self, settings, engine):
        self.settings = settings
        self.engine = engine
        self.workspace = Workspace(settings.workspace)
        self.clusters: dict[str, dict] = {}
        self.busy = False
        self.deployment = None  # the last push or rollback started here
        self._worker: threading.Thread | None = None  # the thread of that push or rollback
        self._arg_rows: list[ArgumentRow] = []
        self._args_edited = False  # until the user edits them, the rows follow the selected cluster
        self._init_choices = None  # the q file list the init script picker shows
        self._cluster_state: dict = {}  # the selected cluster's status (its code says which push runs now)

        # header: where to push
        self.env = w.Dropdown(description="Environment", style=NARROW, layout=w.Layout(width="260px"))
        self.cluster = w.Dropdown(description="Cluster", style=NARROW, layout=w.Layout(width="380px"))
        self.refresh_button = w.Button(
            description="Refresh",
            icon="refresh",
            tooltip="Reload environments and clusters",
            layout=w.Layout(width="100px"),
        )
        self.cluster_info = w.HTML()
        from .release_panel import release_button  # the workspace's kxrelease.toml, when it has one

        header = w.HBox([self.env, self.cluster, self.refresh_button, release_button(self)])
        header = w.VBox([header, self.cluster_info])

        # code tab: the workspace's files and the editor
        self.code = FilePanel(self.workspace, settings.init_script, self._on_files_changed, self._say)

        # push tab
        self.init_script = w.Dropdown(description="Init script", style=NARROW, layout=w.Layout(width="320px"))
        self.args_box = w.VBox()
        self.add_arg_button = w.Button(
            description="Add argument", icon="plus", layout=w.Layout(width="140px")
        )
        self.strategy = w.ToggleButtons(options=STRATEGIES, description="Strategy", style=NARROW)
        self.review_diff = w.Checkbox(
            value=False,
            indent=False,
            layout=w.Layout(width="auto"),
            description="Show the diff against the running code before pushing",
        )
        self.note = w.Text(
            description="Note",
            placeholder="why this push (kept in the history)",
            style=NARROW,
            layout=w.Layout(width="520px"),
        )
        self.diff_button = w.Button(
            description="Show diff", icon="columns", layout=w.Layout(width="auto", min_width="120px")
        )
        self.push_button = w.Button(
            description="Push", icon="upload", button_style="primary", layout=w.Layout(width="110px")
        )
        self.push_button.add_class("kx-push")
        self.push_reason = w.HTML()
        self.diff_area = w.HTML()
        self.confirm_push = w.HBox()
        push_tab = w.VBox(
            [
                self.init_script,
                w.HTML(note_html("Command-line arguments")),
                self.args_box,
                self.add_arg_button,
                self.strategy,
                self.note,
                self.review_diff,
                w.HBox(
                    [self.push_button, self.diff_button, self.push_reason],
                    layout=w.Layout(align_items="center"),
                ),
                self.confirm_push,
                self.diff_area,
            ]
        )

        # history tab: a row per push, each with its own Diff and Roll back
        self.history = HistoryTable(on_diff=self._show_entry_diff, on_rollback=self._review_rollback)
        self.confirm_rollback = w.HBox()
        self.rollback_diff = w.HTML()  # a row's diff, or the rollback review
        history_tab = w.VBox([self.history, self.confirm_rollback, self.rollback_diff])

        self.tabs = w.Tab(children=[self.code, push_tab, history_tab])
        self.tabs.titles = ("Code", "Push", "History")
        self.message = w.HTML()
        self.activity = w.VBox()
        super().__init__(
            [header, self.tabs, self.message, self.activity],
            layout=w.Layout(width="100%", max_width="1000px"),
        )
        self.add_class("kx-form")

        self.refresh_button.on_click(lambda _: self.refresh())
        self.env.observe(self._on_env, names="value")
        self.cluster.observe(self._on_cluster, names="value")
        self.add_arg_button.on_click(lambda _: self.add_argument())
        self.strategy.observe(lambda _: self._update_state(), names="value")
        self.init_script.observe(lambda _: self._update_state(), names="value")
        # completion in the editor offers what the chosen init script and its loads define
        w.dlink((self.init_script, "value"), (self.code.editor, "init_script"), lambda name: name or "")
        self.push_button.on_click(self._on_push)
        self.diff_button.on_click(lambda _: self._show_diff(confirm=False))

        self.refresh()

    # -- small helpers ----------------------------------------------------------------------

    def _say(self, error: str = "") -> None:
        """Show (or with no text, clear) the one error line under the tabs."""
        self.message.value = _error_html(error) if error else ""

    @property
    def selected(self) -> dict | None:
        return self.clusters.get(self.cluster.value or "")

    # -- environments and clusters ----------------------------------------------------------

    def refresh(self) -> None:
        """Reload the file list, environments and clusters (keeping the selections)."""
        self._say()
        self.code.reload()
        try:
            envs = self.engine.environments()
        except KxError as exc:
            self._say(str(exc))
            return
        ids = [e["environmentId"] for e in envs]
        keep = (
            self.env.value
            if self.env.value in ids
            else (self.settings.environment if self.settings.environment in ids else None)
        )
        with self._quietly():
            self.env.options = [
                (f"{e.get('name') or e['environmentId']} ({e['environmentId']})", e["environmentId"])
                for e in envs
            ]
            self.env.value = keep or (ids[0] if ids else None)
        self._load_clusters()

    def _on_env(self, _change) -> None:
        if not self._quiet:
            self._load_clusters()

    def _load_clusters(self) -> None:
        env = self.env.value
        try:
            found = self.engine.clusters(env) if env else []
        except KxError as exc:
            self._say(str(exc))
            found = []
        self.clusters = {c["clusterName"]: c for c in found}
        names = list(self.clusters)
        keep = (
            self.cluster.value
            if self.cluster.value in names
            else (self.settings.cluster if self.settings.cluster in names else None)
        )
        with self._quietly():
            self.cluster.options = [(self._cluster_label(c), c["clusterName"]) for c in found]
            self.cluster.value = keep or (names[0] if names else None)
        self._on_cluster_changed()

    @staticmethod
    def _cluster_label(c: dict) -> str:
        label = f"{c['clusterName']} · {c.get('clusterType', '?')} · {c.get('status', '?')}"
        return label if c.get("status") == PUSHABLE else f"{label} (cannot take an update now)"

    def _on_cluster(self, _change) -> None:
        if not self._quiet:
            self._on_cluster_changed()

    def _on_cluster_changed(self) -> None:
        cluster = self.selected
        strategies = STRATEGIES + (
            (GP_ONLY_STRATEGY,) if cluster and cluster.get("clusterType") == "GP" else ()
        )
        wanted = (
            self.strategy.value
            if self.strategy.value in strategies
            else (self.settings.strategy if self.settings.strategy in strategies else "ROLLING")
        )
        with self._quietly():
            self.strategy.options = strategies
            self.strategy.value = wanted
        self.diff_area.value = ""
        self.confirm_push.children = ()
        state = self._cluster_state = self._show_cluster_details()
        if not self._args_edited:  # start from what the cluster runs, so no argument is dropped by accident
            self._set_arguments(
                {a.get("key", ""): a.get("value", "") for a in state.get("commandLineArguments") or []}
            )
        self._load_history()
        self._update_state()

    def _show_cluster_details(self) -> dict:
        """Show the selected cluster's state (status, type, nodes, init script, arguments) and return it."""
        cluster = self.selected
        if cluster is None:
            self.cluster_info.value = note_html("no cluster in this environment")
            return {}
        try:
            state = self.engine.status(cluster["clusterName"], self.env.value)
        except KxError as exc:
            self._say(str(exc))
            state = cluster
        nodes = state.get("nodes") or []
        args = ", ".join(f"{a.get('key')}={a.get('value')}" for a in state.get("commandLineArguments") or [])
        parts = [
            r.badge(state.get("status", "")),
            escape(state.get("clusterType", "")),
            f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}" if nodes else "",
            f"init {escape(state.get('initializationScript') or '—')}",
            f"args {escape(args)}" if args else "",
        ]
        if state.get("status") != PUSHABLE:
            reason = f" ({state['statusReason']})" if state.get("statusReason") else ""
            parts.append(f"<b>cannot take an update now</b>{escape(reason)}")
        self.cluster_info.value = (
            f'<div style="font-family:{r.FONT};font-size:12px;color:{r.FG};padding:2px 0 6px">'
            + " · ".join(p for p in parts if p)
            + "</div>"
        )
        return state

    # -- workspace files ---------------------------------------------------------------------

    def _on_files_changed(self) -> None:
        """The init script picker follows the file list (its q scripts); Push follows unsaved state and errors."""
        names = self.code.q_names  # a new list only when the files changed: editor events skip the rebuild
        if names is not self._init_choices:
            known = set(names)
            keep = (
                self.init_script.value
                if self.init_script.value in known
                else (
                    self.settings.init_script
                    if self.settings.init_script in known
                    else (names[0] if names else None)
                )
            )
            with self._quietly():
                self.init_script.options = names
                self.init_script.value = keep
            self._init_choices = names
        self._update_state()

    # -- arguments -------------------------------------------------------------------------

    def add_argument(self, key: str = "", value: str = "") -> ArgumentRow:
        """A new argument row; from now on picking another cluster keeps the rows as they are."""
        row = ArgumentRow(self._on_arguments_edited, self._remove_argument, key, value)
        self._arg_rows.append(row)
        self.args_box.children = tuple(self._arg_rows)
        self._on_arguments_edited()
        return row

    def _set_arguments(self, args: dict[str, str]) -> None:
        """Rows showing a cluster's current arguments (not an edit: another cluster replaces them)."""
        self._arg_rows = [
            ArgumentRow(self._on_arguments_edited, self._remove_argument, k, v) for k, v in args.items()
        ]
        self.args_box.children = tuple(self._arg_rows)

    def _on_arguments_edited(self) -> None:
        self._args_edited = True
        self._update_state()

    def _remove_argument(self, row: ArgumentRow) -> None:
        self._arg_rows.remove(row)
        self.args_box.children = tuple(self._arg_rows)
        self._on_arguments_edited()

    def arguments(self) -> dict[str, str]:
        return {row.key.value.strip(): row.value.value for row in self._arg_rows if not row.empty}

    def _row_problems(self) -> list[list[str]]:
        """What is wrong with each argument row (the API's patterns, repeated keys)."""
        out, seen = [], set()
        for row in self._arg_rows:
            found = row.problems()
            key = row.key.value.strip()
            if not row.empty and key in seen:
                found.append(f"key '{key}' is given twice")
            seen.add(key)
            out.append(found)
        return out

    # -- push state --------------------------------------------------------------------------

    def push_problems(self) -> list[str]:
        """Why Push is disabled right now; empty when a push can start."""
        problems = []
        cluster = self.selected
        if self.busy:
            problems.append("an update started here is still running")
        if cluster is None:
            problems.append("pick a cluster")
        elif cluster.get("status") != PUSHABLE:
            problems.append(
                f"{cluster['clusterName']} is {cluster.get('status')}: it cannot take an update now"
            )
        unsaved = self.code.unsaved()
        if unsaved:
            problems.append(f"save {', '.join(unsaved)} first")
        if self.code.has_errors():
            problems.append(f"fix the q errors in {self.code.current_file}")
        if not self.init_script.value:
            problems.append("the workspace needs a q file to use as the init script")
        for i, found in enumerate(self._row_problems(), 1):
            problems += [f"argument {i}: {p}" for p in found]
        return problems

    def _update_state(self) -> None:
        """Enable or disable Push and Roll back, say why, and mark the argument rows at fault."""
        problems = self.push_problems()
        self.push_button.disabled = bool(problems)
        self.diff_button.disabled = self.selected is None
        self.push_reason.value = note_html("; ".join(problems)) if problems else ""
        for row, found in zip(self._arg_rows, self._row_problems(), strict=True):
            row.problem.value = (
                (
                    f'<span style="font-family:{r.FONT};font-size:12px;color:{ERROR_FG}">'
                    f"{escape('; '.join(found))}</span>"
                )
                if found
                else ""
            )
        cluster = self.selected
        stopped = self.busy or cluster is None or cluster.get("status") != PUSHABLE
        for row in self.history.rows:
            if row.rollback_button is not None:
                row.rollback_button.disabled = stopped

    # -- push, diff, rollback --------------------------------------------------------------

    def _on_push(self, _button) -> None:
        if self.busy or self.push_problems():
            return
        if (
            self.review_diff.value or self.strategy.value == "FORCE"
        ):  # FORCE restarts every node at once: look first
            self.activity.children = ()  # the last push's view is not about these changes
            self._show_diff(confirm=True)
        else:
            self.push()

    def push(self) -> None:
        """Push the workspace to the selected cluster in the background; the view shows it live."""
        params = dict(
            cluster=self.cluster.value,
            env=self.env.value,
            src=str(self.workspace.root),
            init=self.init_script.value,
            args=self.arguments() or None,
            strategy=self.strategy.value,
            note=self.note.value.strip(),
        )
        self.confirm_push.children = ()
        self.note.value = ""  # it belongs to this push
        self._run(
            f"push to {params['cluster']}",
            lambda on_event: self.engine.update(**params, wait=True, on_event=on_event),
        )

    def _show_diff(self, confirm: bool) -> None:
        from .diffview import render_diff

        self._say()
        cluster = self.cluster.value
        try:
            diffs = self.engine.diff(cluster, env=self.env.value, src=str(self.workspace.root))
        except KxError as exc:
            self._say(str(exc))
            return
        self.diff_area.value = render_diff(cluster, diffs).html
        if not confirm:
            return
        force = self.strategy.value == "FORCE"
        if force:
            nodes = len(self._cluster_state.get("nodes") or []) or "all"
            self.diff_area.value = (
                f'<div style="font-family:{r.FONT};font-size:13px;color:{ERROR_FG};padding:4px 0">'
                f"FORCE restarts {nodes} node(s) of {escape(cluster)} at once: "
                f"the cluster serves no queries until they are back</div>"
            ) + self.diff_area.value
        go = w.Button(
            description="Push these changes" + (" with FORCE" if force else ""),
            button_style="danger" if force else "primary",
            layout=w.Layout(width="auto"),
        )
        cancel = w.Button(description="Cancel", layout=w.Layout(width="80px"))

        def go_on(_button):
            if not (self.busy or self.push_problems()):
                self.push()

        go.on_click(go_on)
        cancel.on_click(lambda _: setattr(self.confirm_push, "children", ()))
        self.confirm_push.children = (go, cancel)

    def _show_entry_diff(self, entry) -> None:
        """A row's Diff: what rolling back to it changes, or (the push running now) what a push would."""
        from .diffview import render_diff

        cluster, env = self.cluster.value, self.env.value
        self.confirm_rollback.children = ()
        self.rollback_diff.value = ""
        self._say()
        running = self.history.row(entry.id).running_now
        try:
            if running:
                diffs = self.engine.diff(cluster, env=env, src=str(self.workspace.root))
            else:
                entry, diffs = self.engine.rollback_diff(cluster, to=entry.id, env=env)
        except KxError as exc:
            self._say(str(exc))
            return
        title = (
            f"{cluster}: running now (#{entry.id}) → workspace"
            if running
            else f"{cluster}: running now → #{entry.id}"
        )
        self.rollback_diff.value = render_diff(cluster, diffs, title=title).html

    def _review_rollback(self, target) -> None:
        """First step of a rollback to a row's push: show what changes and which nodes restart; a second
        click starts it."""
        cluster, env = self.cluster.value, self.env.value
        self.confirm_rollback.children = ()
        self.rollback_diff.value = ""
        if self.busy or cluster is None:
            return
        from .diffview import render_diff

        self._say()
        try:
            entry, diffs = self.engine.rollback_diff(cluster, to=target.id, env=env)
        except KxError as exc:
            self._say(str(exc))
            return
        nodes = len(self._cluster_state.get("nodes") or [])
        restarts = f"restarts {nodes} node{'s' if nodes != 1 else ''} " if nodes else "restarts the nodes "
        restarts += "at once (FORCE)" if entry.strategy == "FORCE" else f"one by one ({entry.strategy})"
        self.rollback_diff.value = (
            note_html(
                f"rolling back {cluster} to #{entry.id} of {r.timestamp(entry.started_at)}"
                f" {restarts}; the code changes from what runs now:"
            )
            + render_diff(cluster, diffs, title=f"{cluster}: running now → #{entry.id}").html
        )
        go = w.Button(
            description=f"Roll back to #{entry.id}", button_style="warning", layout=w.Layout(width="auto")
        )
        cancel = w.Button(description="Cancel", layout=w.Layout(width="80px"))
        go.on_click(lambda _: self.rollback(entry.id))
        cancel.on_click(
            lambda _: (
                setattr(self.confirm_rollback, "children", ()),
                setattr(self.rollback_diff, "value", ""),
            )
        )
        self.confirm_rollback.children = (go, cancel)

    def rollback(self, to: int) -> None:
        """Roll the selected cluster back to history entry ``to`` in the background (after the review)."""
        cluster, env = self.cluster.value, self.env.value
        self.confirm_rollback.children = ()
        if self.busy or cluster is None:
            return
        self._run(
            f"rollback of {cluster} to #{to}",
            lambda on_event: self.engine.rollback(cluster, to=to, env=env, wait=True, on_event=on_event),
            ROLLBACK_STEPS,
        )

    def _run(self, title: str, start, steps=PUSH_STEPS) -> None:
        """Run one engine operation, and follow the update it starts, in the form's one worker
        thread; from there only traits change (the view's widgets, the form's own)."""
        self.busy = True
        self._say()
        self._update_state()
        view = StatusView(title, mode="widget", steps=steps)
        self.activity.children = (view.box,)

        def work():
            try:
                self.deployment = start(view.update)
                self.deployment.on_tick(view.tick)
                view.finish(self.deployment.wait())  # follows the update here
            except KxError as exc:
                self.activity.children = ()
                self._say(str(exc))
            except Exception as exc:  # noqa: BLE001 - a thread's traceback would be lost; show it in the form
                self.activity.children = ()
                self._say(f"unexpected error ({type(exc).__name__}): {exc}")
            finally:
                self.busy = False
                self._load_clusters()

        self._worker = threading.Thread(target=work, name=f"kx-form-{title}", daemon=True)
        self._worker.start()

    def wait(self, timeout: float | None = None) -> dict | None:
        """Block until the push or rollback started here and the refresh after it have ended.

        For code that drives the form (a notebook cell, a test): returns the ``Deployment.result``
        of the last push or rollback that started (a refused one shows why in ``message``).
        """
        if self._worker is not None:
            self._worker.join(timeout)
        return self.deployment.result if self.deployment is not None else None

    # -- history ------------------------------------------------------------------------------

    def _running_entry(self, entries) -> int | None:
        """The id of the push whose code the cluster runs now (the newest good one with that code)."""
        from ..deploy.watch import code_matches

        code = (self._cluster_state or {}).get("code")
        if not code:
            return None
        return next(
            (e.id for e in entries if e.outcome == "succeeded" and code_matches(code, e.code())), None
        )

    def _load_history(self) -> None:
        cluster = self.cluster.value
        try:
            entries = self.engine.history(cluster, self.env.value, limit=50) if cluster else []
        except KxError as exc:
            self._say(str(exc))
            entries = []
        from ..deploy.watch import code_matches

        code = self._cluster_state.get("code")
        self.confirm_rollback.children = ()
        self.rollback_diff.value = ""
        self.history.show(
            entries,
            self._running_entry(entries),
            lambda e: (
                bool(code) and code_matches(code, e.code())
            ),  # pushes of the code running now are no rollback
            f"no pushes to {cluster or 'this cluster'} recorded yet",
        )
