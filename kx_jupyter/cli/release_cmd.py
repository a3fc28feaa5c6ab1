"""``kx-jupyter release``: push the workspace to every target of its ``kxrelease.toml``, stage by stage.

Exit codes as ``update``'s: 0 every target deployed or already current (or a dry run); 1 a target
failed on its cluster (the release stopped; with on_failure = "rollback" the updated targets were
rolled back); 2 refused before anything was deployed (manifest, checker, preflight, another release
on a cluster); 3 still updating (a target's --timeout ended its watch); 130 Ctrl-C (the updates go on:
`--resume` follows them and finishes).

--json writes JSON Lines as the release goes: {"event": "message", "text"} for each of its messages,
{"event": "target", ...the target's row} whenever a target's phase, nodes or detail changes, and last
{"event": "summary", ...the release} (or {"event": "summary", "status": "refused", "reason", "hint"}).
"""

from __future__ import annotations

import json
import sys
import threading

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
    """A line per target whenever its phase changes, and the release's own messages. The followers
    of one stage call it from their threads: one at a time, so no line is printed twice or torn."""

    def __init__(self):
        self.seen: dict[str, object] = {}
        self.said = 0
        self.lock = threading.Lock()

    def __call__(self, release) -> None:
        with self.lock:
            for text in release.messages[self.said :]:
                self.message(release, text)
            self.said = len(release.messages)
            for row in release.rows.values():
                shown = self.shown(row)
                if self.seen.get(row.target) != shown:
                    self.seen[row.target] = shown
                    self.target(release, row)

    def shown(self, row):
        return f"{row.phase}" + (f" — {row.message}" if row.message else "")

    def message(self, release, text: str) -> None:
        print(text, flush=True)

    def target(self, release, row) -> None:
        print(f"  [{row.stage}] {row.target} ({row.cluster}): {self.seen[row.target]}", flush=True)


class _JsonLines(_Progress):
    """``--json``: one object per line as things happen (a target's nodes count as a change)."""

    def shown(self, row):
        return (row.phase, row.nodes_new, row.nodes, row.message, row.failing_line)

    def message(self, release, text: str) -> None:
        _line({"event": "message", "release_id": release.id, "text": text})

    def target(self, release, row) -> None:
        _line({"event": "target", "release_id": release.id, **row.to_dict()})


def _line(obj: dict) -> None:
    print(json.dumps(obj, default=str), flush=True)


def cmd_release(ns) -> int:
    from ..config import ConfigError, load_settings
    from ..deploy import Engine

    engine = Engine(load_settings(), origin="cli")
    try:
        release = execute(ns, engine, on_change=_JsonLines() if ns.json else _Progress())
    except (KxError, ConfigError) as exc:
        if ns.json:
            reason, hint = (exc.message, exc.hint) if isinstance(exc, KxError) else (str(exc), "")
            _line({"event": "summary", "status": "refused", "reason": reason, "hint": hint})
        raise
    except KeyboardInterrupt:
        print(
            "still updating, stopped watching (Ctrl-C): continue with `kx-jupyter release --resume`",
            file=sys.stderr,
        )
        return 130
    if ns.json:
        _line({"event": "summary", **release.to_dict()})
    else:
        from ..release.view import as_text

        print(as_text(release))
    return release.exit_code
