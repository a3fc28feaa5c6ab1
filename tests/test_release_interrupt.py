"""A release interrupted where users interrupt it: Ctrl-C in the terminal, a kernel killed mid-cell.
Both leave the updates going; ``--resume`` finishes the release without redeploying a finished target."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from plane_fixtures import plane_in
from test_release import CLUSTERS, create_tick_clusters, tick_workspace

from kx_jupyter.cli import main
from kx_jupyter.config import load_settings
from kx_jupyter.deploy import Engine

pytestmark = pytest.mark.slow


def wait_for_stage_two(engine, plane, still_running) -> None:
    """Until the plane has taken both updates of stage 2 (rdb's and rts's clientTokens were applied)."""
    while True:
        tokens = {e.cluster: e.client_token for e in engine.history(limit=20)}
        applied = plane.counters()["appliedUpdates"] or {}
        if all(tokens.get(c) in applied for c in ("tick-rdb", "tick-rts")):
            return
        assert still_running(), "the release ended before stage 2 was under way"
        time.sleep(0.05)


def assert_finished_once_each(engine, release_id: str) -> None:
    after = engine.history(limit=30)
    assert sorted(e.cluster for e in after) == sorted(CLUSTERS.values())  # nothing deployed twice
    assert {e.release_id for e in after} == {release_id}
    assert all(e.outcome == "succeeded" for e in after)


def test_ctrl_c_exits_130_says_where_it_stopped_and_resume_finishes(tmp_path, monkeypatch):
    with plane_in(tmp_path, monkeypatch, node_start_seconds=2.0) as plane:
        create_tick_clusters()
        src = tick_workspace(tmp_path / "ws", 1)
        engine = Engine(load_settings())
        cli = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from kx_jupyter.cli import main; raise SystemExit(main(['release', '--src', {src!r}]))",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_stage_two(engine, plane, lambda: cli.poll() is None)
            cli.send_signal(signal.SIGINT)
            out, err = cli.communicate(timeout=60)
        finally:
            if cli.poll() is None:
                cli.kill()
        assert cli.returncode == 130, (out, err)
        assert "stopped watching (Ctrl-C): continue with `kx-jupyter release --resume`" in err
        where = {e.cluster: e.outcome for e in engine.history(limit=20)}
        assert where["tick-tp"] == "succeeded"
        assert where["tick-rdb"] != "failed" and "tick-hdb" not in where and "tick-gw" not in where
        release_id = engine.history(limit=1)[0].release_id
        assert main(["release", "--src", src, "--resume"]) == 0
        assert_finished_once_each(engine, release_id)


def _run(kc, code: str, timeout: float = 120.0) -> dict:
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=lambda msg: None)
    return reply["content"]


def test_a_kernel_killed_mid_release_and_a_new_kernel_resumes_it(tmp_path, monkeypatch):
    from jupyter_client.manager import start_new_kernel

    with plane_in(tmp_path, monkeypatch, node_start_seconds=2.0) as plane:
        create_tick_clusters()
        src = tick_workspace(tmp_path / "ws", 1)
        setup = f"%load_ext kx_jupyter\n%config KxJupyter.workspace = {src!r}\n"
        engine = Engine(load_settings())
        km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
        try:
            assert _run(kc, setup)["status"] == "ok"
            kc.execute("%kx_release")  # not waited for: the kernel dies in the middle of it
            wait_for_stage_two(engine, plane, km.is_alive)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)  # SIGKILL: no cleanup in the kernel
        release_id = engine.history(limit=1)[0].release_id
        assert not [e for e in engine.history(limit=20) if e.cluster in ("tick-hdb", "tick-gw")]
        km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
        try:
            assert _run(kc, setup)["status"] == "ok"
            resumed = _run(
                kc, "r = %kx_release --resume --no-raise\nassert r.status == 'succeeded', r.to_dict()"
            )
            assert resumed["status"] == "ok", resumed
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        assert_finished_once_each(engine, release_id)
