"""The q editor widget in a real JupyterLab: typing, live diagnostics, Ctrl-S, completion, keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_dark_theme_browser import _low_contrast

pytestmark = pytest.mark.browser

EDITOR_CELL = """\
from kx_jupyter.ui.editor import QEditor
editor = QEditor(path="analytics.q", file="analytics.q")
editor
"""


def test_diagnostic_appears_for_a_missing_brace_and_clears_when_fixed(lab, shot):
    page = lab.page
    notebook = lab.open_notebook("editor.ipynb", [EDITOR_CELL])
    lab.run_all_cells()
    widget = page.locator(".kx-qeditor")
    widget.wait_for(timeout=30_000)
    assert not lab.errors()

    page.locator(".kx-qeditor .cm-content").click()
    page.keyboard.type("/ moving average of the last n values\nmavgn:{[n;x] n mavg x")
    content = page.locator(".kx-qeditor .cm-content")
    assert content.inner_text().endswith("mavgn:{[n;x] n mavg x}"), "brackets close as they open"
    page.keyboard.press("Delete")  # the closing brace goes: the checker must notice
    error_marker = page.locator(".kx-qeditor .cm-lint-marker-error")
    error_marker.wait_for(timeout=15_000)
    assert page.locator(".kx-qeditor .cm-lintRange-error").count() >= 1
    assert "1 error" in page.locator(".kx-qeditor-problems").inner_text()
    assert page.locator(".kx-qeditor-dirty").is_visible()
    comment = page.locator(".kx-qeditor .cm-line").first.locator("span").first
    assert comment.inner_text().startswith("/ moving")
    assert comment.evaluate("e => getComputedStyle(e).fontStyle") == "italic", "q comments are highlighted"
    shot(widget, "1-missing-brace")

    page.keyboard.type("}")
    error_marker.wait_for(state="detached", timeout=15_000)
    assert page.locator(".kx-qeditor-problems").inner_text() == "no problems"
    shot(widget, "2-fixed")

    saved_notebook = notebook.read_text()
    page.keyboard.press("Control+s")
    page.locator(".kx-qeditor-dirty").wait_for(state="hidden", timeout=10_000)
    on_disk = (lab.server.root / "analytics.q").read_text()
    assert on_disk.startswith("/ moving average of the last n values\nmavgn:{[n;x] n mavg x")
    assert on_disk.rstrip().endswith("}")
    assert notebook.read_text() == saved_notebook, "Ctrl-S in the editor must not save the notebook"
    shot(page, "3-saved-page")


HIGHLIGHT_SAMPLE = r"""/ line comment
\l lib/util.q
/
block comment
\
total:{x+/1 2 3} / trailing comment
s:`trade.sym; t:"say \"hi\""
\
after the end of the script
"""


def test_q_comment_rules_and_tokens_are_highlighted(lab, shot):
    page = lab.page
    lab.open_notebook(
        "highlight.ipynb",
        [
            f"from kx_jupyter.ui.editor import QEditor\nQEditor(value={HIGHLIGHT_SAMPLE!r}, path='sample.q')",
        ],
    )
    lab.run_all_cells()
    page.locator(".kx-qeditor .cm-content").wait_for(timeout=30_000)
    assert not lab.errors()

    def style_of(text: str) -> str:
        span = page.locator(".kx-qeditor .cm-content span", has_text=text).last
        return span.evaluate(
            "e => e.className + '|' + getComputedStyle(e).color + '|' + getComputedStyle(e).fontStyle"
        )

    comment = style_of("/ line comment")
    assert comment.endswith("italic")
    assert style_of("block comment") == comment
    assert style_of("/ trailing comment") == comment, "' /' after whitespace starts a comment"
    assert style_of("after the end of the script") == comment, "a lone '\\' ends the script"
    assert style_of("\\l lib/util.q") != comment, "a system command is not a comment"
    assert style_of("3") == style_of("1"), "'/' right after a value is the over iterator, not a comment"
    assert style_of("3") != comment
    assert style_of("`trade.sym") not in (comment, style_of("3"))
    shot(page.locator(".kx-qeditor"), "highlighting")


def test_a_text_file_beside_the_code_is_shown_plain_and_unchecked(lab):
    page = lab.page
    lab.open_notebook(
        "plain.ipynb",
        [
            "from kx_jupyter.ui.editor import QEditor\nQEditor(value='sym,limit\\n/ not a "
            "comment,{1\\n', path='config/limits.csv')",
        ],
    )
    lab.run_all_cells()
    page.locator(".kx-qeditor .cm-content").wait_for(timeout=30_000)
    page.locator(".kx-qeditor-problems", has_text="plain text").wait_for(timeout=15_000)
    assert page.locator(".kx-qeditor .cm-content span").count() == 0, "no q highlighting in a CSV"
    assert page.locator(".kx-qeditor .cm-lint-marker").count() == 0
    assert not lab.errors()


WORKSPACE_EDITOR_CELL = """\
from kx_jupyter.ui.editor import QEditor
editor = QEditor(path="analytics.q", file="{ws}/analytics.q", workspace="{ws}", init_script="init.q")
editor
"""


