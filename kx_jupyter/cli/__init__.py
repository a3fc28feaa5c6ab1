"""The ``kx-jupyter`` command: one sub-command module per area, each thin over the engine.

Exit codes: 0 deployed or nothing to do; 1 the deployment failed on the cluster;
2 stopped before anything was deployed (usage, validation, checker errors, cluster busy,
missing resources); 141 the output was closed early (``| head``), as other Unix tools.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import sys

from .. import __version__
from ..config import ConfigError
from ..errors import KxError
from . import check_cmd, deploy_cmd, local_cmd, release_cmd  # noqa: F401  (sub-command modules register themselves below)

SUBCOMMANDS = (check_cmd, deploy_cmd, local_cmd, release_cmd)
COMMAND_GC_THRESHOLD = 100_000  # container allocations between young collections (Python's default: 700)
EXIT_OUTPUT_CLOSED = 128 + 13  # what a shell reports for a tool ended by SIGPIPE
VERBOSE = {
    "action": "count",
    "help": "say why it polls, retries and settles (-vv: every read too) on stderr; see KxJupyter.log_level",
}

EPILOG = """exit codes:
  0  deployed, or nothing to do
  1  the deployment failed on the cluster, or its outcome is unknown
     (find out with `kx-jupyter status CLUSTER --watch`)
  2  stopped before anything was deployed (usage, validation, checker errors,
     cluster busy, missing resources)
  3  still updating, stopped watching (--timeout): the update goes on, and the next
     look at the cluster (`status`) records how it ended
  130 interrupted: the same after Ctrl-C (re-attach with `status --watch`)
  141 the output was closed early (e.g. `kx-jupyter clusters | head`)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kx-jupyter",
        description="Check, bundle and push kdb+/q code to FinSpace-compatible kdb clusters.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", **VERBOSE, default=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    for command in sub.choices.values():  # `kx-jupyter update -v` as well as `kx-jupyter -v update`
        command.add_argument("-v", "--verbose", **VERBOSE, default=argparse.SUPPRESS)
    return parser


def _show_logs(verbose: int) -> None:
    """-v: the engine's decisions (polls, retries, settling) on stderr; -vv: every read too;
    neither: KxJupyter.log_level."""
    from ..config import load_settings
    from ..logs import show

    show("INFO" if verbose == 1 else "DEBUG" if verbose > 1 else load_settings().log_level)


def _collect_for_a_command() -> None:
    """Tune the garbage collector for a command process: ~90 ms of a cold push was collection.

    Importing boto3 and parsing the S3 and endpoint models build ~70k objects that live until
    exit; default thresholds traverse them again and again while they are built, and once more
    at exit, only for them to be freed anyway. Collection stays on (rarer, still bounded), so a
    long watch or a foreground plane does not grow; objects still alive at exit are frozen, which
    skips that last traversal (Python does not promise to finalize them either).
    """
    gc.set_threshold(COMMAND_GC_THRESHOLD, *gc.get_threshold()[1:])
    atexit.register(gc.freeze)


def main(argv: list[str] | None = None) -> int:
    """The ``kx-jupyter`` command; ``argv`` None means this process is the command itself."""
    if argv is None:
        _collect_for_a_command()
    try:
        return _run(argv)
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_OUTPUT_CLOSED


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        _show_logs(args.verbose)
        return int(args.func(args) or 0)
    except KxError as exc:
        print(f"kx-jupyter: {exc}", file=sys.stderr)
        return exc.exit_code
    except ConfigError as exc:  # a bad KX_JUPYTER_* value or config file: nothing was done
        print(f"kx-jupyter: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kx-jupyter: interrupted", file=sys.stderr)
        return 130


def _discard_stdout() -> None:
    """The reader went away (``| head``): send what is still buffered nowhere, so exit stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (captured output): nothing to flush to
        pass
