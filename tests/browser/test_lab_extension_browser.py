"""The JupyterLab extension in a real JupyterLab: the kdb sidebar, q in %%kx_file cells, and
the notification when a push ends. Screenshots (light and dark) land in test-artifacts/browser/."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from contextlib import contextmanager

import pytest
from plane_fixtures import recorded_push
from test_dark_theme_browser import _low_contrast

pytestmark = pytest.mark.browser

FOLDER = "labext"  # the notebooks' folder: the workspace ('.') the sidebar checks and pushes
INIT = "init:{[] 1b}\n"
Q_CELL = (
    "%%kx_file lib/vwap.q\n/ volume-weighted price\nvwap:{[p;s] s wsum p % sum s}\nsym:`global\nf:{[x] x+1\n"
)


def _notebook(lab, name: str, cells: list[str]):
    folder = lab.server.root / FOLDER
    folder.mkdir(exist_ok=True)
    (folder / "init.q").write_text(INIT)
    return lab.open_notebook(f"{FOLDER}/{name}", cells)


def _open_sidebar(page):
    page.evaluate("window.jupyterapp.commands.execute('kx-jupyter:open-sidebar')")
    sidebar = page.locator("#kx-jupyter-sidebar")
    sidebar.wait_for(state="visible", timeout=30_000)
    return sidebar


def _dark(page, dark: bool):
    theme = "JupyterLab Dark" if dark else "JupyterLab Light"
    page.evaluate(f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
    page.wait_for_function(
        f"document.body.dataset.jpThemeLight === '{'false' if dark else 'true'}'", timeout=30_000
    )


def _theme_color(page, variable: str) -> str:
    """A theme colour variable (e.g. --jp-mirror-editor-comment-color), resolved to rgb() as computed styles are."""
    return page.evaluate(
        """name => { const d = document.createElement('span'); d.style.color = `var(${name})`;
                     document.body.append(d); const c = getComputedStyle(d).color; d.remove(); return c; }""",
        variable,
    )


def _color(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).color")


def _runs(lab) -> list:
    """The pushes and rollbacks started from the sidebar, as the server lists them."""
    req = urllib.request.Request(
        f"{lab.server.url}/kx-jupyter/runs", headers={"Authorization": f"token {lab.server.token}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _notification_center(page):
    """The notification list (toasts are off in these tests: do-not-disturb mode)."""
    page.evaluate("window.jupyterapp.commands.execute('apputils:display-notifications')")
    center = page.locator(".jp-Notification-List")
    center.wait_for(timeout=10_000)
    return center


def test_the_sidebar_shows_the_environments_clusters_live(lab, shot):
    page = lab.page
    _notebook(lab, "sidebar.ipynb", ["1"])
    sidebar = _open_sidebar(page)
    dev, hdb = sidebar.locator("[data-cluster='dev-gp']"), sidebar.locator("[data-cluster='hdb-3']")
    dev.get_by_text("1/1 nodes").wait_for(timeout=60_000)
    hdb.get_by_text("3/3 nodes").wait_for(timeout=60_000)
    assert "GP" in dev.inner_text() and "RUNNING" in dev.inner_text()
    assert "HDB" in hdb.inner_text()
    assert "kxlocaldev" in sidebar.inner_text()
    sidebar.get_by_role("button", name="Check workspace").click()
    sidebar.get_by_text("q check: no problems").wait_for(timeout=30_000)
    shot(sidebar, "light")
    try:
        _dark(page, True)
        shot(sidebar, "dark")
        assert _low_contrast(sidebar) == []
    finally:
        _dark(page, False)


def test_the_kdb_commands_are_in_the_palette(lab, shot):
    page = lab.page
    _notebook(lab, "palette.ipynb", ["1"])
    page.evaluate("window.jupyterapp.commands.execute('apputils:activate-command-palette')")
    search = page.locator(".lm-CommandPalette-input")
    search.wait_for(timeout=10_000)
    search.fill("kdb")
    items = page.locator(".lm-CommandPalette-item")
    items.first.wait_for(timeout=10_000)
    labels = items.all_inner_texts()
    for wanted in (
        "kdb: Check workspace",
        "kdb: Push workspace…",
        "kdb: Open the form",
        "kdb: Show clusters",
    ):
        assert any(wanted in label for label in labels), (wanted, labels)
    shot(page.locator(".lm-CommandPalette"), "palette")
    page.keyboard.press("Escape")


def test_the_sidebar_opens_the_form_on_a_cluster_in_the_notebook(lab, shot):
    page = lab.page
    _notebook(lab, "form.ipynb", ["1"])
    sidebar = _open_sidebar(page)
    sidebar.locator("[data-cluster='hdb-3']").get_by_role("button", name="Form").click()
    cell = page.locator(".jp-CodeCell", has_text="%kx_form")
    cell.locator(".jp-OutputArea-output").first.wait_for(timeout=60_000)
    source = cell.locator(".jp-InputArea-editor").inner_text()
    assert source.splitlines() == ["%load_ext kx_jupyter", '%config KxJupyter.cluster = "hdb-3"', "%kx_form"]
    assert lab.errors() == []
    shot(cell, "form")


def test_a_kx_file_cell_is_q_with_the_checkers_marks(lab, shot):
    page = lab.page
    _notebook(lab, "qcell.ipynb", [Q_CELL, "global x  # python"])
    q_cell, py_cell = page.locator(".jp-CodeCell").nth(0), page.locator(".jp-CodeCell").nth(1)

    def token_color(cell, text):
        span = cell.locator(".cm-line span", has_text=text).first
        span.wait_for(timeout=30_000)
        return _color(span)

    comment = _theme_color(page, "--jp-mirror-editor-comment-color")
    keyword = _theme_color(page, "--jp-mirror-editor-keyword-color")
    assert token_color(q_cell, "/ volume-weighted price") == comment, "a q comment is dimmed as a comment"
    assert token_color(py_cell, "global") == keyword, "Python cells keep Python highlighting"
    assert token_color(q_cell, "`global") != keyword, "`global is a q symbol, not the Python keyword"
    mark = q_cell.locator(".cm-lintRange-error")
    mark.wait_for(timeout=30_000)  # the unclosed brace of f, found by the server's checker with no kernel run
    assert mark.first.inner_text().startswith("{")
    mark.first.hover()
    tooltip = page.locator(".cm-tooltip-lint")
    tooltip.wait_for(timeout=10_000)
    assert "{" in tooltip.inner_text()
    shot(q_cell, "light")
    try:
        _dark(page, True)
        page.mouse.move(0, 0)
        tooltip.wait_for(state="detached", timeout=10_000)
        mark.first.hover()
        tooltip.wait_for(timeout=10_000)
        shot(q_cell, "dark")
    finally:
        _dark(page, False)


def test_a_push_from_the_sidebar_asks_first_then_notifies_its_outcome(lab, shot):
    page = lab.page
    _notebook(lab, "push.ipynb", ["1"])
    sidebar = _open_sidebar(page)
    dev = sidebar.locator("[data-cluster='dev-gp']")
    dev.get_by_text("1/1 nodes").wait_for(timeout=60_000)
    dev.get_by_role("button", name="Push…").click()
    dialog = page.locator(".jp-Dialog-content")
    dialog.wait_for(timeout=10_000)
    assert "dev-gp" in dialog.inner_text() and "labext" in dialog.inner_text()
    assert dialog.locator("select").input_value() == "ROLLING"
    shot(dialog, "confirm")
    dialog.get_by_role("button", name="Push").click()
    page.locator(".kx-StatusItem").get_by_text("updating dev-gp").wait_for(timeout=60_000)
    shot(page.locator(".jp-StatusBar-Widget"), "statusbar")
    center = _notification_center(page)
    center.get_by_text("dev-gp: push #", exact=False).get_by_text("succeeded", exact=False).first.wait_for(
        timeout=120_000
    )
    shot(center, "notification")
    page.keyboard.press("Escape")  # close the notification list
    dev.get_by_text("push #").wait_for(timeout=30_000)  # the sidebar now says which push dev-gp runs
    dev.get_by_role("button", name="History").click()
    history = dev.locator(".kx-Detail[data-kind='history']")
    history.get_by_text("running now").wait_for(timeout=30_000)
    assert "succeeded" in history.inner_text()
    shot(dev, "history")
    dev.locator(".kx-Cluster-actions").get_by_role("button", name="Diff").click()
    dev.get_by_text("the workspace matches what dev-gp runs").wait_for(timeout=30_000)
    (lab.server.root / FOLDER / "init.q").write_text(INIT + "limit:100\n")
    dev.locator(".kx-Cluster-actions").get_by_role("button", name="Diff").click()  # closes it
    dev.locator(".kx-Cluster-actions").get_by_role("button", name="Diff").click()
    diff = dev.locator(".kx-Detail[data-kind='diff']")
    diff.get_by_text("+limit:100").wait_for(timeout=30_000)
    assert "modified" in diff.inner_text()
    shot(dev, "diff-light")
    try:
        _dark(page, True)
        shot(dev, "diff-dark")
        assert _low_contrast(dev) == []
    finally:
        _dark(page, False)


# Every text the kdb status-bar item shows while it is visible, recorded as it changes.
RECORD_STATUS = """() => {
    window.kxStatusSeen = [];
    const note = () => document.querySelectorAll('.kx-StatusItem').forEach(el => {
        if (el.offsetParent !== null) window.kxStatusSeen.push(el.textContent.trim());
    });
    new MutationObserver(note).observe(document.querySelector('.jp-StatusBar-Widget'),
                                       {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def test_a_background_push_from_a_kernel_is_notified_when_it_ends(lab, shot):
    page = lab.page
    _notebook(lab, "background.ipynb", ["1"])
    page.evaluate(RECORD_STATUS)
    lab.append_and_run("%load_ext kx_jupyter\n%kx_update --cluster hdb-3 --background")
    page.evaluate(
        "window.jupyterapp.commands.execute('launcher:create')"
    )  # the user moves on to the Launcher
    center = _notification_center(page)
    center.get_by_text("hdb-3: push #", exact=False).get_by_text("succeeded", exact=False).first.wait_for(
        timeout=120_000
    )
    seen = page.evaluate("window.kxStatusSeen")
    assert any("updating hdb-3" in text for text in seen), seen
    assert page.locator(".kx-StatusItem").is_hidden(), "the item goes when no update runs"
    # the notebook's own copy of the view (saved, shown without widgets) ends with the push too
    page.wait_for_function(
        """() => Array.from(window.jupyterapp.shell.widgets('main'))
          .filter(w => w.context && w.context.path.endsWith('background.ipynb'))
          .some(w => w.context.model.toJSON().cells.some(c => (c.outputs || [])
            .some(o => [].concat((o.data || {})['text/html'] || []).join('').includes('deployed'))))""",
        timeout=30_000,
    )
    try:
        _dark(page, True)
        shot(center, "dark")
    finally:
        _dark(page, False)


def test_the_push_dialog_offers_to_keep_the_clusters_arguments_and_cancel_changes_nothing(lab, shot):
    page = lab.page
    _notebook(lab, "dialog.ipynb", ["1"])
    sidebar = _open_sidebar(page)
    hdb = sidebar.locator("[data-cluster='hdb-3']")
    hdb.get_by_text("3/3 nodes").wait_for(timeout=60_000)
    before, runs_before = hdb.inner_text(), _runs(lab)
    page.evaluate(
        "() => { window.jupyterapp.commands.execute('kx-jupyter:push-workspace', {cluster: 'hdb-3'}); }"
    )  # resolves on close
    dialog = page.locator(".jp-Dialog-content")
    dialog.wait_for(timeout=10_000)
    assert "init.q" in dialog.inner_text() and "HDB, 3 nodes" in dialog.inner_text()
    assert [o.strip() for o in dialog.locator("option").all_inner_texts()] == ["ROLLING", "FORCE"], (
        "NO_RESTART is GP-only"
    )
    keep = dialog.locator("input.kx-Confirm-keep")
    if keep.count():  # the seeded hdb-3 runs with role=hdb unless an earlier test pushed it without
        assert keep.is_checked() and "role=hdb" in dialog.inner_text()
    shot(dialog, "light")
    try:
        _dark(page, True)
        shot(dialog, "dark")
        assert _low_contrast(dialog) == []
    finally:
        _dark(page, False)
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached", timeout=10_000)
    assert _runs(lab) == runs_before, "Cancel starts nothing"
    assert hdb.inner_text() == before


def test_a_q_file_opens_as_q_in_the_editor(lab, shot):
    page = lab.page
    _notebook(lab, "editor.ipynb", ["1"])
    (lab.server.root / FOLDER / "lib").mkdir(exist_ok=True)
    (lab.server.root / FOLDER / "lib" / "show.q").write_text("/ shown as a comment\nsym:`global\n")
    page.evaluate(
        f"() => {{ window.jupyterapp.commands.execute('docmanager:open', {{path: '{FOLDER}/lib/show.q'}}); }}"
    )
    editor = page.locator(".jp-FileEditor")
    span = editor.locator(".cm-line span", has_text="/ shown as a comment").first
    span.wait_for(timeout=30_000)
    assert _color(span) == _theme_color(page, "--jp-mirror-editor-comment-color")
    symbol = editor.locator(".cm-line span", has_text="`global").first
    assert _color(symbol) == _theme_color(page, "--jp-mirror-editor-atom-color"), (
        "the form's q mode, not CodeMirror's legacy one"
    )
    shot(editor.locator(".cm-editor"), "file")


def test_a_kx_file_cell_is_q_in_notebook_7_too(lab, shot):
    folder = lab.server.root / FOLDER
    folder.mkdir(exist_ok=True)
    lab.open_notebook(f"{FOLDER}/nb7.ipynb", [Q_CELL], app="notebook")
    cell = lab.page.locator(".jp-CodeCell").first
    span = cell.locator(".cm-line span", has_text="/ volume-weighted price").first
    span.wait_for(timeout=30_000)
    assert _color(span) == _theme_color(lab.page, "--jp-mirror-editor-comment-color")
    cell.locator(".cm-lintRange-error").first.wait_for(timeout=30_000)
    shot(cell, "notebook7")


def _save_and_reload(lab):
    """Save the notebook (its outputs hold the widget views), then reload the page: the kernel lives on."""
    page = lab.page
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget; return w && !w.context.model.dirty; }",
        timeout=30_000,
    )
    page.reload()
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
    lab.wait_for_kernel_idle()


@contextmanager
def _update_held(lab, cluster: str):
    """The session's plane accepts an update of ``cluster`` but carries none of it out (it stays
    UPDATING) until the block exits, so a watch surely sees it run across whatever the block does."""
    from plane_fixtures import RunningPlane

    from kx_jupyter.config import load_settings
    from kx_jupyter.local import daemon

    settings = load_settings(environ={"KX_JUPYTER_HOME": str(lab.server.kx_home)})
    state_dir = daemon.state_dir_of(settings)
    plane = RunningPlane(daemon.status(state_dir), settings, state_dir)
    plane.set_faults({"hold": [cluster]})
    try:
        yield
    finally:
        plane.set_faults({})


def test_a_background_push_view_comes_back_after_a_page_reload_and_finishes(lab, shot):
    page = lab.page
    notebook = _notebook(
        lab, "reload.ipynb", ["%load_ext kx_jupyter\n%kx_update --cluster dev-gp --background"]
    )
    with _update_held(lab, "dev-gp"):
        lab.run_all_cells()
        view = page.locator(".kx-status-view")
        # the cluster took the update: now it is watched
        view.get_by_text("✓ update").first.wait_for(timeout=60_000)
        _save_and_reload(lab)
        view = page.locator(".kx-status-view")
        view.first.wait_for(timeout=60_000)  # the live view, restored from the kernel's widget state
        assert "deployed" not in view.first.inner_text(), "the push cannot have ended: its watch is held"
        shot(page.locator(".jp-Notebook"), "after-reload")
    view.get_by_text("deployed").wait_for(timeout=120_000)  # and it keeps following the push to its end
    assert lab.errors() == []
    shot(view.first, "finished")
    # the notebook's own copy of the view (what is saved, what a viewer without widgets shows)
    # followed it too, though this page never ran the cell
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.context.model.toJSON().cells[0].outputs"
        ".some(o => [].concat((o.data || {})['text/html'] || []).join('').includes('deployed'))",
        timeout=30_000,
    )
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    saved = json.loads(notebook.read_text())
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in saved["cells"][0]["outputs"])
    assert "deployed" in html, "the saved notebook shows how the push ended, not where it was at the reload"


