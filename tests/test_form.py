"""The deploy form's behaviour, driven as a user would (clicks, typing) against an injected engine.

The engine here is ``create_autospec(Engine)`` answering from fixed clusters and recording calls
(so it has exactly the real engine's methods and signatures); its updates are followed by the
real Deployment in the form's one worker thread. The real engine and plane are exercised by
tests/browser/test_form_browser.py.
"""

import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from unittest.mock import create_autospec

import pytest

pytest.importorskip("anywidget")

from ipython_fixtures import ip  # noqa: E402,F401  (fixture)

from kx_jupyter.config import KxJupyter  # noqa: E402
from kx_jupyter.deploy import Engine  # noqa: E402
from kx_jupyter.deploy.history import HistoryEntry  # noqa: E402
from kx_jupyter.deploy.polling import PollPolicy  # noqa: E402
from kx_jupyter.deploy.watch import Deployment, Observation, new_state  # noqa: E402
from kx_jupyter.errors import KxError  # noqa: E402
from kx_jupyter.ui.form import form  # noqa: E402

CLUSTERS = [
    {"clusterName": "dev-gp", "clusterType": "GP", "status": "RUNNING"},
    {"clusterName": "hdb-3", "clusterType": "HDB", "status": "RUNNING"},
    {"clusterName": "rdb-1", "clusterType": "RDB", "status": "UPDATING"},
]


CODE = {"s3Bucket": "kx-local-code", "s3Key": "kx-jupyter/ab.zip"}


class RunningService:
    """The reads of a one-node update that ends once ``release`` is set."""

    def __init__(self, release: threading.Event):
        self.release = release

    def read(self, poll) -> Observation:
        self.release.wait(10)
        now = datetime.now(timezone.utc)
        return Observation(
            cluster={"status": "RUNNING", "code": CODE, "lastModifiedTimestamp": now},
            nodes=[{"nodeId": "n1", "status": "RUNNING", "launchTime": now}] if poll.nodes else None,
        )


def stand_in_engine():
    """The engine's own interface (``create_autospec``: a call the real Engine would refuse fails here
    too, so this stand-in cannot drift), answering from fixed clusters; updates are followed for real."""
    engine = create_autospec(Engine, instance=True)
    engine.pushes, engine.rollbacks, engine.release, engine.refuse_with = [], [], threading.Event(), None
    engine.release.set()
    engine.environments.return_value = [{"environmentId": "kxlocaldev", "name": "local-dev"}]
    engine.clusters.side_effect = lambda env=None: [dict(c, environmentId=env) for c in CLUSTERS]

    def status(cluster=None, env=None):
        found = next(c for c in CLUSTERS if c["clusterName"] == cluster)
        args = [{"key": "role", "value": "hdb"}] if cluster == "hdb-3" else []
        return dict(
            found,
            commandLineArguments=args,
            nodes=[{"nodeId": f"n{i}", "status": "RUNNING"} for i in range(3)],
        )

    def history(cluster=None, env=None, limit=50):
        return [
            HistoryEntry(
                7,
                1_700_000_000.0,
                "quant",
                "host",
                "local",
                env,
                cluster,
                "ab" * 32,
                "b",
                "k",
                "v1",
                "init.q",
                {"s": "1"},
                "ROLLING",
                outcome="succeeded",
                duration=12.0,
            )
        ]

    def deployment(env, cluster, on_event):
        d = Deployment(env, cluster, {"code": CODE}, on_event)
        now = time.time()
        state = new_state(
            PollPolicy(0.05, 0.1, expected=0.05),
            started=now,
            submitted=now,
            deadline=now + 60,
            expected_code=CODE,
        )
        d.follow(state, RunningService(engine.release), lambda verdict, state: None)
        return d

    def update(
        cluster=None,
        env=None,
        src=None,
        init=None,
        args=None,
        strategy=None,
        force=False,
        check=True,
        wait=True,
        on_event=None,
        dry_run=False,
        note="",
    ):
        if engine.refuse_with:
            raise KxError(engine.refuse_with)
        engine.pushes.append(
            dict(cluster=cluster, env=env, src=src, init=init, args=args, strategy=strategy, note=note)
        )
        return deployment(env, cluster, on_event)

    def rollback(cluster=None, to=None, env=None, wait=True, on_event=None, force=False, dry_run=False):
        engine.rollbacks.append((cluster, to, env))
        return deployment(env, cluster, on_event)

    engine.status.side_effect = status
    engine.history.side_effect = history
    engine.update.side_effect = update
    engine.rollback.side_effect = rollback
    engine.diff.return_value = []
    return engine


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "ws"
    (root / "lib").mkdir(parents=True)
    (root / "init.q").write_text("\\l lib/util.q\n")
    (root / "lib" / "util.q").write_text("f:{x+1}\n")
    return root


