"""The magics against the real local control plane, in an IPython shell."""

from pathlib import Path

import pytest
from IPython.core.error import UsageError
from ipython_fixtures import ip, slow_plane  # noqa: F401  (fixtures)
from plane_fixtures import plane  # noqa: F401  (fixture)


def _notebook(ip):
    """The shell with a small valid workspace and fast polling."""
    workspace = Path(ip.config.KxJupyter.workspace)
    (workspace / "init.q").write_text("\\l lib/util.q\nstart:.z.p\n")
    (workspace / "lib").mkdir()
    (workspace / "lib" / "util.q").write_text("add:{x+y}\n")
    ip.config.KxJupyter.poll_initial = 0.05
    ip.config.KxJupyter.poll_max = 0.2
    return ip


@pytest.fixture
def nb(plane, ip):  # noqa: F811
    return _notebook(ip)


@pytest.fixture
def slow_nb(slow_plane, ip):  # noqa: F811
    return _notebook(ip)


def _final_html(nb) -> str:
    return [p for p in nb.published if p.display_id][-1].html


def test_config_cluster_then_bare_update_deploys_with_a_live_html_view(nb):
    nb.run('%config KxJupyter.cluster = "dev-gp"')
    nb.run('%config KxMagics.view = "html"')
    result = nb.run("d = %kx_update")
    assert result.error_in_exec is None
    d = nb.shell.user_ns["d"]
    assert d.status == "succeeded" and d.cluster == "dev-gp"
    views = [p for p in nb.published if p.display_id]
    assert len({p.display_id for p in views}) == 1  # one output, updated in place
    assert views[0].update is False and all(p.update for p in views[1:]) and len(views) > 3
    final = _final_html(nb)
    assert "deployed" in final and d.result["bundle"]["sha256"] in final and "s3://kx-local-code/" in final
    assert "dev-gp" in final


def test_text_view_prints_changes_then_the_summary(nb, capsys):
    result = nb.run("%kx_update --cluster hdb-3")
    assert result.error_in_exec is None and result.result.status == "succeeded"
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any("rolling nodes" in ln and "nodes " in ln for ln in lines)
    assert "deployed" in out and "s3://kx-local-code/" in out
    status_lines = [ln for ln in lines if ln.startswith("[")]
    assert len(status_lines) == len(set(status_lines))  # a line per change, never the same one again


def test_same_code_again_changes_nothing(nb):
    nb.run("%kx_update --cluster dev-gp")
    d = nb.run("%kx_update --cluster dev-gp").result
    assert d.status == "unchanged"


def test_another_cell_runs_while_a_background_update_is_watched(slow_nb):
    slow_nb.run('%config KxMagics.view = "html"')
    d = slow_nb.run("%kx_update --cluster hdb-3 --background").result
    assert d.status == "watching"
    assert slow_nb.run("x = 6 * 7").error_in_exec is None and slow_nb.shell.user_ns["x"] == 42
    assert not d.done  # three nodes roll one by one: the watch is still going
    d.wait()
    assert d.status == "succeeded"
    for thread in slow_nb.threads():
        thread.join()  # a finished watch ends its one thread
    assert slow_nb.threads() == []
    assert "deployed" in _final_html(slow_nb)  # the summary arrived by display id after the cell returned


def test_an_abandoned_background_watch_ends_its_threads(slow_nb):
    slow_nb.run('%config KxMagics.view = "html"')
    d = slow_nb.run("%kx_update --cluster hdb-3 --background").result
    slow_nb.run("%unload_ext kx_jupyter")
    assert d.done and d.status == "still-updating"
    assert slow_nb.threads() == []
    slow_nb.run("%load_ext kx_jupyter")


def test_ctrl_c_stops_watching_not_the_update_and_says_how_to_reattach(
    slow_nb, slow_plane, capsys, monkeypatch
):
    from kx_jupyter.deploy.watch import Reader

    read = Reader.read

    def ctrl_c_during_the_first_read(reader, poll):  # no read completes: the watch cannot have seen the end
        monkeypatch.setattr(Reader, "read", read)
        raise KeyboardInterrupt

    monkeypatch.setattr(Reader, "read", ctrl_c_during_the_first_read)
    d = slow_nb.run("%kx_update --cluster hdb-3").result
    assert d.status == "still-updating" and d.exit_code == 3
    assert "still updating; the update goes on; re-attach with %kx_status hdb-3" in capsys.readouterr().out
    assert slow_nb.threads() == []  # the cell followed it itself: no thread to leave behind
    assert "still-updating" in repr(slow_nb.run("%kx_history hdb-3").result)
    slow_plane.wait_status("hdb-3", "RUNNING")  # the update itself went on
    status = repr(slow_nb.run("%kx_status hdb-3").result)  # the next look at the cluster settles it
    assert "succeeded" in status
    history = repr(slow_nb.run("%kx_history hdb-3").result)
    assert "succeeded" in history and "updating" not in history


