"""The ``%kx_*`` magics: thin over ``kx_jupyter.deploy.Engine``, with the live status view.

Settings: ``%config KxJupyter.<name> = ...`` (the instance registered by the extension) wins
over the IPython config, the config file and ``KX_JUPYTER_*``; magic options win over all.
User mistakes (any ``KxError`` before anything is deployed) become one ``UsageError`` line,
never a traceback. A foreground push or rollback that fails on the cluster ends its cell with
one ``PushFailed`` line under the view (unless ``--no-raise``), so Run All, nbconvert and
papermill stop there instead of running the cells that assumed the new code.

Threads: widgets and displays are created in the cell's thread. A foreground push is followed
in the cell's thread (``Deployment.wait``); ``--background`` follows it in the Deployment's one
thread, which only changes widget traits or updates a display by id, and ends when the update
ends or the watch is stopped (``%unload_ext`` stops it).
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import Enum

from ..config import ConfigError, KxJupyter, load_settings
from ..errors import KxError
from ..options import add_update_arguments, arguments_dict, parse_arg, settings_overrides, update_kwargs
from . import render as r
from .view import PUSH_STEPS, ROLLBACK_STEPS, WATCH_STEPS, StatusView

REATTACH = "the update goes on; re-attach with %kx_status {cluster}"
UNSETTLED = ("updating", "unknown", "still-updating", "timed-out")  # history outcomes nobody saw the end of


class _HelpShown(Exception):
    """``-h`` was given: argparse printed the help, nothing else to do."""


class _MagicParser(argparse.ArgumentParser):
    """argparse that reports mistakes as a UsageError instead of exiting the kernel."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see {self.prog}?)")

    def exit(self, status=0, message=None):
        if status:
            raise UsageError(message or f"{self.prog}: invalid arguments")
        raise _HelpShown()


def update_parser() -> argparse.ArgumentParser:
    """``kx-jupyter update``'s options (one shared definition) plus the notebook-only --background."""
    parser = _MagicParser(
        prog="%kx_update",
        description="Check, bundle and push the workspace to a cluster, "
        "watching the update live. Returns the Deployment.",
    )
    add_update_arguments(parser)
    parser.add_argument(
        "--background",
        action="store_true",
        help="return at once; the view keeps updating while other cells run",
    )
    parser.add_argument(*_NO_RAISE[0], **_NO_RAISE[1])
    return parser


def _parser(prog: str, description: str, *arguments) -> argparse.ArgumentParser:
    parser = _MagicParser(prog=prog, description=description)
    for names, kwargs in arguments:
        parser.add_argument(*names, **kwargs)
    return parser


_ENV = (("--env",), {"help": "kdb environment id (default: KxJupyter.environment or the only one)"})
_CLUSTER = (("cluster",), {"nargs": "?", "help": "cluster name (default: KxJupyter.cluster)"})
_BACKGROUND = (("--background",), {"action": "store_true", "help": "return at once; the view keeps updating"})
_NO_RAISE = (
    ("--no-raise",),
    {
        "action": "store_true",
        "help": ("return a failed Deployment instead of ending the cell with an error (which stops Run All)"),
    },
)
PARSERS = {
    "kx_file": lambda: _parser(
        "%%kx_file",
        "Write the cell to a workspace file (atomically) and check it.",
        (("path",), {"help": "file path relative to the workspace, e.g. lib/analytics.q"}),
        (("--append",), {"action": "store_true", "help": "add the cell to the end of the file"}),
        (
            ("--force",),
            {
                "action": "store_true",
                "help": "overwrite even if the file changed on disk since the last write",
            },
        ),
        (("--no-check",), {"action": "store_true", "help": "do not run the q checker"}),
    ),
    "kx_clusters": lambda: _parser("%kx_clusters", "The clusters of an environment.", _ENV),
    "kx_status": lambda: _parser(
        "%kx_status", "A cluster's state; re-attaches to an update in progress.", _CLUSTER, _ENV, _BACKGROUND
    ),
    "kx_history": lambda: _parser(
        "%kx_history",
        "Recorded pushes, newest first.",
        _CLUSTER,
        _ENV,
        (("--limit",), {"type": int, "default": 20, "help": "how many (default 20)"}),
    ),
    "kx_rollback": lambda: _parser(
        "%kx_rollback",
        "Re-deploy an earlier push's exact code and settings.",
        _CLUSTER,
        _ENV,
        (
            ("--to",),
            {"type": int, "metavar": "N", "help": "history id (default: the last good push with other code)"},
        ),
        (("--dry-run",), {"action": "store_true", "help": "show the request that would be sent"}),
        (
            ("--force",),
            {"action": "store_true", "help": "redeploy even when the cluster already runs that code"},
        ),
        _BACKGROUND,
        _NO_RAISE,
    ),
    "kx_diff": lambda: _parser(
        "%kx_diff",
        "The workspace against the code the cluster runs.",
        _CLUSTER,
        _ENV,
        (("--src",), {"help": "workspace directory (default: KxJupyter.workspace)"}),
    ),
    "kx_form": lambda: _parser(
        "%kx_form", "The deploy form: pick a cluster, edit q, set arguments, push, watch."
    ),
    "kx_check": lambda: _parser(
        "%kx_check",
        "Run the q checker on the workspace.",
        (("--src",), {"help": "workspace directory (default: KxJupyter.workspace)"}),
        (("--init",), {"help": "init script (default: KxJupyter.init_script)"}),
        (
            ("--arg",),
            {
                "dest": "args",
                "action": "append",
                "type": parse_arg,
                "default": [],
                "metavar": "KEY=VALUE",
                "help": "argument the deployment passes, repeatable",
            },
        ),
    ),
}


