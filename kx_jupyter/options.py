"""The options of an update, defined once for ``kx-jupyter update`` and ``%kx_update``.

``add_update_arguments(parser)`` adds them to an argparse parser; ``settings_overrides(ns)``
and ``update_kwargs(ns)`` turn the parsed namespace into per-call settings and the keyword
arguments of ``Engine.update``, so both interfaces mean exactly the same thing.
"""

from __future__ import annotations

import argparse

from .config import STRATEGIES


def parse_arg(text: str) -> tuple[str, str]:
    """``k=v`` -> (k, v); the value may itself contain '='."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE (e.g. --arg dbdir=/opt/kx/app/db)")
    return key.strip(), value


def positive_seconds(text: str) -> float:
    """``--timeout``'s value: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive number of seconds (e.g. --timeout 600)")
    return value


ARG_OPTION = {"dest": "args", "action": "append", "type": parse_arg, "default": [], "metavar": "KEY=VALUE"}


def add_arg_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--arg KEY=VALUE``, repeatable, into ``args``: one definition for update, check and the magics."""
    parser.add_argument("--arg", **ARG_OPTION, help=help)


def add_update_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--env", help="kdb environment id (default: KxJupyter.environment, or the backend's only one)"
    )
    parser.add_argument("--cluster", help="cluster to update (default: KxJupyter.cluster)")
    parser.add_argument("--src", help="workspace directory to bundle (default: KxJupyter.workspace)")
    parser.add_argument(
        "--init", help="init script, relative to the workspace (default: KxJupyter.init_script)"
    )
    add_arg_option(parser, "command-line argument for q, repeatable (arrives as -KEY VALUE in .z.x)")
    parser.add_argument(
        "--strategy",
        type=str.upper,
        choices=STRATEGIES,
        help="deployment strategy (default: KxJupyter.strategy; NO_RESTART only on GP clusters)",
    )
    parser.add_argument("--bucket", help="S3 bucket for the bundle (default: KxJupyter.code_bucket)")
    parser.add_argument("--prefix", help="S3 key prefix for the bundle (default: KxJupyter.code_prefix)")
    parser.add_argument(
        "--no-wait", action="store_true", help="submit the update and return without watching it"
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="stop watching after this long: exit code 3, still updating (the update goes on; "
        "default: KxJupyter.timeout)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check, bundle and preflight, then show the request that would be sent; change nothing",
    )
    parser.add_argument("--no-check", action="store_true", help="push even when the q checker reports errors")
    parser.add_argument(
        "--force", action="store_true", help="redeploy even when the cluster already runs this code"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON result instead of progress lines")
    parser.add_argument(
        "--note",
        default="",
        metavar="TEXT",
        help="why this push: kept in the history beside the workspace's git commit",
    )
    return parser


def arguments_dict(pairs) -> dict | None:
    """The ``--arg`` pairs as a dict; a key given twice is a usage error (the service refuses it too)."""
    out: dict[str, str] = {}
    for key, value in pairs or []:
        if key in out:
            from .errors import KxError

            raise KxError(f"--arg {key} is given twice", hint="Command-line argument keys must be unique.")
        out[key] = value
    return out or None


def settings_overrides(ns: argparse.Namespace) -> dict:
    """Per-call settings (``KxJupyter.with_overrides``) from the parsed options."""
    return {"code_bucket": ns.bucket, "code_prefix": ns.prefix, "timeout": ns.timeout}


def update_kwargs(ns: argparse.Namespace) -> dict:
    """Keyword arguments of ``Engine.update`` from the parsed options."""
    return {
        "cluster": ns.cluster,
        "env": ns.env,
        "src": ns.src,
        "init": ns.init,
        "args": arguments_dict(ns.args),
        "strategy": ns.strategy,
        "force": ns.force,
        "check": not ns.no_check,
        "wait": not ns.no_wait,
        "dry_run": ns.dry_run,
        "note": ns.note,
    }