def test_background_with_nothing_to_push_does_not_claim_to_watch(nb, capsys):
    assert nb.run("%kx_update --cluster dev-gp").result.status == "succeeded"
    capsys.readouterr()
    d = nb.run("%kx_update --cluster dev-gp --background").result
    out = capsys.readouterr().out
    assert d.status == "unchanged" and "background" not in out and "nothing changed" in out
    assert nb.threads() == []


def test_no_wait_submits_and_status_reattaches_through_the_engine(slow_nb):
    """Slow nodes: the update still rolls when %kx_status looks (on fast ones it may be over, and
    %kx_status then shows the settled cluster instead of re-attaching)."""
    d = slow_nb.run("%kx_update --cluster hdb-3 --no-wait").result
    assert d.status == "submitted"
    again = slow_nb.run("%kx_status hdb-3").result
    assert again is not d and again.status == "succeeded"


def test_dry_run_shows_the_request_and_changes_nothing(nb, plane):
    text = repr(nb.run("%kx_update --cluster dev-gp --dry-run --arg region=emea").result)
    assert '"clusterName": "dev-gp"' in text and '"key": "region"' in text and "nothing was uploaded" in text
    assert plane.counters()["appliedUpdates"] == {}


def test_the_returned_deployment_displays_as_one_short_line(nb):
    d = nb.run("%kx_update --cluster dev-gp").result
    formatted, _ = nb.shell.display_formatter.format(d)
    assert formatted["text/plain"].startswith("<Deployment kxlocaldev/dev-gp: succeeded")
    assert "<table" not in formatted["text/html"]  # the live view above already has the detail


def test_status_reattaches_to_a_background_update(slow_nb):
    slow_nb.run('%config KxMagics.view = "html"')
    d = slow_nb.run("%kx_update --cluster hdb-3 --background").result
    again = slow_nb.run("%kx_status hdb-3").result  # blocks until the end, with its own view
    assert again is d and d.status == "succeeded"
    ids = {p.display_id for p in slow_nb.published if p.display_id}
    assert len(ids) == 2  # the background view and the re-attached one
    assert "deployed" in _final_html(slow_nb)


def test_status_rejoining_a_background_push_that_had_no_view_shows_the_nodes_turn(
    slow_nb, slow_plane, capsys
):
    import re
    import threading
    import time

    def listings() -> int:
        return slow_plane.counters()["requests"].get("ListKxClusterNodes", 0)

    slow_plane.set_faults({"hold": ["hdb-3"]})  # UPDATING, nodes untouched, until %kx_status has the nodes
    d = slow_nb.run("%kx_update --cluster hdb-3 --background").result  # text: no view, so no node table
    assert d.status == "watching" and not d.shows_nodes
    listed = listings()

    def release_once_the_rejoined_view_listed_the_nodes():
        deadline = time.monotonic() + 30  # only so a broken join cannot hang the suite
        while listings() == listed and time.monotonic() < deadline:
            threading.Event().wait(0.05)
        slow_plane.set_faults({})

    releaser = threading.Thread(target=release_once_the_rejoined_view_listed_the_nodes, daemon=True)
    releaser.start()
    capsys.readouterr()
    again = slow_nb.run("%kx_status hdb-3").result  # joins the watch with a text view, waits for the end
    releaser.join()
    assert again is d and d.status == "succeeded"
    lines = capsys.readouterr().out.splitlines()
    assert any("0/3 nodes on the new code" in line for line in lines), lines  # the table filled
    turns = [line for line in lines if re.search(r"[12]/3 nodes on the new code| restarting", line)]
    assert turns, lines  # and the nodes turned on screen, not only in the final summary


def test_status_of_an_idle_cluster_shows_its_state(nb):
    nb.run("%kx_update --cluster dev-gp")
    text = repr(nb.run("%kx_status dev-gp").result)
    assert "RUNNING" in text and "init.q" in text and "s3://kx-local-code/" in text and "last push" in text


def test_clusters_table(nb):
    text = repr(nb.run("%kx_clusters").result)
    header = text.splitlines()[1]
    for column in ("name", "type", "status", "nodes", "code version", "last modified"):
        assert column in header
    assert "dev-gp" in text and "hdb-3" in text and "HDB" in text and "3/3" in text


