"""The deploy form in a real JupyterLab, pushing to the embedded local plane (started on first use)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

FORM_CELL = """\
from kx_jupyter.config import load_settings
from kx_jupyter.ui.form import form
ui = form(load_settings(workspace="{workspace}"))
ui
"""
# Runs while the push is being watched: the kernel must be free to run it.
PROBE_CELL = 'print("probe:", "busy" if ui.busy else "idle")'


@pytest.mark.parametrize("app", ["lab", "notebook"], ids=["jupyterlab4", "notebook7"])
def test_edit_check_set_an_argument_and_push_to_the_three_node_cluster(lab, shot, app):
    page = lab.page
    ws = lab.server.root / f"ws-{app}"
    (ws / "lib").mkdir(parents=True)
    (ws / "init.q").write_text(f"/ entry point of the cluster, pushed from {app}\n\\l lib/analytics.q\n")
    (ws / "lib" / "analytics.q").write_text("/ analytics used by init.q\n")
    arg_key, db_dir = f"dbdir_{app}", f"/opt/kx/hdb_{app}"  # "-" is not allowed in argument values

    lab.open_notebook(f"form-{app}.ipynb", [FORM_CELL.format(workspace=ws.name)], app=app)
    lab.run_all_cells()
    form = page.locator(".kx-form")
    form.wait_for(timeout=60_000)
    assert not lab.errors()
    shot(form, "1-opened")

    # pick the file and type a function with a missing brace: the checker flags it, the fix clears it
    form.locator(".widget-select select").select_option(label="lib/analytics.q")
    page.locator(".kx-qeditor-path", has_text="lib/analytics.q").wait_for(timeout=15_000)
    page.locator(".kx-qeditor .cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("mavgn:{[n;x] n mavg x")
    page.keyboard.press("Delete")  # the brace the editor closed for us
    page.locator(".kx-qeditor .cm-lint-marker-error").wait_for(timeout=15_000)
    push = form.locator("button.kx-push")
    shot(form, "2-missing-brace")
    page.keyboard.type("}")
    page.locator(".kx-qeditor .cm-lint-marker-error").wait_for(state="detached", timeout=15_000)
    page.keyboard.press("Control+s")
    page.locator(".kx-qeditor-dirty").wait_for(state="hidden", timeout=10_000)
    assert (ws / "lib" / "analytics.q").read_text().endswith("mavgn:{[n;x] n mavg x}")

    # pick the three-node cluster: its current arguments fill the rows; add one
    form.locator(".lm-TabBar-tab", has_text="Push").click()
    cluster_picker = form.locator(".widget-dropdown", has_text="Cluster").locator("select")
    cluster_picker.select_option(label="hdb-3 · HDB · RUNNING")
    form.get_by_text("3 nodes").wait_for(timeout=15_000)
    form.locator("input[placeholder='key']").first.wait_for(timeout=15_000)
    current_args = form.locator("input[placeholder='key']").count()
    form.get_by_role("button", name="Add argument").click()
    form.locator("input[placeholder='key']").nth(current_args).fill(arg_key)
    form.locator("input[placeholder='value']").nth(current_args).fill(db_dir)
    page.wait_for_function("b => !b.disabled", arg=push.element_handle(), timeout=15_000)
    shot(form, "3-ready-to-push")

    # push: the view appears in the form and the kernel stays free while the update runs
    push.dblclick()
    view = form.locator(".kx-status-view")
    view.wait_for(timeout=30_000)
    lab.append_and_run(PROBE_CELL)
    page.get_by_text("probe: busy").wait_for(timeout=30_000)
    view.get_by_text("deployed").wait_for(timeout=120_000)

    assert view.get_by_text("RUNNING").count() >= 4, "the cluster badge and each of the three nodes"
    node_rows = view.locator("tbody tr")
    assert node_rows.count() == 3
    for i in range(3):
        assert "RUNNING" in node_rows.nth(i).inner_text()
    assert not lab.errors()
    shot(form, "4-deployed")

    # one push recorded, with the argument, and offered in the history tab
    form.locator(".lm-TabBar-tab", has_text="History").click()
    history_rows = form.locator(".kx-history-row")
    history_rows.first.wait_for(timeout=15_000)
    pushed_args = history_rows.first.locator(f"[title*='{arg_key}=']").get_attribute("title")  # in full
    assert f"{arg_key}={db_dir}" in pushed_args and "role=hdb" in pushed_args, (
        "the cluster's own arguments are kept"
    )
    mine = page.locator(f"[title*='{arg_key}={db_dir}']")
    assert history_rows.filter(has=mine).count() == 1, "a double click pushes once"
    shot(form, "5-history")


def test_switching_files_right_after_typing_keeps_the_edit_as_a_draft(lab, shot):
    page = lab.page
    ws = lab.server.root / "ws-drafts"
    ws.mkdir()
    (ws / "init.q").write_text("a:1\n")
    (ws / "other.q").write_text("b:2\n")
    lab.open_notebook("drafts.ipynb", [FORM_CELL.format(workspace=ws.name)])
    lab.run_all_cells()
    form = page.locator(".kx-form")
    form.wait_for(timeout=60_000)
    files = form.locator(".widget-select select")

    page.locator(".kx-qeditor .cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("c:3")
    files.select_option(label="other.q")  # at once: well inside the editor's typing pause
    page.locator(".kx-qeditor-path", has_text="other.q").wait_for(timeout=15_000)
    form.locator("option", has_text="● init.q").wait_for(state="attached", timeout=15_000)
    assert not page.locator(".kx-qeditor-dirty").is_visible()

    files.select_option(label="● init.q")
    page.locator(".kx-qeditor-path", has_text="init.q").wait_for(timeout=15_000)
    page.locator(".kx-qeditor .cm-line", has_text="c:3").wait_for(timeout=15_000)
    page.locator(".kx-qeditor-dirty").wait_for(state="visible", timeout=15_000)  # dirty syncs after the text
    assert (ws / "init.q").read_text() == "a:1\n", "nothing is written before a save"
    shot(form, "draft-restored")


ROLLBACK_FORM_CELL = """\
from kx_jupyter.config import load_settings
from kx_jupyter.ui.form import form
ui = form(load_settings(workspace="{workspace}", cluster="dev-gp"))
ui
"""
CODE_CELL = 'print("runs:", ui.engine.status("dev-gp")["code"]["s3Key"])'
FIRST_PUSH_CELL = (
    'print("first push:", ui.deployment.result["history_id"], ui.deployment.result["code"]["s3Key"])'
)


def test_review_the_diff_push_then_roll_back_from_the_history_tab(lab, shot):
    page = lab.page
    ws = lab.server.root / "ws-rollback"
    ws.mkdir()
    (ws / "init.q").write_text("limit:100\n")
    lab.open_notebook("rollback.ipynb", [ROLLBACK_FORM_CELL.format(workspace=ws.name)])
    lab.run_all_cells()
    form = page.locator(".kx-form")
    form.wait_for(timeout=60_000)
    form.get_by_text("dev-gp · GP · RUNNING").first.wait_for(state="attached", timeout=30_000)

    # first push, as it is
    form.locator(".lm-TabBar-tab", has_text="Push").click()
    push = form.locator("button.kx-push")
    page.wait_for_function("b => !b.disabled", arg=push.element_handle(), timeout=15_000)
    push.click()
    form.locator(".kx-status-view").get_by_text("deployed").wait_for(timeout=60_000)
    lab.append_and_run(FIRST_PUSH_CELL)
    first = page.locator(".jp-OutputArea-output", has_text="first push:").last
    first.wait_for(timeout=30_000)
    first_id, first_key = first.inner_text().split()[-2:]  # the session's other tests push to dev-gp too

    # change the limit, ask for the diff first: nothing is pushed until it is confirmed
    form.locator(".lm-TabBar-tab", has_text="Code").click()
    page.locator(".kx-qeditor .cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.type("limit:250")
    page.keyboard.press("Control+s")
    page.locator(".kx-qeditor-dirty").wait_for(state="hidden", timeout=10_000)
    form.locator(".lm-TabBar-tab", has_text="Push").click()
    form.get_by_text("Show the diff against the running code before pushing").click()
    page.wait_for_function("b => !b.disabled", arg=push.element_handle(), timeout=15_000)
    push.click()
    form.get_by_text("+limit:250").wait_for(timeout=30_000)
    assert form.get_by_text("-limit:100").count() == 1
    shot(form, "1-diff-to-confirm")
    form.get_by_role("button", name="Push these changes").click()
    form.locator(".kx-status-view").get_by_text("deployed").wait_for(timeout=60_000)

    # roll back to the first push from the history tab: the view shows a rollback's own steps
    form.locator(".lm-TabBar-tab", has_text="History").click()
    rows = form.locator(".kx-history-row")
    rows.first.get_by_text("running now").wait_for(timeout=15_000)
    assert rows.first.locator(".kx-rollback").count() == 0, "the push running now offers no Roll back"
    row = rows.filter(has=page.get_by_title(str(first_id), exact=True))
    row.get_by_role("button", name="Diff").click()  # a look first: nothing to confirm
    form.get_by_text(f"running now → #{first_id}").wait_for(timeout=30_000)
    assert form.get_by_role("button", name=f"Roll back to #{first_id}").count() == 0
    row.locator(".kx-rollback").click()  # that row's own Roll back
    confirm = form.get_by_role("button", name=f"Roll back to #{first_id}")
    confirm.wait_for(timeout=30_000)  # nothing starts before this: the review shows what changes
    assert "+limit:100" in form.inner_text() and "-limit:250" in form.inner_text()
    shot(form, "2-rollback-to-confirm")
    confirm.click()
    view = form.locator(".kx-status-view")
    view.get_by_text(f"rollback of dev-gp to #{first_id}").wait_for(timeout=30_000)
    view.get_by_text("deployed").wait_for(timeout=60_000)
    assert view.locator("[data-phase-state]").all_inner_texts()[0].endswith("stage"), (
        "nothing was checked or bundled"
    )
    rows.first.get_by_text(f"rollback of #{first_id}").wait_for(timeout=15_000)
    shot(form, "3-rolled-back")
    lab.append_and_run(CODE_CELL)
    runs = page.locator(".jp-OutputArea-output", has_text="runs:").last
    runs.wait_for(timeout=30_000)
    assert runs.inner_text().split()[-1] == first_key
    assert not lab.errors()
