"""The q editor widget's kernel side: what the browser's messages do to files, marks and diagnostics.

Messages are fed through ipywidgets' own entry points (``set_state`` for a synced trait,
``_handle_custom_msg`` for a custom message), exactly as the front end's would arrive.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("anywidget")

from kx_jupyter.ui.editor import STATIC, QEditor  # noqa: E402

JS = Path(__file__).resolve().parents[1] / "js"

UNCLOSED = "f:{[x] x+1\n"
FIXED = "f:{[x] x+1}\n"


def test_the_built_bundle_ships_in_the_package():
    bundle = (STATIC / "editor.js").read_text()
    assert "export" in bundle and "render" in bundle
    assert (STATIC / "editor.css").is_file()


@pytest.mark.skipif(
    shutil.which("node") is None or not (JS / "node_modules").is_dir(),
    reason="needs Node and `npm ci` in js/ (scripts/build_js does both)",
)
def test_the_committed_bundle_is_built_from_the_current_source(tmp_path):
    subprocess.run(["node", "build.mjs", f"--outdir={tmp_path}"], cwd=JS, check=True, timeout=120)
    for name in ("editor.js", "editor.css"):
        assert (tmp_path / name).read_bytes() == (STATIC / name).read_bytes(), (
            f"run scripts/build_js: {name} is stale"
        )


def test_typing_a_missing_brace_yields_a_diagnostic_and_fixing_it_clears_it():
    editor = QEditor(value="", path="lib/f.q")
    assert editor.diagnostics == []
    editor.set_state({"value": UNCLOSED})
    (diag,) = editor.diagnostics
    assert diag["severity"] == "error" and diag["line"] == 1 and diag["col"] == 3
    assert diag["path"] == "lib/f.q"
    assert editor.dirty
    editor.set_state({"value": FIXED})
    assert editor.diagnostics == []


def test_ctrl_s_writes_the_exact_text_sent_and_clears_the_unsaved_mark(tmp_path):
    target = tmp_path / "lib" / "f.q"
    saved = []
    editor = QEditor(path="lib/f.q", file=target)
    editor.on_save(lambda ed: saved.append(ed.value))
    editor.set_state({"value": "f:{[x] x"})  # the debounced sync lagged behind the last keys
    editor._handle_custom_msg({"type": "save", "value": FIXED}, [])
    assert target.read_text() == FIXED
    assert not editor.dirty
    assert saved == [FIXED]
    assert [p.name for p in target.parent.iterdir()] == ["f.q"], "no temporary file is left behind"


def test_saving_keeps_the_file_mode(tmp_path):
    target = tmp_path / "run.q"
    target.write_text("old\n")
    target.chmod(0o640)
    editor = QEditor(path="run.q", file=target)
    assert editor.value == "old\n"
    editor.set_state({"value": "new\n"})
    editor.save()
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o640


def test_editing_back_to_the_saved_text_clears_the_unsaved_mark():
    editor = QEditor(value=FIXED, path="f.q")
    editor.set_state({"value": FIXED + "g:1\n"})
    assert editor.dirty
    editor.set_state({"value": FIXED})
    assert not editor.dirty


def test_load_shows_another_file_as_saved_with_its_own_diagnostics(tmp_path):
    editor = QEditor(value=FIXED, path="a.q")
    editor.set_state({"value": "edited"})
    editor.load(UNCLOSED, "b.q", file=tmp_path / "b.q")
    assert (editor.path, editor.value, editor.dirty) == ("b.q", UNCLOSED, False)
    assert editor.saved_text == UNCLOSED
    assert [d["path"] for d in editor.diagnostics] == ["b.q"]


def test_a_save_over_changes_made_on_disk_is_refused_once_then_overwrites(tmp_path):
    target = tmp_path / "f.q"
    target.write_text("a:1\n")
    editor = QEditor(path="f.q", file=target)
    target.write_text("a:2 / changed by another tool\n")
    editor.set_state({"value": "a:3\n"})
    editor._handle_custom_msg({"type": "save", "value": "a:3\n"}, [])
    assert target.read_text() == "a:2 / changed by another tool\n"
    assert "changed on disk" in editor.message and editor.dirty
    editor._handle_custom_msg({"type": "save", "value": "a:3\n"}, [])
    assert target.read_text() == "a:3\n"
    assert editor.message == "" and not editor.dirty
