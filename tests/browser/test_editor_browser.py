"""The q editor widget in a real JupyterLab: typing, live diagnostics, Ctrl-S."""

from __future__ import annotations

import pytest

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