def _parse(parser: argparse.ArgumentParser, line: str) -> argparse.Namespace:
    try:
        return parser.parse_args(shlex.split(line))
    except ValueError as exc:  # shlex: unbalanced quotes
        raise UsageError(f"{parser.prog}: {exc}") from None


def user_errors(method):
    """KxError / bad settings -> one UsageError line; -h -> just the help."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _HelpShown:
            return None
        except (KxError, ConfigError) as exc:
            raise UsageError(str(exc)) from None

    return wrapper


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


class _Fanout:
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
    """A deployment this shell follows, and the views shown for it."""

    deployment: object
    fanout: _Fanout


@magics_class
class KxMagics(Magics):
    """``%kx_update``, ``%%kx_file``, ``%kx_clusters``, ``%kx_status``, ``%kx_history``,
    ``%kx_rollback``, ``%kx_diff``, ``%kx_check``, ``%kx_form``."""

    view = Enum(
        ["auto", "widget", "html", "text"],
        "auto",
        help=(
            "How the live status view shows: 'auto' is text in terminal IPython, a widget (with an HTML "
            "fallback) in a Jupyter kernel that has ipywidgets, else HTML updated in place."
        ),
    ).tag(config=True)

    def __init__(self, shell, settings: KxJupyter):
        super().__init__(shell)
        self.settings_instance = settings  # what %config KxJupyter shows and changes
        self._session_config: dict = {}
        settings.observe(self._remember_setting)
        self._watched: dict[tuple[str, str], _Watched] = {}
        from .complete import NameCache

        self.names = NameCache(self._fetch_names)

    # -- settings and engine ---------------------------------------------------------------

    def _remember_setting(self, change) -> None:
        if change["name"] in KxJupyter.class_trait_names(config=True):
            self._session_config[change["name"]] = change["new"]

    def settings(self, **overrides) -> KxJupyter:
        """Every source, fresh on each call, with this session's %config values and ``overrides`` on top."""
        from traitlets.config import Config

        cfg = Config()
        cfg.merge(self.shell.config)
        cfg.merge(Config({"KxJupyter": dict(self._session_config)}))
        return load_settings(parent_config=cfg, **overrides)

    def engine(self, **overrides):
        from ..deploy import Engine

        engine = Engine(self.settings(**overrides))
        self.names.warm()  # the backend is in use now: have names ready for the next Tab
        return engine

    def _fetch_names(self):
        engine = self.engine()
        envs = [e["environmentId"] for e in engine.environments()]
        return envs, [c["clusterName"] for c in engine.clusters(engine.environment())]

    # -- watching ------------------------------------------------------------------------------

    def _new_view(self, title: str, steps=PUSH_STEPS) -> StatusView:
        return StatusView.create(title, mode=self.view, shell=self.shell, steps=steps)

    def _follow(self, start, title: str, background: bool, raise_failure: bool = False, steps=PUSH_STEPS):
        """Run ``start(on_event)`` (an engine call returning a Deployment) with a live view, then follow it:
        in this (the cell's) thread, or with ``background`` in the Deployment's one thread.

        The view is shown on the first event delivered in the cell's thread, or after ``start``
        returns, so a refusal before anything happened shows only the error line. The following
        thread only changes widget traits or updates a display by id; text is printed from here.
        ``raise_failure``: a foreground deployment that failed raises ``PushFailed`` at the end.
        """
        view, fanout, owner = self._new_view(title, steps), _Fanout(), threading.get_ident()
        fanout.add(view)

        def on_event(event):
            in_cell = threading.get_ident() == owner
            fanout(event)
            if not view.shown and in_cell and not (background and view.mode == "text"):
                view.show()
            if in_cell:  # text views may print here; the following thread never does
                fanout.flush()

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
        except KeyboardInterrupt:
            print(
                f"Interrupted before the update of {title} was confirmed; %kx_status {title} shows whether it started."
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

    def stop_watching(self, timeout: float = 10.0) -> None:
        """Stop following every background watch of this shell; their thread ends (extension unload)."""
        watched = list(self._watched.values())
        self._watched.clear()
        for w in watched:
            w.deployment.detach(timeout)

    # -- magics --------------------------------------------------------------------------------

    @line_magic
    @user_errors
    def kx_update(self, line: str = ""):
        ns = _parse(update_parser(), line)
        engine = self.engine(**settings_overrides(ns))
        kwargs = update_kwargs(ns)
        wait, dry_run = kwargs.pop("wait"), kwargs.pop("dry_run")
        if dry_run or ns.json:
            deployment = engine.update(**kwargs, wait=wait, dry_run=dry_run)
            if wait and not dry_run:
                deployment.wait()
            if ns.json:
                return deployment.result
            return _request_view(deployment)
        provenance = engine.provenance(kwargs["src"], kwargs.pop("note"))
        plan = engine.plan(**kwargs)  # check, bundle, preflight: a refusal here is a UsageError, no view
        return self._follow(
            lambda on_event: engine.push(plan, wait=wait, on_event=on_event, **provenance),
            plan.cluster,
            background=ns.background,
            raise_failure=not ns.no_raise,
        )

    @cell_magic
    @user_errors
    def kx_file(self, line: str, cell: str):
        ns = _parse(PARSERS["kx_file"](), line)
        from .kxfile import WrittenHashes, check_written, report, write_cell

        settings = self.settings()
        hashes = WrittenHashes(settings.home_path / "kx_file_hashes.json")
        written = write_cell(
            Path(settings.workspace), ns.path, cell, hashes, append=ns.append, force=ns.force
        )
        diagnostics = None
        if not ns.no_check and written.path.suffix in (".q", ".k"):
            diagnostics = check_written(written, settings)
        return report(written, diagnostics)

    @line_magic
    @user_errors
    def kx_clusters(self, line: str = ""):
        ns = _parse(PARSERS["kx_clusters"](), line)
        from ..deploy.overview import FROM_HISTORY, HEADERS, LEGEND, cluster_rows

        env, text_rows = cluster_rows(self.engine(), ns.env)
        rows = [cells[:2] + [r.badge(cells[2])] + cells[3:] for cells in text_rows]
        title = f"clusters of {env}"
        if not rows:
            return r.Rich(f"<i>no clusters in {env}</i>", f"no clusters in {env}")
        legend = (
            LEGEND if any(cell.endswith(FROM_HISTORY) for cells in text_rows for cell in cells[3:5]) else ""
        )
        return r.Rich(
            f'<div style="font-family:{r.FONT}"><b>{title}</b>'
            f"{r.table_html(HEADERS, rows, raw_columns=frozenset({2}))}"
            + (f'<div style="font-size:12px;color:{r.MUTED}">{r.escape(legend)}</div>' if legend else "")
            + "</div>",
            f"{title}\n{r.table_text(HEADERS, text_rows)}" + (f"\n{legend}" if legend else ""),
        )

    @line_magic
    @user_errors
    def kx_status(self, line: str = ""):
        ns = _parse(PARSERS["kx_status"](), line)
        engine = self.engine()
        env = engine.environment(ns.env)
        cluster = ns.cluster or engine.settings.cluster
        if not cluster:
            raise UsageError("%kx_status: name a cluster (or set KxJupyter.cluster)")
        watched = self._watched.get((env, cluster))
        if watched is not None and not watched.deployment.done:
            view = self._new_view(cluster)
            watched.fanout.add(view, past_events=list(watched.deployment.events))
            if not (ns.background and view.mode == "text"):
                view.show()
            if not ns.background:
                try:  # the background thread follows it; this cell waits and prints text views' lines
                    while not watched.deployment.done:
                        watched.deployment.wait(timeout=0.25)
                        watched.fanout.flush()
                    watched.fanout.flush()
                except KeyboardInterrupt:  # the watch belongs to the cell that started it: keep it
                    print(f"Stopped waiting here; the background watch of {cluster} goes on.")
            return watched.deployment
        state = engine.status(cluster, env)
        unfinished = (state.get("last_push") or {}).get("outcome") in UNSETTLED  # nobody saw its end yet
        if state.get("status") == "UPDATING" or unfinished:
            return self._follow(
                lambda on_event: engine.attach(cluster, env, on_event=on_event),
                cluster,
                background=ns.background,
                steps=WATCH_STEPS,
            )
        return _state_view(state)

    @line_magic
    @user_errors
    def kx_history(self, line: str = ""):
        ns = _parse(PARSERS["kx_history"](), line)
        engine = self.engine()
        cluster = ns.cluster or engine.settings.cluster or None
        entries = engine.history(cluster, ns.env, limit=ns.limit)
        if not entries:
            return r.Rich("<i>no pushes recorded yet</i>", "no pushes recorded yet")
        from ..deploy.gitinfo import git_label

        headers = [
            "id",
            "when (UTC)",
            "cluster",
            "kind",
            "outcome",
            "duration",
            "bundle",
            "version",
            "strategy",
            "user",
            "git",
            "note",
            "reason",
        ]
        rows = [
            [
                e.id,
                r.timestamp(e.started_at),
                e.cluster,
                e.kind + (f" of {e.rollback_of}" if e.rollback_of else ""),
                e.outcome,
                r.duration(e.duration),
                (e.bundle_sha256 or "")[:12],
                e.version or "",
                e.strategy,
                e.user,
                git_label(e.git_commit, e.git_dirty),
                e.note,
                e.reason,
            ]
            for e in entries
        ]
        # the notebook table fits the default width (one cluster's history leaves out the cluster);
        # the text form and `kx-jupyter history --json` keep it all
        shown = [i for i in range(len(headers)) if not (cluster and headers[i] == "cluster")]
        clip = {
            "outcome": r.badge,
            "bundle": lambda v: v[:8],
            "version": lambda v: _clip(v, 9),
            "reason": lambda v: _clip(v, 48),
            "note": lambda v: _clip(v, 40),
        }
        html_rows = [[clip.get(headers[i], lambda v: v)(row[i]) for i in shown] for row in rows]
        return r.Rich(
            r.table_html([headers[i] for i in shown], html_rows, raw_columns=frozenset({shown.index(4)})),
            r.table_text(headers, rows),
        )

    @line_magic
    @user_errors
    def kx_rollback(self, line: str = ""):
        ns = _parse(PARSERS["kx_rollback"](), line)
        engine = self.engine()
        cluster = ns.cluster or engine.settings.cluster or None
        if ns.dry_run:
            deployment = engine.rollback(cluster, to=ns.to, env=ns.env, force=ns.force, dry_run=True)
            going_back, view = deployment.events[0].message, _request_view(deployment)
            return r.Rich(
                f'<div style="font-family:{r.FONT};font-size:13px">{r.escape(going_back)}</div>{view.html}',
                f"{going_back}\n{view.text}",
            )
        return self._follow(
            lambda on_event: engine.rollback(
                cluster, to=ns.to, env=ns.env, on_event=on_event, force=ns.force
            ),
            cluster or "",
            background=ns.background,
            raise_failure=not ns.no_raise,
            steps=ROLLBACK_STEPS,
        )

    @line_magic
    @user_errors
    def kx_diff(self, line: str = ""):
        ns = _parse(PARSERS["kx_diff"](), line)
        from .diffview import render_diff

        engine = self.engine()
        cluster = ns.cluster or engine.settings.cluster
        return render_diff(cluster, engine.diff(cluster or None, env=ns.env, src=ns.src))

    @line_magic
    @user_errors
    def kx_form(self, line: str = ""):
        _parse(PARSERS["kx_form"](), line)
        if self.shell.display_formatter.active_types == ["text/plain"]:  # a terminal: no widget can show here
            print(
                "kx-jupyter: the form is a widget, and this terminal shows only text; open it in a notebook "
                "(JupyterLab), or use %kx_update, %kx_status and the other magics here"
            )
            return None
        from .form import form

        engine = self.engine()
        return form(engine.settings, engine=engine)

    @line_magic
    @user_errors
    def kx_check(self, line: str = ""):
        ns = _parse(PARSERS["kx_check"](), line)
        from ..deploy import Engine
        from ..qcheck import format_text

        engine = Engine(self.settings())  # offline: no backend connection, no name warm-up
        root = Path(ns.src or engine.settings.workspace).expanduser()
        diagnostics = engine.check(root, ns.init, arguments_dict(ns.args))
        if not diagnostics:
            return r.Rich(
                f'<div style="font-family:{r.FONT}"><span style="color:#1a7f37">✓</span> q check of '
                f"{r.escape(str(root))}: no problems</div>",
                f"q check of {root}: no problems",
            )
        rows = [[f"{d.path}:{d.line}:{d.col}", r.badge(d.severity), d.rule, d.message] for d in diagnostics]
        return r.Rich(
            r.table_html(["where", "severity", "rule", "message"], rows, raw_columns=frozenset({1})),
            format_text(diagnostics),
        )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _state_view(state: dict) -> r.Rich:
    """A cluster that is not updating: what it runs and how it is."""
    code = state.get("code") or {}
    args = " ".join(f"-{a.get('key')} {a.get('value')}" for a in state.get("commandLineArguments") or [])
    fields = [
        ("type", state.get("clusterType", "")),
        (
            "status",
            state.get("status", "") + (f" ({state['statusReason']})" if state.get("statusReason") else ""),
        ),
        ("code", f"s3://{code.get('s3Bucket')}/{code.get('s3Key')}" if code.get("s3Key") else "—"),
        ("version", code.get("s3ObjectVersion") or "—"),
        ("init script", state.get("initializationScript") or "—"),
        ("arguments", args or "—"),
        ("last modified (UTC)", r.timestamp(state.get("lastModifiedTimestamp"))),
    ]
    last = state.get("last_push")
    if last:
        fields.append(
            (
                "last push",
                f"#{last['id']} {last['outcome']} at {r.timestamp(last['started_at'])}"
                + (f": {last['reason']}" if last.get("reason") else ""),
            )
        )
    nodes = state.get("nodes") or []
    node_rows = [
        [
            n.get("nodeId", ""),
            n.get("availabilityZoneId", ""),
            n.get("status", ""),
            r.timestamp(n.get("launchTime")),
        ]
        for n in nodes
    ]
    title = f"{state.get('environmentId', '')}/{state.get('clusterName', '')}"
    grid = "".join(
        f'<div style="color:{r.MUTED}">{r.escape(k)}</div><div>{r.escape(str(v))}</div>' for k, v in fields
    )
    html = (
        f'<div style="font-family:{r.FONT};font-size:13px;color:{r.FG};border:1px solid {r.BORDER};'
        f'border-radius:6px;padding:12px 14px;max-width:880px;line-height:1.45"><div style="margin-bottom:8px">'
        f"<b>{r.escape(title)}</b> {r.badge(state.get('status', ''))}</div>"
        f'<div style="display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin-bottom:8px">{grid}</div>'
        + (
            r.table_html(
                ["node", "zone", "status", "launched (UTC)"],
                [row[:2] + [r.badge(row[2])] + row[3:] for row in node_rows],
                raw_columns=frozenset({2}),
            )
            if node_rows
            else ""
        )
        + "</div>"
    )
    text = "\n".join(
        [title]
        + [f"  {k}: {v}" for k, v in fields]
        + ([r.table_text(["node", "zone", "status", "launched"], node_rows)] if node_rows else [])
    )
    return r.Rich(html, text)


def _request_view(deployment) -> r.Rich:
    """--dry-run: exactly the request that would be sent."""
    request = json.dumps(deployment.result.get("request", {}), indent=2, sort_keys=True, default=str)
    head = f"dry run for {deployment.cluster}: this request would be sent; nothing was uploaded or changed"
    return r.Rich(
        f'<div style="font-family:{r.FONT};font-size:13px">{r.escape(head)}'
        f'<pre style="font-family:{r.MONO};font-size:12px;background:{r.SUBTLE};padding:8px;border-radius:4px">'
        f"{r.escape(request)}</pre></div>",
        f"{head}\n{request}",
    )


def deployment_html(deployment):
    """The Out[] line of a Deployment: short, since the live view above already shows it all."""
    status = deployment.status
    elapsed = deployment.result.get("elapsed")
    more = f" in {r.duration(elapsed)}" if elapsed and status not in ("watching",) else ""
    return (
        f'<div style="font-family:{r.FONT};font-size:12px;color:{r.MUTED}">Deployment '
        f"{r.escape(deployment.environment)}/{r.escape(deployment.cluster)}: {r.badge(status)}{more} "
        f"· <code>.status</code> <code>.result</code> <code>.events</code> <code>.wait()</code></div>"
    )


def deployment_text(deployment, p, cycle):
    elapsed = deployment.result.get("elapsed")
    more = f" in {r.duration(elapsed)}" if elapsed and deployment.status != "watching" else ""
    p.text(f"<Deployment {deployment.environment}/{deployment.cluster}: {deployment.status}{more}>")


def _document() -> None:
    """``%kx_update?`` and friends show their parser's help: one source for help and behaviour."""
    KxMagics.kx_update.__doc__ = update_parser().format_help()
    for name, build in PARSERS.items():
        getattr(KxMagics, name).__doc__ = build().format_help()


_document()

_LOADED: dict[int, KxMagics] = {}
_DEPLOYMENT = ("kx_jupyter.deploy.watch", "Deployment")


def load(shell) -> None:
    """``%load_ext kx_jupyter``: register the magics, settings, completers and Deployment display."""
    try:
        settings = load_settings(parent_config=shell.config)
    except ConfigError as exc:  # the magics repeat this on use; loading must still work
        print(f"kx-jupyter: {exc}")
        settings = KxJupyter()
    magics = KxMagics(shell, settings)
    shell.register_magics(magics)
    shell.configurables += [settings, magics]
    from .complete import MAGICS, complete

    def completer(_shell, event):
        return complete(magics.names, event.line, event.symbol)

    for name in MAGICS:
        shell.set_hook("complete_command", completer, str_key=name)
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type_by_name(*_DEPLOYMENT, deployment_html)
    formatters["text/plain"].for_type_by_name(*_DEPLOYMENT, deployment_text)
    _LOADED[id(shell)] = magics


def loaded_magics(shell):
    """The extension's magics in ``shell``, or None when it is not loaded there."""
    return _LOADED.get(id(shell))


def unload(shell) -> None:
    """``%unload_ext kx_jupyter``: stop watches (their threads end) and remove what ``load`` added."""
    magics = _LOADED.pop(id(shell), None)
    if magics is None:
        return
    magics.stop_watching()
    shell.configurables[:] = [c for c in shell.configurables if c not in (magics, magics.settings_instance)]
    for kind, names in magics.magics.items():
        for name in names:
            shell.magics_manager.magics[kind].pop(name, None)
    shell.magics_manager.registry.pop(type(magics).__name__, None)
    from .complete import MAGICS

    dispatch = shell.strdispatchers.get("complete_command")
    for name in MAGICS:
        if dispatch is not None:
            dispatch.strs.pop(name, None)
    for mime in ("text/html", "text/plain"):
        formatter = shell.display_formatter.formatters[mime]
        formatter.deferred_printers.pop(_DEPLOYMENT, None)
        for typ in [
            t for t in formatter.type_printers if f"{t.__module__}.{t.__name__}" == ".".join(_DEPLOYMENT)
        ]:
            formatter.type_printers.pop(typ)
