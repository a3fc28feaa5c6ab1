"""The ``%kx_*`` magics: thin over ``kx_jupyter.deploy.Engine``, with the live status view.

Settings: ``%config KxJupyter.<name> = ...`` (the instance registered by the extension) wins
over the IPython config, the config file and ``KX_JUPYTER_*``; magic options win over all.
User mistakes (any ``KxError`` before anything is deployed) become one ``UsageError`` line,
never a traceback. A foreground push or rollback that fails on the cluster ends its cell with
one ``PushFailed`` line under the view (unless ``--no-raise``), so Run All, nbconvert and
papermill stop there instead of running the cells that assumed the new code.

The parts: options (``magic_args``), following a Deployment (``following``), the tables the
read-only magics return (``tables``), where a push came from (``origin``); this module wires
them to IPython (``load``/``unload``).
"""

from __future__ import annotations

from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import Enum

from ..config import ConfigError, KxJupyter, load_settings
from ..logs import show as show_logs
from ..options import arguments_dict, settings_overrides, update_kwargs
from . import tables
from .following import Follower
from .magic_args import PARSERS, parse, user_errors
from .origin import cell_origin
from .view import PUSH_STEPS, ROLLBACK_STEPS, WATCH_STEPS, StatusView


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
        self.follower = Follower(self._new_view)
        from .complete import NameCache, matcher

        self.names = NameCache(self._fetch_names)
        self.matcher = matcher(self.names)  # Tab completion of names (``load`` installs it)

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
        settings = load_settings(parent_config=cfg, **overrides)
        show_logs(
            settings.log_level
        )  # %config KxJupyter.log_level = "INFO": the engine's decisions on stderr
        return settings

    def engine(self, **overrides):
        from ..deploy import Engine

        engine = Engine(self.settings(**overrides), origin=cell_origin(self.shell))
        self.names.warm()  # the backend is in use now: have names ready for the next Tab
        return engine

    def _fetch_names(self):
        engine = self.engine()
        envs = [e["environmentId"] for e in engine.environments()]
        return envs, [c["clusterName"] for c in engine.clusters(engine.environment())]

    def _new_view(self, title: str, steps=PUSH_STEPS) -> StatusView:
        return StatusView.create(title, mode=self.view, shell=self.shell, steps=steps)

    # -- magics --------------------------------------------------------------------------------

    @line_magic
    @user_errors
    def kx_update(self, line: str = ""):
        ns = parse("kx_update", line)
        engine = self.engine(**settings_overrides(ns))
        kwargs = update_kwargs(ns)
        wait, dry_run = kwargs.pop("wait"), kwargs.pop("dry_run")
        if dry_run or ns.json:
            deployment = engine.update(**kwargs, wait=wait, dry_run=dry_run)
            if wait and not dry_run:
                deployment.wait()
            if ns.json:
                return deployment.result
            return tables.request_view(deployment)
        provenance = engine.provenance(kwargs["src"], kwargs.pop("note"))

        def start(on_event):  # check and bundle inside the view: a large workspace shows their progress
            plan = engine.plan(**kwargs, on_event=on_event)
            return engine.push(plan, wait=wait, on_event=on_event, **provenance)

        return self.follower.follow(
            start,
            kwargs.get("cluster") or engine.settings.cluster or "the cluster",
            background=ns.background,
            raise_failure=not ns.no_raise,
        )

    @cell_magic
    @user_errors
    def kx_file(self, line: str, cell: str):
        ns = parse("kx_file", line)
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
        ns = parse("kx_clusters", line)
        from ..deploy.overview import cluster_rows

        return tables.clusters_table(*cluster_rows(self.engine(), ns.env))

    @line_magic
    @user_errors
    def kx_status(self, line: str = ""):
        ns = parse("kx_status", line)
        engine = self.engine()
        env = engine.environment(ns.env)
        cluster = ns.cluster or engine.settings.cluster
        if not cluster:
            raise UsageError("%kx_status: name a cluster (or set KxJupyter.cluster)")
        rejoined = self.follower.rejoin(env, cluster, ns.background)
        if rejoined is not None:
            return rejoined
        from ..deploy.engine import UNSETTLED

        state = engine.status(cluster, env)
        unfinished = (state.get("last_push") or {}).get("outcome") in UNSETTLED  # nobody saw its end yet
        if state.get("status") == "UPDATING" or unfinished:
            return self.follower.follow(
                lambda on_event: engine.attach(cluster, env, on_event=on_event),
                cluster,
                background=ns.background,
                steps=WATCH_STEPS,
            )
        return tables.state_view(state)

    @line_magic
    @user_errors
    def kx_history(self, line: str = ""):
        ns = parse("kx_history", line)
        engine = self.engine()
        cluster = ns.cluster or engine.settings.cluster or None
        return tables.history_table(engine.history(cluster, ns.env, limit=ns.limit, settle=True), cluster)

    @line_magic
    @user_errors
    def kx_rollback(self, line: str = ""):
        ns = parse("kx_rollback", line)
        engine = self.engine()
        cluster = ns.cluster or engine.settings.cluster or None
        if ns.dry_run:
            deployment = engine.rollback(cluster, to=ns.to, env=ns.env, force=ns.force, dry_run=True)
            return tables.request_view(deployment, going_back=deployment.events[0].message)
        return self.follower.follow(
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
        ns = parse("kx_diff", line)
        from .diffview import render_diff

        engine = self.engine()
        cluster = ns.cluster or engine.settings.cluster
        return render_diff(cluster, engine.diff(cluster or None, env=ns.env, src=ns.src))

    @line_magic
    @user_errors
    def kx_form(self, line: str = ""):
        parse("kx_form", line)
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
        ns = parse("kx_check", line)
        from ..deploy import Engine

        engine = Engine(self.settings())  # offline: no backend connection, no name warm-up
        root = Path(ns.src or engine.settings.workspace).expanduser()
        return tables.check_table(root, engine.check(root, ns.init, arguments_dict(ns.args)))


def _document() -> None:
    """``%kx_update?`` and friends show their parser's help: one source for help and behaviour."""
    for name, build in PARSERS.items():
        getattr(KxMagics, name).__doc__ = build().format_help()


_document()

_LOADED: dict[int, KxMagics] = {}
_DEPLOYMENT = "kx_jupyter.deploy.watch.Deployment"  # by name: displaying one must not import the engine early
_MIMES = {"text/html": tables.deployment_html, "text/plain": tables.deployment_text}


def load(shell) -> None:
    """``%load_ext kx_jupyter``: register the magics, settings, completer and Deployment display."""
    try:
        settings = load_settings(parent_config=shell.config)
    except ConfigError as exc:  # the magics repeat this on use; loading must still work
        print(f"kx-jupyter: {exc}")
        settings = KxJupyter()
    magics = KxMagics(shell, settings)
    shell.register_magics(magics)
    shell.configurables.append(settings)  # the magics added themselves (``Magics.__init__``)
    shell.Completer.custom_matchers.append(magics.matcher)
    for mime, printer in _MIMES.items():
        shell.display_formatter.formatters[mime].for_type_by_name(*_DEPLOYMENT.rsplit(".", 1), printer)
    _LOADED[id(shell)] = magics


def loaded_magics(shell):
    """The extension's magics in ``shell``, or None when it is not loaded there."""
    return _LOADED.get(id(shell))


def unload(shell) -> None:
    """``%unload_ext kx_jupyter``: stop watches (their threads end) and remove what ``load`` added."""
    magics = _LOADED.pop(id(shell), None)
    if magics is None:
        return
    magics.follower.stop()
    shell.configurables[:] = [c for c in shell.configurables if c is not magics.settings_instance]
    unregister_magics(shell, magics)
    if magics.matcher in shell.Completer.custom_matchers:
        shell.Completer.custom_matchers.remove(magics.matcher)
    for mime in _MIMES:
        shell.display_formatter.formatters[mime].pop(_DEPLOYMENT, None)


def unregister_magics(shell, magics: Magics) -> None:
    """Undo ``shell.register_magics(magics)``. IPython has no call for it; its ``MagicsManager``
    documents ``magics`` (kind -> name -> callable) and ``registry`` (name -> object) as the
    tables registration fills, so remove from both what this object put there and nothing else,
    and the object from ``shell.configurables``, where ``Magics.__init__`` put it."""
    shell.configurables[:] = [c for c in shell.configurables if c is not magics]
    manager = shell.magics_manager
    for kind, names in magics.magics.items():
        for name in names:
            if getattr(manager.magics[kind].get(name), "__self__", None) is magics:
                del manager.magics[kind][name]
    if manager.registry.get(type(magics).__name__) is magics:
        del manager.registry[type(magics).__name__]
