"""Rollback as a user meets it: which entry it goes back to, when there is nothing earlier, and %kx_rollback's options."""

from pathlib import Path

import pytest
from IPython.core.error import UsageError
from ipython_fixtures import ip  # noqa: F401  (fixture)
from plane_fixtures import plane  # noqa: F401  (fixture)

from kx_jupyter.config import load_settings
from kx_jupyter.deploy import Engine
from kx_jupyter.errors import KxError


def workspace(root: Path, text: str) -> str:
    root.mkdir(parents=True, exist_ok=True)
    (root / "init.q").write_text(text)
    return str(root)


@pytest.fixture
def engine(plane):  # noqa: F811
    return Engine(load_settings(poll_initial=0.05, poll_max=0.3))


def test_a_rollback_says_which_history_entry_it_goes_back_to(engine, tmp_path):
    first = engine.update(cluster="dev-gp", src=workspace(tmp_path / "a", "x:1\n"))
    assert first.wait(60)["status"] == "succeeded"
    assert (
        engine.update(cluster="dev-gp", src=workspace(tmp_path / "b", "x:2\n")).wait(60)["status"]
        == "succeeded"
    )
    back = engine.rollback("dev-gp")
    assert back.wait(60)["status"] == "succeeded"
    opening = back.events[0]
    entry = engine.history("dev-gp")[-1]
    assert opening.message.startswith(
        f"rolling back to history entry #{first.result['history_id']}: the push of "
    )
    assert f"by {entry.user}" in opening.message and entry.bundle_sha256[:12] in opening.message


def test_the_rollback_preview_names_the_entry_and_diffs_the_running_code_against_it(engine, tmp_path):
    first = engine.update(cluster="dev-gp", src=workspace(tmp_path / "a", "x:1\n"))
    assert first.wait(60)["status"] == "succeeded"
    assert (
        engine.update(cluster="dev-gp", src=workspace(tmp_path / "b", "x:2\n")).wait(60)["status"]
        == "succeeded"
    )
    entry, diffs = engine.rollback_diff("dev-gp")
    assert entry.id == first.result["history_id"]
    assert [(d.path, d.status) for d in diffs] == [("init.q", "modified")]
    assert "-x:2" in diffs[0].diff and "+x:1" in diffs[0].diff
    assert engine.history("dev-gp")[0].kind == "push", "a preview changes nothing"


def test_when_the_only_success_is_what_runs_now_it_says_so(engine, tmp_path):
    first = engine.update(cluster="dev-gp", src=workspace(tmp_path / "a", "x:1\n"))
    assert first.wait(60)["status"] == "succeeded"
    entry_id = first.result["history_id"]
    with pytest.raises(KxError) as err:
        engine.rollback("dev-gp")
    assert (
        f"every successful deployment of dev-gp in the history (#{entry_id}) is the code it runs now"
        in err.value.message
    )
    assert f"--to {entry_id} --force" in err.value.hint


@pytest.fixture
def nb(plane, ip):  # noqa: F811
    ip.config.KxJupyter.poll_initial = 0.05
    ip.config.KxJupyter.poll_max = 0.2
    return ip


def push(nb, text: str):
    (Path(nb.config.KxJupyter.workspace) / "init.q").write_text(text)
    deployment = nb.run("%kx_update").result
    assert deployment.status == "succeeded"
    return deployment


def test_kx_rollback_uses_the_configured_cluster_and_has_dry_run_and_force(nb, plane):  # noqa: F811
    nb.run('%config KxJupyter.cluster = "dev-gp"')
    nb.run('%config KxMagics.view = "html"')
    first, second = push(nb, "x:1\n"), push(nb, "x:2\n")
    dry = nb.run("%kx_rollback --dry-run").result
    assert dry.text.startswith(f"rolling back to history entry #{first.result['history_id']}")
    assert "dry run for dev-gp" in dry.text and first.result["code"]["s3ObjectVersion"] in dry.text
    assert (
        plane.clients().finspace.get_kx_cluster(environmentId="kxlocaldev", clusterName="dev-gp")["code"]
        == second.result["code"]
    )  # a dry run changes nothing
    again = nb.run(f"%kx_rollback --to {second.result['history_id']}").result
    assert again.status == "unchanged"  # the cluster runs that already
    forced = nb.run(f"%kx_rollback --to {second.result['history_id']} --force").result
    assert forced.status == "succeeded" and forced.result["rollback_of"] == second.result["history_id"]


def test_kx_rollback_without_a_cluster_is_one_line(nb, capsys):
    result = nb.run("%kx_rollback")
    assert isinstance(result.error_in_exec, UsageError) and "no cluster named" in str(result.error_in_exec)
