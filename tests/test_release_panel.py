"""The form's "Release…": shown when the workspace has a kxrelease.toml; plan first, then the release,
on the real plane (the widgets are driven as a user clicks them)."""

from __future__ import annotations

import pytest

pytest.importorskip("anywidget")

from plane_fixtures import plane  # noqa: E402,F401  (fixture)
from test_release import CLUSTERS, code_of, create_tick_clusters, tick_workspace  # noqa: E402

from kx_jupyter.config import load_settings  # noqa: E402
from kx_jupyter.deploy import Engine  # noqa: E402
from kx_jupyter.ui.form import form  # noqa: E402


def release_button(f):
    found = [b for b in f.children[0].children[0].children if "kx-release-button" in b._dom_classes]
    assert len(found) == 1
    return found[0]


def test_the_forms_release_button_plans_then_releases(plane, tmp_path):  # noqa: F811
    create_tick_clusters()
    ws = tmp_path / "ws"
    ws.mkdir()
    settings = load_settings(workspace=str(ws), poll_initial=0.05, poll_max=0.3)
    f = form(settings)
    button = release_button(f)
    assert button.layout.display == "none"  # no manifest, no button
    tick_workspace(ws, 1)
    f.refresh_button.click()
    assert button.layout.display is None

    button.click()
    panel = f.release_panel
    assert f.activity.children == (panel,)
    plan = panel.wait(60)
    assert plan.status == "dry-run"
    assert "[tp] → [rdb, rts] → [hdb, gw]" in panel.title.value and "nothing changed yet" in panel.title.value
    assert panel.view.value.count("would update") == 5
    assert "would change the code, the init script (init.q → tick.q), the arguments" in panel.view.value  # tp
    assert panel.go.description == "Release to 5 target(s)" and panel.go in panel.buttons.children
    assert Engine(settings).history() == []

    panel.go.click()
    panel.go.click()  # a second click while it runs does nothing
    release = panel.wait(120)
    assert release.status == "succeeded"
    assert panel.view.value.count("succeeded") >= 5 and "Release</b> succeeded" in panel.title.value
    history = Engine(settings).history(limit=20)
    assert sorted(e.cluster for e in history) == sorted(CLUSTERS.values())  # each once
    assert {e.release_id for e in history} == {release.id}

    panel.close.click()
    assert f.activity.children == ()


def test_a_plan_the_checker_refuses_is_one_red_line_and_nothing_is_pushed(plane, tmp_path):  # noqa: F811
    create_tick_clusters()
    ws = tmp_path / "ws"
    tick_workspace(ws, 1, broken="hdb")
    settings = load_settings(workspace=str(ws))
    f = form(settings)
    release_button(f).click()
    assert f.release_panel.wait(60) is None
    title = f.release_panel.title.value
    assert "target hdb (tick-hdb): the q checker found errors" in title and "nosuchfn" in title
    assert "Traceback" not in title and f.release_panel.close in f.release_panel.buttons.children
    assert Engine(settings).history() == []


def test_a_failed_release_offers_its_rollback_and_the_rollback_restores_the_clusters(plane, tmp_path):  # noqa: F811
    create_tick_clusters()
    ws = tmp_path / "ws"
    tick_workspace(ws, 1)
    settings = load_settings(workspace=str(ws), poll_initial=0.05, poll_max=0.3)
    f = form(settings)
    panel = f.release_panel
    release_button(f).click()
    panel.wait(60)
    panel.go.click()
    assert panel.wait(120).status == "succeeded"
    engine = Engine(settings)
    v1 = {c: code_of(engine, c) for c in CLUSTERS.values()}

    tick_workspace(ws, 2, broken="hdb")
    release_button(f).click()
    assert panel.wait(60) is None  # the checker refuses hdb's plan
    assert "nosuchfn" in panel.title.value and panel.buttons.children == (panel.no_check, panel.close)
    panel.no_check.value = True  # plans again, without the checker
    assert panel.wait(60).status == "dry-run"
    panel.go.click()
    failed = panel.wait(120)
    assert failed.status == "failed" and failed.rows["hdb"].phase == "failed"
    assert panel.buttons.children == (panel.back, panel.close)
    assert code_of(engine, "tick-tp") != v1["tick-tp"]

    panel.back.click()
    back = panel.wait(120)
    assert back.kind == "rollback" and back.status == "rolled back"
    assert "Rollback</b> rolled back" in panel.title.value
    assert {c: code_of(engine, c) for c in CLUSTERS.values()} == v1
