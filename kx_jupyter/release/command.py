"""The options of a release and what they ask for, defined once for ``kx-jupyter release`` and
``%kx_release`` (as ``kx_jupyter.options`` is for an update)."""

from __future__ import annotations

from pathlib import Path

from ..options import positive_seconds


def add_release_arguments(parser):
    """The options of a release, shared with ``%kx_release``."""
    parser.add_argument("--src", help="workspace directory (default: KxJupyter.workspace)")
    parser.add_argument("--manifest", help="release manifest (default: <workspace>/kxrelease.toml)")
    parser.add_argument(
        "--only", nargs="+", metavar="TARGET", help="release only these targets (in their stages)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="check and preflight every target; change nothing"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the newest release of these targets: follow updates still going, skip finished targets",
    )
    parser.add_argument(
        "--rollback",
        action="store_true",
        help="roll the newest release back: every updated target to what it ran before, reverse stage order",
    )
    parser.add_argument("--no-check", action="store_true", help="push even when the q checker reports errors")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="stop watching a target's update after this long (a manifest target's own timeout wins): "
        "the target and the release end still updating, exit code 3, and --resume follows them "
        "(default: KxJupyter.timeout)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="JSON Lines: one object per event as it happens, the release's summary last",
    )
    return parser


def manifest_path(ns, settings) -> Path:
    src = Path(ns.src or settings.workspace).expanduser()
    from ..release import MANIFEST_NAME

    return Path(ns.manifest).expanduser() if ns.manifest else src / MANIFEST_NAME


def execute(ns, engine, on_change=None):
    """Run what ``ns`` asks for; returns the Release (KxError: refused, nothing done)."""
    from ..release import load, rollback_last, run

    manifest = load(manifest_path(ns, engine.settings))
    if ns.timeout is not None:
        engine.settings.with_overrides(timeout=ns.timeout)  # ConfigError now, not after the first stage
    if ns.rollback:
        return rollback_last(engine, manifest, only=ns.only, on_change=on_change)
    return run(
        engine,
        manifest,
        src=ns.src,
        only=ns.only,
        dry_run=ns.dry_run,
        resume=ns.resume,
        check=not ns.no_check,
        on_change=on_change,
        timeout=ns.timeout,
    )
