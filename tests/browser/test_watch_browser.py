"""The live view in a real JupyterLab, light and dark: a three-node ROLLING push as it rolls and
when it ends (with its timeline), a push that fails on a node, a watch stopped by its timeout and
the same update re-attached to its end.

The notebook runs its own plane (a home of its own) whose nodes take 12 s to start, so the
view's node-by-node reads have something to show. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

NODE_SECONDS = 12


def _cells(home: str) -> list[str]:
    return [
        "%load_ext kx_jupyter\n"
        f"%config KxJupyter.home = {home!r}\n"
        "%config KxJupyter.local_port = 0\n"
        f"%config KxJupyter.node_start_seconds = {NODE_SECONDS}\n"
        "%config KxJupyter.workspace = 'ws-watch'",
        "%%kx_file init.q\n/ entry point\n\\l lib/util.q\nstart:.z.p\n",
        "%%kx_file lib/util.q\nadd:{x+y}\n",
        "%kx_update --cluster hdb-3",
        "%%kx_file lib/util.q\nadd:{x+y\n",
        "%kx_update --cluster hdb-3 --no-check --no-raise",
        "%%kx_file lib/util.q\nadd:{x+y}\nmul:{x*y}\n",
        "%kx_update --cluster hdb-3 --timeout 5",
        "%kx_status hdb-3",  # re-attaches to the update the last cell stopped watching, to its end
        "%%kx_file lib/util.q\nadd:{x+y}\nmul:{x*y}\nsub:{x-y}\n",
        # the next push starts once the test has switched to the dark theme (it creates the file)
        "import pathlib, time\nwhile not pathlib.Path('dark-theme-on').exists():\n    time.sleep(0.1)",
        "%kx_update --cluster hdb-3",  # rolls while the test looks at it in the dark theme
    ]


def _view(page, cell: int):
    return page.locator(".jp-Cell").nth(cell).locator(".kx-status-view").first


@pytest.mark.timeout(600)  # five updates of 3 x 12 s, one after the other: more than the default 300 s
def test_rolling_failed_and_stopped_views_light_and_dark(lab, shot, tmp_path):
    from kx_jupyter.config import load_settings
    from kx_jupyter.local import daemon

    home = tmp_path / "kx-watch-home"
    page = lab.page
    (lab.server.root / "ws-watch").mkdir(exist_ok=True)
    lab.open_notebook("watch.ipynb", _cells(str(home)))
    try:
        # run-all's promise ends with the last cell: do not wait for it, the test watches the views live
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        rolling = _view(page, 3)
        rolling.get_by_text("1/3 nodes on the new code").wait_for(timeout=120_000)
        assert rolling.get_by_text("restarting").count() >= 1 and rolling.get_by_text("old code").count() >= 1
        assert "checked" in rolling.locator(".kx-clock").inner_text()
        rolling.scroll_into_view_if_needed()  # the notebook renders only the cells in view
        shot(rolling, "1-rolling-light")
        rolling.get_by_text("deployed").wait_for(timeout=120_000)
        assert (
            rolling.get_by_text("new code", exact=True).count() == 3
            and rolling.locator(".kx-timeline").count() == 1
        )
        rolling.scroll_into_view_if_needed()  # the notebook renders only the cells in view
        shot(rolling, "2-deployed-light")
        logs = page.locator(".jp-Cell").nth(3).locator(".kx-node-logs")
        assert logs.get_by_text("node log ·").count() == 3  # one collapsed section per node
        assert not logs.get_by_text("node is RUNNING").first.is_visible()
        logs.get_by_text("node log ·").first.click()
        logs.get_by_text("node is RUNNING").first.wait_for(timeout=30_000)  # its log since this push
        shot(page.locator(".jp-Cell").nth(3).locator(".jp-OutputArea"), "2b-node-log-light")

        failed = _view(page, 5)
        failed.locator(".kx-first-error").wait_for(timeout=120_000)
        assert "Q002" in failed.locator(".kx-first-error").inner_text()  # the node's own line, verbatim
        assert failed.get_by_text("the service says:").count() == 1
        failed.scroll_into_view_if_needed()  # the notebook renders only the cells in view
        shot(failed, "3-failed-light")

        stopped = _view(page, 7)
        stopped.get_by_text("still updating, stopped watching").wait_for(timeout=120_000)
        assert stopped.get_by_text("failed", exact=True).count() == 0
        stopped.scroll_into_view_if_needed()  # the notebook renders only the cells in view
        shot(stopped, "4-stopped-light")

        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
        )
        page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
        reattached = _view(page, 8)
        reattached.get_by_text("deployed").wait_for(timeout=120_000)  # the stopped push, followed to its end
        shot(reattached, "5-reattached-dark")
        (lab.server.root / "dark-theme-on").touch()
        # the notebook renders only the cells near the view: bring the last one into it
        page.evaluate(
            "document.querySelectorAll('.jp-WindowedPanel-outer').forEach(e => e.scrollTop = e.scrollHeight)"
        )
        again = _view(page, 11)
        again.get_by_text("1/3 nodes on the new code").wait_for(timeout=120_000)
        again.scroll_into_view_if_needed()
        shot(again, "1-rolling-dark")
        for name, view in (("2-deployed", rolling), ("3-failed", failed), ("4-stopped", stopped)):
            view.scroll_into_view_if_needed()
            shot(view, f"{name}-dark")
        # the notebook's own home has no plane yet: its first command starts one and says so, once
        errors = lab.errors()
        assert len(errors) == 1 and "started the local plane in the background" in errors[0], errors
    finally:
        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
        )
        daemon.stop(daemon.state_dir_of(load_settings(environ={"KX_JUPYTER_HOME": str(home)})))