@pytest.fixture
def engine():
    return stand_in_engine()


@pytest.fixture
def ui(workspace, engine, kx_home):
    return form(KxJupyter(workspace=str(workspace), home=str(kx_home)), engine=engine)


def test_clusters_show_type_and_status_and_busy_ones_cannot_be_pushed(ui):
    labels = [label for label, _ in ui.cluster.options]
    assert labels[:2] == ["dev-gp · GP · RUNNING", "hdb-3 · HDB · RUNNING"]
    assert labels[2] == "rdb-1 · RDB · UPDATING (cannot take an update now)"
    assert not ui.push_button.disabled
    ui.cluster.value = "rdb-1"
    assert ui.push_button.disabled
    assert "rdb-1 is UPDATING" in ui.push_reason.value
    assert "cannot take an update now" in ui.cluster_info.value


def test_no_restart_is_offered_only_for_general_purpose_clusters(ui):
    ui.cluster.value = "dev-gp"
    assert "NO_RESTART" in ui.strategy.options
    ui.strategy.value = "NO_RESTART"
    ui.cluster.value = "hdb-3"
    assert "NO_RESTART" not in ui.strategy.options
    assert ui.strategy.value == "ROLLING"


def test_arguments_are_checked_live_against_the_api_patterns(ui):
    row = ui.add_argument()
    row.key.value = "awsRegion"  # the API reserves keys starting with "aws"
    row.value.value = "1"
    assert ui.push_button.disabled
    assert "key" in row.problem.value and "awsRegion" in row.problem.value
    row.key.value = "s"
    row.value.value = "a|b"
    assert ui.push_button.disabled and "value" in row.problem.value
    row.value.value = "1"
    assert not ui.push_button.disabled and row.problem.value == ""
    assert ui.arguments() == {"s": "1"}
    twin = ui.add_argument("s", "2")
    assert ui.push_button.disabled and "given twice" in twin.problem.value


def test_argument_rows_start_from_the_clusters_current_arguments_until_edited(ui):
    ui.cluster.value = "hdb-3"
    assert ui.arguments() == {"role": "hdb"}
    ui.cluster.value = "dev-gp"
    assert ui.arguments() == {}
    ui.cluster.value = "hdb-3"
    ui.add_argument("dbdir", "/data")
    ui.cluster.value = "dev-gp"
    assert ui.arguments() == {"role": "hdb", "dbdir": "/data"}


def test_switching_files_keeps_unsaved_edits_as_a_draft(ui, workspace):
    assert ui.code.current_file == "init.q"
    ui.code.editor.set_state({"value": "\\l lib/util.q\nx:1\n"})
    ui.code.files.value = "lib/util.q"
    assert ui.code.editor.value == "f:{x+1}\n" and not ui.code.editor.dirty
    assert ("● init.q", "init.q") in ui.code.files.options
    assert ui.push_button.disabled and "save init.q first" in ui.push_reason.value
    ui.code.files.value = "init.q"
    assert ui.code.editor.value == "\\l lib/util.q\nx:1\n" and ui.code.editor.dirty
    assert (workspace / "init.q").read_text() == "\\l lib/util.q\n", "nothing is written before a save"
    ui.code.save_button.click()
    assert (workspace / "init.q").read_text() == "\\l lib/util.q\nx:1\n"
    assert ("init.q", "init.q") in ui.code.files.options and not ui.push_button.disabled


def test_new_rename_and_delete_files(ui, workspace):
    ui.code.file_name.value = "lib/stats"
    ui.code.new_button.click()
    assert ui.code.current_file == "lib/stats.q" and (workspace / "lib" / "stats.q").exists()
    ui.code.file_name.value = "lib/risk.q"
    ui.code.rename_button.click()
    assert ui.code.current_file == "lib/risk.q" and not (workspace / "lib" / "stats.q").exists()
    assert "lib/risk.q" in ui.init_script.options
    ui.code.delete_button.click()
    yes, _keep = ui.code.confirm_delete.children
    yes.click()
    assert not (workspace / "lib" / "risk.q").exists() and ui.code.current_file in ("init.q", "lib/util.q")
    ui.code.file_name.value = "../outside.q"
    ui.code.new_button.click()
    assert "is not a workspace file name" in ui.message.value


