"""The magics in a real JupyterLab: the live widget view of a --background update while
another cell runs, then the tables and the diff. Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

SETUP = """\
%load_ext kx_jupyter
%config KxJupyter.workspace = "ws-magics"
%config KxJupyter.poll_max = 1.0"""
UTIL = "%%kx_file lib/util.q\n/ helpers loaded by init.q\nadd:{x+y}\n"
INIT = "%%kx_file init.q\n/ entry point\n\\l lib/util.q\nstart:.z.p\n"
PUSH = "d = %kx_update --cluster hdb-3 --background"
PROBE = 'print("probe:", d.status)'
LATER = [
    "%%kx_file lib/util.q\n/ helpers loaded by init.q\nadd:{x+y}\nmul:{[x;y] x*y} / product\n",
    "%kx_diff hdb-3",
    "%kx_clusters",
    "%kx_history hdb-3",
    "%kx_status hdb-3",
    '%%kx_file lib/scratch.q\n/ work in progress\nvwap:{[p;s] s wsum p % sum s\nname:"ibm\n',
]


def test_background_update_view_tables_and_diff(lab, shot):
    page = lab.page
    (lab.server.root / "ws-magics").mkdir()
    lab.open_notebook("magics.ipynb", [SETUP, UTIL, INIT, PUSH, PROBE])
    lab.run_all_cells()

    view = page.locator(".kx-status-view").first
    view.wait_for(timeout=60_000)
    page.get_by_text("probe: watching").wait_for(timeout=30_000)  # the kernel ran the next cell meanwhile
    page.get_by_text("rolling nodes…").first.wait_for(timeout=60_000)
    shot(view, "1-rolling")
    view.get_by_text("deployed").wait_for(timeout=120_000)
    assert view.get_by_text("RUNNING").count() >= 4, "the cluster badge and each of the three nodes"
    shot(view, "2-deployed")

    for source in LATER:
        lab.append_and_run(source)
    page.locator("th", has_text="last modified (UTC)").wait_for(timeout=60_000)
    page.get_by_text("mul:").last.wait_for(timeout=60_000)
    page.locator("td", has_text="succeeded").first.wait_for(timeout=60_000)
    assert not lab.errors()
    outputs = page.locator(".jp-Cell").nth(6)
    shot(outputs, "3-diff")
    shot(page.locator(".jp-Cell").nth(7), "4-clusters")
    shot(page.locator(".jp-Cell").nth(8), "5-history")
    page.get_by_text("cell line 3, col 6").wait_for(timeout=30_000)
    shot(page.locator(".jp-Cell").nth(9), "6-status")
    shot(page.locator(".jp-Cell").nth(10), "7-kx-file-diagnostics")