def test_history_rollback_and_diff(nb):
    workspace = Path(nb.config.KxJupyter.workspace)
    assert nb.run("%kx_update --cluster dev-gp").result.status == "succeeded"
    (workspace / "lib" / "util.q").write_text("add:{x+y}\nmul:{x*y}\n")
    assert nb.run("%kx_update --cluster dev-gp").result.status == "succeeded"
    history = nb.run("%kx_history dev-gp").result
    assert repr(history).count("succeeded") == 2
    assert (
        ">cluster<" not in history._repr_html_() and ">cluster<" in nb.run("%kx_history").result._repr_html_()
    )
    diff = nb.run("%kx_diff dev-gp").result
    assert "no differences" in repr(diff)
    (workspace / "lib" / "util.q").write_text("add:{x+y}\n")
    diff = nb.run("%kx_diff dev-gp").result
    assert "-mul:{x*y}" in repr(diff) and "lib/util.q" in diff._repr_html_()
    rolled = nb.run("%kx_rollback dev-gp").result
    assert rolled.status == "succeeded" and rolled.result["rollback_of"] == 1
    assert "rollback of 1" in repr(nb.run("%kx_history dev-gp").result)


def test_user_errors_are_one_line_without_traceback(nb, capsys):
    for line in ("%kx_update --cluster no-such-cluster", "%kx_status", "%kx_rollback dev-gp"):
        result = nb.run(line)
        assert isinstance(result.error_in_exec, UsageError), line
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert "does not exist" in out.err and "no-such-cluster" in out.err
    assert not [p for p in nb.published if p.display_id]  # a refusal shows no half-drawn view


def test_checker_errors_stop_the_push_before_upload(nb, plane):
    (Path(nb.config.KxJupyter.workspace) / "lib" / "util.q").write_text("add:{x+y\n")
    result = nb.run("%kx_update --cluster dev-gp")
    assert isinstance(result.error_in_exec, UsageError)
    assert "q checker found errors" in str(result.error_in_exec)
    assert plane.counters()["appliedUpdates"] == {}


@pytest.mark.filterwarnings("ignore:`Completer.complete` is pending deprecation")
def test_tab_completion_of_cluster_and_environment_names(nb):
    magics = [c for c in nb.shell.configurables if type(c).__name__ == "KxMagics"][0]
    fetching = magics.names.warm()  # what the first use of the backend starts
    if fetching is not None:
        fetching.join()
    _, matches = nb.shell.complete("", "%kx_status ")
    assert {"dev-gp", "hdb-3"} <= set(matches)
    _, matches = nb.shell.complete("h", "%kx_update --cluster h")
    assert "hdb-3" in matches
    _, matches = nb.shell.complete("kx", "%kx_clusters --env kx")
    assert "kxlocaldev" in matches


