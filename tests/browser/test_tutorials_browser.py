"""The tutorial notebooks as a quant opens them: in JupyterLab, with widgets, run top to bottom.

nbval checks their outputs in a bare kernel; this checks that they also run in the real
front end (where the live views are widgets) without a traceback, and saves screenshots of
each tutorial's key outputs to test-artifacts/browser/ for a person to look at.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# notebook -> (name of the screenshot, the start of the source of the cell to show)
KEY_CELLS = {
    "01-quickstart.ipynb": [("push", "d = %kx_update"), ("status", "%kx_status")],
    "02-the-form.ipynb": [("form", "f = %kx_form")],
    "03-review-before-push.ipynb": [
        ("diff", "%kx_diff"),
        ("failed-push", "bad = %kx_update"),
        ("history", "%kx_history"),
    ],
    "04-strategies.ipynb": [("rolling", 'before = launch_times("hdb-3")\nrolling')],
    "05-finspace-endpoint.ipynb": [("clusters", "%kx_clusters"), ("dry-run", "%kx_update --dry-run")],
    "06-pipeline.ipynb": [("json", "import json\n\nresult")],
}


def _cell_index(path: Path, start: str) -> int:
    cells = json.loads(path.read_text())["cells"]
    for i, cell in enumerate(cells):
        if "".join(cell["source"]).startswith(start):
            return i
    raise AssertionError(f"{path.name} has no cell starting with {start!r}")


def _wait_until_every_code_cell_ran(page, timeout_ms: int = 240_000) -> None:
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
            const cells = panel.content.widgets.filter(c => c.model.type === 'code');
            return kernel && kernel.status === 'idle'
                && cells.every(c => c.model.executionCount !== null && c.promptNode.textContent.indexOf('*') < 0);
        }""",
        timeout=timeout_ms,
    )


@pytest.mark.parametrize("name", sorted(KEY_CELLS))
def test_tutorial_runs_in_jupyterlab(name, lab, shot):
    page = lab.page
    source = NOTEBOOKS / name
    shutil.copy(source, lab.server.root / name)  # the stored outputs are replaced as the cells run
    page.goto(lab.server.page_url(f"/lab/tree/{name}", "reset"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
    lab.wait_for_kernel_idle()
    page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    lab.run_all_cells()
    _wait_until_every_code_cell_ran(page)

    assert not [e for e in lab.errors() if "Traceback" in e]
    for shot_name, start in KEY_CELLS[name]:
        cell = page.locator(".jp-Notebook .jp-Cell").nth(_cell_index(source, start))
        cell.scroll_into_view_if_needed()
        shot(cell, shot_name)