def test_csv_and_k_files_the_code_loads_are_editable_as_text_and_only_q_can_be_the_init_script(
    workspace, engine, kx_home
):
    (workspace / "config").mkdir()
    (workspace / "config" / "limits.csv").write_text("sym,limit\nAAPL,100\n")
    (workspace / "lib" / "fast.k").write_text("f:{x+1}\n")
    (workspace / "notes.bin").write_bytes(b"\x00\x01")
    ui = form(KxJupyter(workspace=str(workspace), home=str(kx_home)), engine=engine)
    assert ui.code.names == ["config/limits.csv", "init.q", "lib/fast.k", "lib/util.q"]  # no binary files
    assert list(ui.init_script.options) == ["init.q", "lib/util.q"]
    ui.code.files.value = "lib/fast.k"
    ui.code.editor.set_state({"value": "f:{x+1\n"})  # k is not q: not checked here, never blocks a push
    assert ui.code.editor.diagnostics == []
    ui.code.files.value = "config/limits.csv"
    ui.code.editor.set_state({"value": "sym,limit\nAAPL,{100\n"})  # an open brace is just text in a CSV
    assert ui.code.editor.diagnostics == [] and not ui.code.has_errors()
    ui.code.file_name.value = "config/desks.csv"
    ui.code.new_button.click()
    assert ui.code.current_file == "config/desks.csv" and (workspace / "config" / "desks.csv").exists()


def test_a_double_click_pushes_once_in_the_background(ui, engine, workspace):
    engine.release.clear()
    ui.add_argument("s", "1")
    ui.cluster.value = "hdb-3"
    ui.push_button.click()
    ui.push_button.click()
    assert ui.busy and ui.push_button.disabled  # the click returned while the update runs
    engine.release.set()
    ui.wait(10)
    assert engine.pushes == [
        dict(
            cluster="hdb-3",
            env="kxlocaldev",
            src=str(workspace),
            init="init.q",
            args={"s": "1"},
            strategy="ROLLING",
            note="",
        )
    ]
    (box,) = ui.activity.children
    view = box.children[0]
    assert "RUNNING" in view.value and "deployed" in view.value
    assert not [
        t for t in threading.enumerate() if t.name.startswith("kx-watch")
    ]  # the form's one worker followed it
    assert not ui.push_button.disabled


def test_a_refused_push_says_why_in_the_form(ui, engine):
    engine.refuse_with = "the q checker found errors; nothing was uploaded"
    ui.push_button.click()
    ui.wait(10)
    assert "nothing was uploaded" in ui.message.value
    assert ui.activity.children == ()


def _entry(entry_id, **extra):
    return HistoryEntry(
        entry_id,
        1_700_000_000.0 + entry_id,
        "quant",
        "host",
        "local",
        "kxlocaldev",
        "hdb-3",
        f"{entry_id:02d}" * 32,
        "b",
        "k",
        f"v{entry_id}",
        "init.q",
        {},
        "ROLLING",
        **{"outcome": "succeeded", "duration": 12.0, **extra},
    )


def test_a_rollback_shows_which_push_and_its_diff_and_starts_only_when_confirmed(ui, engine):
    from kx_jupyter.deploy.diff import FileDiff

    engine.rollback_diff.side_effect = lambda cluster, to=None, env=None: (
        _entry(to or 7),
        [FileDiff("lib/util.q", "modified", diff="@@ -1 +1 @@\n-f:{x+2}\n+f:{x+1}\n")],
    )
    ui.cluster.value = "hdb-3"
    row = ui.history.row(7)
    assert "ababababab" in row.cells.value and "succeeded" in row.cells.value
    row.rollback_button.click()
    assert engine.rollbacks == [], "nothing starts before the confirmation"
    assert "to #7" in ui.rollback_diff.value and "lib/util.q" in ui.rollback_diff.value
    assert "restarts 3 nodes one by one (ROLLING)" in ui.rollback_diff.value
    go, cancel = ui.confirm_rollback.children
    assert go.description == "Roll back to #7"
    cancel.click()
    assert ui.confirm_rollback.children == () and ui.rollback_diff.value == "" and engine.rollbacks == []
    row.rollback_button.click()
    ui.confirm_rollback.children[0].click()
    ui.wait(10)
    assert engine.rollbacks == [("hdb-3", 7, "kxlocaldev")]


