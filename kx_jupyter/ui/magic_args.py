"""The magics' options: one IPython ``MagicArgumentParser`` per magic, and how mistakes are said.

A mistake in a magic's line is one ``UsageError`` line naming the magic and pointing at its
help; ``-h`` prints the help and ends the magic quietly; any ``KxError`` or bad setting raised
while a magic runs is one ``UsageError`` line too, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import shlex

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser, MagicHelpFormatter

from ..config import ConfigError
from ..errors import KxError
from ..options import ARG_OPTION, add_update_arguments


class HelpShown(Exception):
    """``-h`` was given: argparse printed the help, nothing else to do."""


class _HelpFormatter(MagicHelpFormatter):
    """IPython's, but the usage line reads ``usage: %kx_update ...`` (not an RST block): ``-h`` prints it."""

    def add_usage(self, usage, actions, groups, prefix="usage: %"):
        super().add_usage(usage, actions, groups, prefix)


class MagicParser(MagicArgumentParser):
    """IPython's magic parser with ``-h``, which ends the magic instead of the kernel.

    ``prog`` is named as IPython's own magics name it, one ``%`` short (its help formatter adds
    one): ``kx_update`` for ``%kx_update``, ``%kx_file`` for the cell magic ``%%kx_file``.
    """

    def __init__(self, prog: str, description: str):
        super().__init__(prog=prog, description=description, add_help=True, formatter_class=_HelpFormatter)

    @property
    def magic(self) -> str:
        return "%" + self.prog

    def error(self, message):
        raise UsageError(f"{self.magic}: {message} (see {self.magic}?)")

    def exit(self, status=0, message=None):
        if status:
            raise UsageError(message or f"{self.magic}: invalid arguments")
        raise HelpShown()

    def parse_argstring(self, argstring: str, *, partial: bool = False):
        """Split like a POSIX shell (IPython's own split keeps the quotes in ``--note "a b"``)."""
        try:
            argv = shlex.split(argstring)
        except ValueError as exc:  # unbalanced quotes
            raise UsageError(f"{self.magic}: {exc}") from None
        return self.parse_known_args(argv) if partial else self.parse_args(argv)


_ENV = (("--env",), {"help": "kdb environment id (default: KxJupyter.environment or the only one)"})
_CLUSTER = (("cluster",), {"nargs": "?", "help": "cluster name (default: KxJupyter.cluster)"})
_BACKGROUND = (("--background",), {"action": "store_true", "help": "return at once; the view keeps updating"})
_NO_RAISE = (
    ("--no-raise",),
    {
        "action": "store_true",
        "help": "return a failed Deployment instead of ending the cell with an error (which stops Run All)",
    },
)
_SRC = (("--src",), {"help": "workspace directory (default: KxJupyter.workspace)"})


def update_parser() -> MagicParser:
    """``kx-jupyter update``'s options (one shared definition) plus the notebook-only ones."""
    parser = MagicParser(
        "kx_update",
        "Check, bundle and push the workspace to a cluster, watching the update live. Returns the Deployment.",
    )
    add_update_arguments(parser)
    parser.add_argument(
        "--background",
        action="store_true",
        help="return at once; the view keeps updating while other cells run",
    )
    parser.add_argument(*_NO_RAISE[0], **_NO_RAISE[1])
    return parser


def _parser(prog: str, description: str, *arguments) -> MagicParser:
    parser = MagicParser(prog, description)
    for names, kwargs in arguments:
        parser.add_argument(*names, **kwargs)
    return parser


PARSERS = {
    "kx_update": update_parser,
    "kx_file": lambda: _parser(
        "%kx_file",
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
    "kx_clusters": lambda: _parser("kx_clusters", "The clusters of an environment.", _ENV),
    "kx_status": lambda: _parser(
        "kx_status", "A cluster's state; re-attaches to an update in progress.", _CLUSTER, _ENV, _BACKGROUND
    ),
    "kx_history": lambda: _parser(
        "kx_history",
        "Recorded pushes, newest first.",
        _CLUSTER,
        _ENV,
        (("--limit",), {"type": int, "default": 20, "help": "how many (default 20)"}),
    ),
    "kx_rollback": lambda: _parser(
        "kx_rollback",
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
        "kx_diff", "The workspace against the code the cluster runs.", _CLUSTER, _ENV, _SRC
    ),
    "kx_form": lambda: _parser(
        "kx_form", "The deploy form: pick a cluster, edit q, set arguments, push, watch."
    ),
    "kx_check": lambda: _parser(
        "kx_check",
        "Run the q checker on the workspace.",
        _SRC,
        (("--init",), {"help": "init script (default: KxJupyter.init_script)"}),
        (
            ("--arg",),
            {**ARG_OPTION, "help": "argument the deployment passes, repeatable"},
        ),
    ),
}


def parse(magic: str, line: str) -> argparse.Namespace:
    """``line`` parsed with ``magic``'s options; a mistake is a UsageError, ``-h`` HelpShown."""
    return PARSERS[magic]().parse_argstring(line)


def user_errors(method):
    """KxError / bad settings -> one UsageError line; -h -> just the help."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except HelpShown:
            return None
        except (KxError, ConfigError) as exc:
            raise UsageError(str(exc)) from None

    return wrapper