def _workspace(root: Path) -> str:
    (root / "lib").mkdir(parents=True, exist_ok=True)
    (root / "init.q").write_text("\\l lib/stats.q\nvwapBySym:{[t] select size wavg price by sym from t}\n")
    (root / "lib" / "stats.q").write_text(".stats.ewma:{[a;x] (1-a)*':x}\n")
    (root / "analytics.q").write_text("")
    return root.name


def _open_editor(lab, name: str, theme: str = "light", app: str = "lab"):
    page = lab.page
    ws = _workspace(lab.server.root / f"{name}-ws")
    lab.open_notebook(f"{name}.ipynb", [WORKSPACE_EDITOR_CELL.format(ws=ws)], app=app)
    if theme == "dark":
        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
        )
        page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    lab.run_all_cells()
    content = page.locator(".kx-qeditor .cm-content")
    content.wait_for(timeout=30_000)
    assert not lab.errors()
    content.click()
    return content


def _light_again(page):
    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=30_000)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_completion_offers_names_the_workspace_defines_and_q_keywords(lab, shot, theme):
    page = lab.page
    try:
        content = _open_editor(lab, f"complete-{theme}", theme)
        completions = page.locator(".cm-tooltip-autocomplete")
        page.keyboard.type("vwapB")  # defined by init.q, which the editor's init script is
        workspace_name = completions.locator("li", has_text="vwapBySym")
        workspace_name.wait_for(timeout=15_000)
        assert "workspace" in workspace_name.inner_text()
        shot(page.locator(".jp-Cell").first, f"completion-workspace-{theme}")
        page.keyboard.press("Enter")
        page.keyboard.type("[trade] xde")
        keyword = completions.locator("li", has_text="xdesc")
        keyword.wait_for(timeout=15_000)
        assert "keyword" in keyword.inner_text()
        assert _low_contrast(completions) == []
        shot(page.locator(".jp-Cell").first, f"completion-keyword-{theme}")
        page.keyboard.press("Enter")
        page.keyboard.type(" .stats.e")  # loaded by init.q
        completions.locator("li", has_text=".stats.ewma").wait_for(timeout=15_000)
        page.keyboard.press("Escape")  # closes the list; the editor keeps the keys
        completions.wait_for(state="detached", timeout=5_000)
        assert content.evaluate("e => e.contains(document.activeElement)")
        assert content.inner_text().startswith("vwapBySym[trade] xdesc .stats.e")
    finally:
        if theme == "dark":
            _light_again(page)


def test_quotes_and_brackets_close_but_not_q_s_operators(lab):
    page = lab.page
    content = _open_editor(lab, "brackets")
    page.keyboard.type('f:{[x] g["a')
    assert content.inner_text() == 'f:{[x] g["a"]}', (
        "each bracket and quote typed is closed; a typed ] steps over its pair"
    )
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("h:f'[`a")
    assert content.inner_text().split("\n")[-1] == "h:f'[`a]", "' is each and ` a symbol: never paired"


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_escape_and_shift_enter_hand_the_keys_back_to_the_notebook(lab, app):
    page = lab.page
    content = _open_editor(lab, f"escape-{app}", app=app)
    page.keyboard.type("a:1")
    page.keyboard.press("Escape")  # at once: the completion that keystroke started is pending, not shown
    page.wait_for_function("!document.querySelector('.kx-qeditor').contains(document.activeElement)")
    page.locator(".jp-Notebook.jp-mod-commandMode").wait_for(timeout=5_000)
    cells = page.locator(".jp-Notebook .jp-Cell")
    assert cells.count() == 1
    page.keyboard.press("b")  # a notebook shortcut works again: a cell below
    page.wait_for_function("document.querySelectorAll('.jp-Notebook .jp-Cell').length === 2")

    content.click()
    page.keyboard.press("End")
    page.keyboard.type("\nb:{x")
    page.keyboard.press("Delete")  # no closing brace: an error once the checker sees the text
    page.keyboard.press("Shift+Enter")  # checked now, not after the typing pause; keys back to the notebook
    page.locator(".kx-qeditor .cm-lint-marker-error").wait_for(timeout=15_000)
    page.wait_for_function("!document.querySelector('.kx-qeditor').contains(document.activeElement)")
    assert content.inner_text() == "a:1\nb:{x", "Shift-Enter does not type a new line"
    assert cells.count() == 2, "Shift-Enter does not run the cell (that would replace the editor)"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_tooltip_names_the_rule_once(lab, shot, theme):
    page = lab.page
    try:
        _open_editor(lab, f"tooltip-{theme}", theme)
        page.keyboard.type("f:{x")
        page.keyboard.press("Delete")
        page.locator(".kx-qeditor .cm-lint-marker-error").hover()
        tooltip = page.locator(".cm-tooltip-lint")
        tooltip.wait_for(timeout=15_000)
        text = tooltip.inner_text()
        assert len(re.findall(r"\bQ\d{3}\b", text)) == 1, text
        assert _low_contrast(tooltip) == []
        shot(tooltip, f"gutter-{theme}")
        page.locator(".kx-qeditor .cm-lintRange-error").first.hover()
        page.wait_for_function("document.querySelectorAll('.cm-tooltip-lint').length === 1")
        assert len(re.findall(r"\bQ\d{3}\b", page.locator(".cm-tooltip-lint").inner_text())) == 1
    finally:
        if theme == "dark":
            _light_again(page)
