"""The deploy form on a big workspace: opening it, and an editor event, at 20,000 files (issue 17).

A folder of 20,000 small files (q scripts, CSVs and notes in 200 folders, as a research repo
grows) is opened with ``form()`` against the local plane (so the cluster listing is real too);
then the editor events a user causes are timed on their own: the first keystroke (the file becomes
unsaved and the list marks it), a further keystroke, and a save. Before the fix opening took 16.4 s
(the file list's labels were quadratic) and every editor event paid it again.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from common import Figure, local_plane, median

FILES = 20_000
OPEN_TARGET_MS = 300.0
EVENT_TARGET_MS = 20.0


def _big_workspace(root: Path) -> Path:
    suffixes = (".q", ".q", ".csv", ".md")
    for i in range(FILES):
        folder = root / f"pkg{i % 200:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"m{i}{suffixes[i % len(suffixes)]}").write_text(f"f{i}:{{x+{i}}}\n")
    (root / "init.q").write_text("\\l pkg000/m0.q\n")
    return root


def _ms(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def run(runs: int) -> list[Figure]:
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine
    from kx_jupyter.ui.form import form

    opening, first_key, next_key, saving = [], [], [], []
    with local_plane(node_start_seconds=0.2) as (_home, _info), tempfile.TemporaryDirectory(prefix="kx-bench-ws-") as tmp:
        workspace = _big_workspace(Path(tmp))
        count = sum(len(files) for _, _, files in os.walk(workspace))
        settings = load_settings(workspace=str(workspace))
        engine = Engine(settings)
        form(settings, engine=engine)  # warm: imports, the API models, the OS file cache
        for n in range(max(3, runs)):
            box = {}
            opening.append(_ms(lambda: box.setdefault("ui", form(settings, engine=engine))))
            editor = box["ui"].code.editor
            text = editor.value
            first_key.append(_ms(lambda: setattr(editor, "value", text + f"x{n}:1\n")))
            next_key.append(_ms(lambda: setattr(editor, "value", text + f"x{n}:12\n")))
            editor.file = None  # time the form's reaction to a save, not the disk write
            saving.append(_ms(editor.save))
    method = f"{count} files in 201 folders, local plane; median of {len(opening)} runs"
    return [
        Figure(f"form opens on {FILES:,} files", median(opening), "ms", f"< {OPEN_TARGET_MS:g}",
               median(opening) < OPEN_TARGET_MS, f"form() incl. environments, clusters, status, history; {method}"),
        Figure("  first keystroke (file marked unsaved)", median(first_key), "ms", f"< {EVENT_TARGET_MS:g}",
               median(first_key) < EVENT_TARGET_MS, "editor value set as the browser does; includes the q check"),
        Figure("  further keystroke", median(next_key), "ms", f"< {EVENT_TARGET_MS:g}",
               median(next_key) < EVENT_TARGET_MS, "the list is already marked: nothing is rebuilt"),
        Figure("  save (mark cleared)", median(saving), "ms", f"< {EVENT_TARGET_MS:g}",
               median(saving) < EVENT_TARGET_MS, "the form's reaction to a save, without the disk write"),
    ]