def test_widget_view_keeps_an_html_fallback_and_ends_with_the_summary(nb):
    nb.run('%config KxMagics.view = "widget"')
    d = nb.run("%kx_update --cluster dev-gp --background").result
    d.wait()
    magics = [c for c in nb.shell.configurables if type(c).__name__ == "KxMagics"][0]
    watched = magics.follower._watched[(d.environment, d.cluster)]
    for thread in nb.threads():
        thread.join()
    view = watched.fanout.views[0]
    widget = view.widget
    first, last = [p for p in nb.published if p.display_id][0], [p for p in nb.published if p.display_id][-1]
    model = first.data["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert model == view.box.model_id and "text/html" in first.data  # the view and its node logs
    assert "deployed" in widget.value  # the live widget, changed by the watch thread
    assert last.update and "deployed" in last.html  # what front ends without widgets keep


def test_a_quick_refusal_is_only_its_error_line(nb):
    nb.run('%config KxMagics.view = "widget"')
    with pytest.raises(UsageError, match="NO_RESTART works only on GP clusters"):
        nb.shell.run_line_magic("kx_update", "--cluster hdb-3 --strategy NO_RESTART")
    assert [p for p in nb.published if p.display_id] == [], "no view stuck at 'check…' above the error"


def test_a_refusal_after_a_long_check_ends_the_view_it_showed(nb):
    """A large workspace shows its check's progress; refused then, the view (and its saved copy) says
    it stopped before anything was deployed, instead of 'check…' forever."""
    from kx_jupyter.deploy import Event
    from kx_jupyter.errors import KxError

    nb.run('%config KxMagics.view = "widget"')
    magics = [c for c in nb.shell.configurables if type(c).__name__ == "KxMagics"][0]

    def start(on_event):
        on_event(Event("progress", elapsed=1.0, message="check: 900/2,000 files", progress={"step": "check"}))
        raise KxError("the q checker found 3 errors", exit_code=2)

    with pytest.raises(KxError):
        magics.follower.follow(start, "dev-gp", background=False)
    last = [p for p in nb.published if p.display_id][-1]
    assert last.update, "the saved copy was rewritten at the end"
    assert "failed: stopped before anything was deployed" in last.data["text/plain"]
    assert "the q checker found 3 errors" in last.html and "check…" not in last.html


def test_a_failure_on_the_nodes_shows_the_reason_and_the_log_tail_and_fails_the_cell(nb, capsys):
    from kx_jupyter.ui.following import PushFailed

    nb.run('%config KxMagics.view = "html"')
    (Path(nb.config.KxJupyter.workspace) / "lib" / "util.q").write_text("add:{x+y\n")
    result = nb.run("%kx_update --cluster dev-gp --no-check")
    failed = result.error_in_exec  # Run All, nbconvert and papermill stop here
    assert isinstance(failed, PushFailed) and result.result is None
    d = failed.deployment
    assert d.status == "failed" and d.result["log_tail"] and "the update of dev-gp failed" in str(failed)
    final = _final_html(nb)
    assert 'data-phase-state="failed"' in final and "node log since this push" in final
    first = d.result["first_error"]
    assert (
        "error Q002" in first["line"] and first["line"].replace("'", "&#x27;") in final
    )  # the headline, verbatim
    out = capsys.readouterr()
    assert (
        "PushFailed" in out.out + out.err and "Traceback" not in out.out + out.err
    )  # one line, no traceback

    kept = nb.run("%kx_update --cluster dev-gp --no-check --force --no-raise")  # the notebook goes on
    assert kept.error_in_exec is None and kept.result.status == "failed"


def test_kx_form_returns_the_form_for_the_same_backend(nb):
    form = nb.run("%kx_form").result
    assert type(form).__name__ == "KxForm"
    assert form.engine.settings.workspace == nb.config.KxJupyter.workspace


def test_clusters_of_a_big_environment_come_from_the_listing_and_history(nb):
    from kx_jupyter.deploy.overview import cluster_rows
    from kx_jupyter.ui.magics import loaded_magics

    pushed = nb.run("%kx_update --cluster hdb-3").result
    _env, rows = cluster_rows(
        loaded_magics(nb.shell).engine(), detailed_up_to=0
    )  # as with more clusters than that
    by_name = {row[0]: row for row in rows}
    assert by_name["hdb-3"][3] == "3*" and by_name["hdb-3"][4].endswith(
        f"@{pushed.result['code']['s3ObjectVersion'][:8]}*"
    )
    assert by_name["dev-gp"][3:5] == ["—", "—"]  # never pushed from here: %kx_status asks the cluster


def test_kx_update_note_shows_in_kx_history(nb):
    nb.run('%kx_update --cluster dev-gp --note "new limits for the open"')
    history = nb.run("%kx_history dev-gp").result
    assert "new limits for the open" in repr(history) and "note" in history._repr_html_()


def test_pushes_and_rollbacks_from_a_cell_record_its_notebook_and_cell(nb, monkeypatch):
    from kx_jupyter.ui.magics import loaded_magics

    monkeypatch.setitem(nb.shell.user_ns, "__session__", "team/open.ipynb")  # as ipykernel sets it
    util = Path(nb.config.KxJupyter.workspace) / "lib" / "util.q"
    for cell, source in (("cell-a", "add:{x+y}\n"), ("cell-b", "add:{y+x}\n")):
        util.write_text(source)
        monkeypatch.setattr(nb.shell, "parent_header", {"metadata": {"cellId": cell}}, raising=False)
        assert nb.run("%kx_update --cluster dev-gp").result.status == "succeeded"
    monkeypatch.setattr(nb.shell, "parent_header", {"metadata": {"cellId": "cell-c"}}, raising=False)
    assert nb.run("%kx_rollback dev-gp").result.status == "succeeded"
    entries = loaded_magics(nb.shell).engine().history("dev-gp")
    assert [(e.kind, e.origin) for e in entries] == [
        ("rollback", "notebook:team/open.ipynb#cell-c"),
        ("push", "notebook:team/open.ipynb#cell-b"),
        ("push", "notebook:team/open.ipynb#cell-a"),
    ]


def test_a_push_from_terminal_ipython_records_ipython(nb):
    from kx_jupyter.ui.magics import loaded_magics

    nb.run("%kx_update --cluster dev-gp")
    assert loaded_magics(nb.shell).engine().history("dev-gp")[0].origin == "ipython"


def test_magics_honour_the_log_level_setting(nb, capsys):
    nb.run("%kx_update --cluster dev-gp")
    assert "kx-jupyter INFO" not in capsys.readouterr().err  # the default: no log lines
    nb.run('%config KxJupyter.log_level = "INFO"')
    (Path(nb.config.KxJupyter.workspace) / "lib" / "util.q").write_text("add:{y+x}\n")
    assert nb.run("%kx_update --cluster dev-gp").result.status == "succeeded"
    err = capsys.readouterr().err
    assert "kx-jupyter INFO" in err and "poll dev-gp:" in err
    nb.run('%config KxJupyter.log_level = "WARNING"')
    nb.run("%kx_status dev-gp")
    assert "kx-jupyter INFO" not in capsys.readouterr().err