def test_the_form_comes_back_after_a_page_reload(lab, shot):
    page = lab.page
    _notebook(lab, "form-reload.ipynb", ["%load_ext kx_jupyter\n%kx_form"])
    lab.run_all_cells()
    page.locator(".kx-form .kx-qeditor").first.wait_for(timeout=60_000)
    _save_and_reload(lab)
    form = page.locator(".kx-form")
    form.locator(".kx-qeditor .cm-content").first.wait_for(timeout=60_000)  # the q editor (anywidget) too
    form.locator(
        ".lm-TabBar-tab", has_text="History"
    ).click()  # and it still answers: the kernel handles clicks
    form.locator(".kx-history").wait_for(timeout=30_000)
    assert lab.errors() == []
    shot(form, "after-reload")


def _history(lab, cluster: str) -> list:
    req = urllib.request.Request(
        f"{lab.server.url}/kx-jupyter/history?cluster={cluster}",
        headers={"Authorization": f"token {lab.server.token}"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_each_history_row_has_its_diff_and_roll_back_and_the_rollback_asks_with_the_diff(lab, shot):
    page = lab.page
    _notebook(lab, "rows.ipynb", ["%load_ext kx_jupyter"])
    lab.run_all_cells()
    extra = lab.server.root / FOLDER / "lib" / "extra.q"
    extra.parent.mkdir(exist_ok=True)
    extra.unlink(missing_ok=True)
    (extra.parent / "rows.q").write_text(f"/ {time.time_ns()}: code no earlier test pushed\nrows:1\n")
    lab.append_and_run("%kx_update --cluster dev-gp --note 'without extra'")
    page.get_by_text("deployed").last.wait_for(timeout=120_000)
    lab.wait_for_kernel_idle()
    extra.write_text("/ added later\nextra:{x+1}\n")
    lab.append_and_run("%kx_update --cluster dev-gp")
    page.locator(".jp-Cell").last.get_by_text("deployed").wait_for(timeout=120_000)
    newest, before = _history(lab, "dev-gp")[:2]
    cell_id = page.evaluate("window.jupyterapp.shell.currentWidget.content.widgets[1].model.id")
    with sqlite3.connect(
        lab.server.kx_home / "history.sqlite"
    ) as db:  # as the magics record it (house branch)
        db.execute(
            "UPDATE pushes SET origin=? WHERE id=?", (f"notebook:{FOLDER}/rows.ipynb#{cell_id}", before["id"])
        )
    sidebar = _open_sidebar(page)
    dev = sidebar.locator("[data-cluster='dev-gp']")
    dev.get_by_role("button", name="History").click()
    history = dev.locator(".kx-Detail[data-kind='history']")
    now = history.locator(f"[data-entry='{newest['id']}']")
    now.get_by_text("running now").wait_for(timeout=30_000)
    assert now.get_by_role("button", name="Roll back").count() == 0, "no Roll back to what runs"
    row = history.locator(f"[data-entry='{before['id']}']")
    assert "without extra" in row.inner_text(), "the push's note shows"
    row.get_by_role("button", name="Diff").click()
    row_diff = row.locator("[data-kind='rollback-diff']")
    row_diff.get_by_text("-extra:{x+1}").wait_for(timeout=30_000)  # a removed file shows what goes
    assert "removed" in row_diff.inner_text() and "lib/extra.q" in row_diff.inner_text()
    shot(dev, "row-diff-light")
    try:
        _dark(page, True)
        shot(dev, "row-diff-dark")
        assert _low_contrast(dev) == []
    finally:
        _dark(page, False)
    runs = _runs(lab)
    row.get_by_role("button", name="Roll back").click()
    dialog = page.locator(".jp-Dialog-content")
    dialog.get_by_text("-extra:{x+1}").wait_for(timeout=30_000)
    text = dialog.inner_text()
    assert f"Roll back dev-gp to #{before['id']}?" in text and "1 node restarts one by one (ROLLING)" in text
    assert _runs(lab) == runs, "nothing starts before the confirmation"
    shot(dialog, "rollback-confirm-light")
    try:
        _dark(page, True)
        shot(dialog, "rollback-confirm-dark")
        assert _low_contrast(dialog) == []
    finally:
        _dark(page, False)
    dialog.get_by_role("button", name=f"Roll back to #{before['id']}").click()
    page.evaluate("window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0")
    row.locator(".kx-CellLink").click()  # the row links to the cell that push was made in
    page.wait_for_function(
        "window.jupyterapp.shell.currentWidget.content.activeCellIndex === 1", timeout=30_000
    )
    center = _notification_center(page)
    center.get_by_text(f"(to #{before['id']}) succeeded", exact=False).first.wait_for(timeout=120_000)
    assert _history(lab, "dev-gp")[0]["rollback_of"] == before["id"]


def _recorded_push(lab, cluster: str, origin: str) -> int:
    return recorded_push(lab.server.kx_home, cluster, origin)


def test_a_notification_goes_back_to_the_cell_the_push_was_made_in(lab, shot):
    import nbformat

    page = lab.page
    path = _notebook(lab, "origin.ipynb", [f"x = {i}" for i in range(40)])
    cell_id = nbformat.read(path, as_version=4).cells[33].id
    page.evaluate("window.jupyterapp.commands.execute('launcher:create')")  # the user is elsewhere
    entry = _recorded_push(lab, "cell-links", f"notebook:{FOLDER}/origin.ipynb#{cell_id}")
    center = _notification_center(page)
    center.get_by_text(f"cell-links: push #{entry} succeeded", exact=False).first.wait_for(timeout=60_000)
    shot(center, "notification-light")
    try:
        _dark(page, True)
        shot(center, "notification-dark")
    finally:
        _dark(page, False)
    center.get_by_role("button", name="Go to cell").first.click()
    page.wait_for_function(
        """id => { const w = window.jupyterapp.shell.currentWidget; const nb = w && w.content;
                   return !!nb && w.context.path.endsWith('origin.ipynb') && nb.activeCell
                          && nb.activeCell.model.id === id; }""",
        arg=cell_id,
        timeout=30_000,
    )
    active = page.locator(".jp-Notebook .jp-Cell.jp-mod-active")
    active.wait_for(timeout=10_000)
    assert "x = 33" in active.inner_text()
    page.wait_for_function(  # scrolled to it: the cell is inside the notebook's visible area
        """() => { const c = document.querySelector('.jp-Notebook .jp-Cell.jp-mod-active').getBoundingClientRect();
                   const n = document.querySelector('.jp-WindowedPanel-outer').getBoundingClientRect();
                   return c.top >= n.top && c.bottom <= n.bottom; }""",
        timeout=10_000,
    )


def test_the_sidebar_uses_the_active_kernels_config_and_says_so(lab, shot):
    page = lab.page
    other = lab.server.root / FOLDER / "other-ws"
    other.mkdir(parents=True, exist_ok=True)
    (other / "init.q").write_text(INIT)
    _notebook(lab, "kernel-config.ipynb", ["1"])
    sidebar = _open_sidebar(page)
    sidebar.get_by_text("settings: the server's").wait_for(timeout=60_000)
    lab.append_and_run(
        '%load_ext kx_jupyter\n%config KxJupyter.workspace = "other-ws"\n%config KxJupyter.cluster = "hdb-3"'
    )
    lab.wait_for_kernel_idle()
    sidebar.get_by_role("button", name="Refresh").click()
    sidebar.get_by_text("settings: this notebook's kernel (cluster=hdb-3)").wait_for(timeout=30_000)
    assert f"/{FOLDER}/other-ws" in sidebar.locator(".kx-Sidebar-meta").inner_text()
    shot(sidebar.locator(".kx-Sidebar-meta"), "kernel-settings")
    page.evaluate(
        "() => { window.jupyterapp.commands.execute('kx-jupyter:push-workspace'); }"
    )  # resolves on close
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=10_000)
    assert dialog.locator("select").first.input_value() == "hdb-3", "the kernel's cluster is the default pick"
    page.keyboard.press("Escape")
