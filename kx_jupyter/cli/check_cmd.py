"""``kx-jupyter check [DIR] [--init init.q] [--arg k=v ...] [--json]``: the offline q checker.

Checks exactly the files a push would bundle (same selection, ``.kxignore`` included), so a
clean check means the push's own check passes. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import KxError
from ..options import add_arg_option, arguments_dict

EPILOG = """exit codes:
  0  no errors (warnings and infos may be printed)
  1  the checker found errors
  2  usage problem (no such directory, bad --arg, unreadable settings)

silence a rule in q:  / kxcheck: disable=Q010   (this line; disable-next-line=, disable-file=)"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check q code offline before pushing it",
        description="Check a workspace's q code offline: syntax q's loader refuses, loads of files "
        "missing from the bundle, and FinSpace incompatibilities.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dir", nargs="?", help="workspace directory (default: KxJupyter.workspace)")
    parser.add_argument(
        "--init", help="initialization script, relative to DIR (default: KxJupyter.init_script; '' for none)"
    )
    add_arg_option(
        parser,
        "command-line argument the deployment passes, repeatable; checks keys, values and "
        "what the code reads with .Q.opt .z.x",
    )
    parser.add_argument("--json", action="store_true", help="print the diagnostics as a JSON list")
    parser.add_argument(
        "--rules",
        action="store_true",
        help="list every rule id with its severity and what it catches, then exit",
    )
    parser.set_defaults(func=run)


def _settings():
    from ..config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        raise KxError(str(exc), hint="Fix the setting, or unset the KX_JUPYTER_* variable.") from None


def run(ns) -> int:
    from ..qcheck import RULES, format_json, format_text, has_errors

    if ns.rules:
        for rule, (severity, title) in RULES.items():
            print(f"{rule}  {severity:<7}  {title}")
        return 0
    settings = _settings()
    root = Path(ns.dir or settings.workspace).expanduser().resolve()
    if not root.is_dir():
        raise KxError(f"{root} is not a directory", hint="Pass the workspace directory: kx-jupyter check DIR")
    loop = find_link_loop(root)
    if loop:
        link, target = loop
        raise KxError(
            f"{link} in the workspace is a symbolic link back to {target}, which contains it: following it never ends",
            hint=f"Remove the link, or leave it out with a line '{link}/' in .kxignore.",
        )
    from ..deploy import Engine

    init = ns.init
    skipped = None
    if init is None and settings.init_script and not (root / settings.init_script).is_file():
        # no init script to follow: check each file on its own rather than report it missing
        skipped, init = settings.init_script, ""
    diags = Engine(settings).check(root, init, arguments_dict(ns.args))
    if skipped:
        from ..qcheck.rules import diag

        diags.append(
            diag(
                "Q027",
                skipped,
                1,
                1,
                f"{root} has no {skipped} and no --init was given: each file was checked on its own, "
                "without the bundle rules (loads, arguments, the symbol table); pass --init to check them",
            )
        )
    if ns.json:
        print(format_json(diags))
    else:
        if diags:
            print(format_text(diags))
        counts = {s: sum(d.severity == s for d in diags) for s in ("error", "warning", "info")}
        print(f"{root}: {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info")
    return 1 if has_errors(diags) else 0


def find_link_loop(root: Path):
    """The first directory link that points back at one of its own ancestors, as (link, target) relative to ``root``.

    Links between sibling folders (a/to_b -> b, b/to_a -> a) never point at their own parent,
    yet following them nests a/to_b/to_a/to_b/... for ever; so each link's target is compared with
    the real paths of every folder above it on the way down, not only its parent."""
    from ..deploy.bundle import DEFAULT_EXCLUDES

    skipped = {e.rstrip("/") for e in DEFAULT_EXCLUDES if e.endswith("/")}
    root = Path(root).resolve()
    for dirpath, dirnames, _ in os.walk(root, followlinks=True):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in skipped)
        above = {root}
        for parent in [here, *here.relative_to(root).parents]:
            above.add((root / parent).resolve() if parent != here else here.resolve())
        for name in dirnames:
            link = here / name
            if link.is_symlink() and link.resolve() in above:
                target = link.resolve()
                return link.relative_to(root).as_posix(), (
                    target.relative_to(root).as_posix() if target != root else "."
                )
    return None