def test_the_push_running_now_is_marked_and_is_no_rollback_target(ui, engine):
    running_code = {"s3Bucket": "b", "s3Key": "k", "s3ObjectVersion": "v9"}
    engine.history.side_effect = lambda cluster=None, env=None, limit=50: [_entry(9), _entry(8)]
    base_status = engine.status.side_effect
    engine.status.side_effect = lambda cluster=None, env=None: dict(
        base_status(cluster, env), code=running_code
    )
    ui.cluster.value = "hdb-3"
    now, before = ui.history.rows
    assert (now.entry.id, now.running_now, now.rollback_button) == (9, True, None)
    assert "running now" in _shown(now)
    assert (before.entry.id, before.running_now) == (8, False) and before.rollback_button is not None
    assert "running now" not in _shown(before)


def _shown(row) -> str:
    """The text of a history row's HTML parts (its marker and its cells)."""
    import ipywidgets

    parts = [*row.children[0].children, row.cells]
    return " ".join(p.value for p in parts if isinstance(p, ipywidgets.HTML))


def test_each_rows_diff_shows_what_it_changes_without_offering_to_start(ui, engine):
    from kx_jupyter.deploy.diff import FileDiff

    running_code = {"s3Bucket": "b", "s3Key": "k", "s3ObjectVersion": "v9"}
    engine.history.side_effect = lambda cluster=None, env=None, limit=50: [
        _entry(9),
        _entry(8),
        _entry(6, outcome="failed", reason="init failed"),
    ]
    base_status = engine.status.side_effect
    engine.status.side_effect = lambda cluster=None, env=None: dict(
        base_status(cluster, env), code=running_code
    )
    engine.rollback_diff.side_effect = lambda cluster, to=None, env=None: (
        _entry(to),
        [FileDiff("old.q", "added", diff="--- /dev/null\n+++ workspace/old.q\n@@ -0,0 +1 @@\n+o:1\n")],
    )
    engine.diff.return_value = [
        FileDiff("new.q", "added", diff="--- /dev/null\n+++ workspace/new.q\n@@ -0,0 +1 @@\n+n:1\n")
    ]
    ui.cluster.value = "hdb-3"
    now, before, failed = ui.history.rows
    assert failed.diff_button is None and failed.rollback_button is None, "a failed push's code never ran"
    before.diff_button.click()
    assert "running now → #8" in ui.rollback_diff.value and "old.q" in ui.rollback_diff.value
    assert ui.confirm_rollback.children == (), "a Diff only shows; Roll back asks"
    now.diff_button.click()
    assert "running now (#9) → workspace" in ui.rollback_diff.value and "new.q" in ui.rollback_diff.value
    assert engine.rollbacks == []


def test_a_force_push_shows_the_diff_and_asks_first(ui, engine):
    ui.strategy.value = "FORCE"
    ui.push_button.click()
    assert engine.pushes == [] and "FORCE restarts 3 node(s)" in ui.diff_area.value
    go, _cancel = ui.confirm_push.children
    assert "FORCE" in go.description
    go.click()
    ui.wait(10)
    assert engine.pushes[0]["strategy"] == "FORCE"


def test_reviewing_the_diff_first_pushes_only_after_confirming(ui, engine):
    ui.review_diff.value = True
    ui.push_button.click()
    assert engine.pushes == [] and "no differences" in ui.diff_area.value
    go, _cancel = ui.confirm_push.children
    go.click()
    ui.wait(10)
    assert len(engine.pushes) == 1 and ui.confirm_push.children == ()
    assert ui.activity.children, "the push's live view"
    ui.push_button.click()  # the next review: the last push's view is not about these changes
    assert ui.activity.children == () and len(engine.pushes) == 1


def test_refresh_shows_a_file_changed_by_another_tool_when_nothing_here_is_unsaved(ui, workspace):
    (workspace / "init.q").write_text("/ rewritten elsewhere\n")
    (workspace / "extra.q").write_text("e:1\n")
    ui.refresh_button.click()
    assert ui.code.editor.value == "/ rewritten elsewhere\n" and not ui.code.editor.dirty
    assert "extra.q" in ui.init_script.options


