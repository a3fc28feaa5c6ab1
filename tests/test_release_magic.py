"""%kx_release in a shell: the command's options, a table of the targets, a failure ends the cell."""

from pathlib import Path

from ipython_fixtures import ip  # noqa: F401  (fixture)
from plane_fixtures import plane  # noqa: F401  (fixture)
from test_release import create_tick_clusters, tick_workspace


def test_kx_release_shows_a_row_per_target_and_a_failure_stops_the_cell(plane, ip):  # noqa: F811
    create_tick_clusters()
    ip.config.KxJupyter.poll_initial = 0.05
    ip.config.KxJupyter.poll_max = 0.3
    workspace = Path(ip.config.KxJupyter.workspace)
    tick_workspace(workspace, 1)
    dry = ip.run("%kx_release --dry-run --only tp gw")
    assert dry.error_in_exec is None
    table = ip.published[-1].html
    assert "tick-tp" in table and "tick-gw" in table and "tick-rdb" not in table and "would update" in table
    assert ip.run("%kx_release").error_in_exec is None
    assert ip.published[-1].html.count("succeeded") >= 5
    from kx_jupyter.deploy import Engine

    pushed = Engine().history(limit=5)  # where each target's push came from: this (terminal) IPython
    assert len(pushed) == 5 and {e.origin for e in pushed} == {"ipython"}
    tick_workspace(workspace, 2, broken="hdb")
    failed = ip.run("%kx_release --no-check")
    assert type(failed.error_in_exec).__name__ == "ReleaseFailed"
    table = ip.published[-1].html
    assert "nosuchfn" in table and "failed" in table
    bad = ip.run("%kx_release --only nope")
    assert type(bad.error_in_exec).__name__ == "UsageError" and "--only nope: no such target" in str(
        bad.error_in_exec
    )
