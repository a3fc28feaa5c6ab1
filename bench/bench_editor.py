"""The q editor's completion names on the form bench's 20,000-file workspace (issue 17).

The names a workspace defines come from the checker's symbol table over the init script and
its loads (``QEditor.names``, computed in a background thread once the browser's view is
entered, then again after each save). Timed: how long after entering the editor the names are
there (every q file read once), how long after a save (only the saved file is read again), and a
keystroke's handling while that first computation runs beside it in the kernel.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench_form import EVENT_TARGET_MS, FILES, _big_workspace, _ms
from common import Figure, median

FIRST_TARGET_MS = 1000.0
AFTER_SAVE_TARGET_MS = 250.0


def _until_names(editor, action) -> float:
    start = time.perf_counter()
    action()
    if not editor.wait_for_names(120):
        raise RuntimeError("the completion names never came")
    return (time.perf_counter() - start) * 1000


def run(runs: int) -> list[Figure]:
    from kx_jupyter.ui.editor import QEditor

    first, after_save, keystroke = [], [], []
    with tempfile.TemporaryDirectory(prefix="kx-bench-editor-") as tmp:
        ws = _big_workspace(Path(tmp))
        init = ws / "init.q"
        for n in range(max(3, runs)):
            editor = QEditor(path="init.q", file=init, workspace=ws, init_script="init.q")
            first.append(_until_names(editor, lambda: editor._handle_custom_msg({"type": "names"}, [])))  # noqa: B023
            text = editor.value + f"extra{n}:{n}\n"
            editor.value = text
            after_save.append(_until_names(editor, editor.save))
            assert f"extra{n}" in editor.names

            fresh = QEditor(path="init.q", file=init, workspace=ws, init_script="init.q")
            fresh._handle_custom_msg({"type": "names"}, [])  # its first computation starts now
            keystroke.append(_ms(lambda: setattr(fresh, "value", text + "k:1\n")))  # noqa: B023
            fresh.wait_for_names(120)
    method = f"{FILES:,} files (half of them q) in 200 folders; init.q loads one; median of {len(first)} runs"
    return [
        Figure(
            f"completion names, editor entered, {FILES:,} files",
            median(first),
            "ms",
            f"< {FIRST_TARGET_MS:g}",
            median(first) < FIRST_TARGET_MS,
            f"in the background: every q file stat()ed and read, then qcheck.defined_names; {method}",
        ),
        Figure(
            "  after a save",
            median(after_save),
            "ms",
            f"< {AFTER_SAVE_TARGET_MS:g}",
            median(after_save) < AFTER_SAVE_TARGET_MS,
            "only the saved file is read again; the others are not looked at",
        ),
        Figure(
            "  keystroke while the names are computed",
            median(keystroke),
            "ms",
            f"< {EVENT_TARGET_MS:g}",
            median(keystroke) < EVENT_TARGET_MS,
            "editor value set as the browser does (the q check) beside the first computation",
        ),
    ]
