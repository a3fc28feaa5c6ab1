"""The q editor widget's kernel side: what the browser's messages do to files, marks and diagnostics.

Messages are fed through ipywidgets' own entry points (``set_state`` for a synced trait,
``_handle_custom_msg`` for a custom message), exactly as the front end's would arrive.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("anywidget")

from kx_jupyter.ui import qnames  # noqa: E402
from kx_jupyter.ui.editor import STATIC, QEditor  # noqa: E402

JS = Path(__file__).resolve().parents[1] / "js"
NEEDS_NODE = pytest.mark.skipif(
    shutil.which("node") is None or not (JS / "node_modules").is_dir(),
    reason="needs Node and `npm ci` in js/ (scripts/build_js does both)",
)

UNCLOSED = "f:{[x] x+1\n"
FIXED = "f:{[x] x+1}\n"


def test_the_built_bundle_ships_in_the_package():
    bundle = (STATIC / "editor.js").read_text()
    assert "export" in bundle and "render" in bundle
    assert (STATIC / "editor.css").is_file()


@NEEDS_NODE
def test_the_committed_bundle_is_built_from_the_current_source(tmp_path):
    subprocess.run(["node", "build.mjs", f"--outdir={tmp_path}"], cwd=JS, check=True, timeout=120)
    for name in ("editor.js", "editor.css"):
        assert (tmp_path / name).read_bytes() == (STATIC / name).read_bytes(), (
            f"run scripts/build_js: {name} is stale"
        )


# The completion source alone, in Node: what it offers at the end of each text (null: nothing), or
# with "typing" whether a name is being typed there (names arriving then ask the list again).
COMPLETE_AT_END = """
import { EditorState } from "@codemirror/state";
import { CompletionContext } from "@codemirror/autocomplete";
import { qCompletion, typingAName } from "./src/q-complete.js";
import { qLanguage } from "./src/q-mode.js";
const { texts, names, explicit } = JSON.parse(process.argv[1]);
const source = qCompletion(() => names);
const out = texts.map((doc) => {
  const state = EditorState.create({ doc, extensions: [qLanguage] });
  const result = source(new CompletionContext(state, doc.length, explicit));
  if (process.argv[2] === "typing") return typingAName(EditorState.create({ doc, selection: { anchor: doc.length } }));
  return result && { from: result.from, options: result.options.map((o) => [o.label, o.detail]) };
});
console.log(JSON.stringify(out));
"""


def _offers(texts, names=(), explicit=False, ask="offers"):
    import json

    run = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            COMPLETE_AT_END,
            json.dumps({"texts": texts, "names": list(names), "explicit": explicit}),
            ask,
        ],
        cwd=JS,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(run.stdout)


@NEEDS_NODE
def test_completion_offers_workspace_names_keywords_system_names_and_this_file_s_assignments():
    (ours, dotted, local) = _offers(["t:vwapB", "x:.z.p", "twap:{avg x}\ntw"], names=["vwapBySym", "count"])
    offered = dict(ours["options"])
    assert offered["vwapBySym"] == "workspace" and ours["from"] == 2
    assert offered["xdesc"] == offered["select"] == offered["count"] == "keyword", "q's own words stay q's"
    assert offered[".z.ts"] == offered[".Q.opt"] == offered[".h.html"] == "system"
    assert dotted["from"] == 2, "a namespace name is completed whole, from its dot"
    assert dict(local["options"])["twap"] == "this file"
    assert "tw" not in dict(local["options"]), "the word being typed is no suggestion"


@NEEDS_NODE
def test_nothing_is_offered_in_comments_strings_symbols_or_for_one_letter():
    quiet = ["/ vwapB", "a:1 / vwapB", 's:"vwapB', "t:`vwapB", "f:{x", "1.", "a:1 2 3"]
    assert _offers(quiet, names=["vwapBySym"]) == [None] * len(quiet)
    (explicit,) = _offers(["f:{x"], names=["vwapBySym"], explicit=True)
    assert "vwapBySym" in dict(explicit["options"]), "Ctrl-Space asks even for one letter"


@NEEDS_NODE
def test_names_arriving_reopen_the_list_only_where_typing_would_open_it():
    texts = ["vwapB", ".s", "f[ab", "a.b", "a", "a:1", "x:12", "t:`ab", "1ab"]
    assert _offers(texts, ask="typing") == [True] * 4 + [False] * 5


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


def _workspace(root: Path) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "init.q").write_text("\\l lib/stats.q\nvwapBySym:{[t] select size wavg price by sym from t}\n")
    (root / "lib" / "stats.q").write_text(".stats.ewma:{[a;x] (1-a)*':x}\n")
    (root / "scratch.q").write_text("scratchOnly:42\n")  # loaded by nothing
    (root / "notes.md").write_text("notAName:1\n")
    return root


def _names(editor: QEditor) -> list[str]:
    assert editor.wait_for_names(30), "the names never came"
    return editor.names


def test_completion_names_are_what_the_init_script_and_its_loads_define_once_the_browser_asks(tmp_path):
    ws = _workspace(tmp_path)
    editor = QEditor(path="init.q", file=ws / "init.q", workspace=ws, init_script="init.q")
    editor.load(editor.value, "init.q", file=ws / "init.q")
    assert editor.wait_for_names(30) and editor.names == [], "nothing is read before a view asks"
    editor._handle_custom_msg({"type": "names"}, [])  # the browser's view was entered
    names = _names(editor)
    assert {"vwapBySym", ".stats.ewma"} <= set(names)
    assert "scratchOnly" not in names and "notAName" not in names


def test_completion_names_follow_a_save_and_another_init_script(tmp_path):
    ws = _workspace(tmp_path)
    editor = QEditor(path="lib/stats.q", file=ws / "lib" / "stats.q", workspace=ws, init_script="init.q")
    editor.refresh_names()
    assert "twap" not in _names(editor)
    editor.set_state({"value": ".stats.ewma:{[a;x] (1-a)*':x}\ntwap:{[t] avg t`price}\n"})
    assert "twap" not in _names(editor), "unsaved text is the browser's to offer, not a workspace name"
    editor.save()
    assert "twap" in _names(editor)
    editor.init_script = "scratch.q"
    assert _names(editor) == ["scratchOnly"]


def test_without_an_init_script_the_open_file_and_its_loads_give_the_names(tmp_path):
    ws = _workspace(tmp_path)
    editor = QEditor(path="scratch.q", file=ws / "scratch.q", workspace=ws)
    editor.refresh_names()
    assert _names(editor) == ["scratchOnly"]
    editor.load((ws / "init.q").read_text(), "init.q", file=ws / "init.q")
    assert ".stats.ewma" in _names(editor)


def test_a_save_reads_only_the_saved_file_and_entering_again_only_what_changed(tmp_path, monkeypatch):
    ws = _workspace(tmp_path)
    for i in range(50):
        (ws / f"other{i}.q").write_text(f"o{i}:{i}\n")
    editor = QEditor(path="init.q", file=ws / "init.q", workspace=ws, init_script="init.q")
    editor.refresh_names()
    _names(editor)
    reads = []
    real = qnames.read_bytes
    monkeypatch.setattr(qnames, "read_bytes", lambda path: reads.append(Path(path).name) or real(path))
    editor.set_state({"value": "\\l lib/stats.q\nvwapBySym:{x}\n\\l other7.q\n"})
    editor.save()
    assert "o7" in _names(editor)
    assert reads == ["init.q"]

    reads.clear()
    (ws / "other7.q").write_text("o7:7\nseven:7\n")  # another tool
    (ws / "lib" / "new.q").write_text("fresh:1\n")
    editor._handle_custom_msg({"type": "names"}, [])  # the editor is entered again
    assert "seven" in _names(editor)
    assert sorted(reads) == ["new.q", "other7.q"]


def test_an_editor_without_a_workspace_offers_no_workspace_names():
    editor = QEditor(value="a:1\n", path="a.q")
    editor._handle_custom_msg({"type": "names"}, [])
    assert editor.wait_for_names(1) and editor.names == []


def test_the_forms_editor_offers_what_the_init_script_picked_in_the_form_defines(tmp_path, kx_home):
    from test_form import stand_in_engine

    from kx_jupyter.config import KxJupyter
    from kx_jupyter.ui.form import form

    ws = _workspace(tmp_path / "ws")
    ui = form(KxJupyter(workspace=str(ws), home=str(kx_home)), engine=stand_in_engine())
    editor = ui.code.editor
    editor._handle_custom_msg({"type": "names"}, [])
    assert {"vwapBySym", ".stats.ewma"} <= set(_names(editor))
    ui.init_script.value = "scratch.q"
    assert _names(editor) == ["scratchOnly"]


def test_a_checker_failure_keeps_the_last_names_and_later_refreshes_still_work(tmp_path, monkeypatch):
    import kx_jupyter.qcheck

    ws = _workspace(tmp_path)
    editor = QEditor(path="init.q", file=ws / "init.q", workspace=ws, init_script="init.q")
    editor.refresh_names()
    before = _names(editor)
    real = kx_jupyter.qcheck.defined_names
    monkeypatch.setattr(kx_jupyter.qcheck, "defined_names", lambda files, script: 1 / 0)
    editor.refresh_names()
    assert _names(editor) == before
    monkeypatch.setattr(kx_jupyter.qcheck, "defined_names", real)
    editor.init_script = "scratch.q"
    assert _names(editor) == ["scratchOnly"]
