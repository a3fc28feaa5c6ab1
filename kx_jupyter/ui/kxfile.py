"""``%%kx_file``: write a cell to a workspace file safely, then check it.

Safety rules, because a notebook cell re-run must never eat work done in an editor:
the write is atomic (``files.write_atomic``), and an existing file is only replaced when
its content is what ``%%kx_file`` last wrote there. That hash is kept per user in
``<home>/kx_file_hashes.json`` so the rule survives kernel restarts; a file the magic never
wrote, or one edited since, needs ``--force``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path

from ..errors import KxError
from ..files import write_atomic
from . import render as r


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class WrittenHashes:
    """What ``%%kx_file`` last wrote to each file (absolute path -> SHA-256), kept on disk."""

    def __init__(self, path: Path):
        self.path = path

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, target: Path) -> str | None:
        return self._load().get(str(target))

    def set(self, target: Path, digest: str) -> None:
        data = self._load()
        data[str(target)] = digest
        write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True))


@dataclass
class Written:
    path: Path
    relpath: str
    text: str  # the whole file after the write
    line_offset: int  # file lines before the cell's first line (non-zero with --append)
    appended: bool


def resolve(workspace: Path, relpath: str) -> Path:
    """The file inside the workspace, or a KxError naming the problem."""
    if not relpath:
        raise KxError("%%kx_file needs a file name, e.g. %%kx_file lib/analytics.q")
    root = workspace.expanduser().resolve()
    target = (root / relpath).resolve()
    if Path(relpath).is_absolute() or root not in target.parents:
        raise KxError(
            f"{relpath!r} is not inside the workspace {root}",
            hint="Give a path relative to the workspace (KxJupyter.workspace).",
        )
    if target.is_dir():
        raise KxError(f"{relpath} is a directory in the workspace; name a file")
    return target


def write_cell(
    workspace: Path,
    relpath: str,
    cell: str,
    hashes: WrittenHashes,
    *,
    append: bool = False,
    force: bool = False,
) -> Written:
    target = resolve(workspace, relpath)
    body = cell if cell.endswith("\n") or not cell else cell + "\n"
    existing = target.read_bytes() if target.exists() else None
    offset = 0
    if append and existing:
        prefix = existing.decode("utf-8", errors="replace")
        if not prefix.endswith("\n"):
            prefix += "\n"
        offset = prefix.count("\n")
        text = prefix + body
    else:
        text = body
        if existing is not None and not force and existing != text.encode():
            last = hashes.get(target)
            if last is None:
                raise KxError(
                    f"{relpath} already exists and was not written by %%kx_file; not overwriting it",
                    hint="Add --force to replace it with this cell, or --append to add the cell to it.",
                )
            if last != _sha256(existing):
                raise KxError(
                    f"{relpath} was changed on disk since %%kx_file last wrote it; not overwriting it",
                    hint="Add --force to replace it with this cell (the changes on disk are lost).",
                )
    data = text.encode()
    write_atomic(target, data)
    hashes.set(target, _sha256(data))
    return Written(target, relpath, text, offset, append)


def check_written(written: Written, settings) -> list:
    """The checker's findings for the written file: its own, plus the bundle's where it takes part.

    A file that is the init script or that the init script reaches gets the rules only the
    whole bundle can apply (a ``\\l`` of a file that is not there, a missing init script):
    what a push's check would say about this file, less the argument rules, since the push's
    arguments are not known yet. The workspace check is skipped, never fatal, when the
    workspace cannot be bundled (a push says why).
    """
    from ..deploy.bundle import checked_files
    from ..qcheck import check_bundle, check_source

    own = check_source(written.text, path=written.relpath)
    name = written.path.relative_to(Path(settings.workspace).expanduser().resolve()).as_posix()
    init = settings.init_script or None
    try:
        files = checked_files(settings.workspace, settings.max_bundle_mb, init=init)
    except KxError:
        return own
    bundle = check_bundle(
        files, init, None
    )  # the push's arguments are not known yet: their rules wait for it
    seen = {(d.line, d.col, d.rule) for d in own}
    return own + [
        replace(d, path=written.relpath)
        for d in bundle
        if d.path == name and (d.line, d.col, d.rule) not in seen
    ]


def report(written: Written, diagnostics: list | None) -> r.Rich:
    """What was written and the checker's findings (``None``: not checked), located by line in the cell.

    The cell's first line is the ``%%kx_file`` line, so file line L of the cell's text is
    cell line L - offset + 1, which is the number the notebook's line numbers show.
    """
    lines = written.text.splitlines()
    verb = "Appended to" if written.appended else "Wrote"
    head = f"{verb} {written.relpath} ({len(lines)} line{'s' if len(lines) != 1 else ''}, {r.size(len(written.text.encode()))})"
    if diagnostics is None:  # not checked (not q, or --no-check)
        return r.Rich(f'<div style="font-family:{r.FONT};font-size:13px">{escape(head)}</div>', head)
    if not diagnostics:
        return r.Rich(
            f'<div style="font-family:{r.FONT};font-size:13px"><span style="color:#1a7f37">✓</span> '
            f"{escape(head)} · q check: no problems</div>",
            f"{head}\nq check: no problems",
        )
    text, rows = [head], []
    for d in sorted(diagnostics, key=lambda d: (d.line, d.col)):
        in_cell = d.line > written.line_offset
        where = (
            f"cell line {d.line - written.line_offset + 1}, col {d.col}"
            if in_cell
            else f"{written.relpath} line {d.line} (before this cell)"
        )
        source = lines[d.line - 1] if 0 < d.line <= len(lines) else ""
        caret = " " * max(d.col - 1, 0) + "^"
        text.append(f"{where}: {d.severity} {d.rule}: {d.message}")
        if source:
            text += [f"    {source}", f"    {caret}"]
        snippet = (
            f'<pre style="margin:2px 0 0;font-family:{r.MONO};font-size:12px;color:{r.FG}">'
            f"{escape(source)}\n{escape(caret)}</pre>"
            if source
            else ""
        )
        rows.append([where, r.badge(d.severity), d.rule, f"{escape(d.message)}{snippet}"])
    html = (
        f'<div style="font-family:{r.FONT};font-size:13px;color:{r.FG}">{escape(head)} · '
        f"q check: {len(diagnostics)} finding{'s' if len(diagnostics) != 1 else ''}"
        f"{r.table_html(['where', 'severity', 'rule', 'message'], rows, raw_columns=frozenset({1, 3}))}</div>"
    )
    return r.Rich(html, "\n".join(text))
