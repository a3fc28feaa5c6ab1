"""``kx-jupyter release``: push the workspace to every target of its ``kxrelease.toml``, stage by stage.

Exit codes as ``update``'s: 0 every target deployed or already current (or a dry run); 1 a target
failed on its cluster (the release stopped; with on_failure = "rollback" the updated targets were
rolled back); 2 refused before anything was deployed (manifest, checker, preflight, another release
on a cluster); 3 still updating; 130 Ctrl-C (the updates go on: `--resume` follows them and finishes).
"""

from __future__ import annotations

import json
import sys

from ..errors import KxError
from ..release.command import add_release_arguments, execute

HELP = __doc__.split("\n\n", 1)[1]


def register(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser(
        "release",
        help="push the workspace to the targets of its kxrelease.toml, in stages",
        description="Push the workspace to every target of its kxrelease.toml, stage by stage.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_release_arguments(parser)
    parser.set_defaults(func=cmd_release)


class _Progress:
    """A line per target whenever its phase changes, and the release's own messages."""

    def __init__(self):
        self.seen: dict[str, str] = {}
        self.said = 0

    def __call__(self, release) -> None:
        for text in release.messages[self.said :]:
            print(text, flush=True)
        self.said = len(release.messages)
        for row in release.rows.values():
            line = f"{row.phase}" + (f" — {row.message}" if row.message else "")
            if self.seen.get(row.target) != line:
                self.seen[row.target] = line
                print(f"  [{row.stage}] {row.target} ({row.cluster}): {line}", flush=True)


def cmd_release(ns) -> int:
    from ..config import load_settings
    from ..deploy import Engine

    engine = Engine(load_settings())
    try:
        release = execute(ns, engine, on_change=None if ns.json else _Progress())
    except KxError as exc:
        if ns.json:
            print(json.dumps({"status": "refused", "reason": exc.message, "hint": exc.hint}, indent=2))
        raise
    except KeyboardInterrupt:
        print(
            "still updating, stopped watching (Ctrl-C): continue with `kx-jupyter release --resume`",
            file=sys.stderr,
        )
        return 130
    if ns.json:
        print(json.dumps(release.to_dict(), indent=2, default=str))
    else:
        from ..release.view import as_text

        print(as_text(release))
    return release.exit_code
