"""``%kx_release``: ``kx-jupyter release`` in a cell, with a live table of the targets.

The options are the command's (``release.command.add_release_arguments``). The table is an
``ipywidgets.HTML`` changed from the followers' threads (comm messages are what ipykernel supports
from other threads); without ipywidgets the table is displayed once, at the end. A release that
fails raises ``ReleaseFailed`` (one line) so a notebook run top to bottom stops there; with
``--no-raise`` the cell returns the ``Release`` instead (``.status``, ``.rows``, ``.to_dict()``).
"""

from __future__ import annotations

import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class


class ReleaseFailed(Exception):
    """Ends the cell of a release that did not succeed; the table above says where."""

    def __init__(self, release):
        super().__init__(f"release {release.id} {release.status}")
        self.release = release

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mReleaseFailed\x1b[0m: {self}"]


def release_parser():
    from ..release.command import add_release_arguments
    from .magic_args import MagicParser

    parser = add_release_arguments(
        MagicParser(
            prog="kx_release",
            description="Push the workspace to every target "
            "of its kxrelease.toml, stage by stage, with a live table.",
        )
    )
    parser.add_argument(
        "--no-raise",
        action="store_true",
        help="return the Release when it does not succeed instead of raising",
    )
    return parser


@magics_class
class ReleaseMagics(Magics):
    @line_magic
    def kx_release(self, line: str = ""):
        """%kx_release [--dry-run] [--only TARGET...] [--json] [--resume] [--rollback] [--timeout S] [--no-raise]"""
        from ..config import ConfigError, load_settings
        from ..deploy import Engine
        from ..deploy.watch import showing_nodes
        from ..errors import KxError
        from ..release.command import execute
        from ..release.view import as_html, as_text
        from .magic_args import HelpShown
        from .origin import cell_origin

        try:
            ns = release_parser().parse_args(shlex.split(line))
        except HelpShown:
            return None
        from IPython.display import HTML, display

        widget = _widget()
        if widget is not None and not ns.json:
            display(widget)

        def show(release) -> None:
            if widget is not None:
                widget.value = as_html(release)

        if widget is not None:
            showing_nodes(show)  # the table counts each target's nodes on the new code as they turn

        try:
            engine = Engine(load_settings(parent_config=self.shell.config), origin=cell_origin(self.shell))
            release = execute(ns, engine, on_change=None if ns.json else show)
        except (KxError, ConfigError) as exc:
            raise UsageError(str(exc)) from None
        if ns.json:
            return release.to_dict()
        show(release)
        if widget is None:
            display(HTML(as_html(release)), metadata={"text/plain": as_text(release)})
        if release.exit_code != 0 and not ns.no_raise:
            raise ReleaseFailed(release)
        return release if ns.no_raise else None


def _widget():
    try:
        import ipywidgets
    except ImportError:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not getattr(shell, "kernel", None):
        return None  # terminal IPython: no widget manager
    return ipywidgets.HTML()


def load(shell) -> None:
    shell.register_magics(ReleaseMagics(shell))


def unload(shell) -> None:
    from .magics import unregister_magics

    magics = shell.magics_manager.registry.get(ReleaseMagics.__name__)
    if magics is not None:
        unregister_magics(shell, magics)
