"""The release view in JupyterLab, as a quant sees it: running, failed, rolled back, in the light and
the dark theme; every text readable. Screenshots land in test-artifacts/browser/ to look at."""

from __future__ import annotations

import pytest
from test_dark_theme_browser import _low_contrast

pytestmark = pytest.mark.browser

MANIFEST = """stages = [["tp"], ["rdb"], ["hdb"]]
[targets.tp]
cluster = "{p}-tp"
init = "tick.q"
arguments = {{ procName = "tp" }}
[targets.rdb]
cluster = "{p}-rdb"
init = "rdb.q"
[targets.hdb]
cluster = "{p}-hdb"
init = "hdb.q"
"""


def cells(prefix: str) -> list[str]:
    files = {
        "tick.q": "args:.Q.opt .z.x\n.tp.name:`$first args`procName\n",
        "rdb.q": ".rdb.ready:1b\n",
        "hdb.q": ".hdb.ready:1b\n",
        "kxrelease.toml": MANIFEST.format(p=prefix),
    }
    return [
        f"%load_ext kx_jupyter\n%config KxJupyter.workspace = 'ws-{prefix}'\n"
        "%config KxJupyter.poll_initial = 0.1\n%config KxJupyter.poll_max = 0.3",
        f"!kx-jupyter local create-cluster {prefix}-tp {prefix}-rdb\n"
        f"!kx-jupyter local create-cluster {prefix}-hdb --type HDB --nodes 2",
        "from pathlib import Path\n"
        f"for name, text in {files!r}.items():\n"
        f"    Path('ws-{prefix}', name).write_text(text)",
        "%kx_release",
        f"Path('ws-{prefix}', 'hdb.q').write_text('.hdb.dates:nosuchfn[]\\n')",
        "failed = %kx_release --no-check --no-raise",
        "%kx_release --rollback",
    ]


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_the_release_view_running_failed_and_rolled_back(lab, shot, theme):
    prefix = "lt" if "Light" in theme else "dk"
    page = lab.page
    (lab.server.root / f"ws-{prefix}").mkdir(exist_ok=True)
    lab.open_notebook(f"release-{prefix}.ipynb", cells(prefix))
    page.evaluate(f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: {theme!r}}})")
    dark = "false" if "Dark" in theme else "true"
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{dark}'", timeout=30_000)
    try:
        # not lab.run_all_cells(): its promise ends with the last cell, and the running view is gone by then
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        views = page.locator(".kx-release")
        running = views.nth(0)
        running.get_by_text("updating").first.wait_for(timeout=120_000)
        running.scroll_into_view_if_needed()
        shot(running, f"{prefix}-running")
        assert _low_contrast(running) == []
        running.get_by_text("succeeded").nth(3).wait_for(timeout=120_000)  # three targets and the release
        failed = views.nth(1)
        failed.get_by_text("nosuchfn").first.wait_for(timeout=120_000)
        failed.scroll_into_view_if_needed()
        shot(failed, f"{prefix}-failed")
        assert _low_contrast(failed) == []
        assert failed.get_by_text("not run").count() == 0  # hdb is the last stage: nothing after it
        back = views.nth(2)
        back.get_by_text("rolled back").nth(2).wait_for(timeout=120_000)  # tp, rdb and the rollback itself
        back.scroll_into_view_if_needed()
        shot(back, f"{prefix}-rolled-back")
        assert _low_contrast(back) == []
        assert lab.errors() == []
    finally:
        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
        )


PANEL_MANIFEST = """stages = [["rdb"], ["hdb"]]
[targets.rdb]
cluster = "pn-rdb"
init = "rdb.q"
[targets.hdb]
cluster = "pn-hdb"
init = "hdb.q"
"""
PANEL_CELLS = [
    "%load_ext kx_jupyter\n%config KxJupyter.poll_initial = 0.1\n%config KxJupyter.poll_max = 0.3",
    "!kx-jupyter local create-cluster pn-rdb pn-hdb",
    "from kx_jupyter.config import load_settings\nfrom kx_jupyter.ui.form import form\n"
    "ui = form(load_settings(workspace='ws-panel'))\nui",
]


def test_the_forms_release_panel_plans_releases_and_rolls_back_a_failure(lab, shot):
    """The form's "Release…": the plan first, then the live release, and the rollback it offers."""
    page = lab.page
    ws = lab.server.root / "ws-panel"
    ws.mkdir()
    for name, text in {"rdb.q": ".rdb.ready:1b\n", "hdb.q": ".hdb.ready:1b\n"}.items():
        (ws / name).write_text(text)
    (ws / "kxrelease.toml").write_text(PANEL_MANIFEST)
    lab.open_notebook("release-panel.ipynb", PANEL_CELLS)
    lab.run_all_cells()
    form = page.locator(".kx-form")
    form.wait_for(timeout=60_000)

    form.get_by_role("button", name="Release…").click()
    panel = form.locator(".kx-release-panel")
    go = panel.get_by_role("button", name="Release to 2 target(s)")
    go.wait_for(timeout=60_000)
    assert "nothing changed yet" in panel.inner_text()
    shot(panel, "1-plan")

    go.click()
    panel.get_by_text("Release succeeded").wait_for(timeout=120_000)
    assert panel.get_by_role("button", name="Roll back this release").count() == 0
    shot(panel, "2-released")
    assert _low_contrast(panel) == []

    # a broken HDB: the release stops there and offers its rollback, which restores the RDB
    (ws / "hdb.q").write_text(".hdb.dates:nosuchfn[]\n")
    panel.get_by_role("button", name="Close").click()
    form.get_by_role("button", name="Release…").click()
    panel.get_by_text("Push even when the q checker reports errors").click()
    panel.get_by_role("button", name="Release to 2 target(s)").click()
    back = panel.get_by_role("button", name="Roll back this release")
    back.wait_for(timeout=120_000)
    assert "nosuchfn" in panel.inner_text()
    shot(panel, "3-failed")
    back.click()
    panel.get_by_text("Rollback rolled back").wait_for(timeout=120_000)
    assert "back on history entry" in panel.locator("tr", has_text="pn-rdb").inner_text()
    shot(panel, "4-rolled-back")
    assert lab.errors() == []
