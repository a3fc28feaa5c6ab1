"""``kx-jupyter release``: push the workspace to every target of its ``kxrelease.toml``, stage by stage.

Exit codes as ``update``'s: 0 every target deployed or already current (or a dry run); 1 a target
failed on its cluster (the release stopped; with on_failure = "rollback" the updated targets were
rolled back); 2 refused before anything was deployed (manifest, checker, preflight, another release
on a cluster); 3 still updating; 130 Ctrl-C (the updates go on: `--resume` follows them and finishes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import KxError

HELP = __doc__.split("\n\n", 1)[1]


def register(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser("release", help="push the workspace to the targets of its kxrelease.toml, in stages",
                                   description="Push the workspace to every target of its kxrelease.toml, stage by stage.",
                                   epilog=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_release_arguments(parser)
    parser.set_defaults(func=cmd_release)


def add_release_arguments(parser):
    """The options of a release, shared with ``%kx_release``."""
    parser.add_argument("--src", help="workspace directory (default: KxJupyter.workspace)")
    parser.add_argument("--manifest", help="release manifest (default: <workspace>/kxrelease.toml)")
    parser.add_argument("--only", nargs="+", metavar="TARGET", help="release only these targets (in their stages)")
    parser.add_argument("--dry-run", action="store_true", help="check and preflight every target; change nothing")
    parser.add_argument("--resume", action="store_true",
                        help="continue the newest release of these targets: follow updates still going, skip finished targets")
    parser.add_argument("--rollback", action="store_true",
                        help="roll the newest release back: every updated target to what it ran before, reverse stage order")
    parser.add_argument("--no-check", action="store_true", help="push even when the q checker reports errors")
    parser.add_argument("--json", action="store_true", help="print one JSON result instead of progress lines")
    return parser


def manifest_path(ns, settings) -> Path:
    src = Path(ns.src or settings.workspace).expanduser()
    from ..release import MANIFEST_NAME

    return Path(ns.manifest).expanduser() if ns.manifest else src / MANIFEST_NAME


def execute(ns, engine, on_change=None):
    """Run what ``ns`` asks for; returns the Release (KxError: refused, nothing done)."""
    from ..release import load, rollback_last, run

    manifest = load(manifest_path(ns, engine.settings))
    if ns.rollback:
        return rollback_last(engine, manifest, only=ns.only, on_change=on_change)
    return run(engine, manifest, src=ns.src, only=ns.only, dry_run=ns.dry_run, resume=ns.resume,
               check=not ns.no_check, on_change=on_change)


class _Progress:
    """A line per target whenever its phase changes, and the release's own messages."""

    def __init__(self):
        self.seen: dict[str, str] = {}
        self.said = 0

    def __call__(self, release) -> None:
        for text in release.messages[self.said:]:
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
        print("still updating, stopped watching (Ctrl-C): continue with `kx-jupyter release --resume`", file=sys.stderr)
        return 130
    if ns.json:
        print(json.dumps(release.to_dict(), indent=2, default=str))
    else:
        from ..release.view import as_text

        print(as_text(release))
    return release.exit_code