def test_kx_jupyter_form_is_there_without_loading_widgets_on_import():
    code = "import sys, kx_jupyter; assert callable(kx_jupyter.form); print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_form_from_kx_jupyter_is_this_form(workspace, engine, kx_home):
    import kx_jupyter

    ui = kx_jupyter.form(KxJupyter(workspace=str(workspace), home=str(kx_home)), engine=engine)
    assert [label for label, _ in ui.env.options] == ["local-dev (kxlocaldev)"]


def test_keys_typed_just_before_switching_files_join_that_files_draft(ui, workspace):
    ui.code.editor.set_state(
        {"dirty": True}
    )  # the browser marks the edit at once, sends the text after a pause
    ui.code.files.value = "lib/util.q"
    ui.code.editor._handle_custom_msg(
        {"type": "draft", "path": "init.q", "value": "\\l lib/util.q\nlate:1\n"}, []
    )
    assert ("● init.q", "init.q") in ui.code.files.options
    ui.code.files.value = "init.q"
    assert ui.code.editor.value == "\\l lib/util.q\nlate:1\n" and ui.code.editor.dirty
    assert (workspace / "init.q").read_text() == "\\l lib/util.q\n"


def test_kx_jupyter_form_reads_the_config_percent_kx_form_reads(ip, tmp_path, engine):
    import kx_jupyter

    chosen = tmp_path / "chosen"
    chosen.mkdir()
    (chosen / "only_here.q").write_text("x:1\n")
    ip.run(f"%config KxJupyter.workspace = {str(chosen)!r}")
    ui = kx_jupyter.form(engine=engine)
    assert ui.settings.workspace == str(chosen)
    assert ("only_here.q", "only_here.q") in ui.code.files.options


def test_kx_jupyter_form_reads_the_shells_config_without_the_extension(ip, tmp_path, engine):
    import kx_jupyter

    ip.run("%unload_ext kx_jupyter")
    ip.shell.config.KxJupyter.workspace = str(tmp_path)
    try:
        assert kx_jupyter.form(engine=engine).settings.workspace == str(tmp_path)
    finally:
        ip.run("%load_ext kx_jupyter")


def test_a_big_workspace_lists_the_first_files_and_the_filter_finds_the_others(workspace, engine, kx_home):
    from kx_jupyter.ui.filepanel import SHOWN

    for i in range(SHOWN + 50):
        (workspace / "lib" / f"m{i:04d}.q").write_text(f"f{i}:{i}\n")
    ui = form(KxJupyter(workspace=str(workspace), home=str(kx_home)), engine=engine)
    assert len(ui.code.files.options) == SHOWN and "52 more" in ui.code.shown_note.value  # 552 files
    ui.code.filter.value = "m0549"
    assert [value for _, value in ui.code.files.options] == ["init.q", "lib/m0549.q"]
    ui.code.files.value = "lib/m0549.q"
    ui.code.editor.value = "f549:0\n"
    ui.code.filter.value = ""
    assert ("● lib/m0549.q", "lib/m0549.q") in ui.code.files.options  # the unsaved file stays in the list
    assert (
        ui.init_script.options[0] == "init.q" and len(ui.init_script.options) == SHOWN
    )  # top-level q files first


def test_a_push_keeps_its_note_and_history_shows_notes_and_git_commits(ui, engine):
    ui.note.value = "  limit raised for the open  "
    ui.push_button.click()
    ui.wait(10)
    assert engine.pushes[0]["note"] == "limit raised for the open" and ui.note.value == ""
    engine.history.side_effect = lambda cluster=None, env=None, limit=50: [
        _entry(8, note="limit raised", git_commit="0123456789abcdef", git_dirty=True)
    ]
    ui.refresh_button.click()
    cells = ui.history.row(8).cells.value
    assert "limit raised" in cells and "0123456789+" in cells


def test_a_history_refresh_frees_the_rows_it_replaces(ui):
    ui.cluster.value = "hdb-3"
    old = ui.history.row(7)
    ui.refresh_button.click()
    new = ui.history.row(7)
    assert new is not old and new.rollback_button.comm is not None
    gone = [old, old.cells, old.rollback_button, old.rollback_button.layout, old.rollback_button.style]
    assert [part.comm for part in gone] == [None] * len(gone), "no widget model left behind per refresh"
