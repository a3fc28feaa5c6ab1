"""Releases on the real plane: five clusters, three stages, a failure, rollback, resume, the lock, the manifest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plane_fixtures import plane, plane_in  # noqa: F401  (fixture)

from kx_jupyter.cli import main
from kx_jupyter.config import load_settings
from kx_jupyter.deploy import Engine
from kx_jupyter.errors import KxError
from kx_jupyter.release import ManifestError, load, lock, run
from kx_jupyter.release.manifest import check_clusters

CLUSTERS = {"tp": "tick-tp", "rdb": "tick-rdb", "rts": "tick-rts", "hdb": "tick-hdb", "gw": "tick-gw"}
MANIFEST = """on_failure = "{policy}"
stages = [["tp"], ["rdb", "rts"], ["hdb", "gw"]]

[targets.tp]
cluster = "tick-tp"
init = "tick.q"
arguments = {{ p = "5010", procName = "tp" }}

[targets.rdb]
cluster = "tick-rdb"
init = "rdb.q"
arguments = {{ tp = ":5010" }}

[targets.rts]
cluster = "tick-rts"
init = "rts.q"

[targets.hdb]
cluster = "tick-hdb"
init = "hdb.q"

[targets.gw]
cluster = "tick-gw"
init = "gw.q"
"""


def tick_workspace(root: Path, version: int, policy: str = "stop", broken: str = "") -> str:
    """The basic-tick layout: one code base, an init script per process; ``broken`` fails on its nodes."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "common.q").write_text(f".tick.version:{version}\n")
    for name in ("tick", "rdb", "rts", "hdb", "gw"):
        body = "\\l common.q\n" + f".proc.name:`{name}\n"
        (root / f"{name}.q").write_text(body + ("x:nosuchfn[1]\n" if name == broken else ""))
    (root / "kxrelease.toml").write_text(MANIFEST.format(policy=policy))
    return str(root)


def create_tick_clusters() -> None:
    assert main(["local", "create-cluster", "tick-tp", "tick-rdb", "tick-rts"]) == 0
    assert main(["local", "create-cluster", "tick-hdb", "--type", "HDB", "--nodes", "2"]) == 0
    assert main(["local", "create-cluster", "tick-gw", "--type", "GATEWAY"]) == 0


def release_of(src: str, **kwargs):
    engine = Engine(load_settings(poll_initial=0.05, poll_max=0.3))
    return engine, run(engine, load(Path(src) / "kxrelease.toml"), src=src, **kwargs)


def code_of(engine, cluster: str) -> dict:
    return engine.clients.finspace.get_kx_cluster(environmentId="kxlocaldev", clusterName=cluster)["code"]


@pytest.fixture
def tick(plane):  # noqa: F811
    create_tick_clusters()
    return plane


def test_a_five_target_release_runs_its_stages_in_order_from_one_bundle(tick, tmp_path, capsys):
    src = tick_workspace(tmp_path / "ws", 1)
    engine, release = release_of(src)
    assert release.status == "succeeded" and release.exit_code == 0
    assert {r.target: r.phase for r in release.rows.values()} == dict.fromkeys(CLUSTERS, "succeeded")
    entries = {e.cluster: e for e in engine.history(limit=20)}
    assert {entries[c].release_id for c in CLUSTERS.values()} == {release.id}
    assert len({entries[c].client_token for c in CLUSTERS.values()}) == 5
    assert len({(entries[c].key, entries[c].version) for c in CLUSTERS.values()}) == 1  # staged once
    assert entries["tick-hdb"].init_script == "hdb.q" and entries["tick-tp"].arguments == {
        "p": "5010",
        "procName": "tp",
    }
    # a stage starts only after the one before it ended
    assert entries["tick-rdb"].started_at >= entries["tick-tp"].finished_at
    assert min(entries[c].started_at for c in ("tick-hdb", "tick-gw")) >= max(
        entries[c].finished_at for c in ("tick-rdb", "tick-rts")
    )
    # the same release again changes nothing and says so
    capsys.readouterr()
    assert main(["release", "--src", src]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped — already runs this code, init script and arguments") == 5
    assert len(engine.history(limit=20)) == 5


def test_a_failure_in_stage_two_stops_the_release(tick, tmp_path):
    engine, first = release_of(tick_workspace(tmp_path / "v1", 1))
    assert first.status == "succeeded"
    v1 = {c: code_of(engine, c) for c in CLUSTERS.values()}
    _, release = release_of(tick_workspace(tmp_path / "v2", 2, broken="rdb"), check=False)
    assert release.status == "failed" and release.exit_code == 1
    phases = {r.target: r.phase for r in release.rows.values()}
    assert phases["tp"] == "succeeded" and phases["rdb"] == "failed"
    assert phases["hdb"] == phases["gw"] == "not run"
    assert code_of(engine, "tick-hdb") == v1["tick-hdb"] and code_of(engine, "tick-gw") == v1["tick-gw"]
    assert code_of(engine, "tick-tp") != v1["tick-tp"]  # "stop" leaves stage 1 on the new code
    assert "nosuchfn" in release.rows["rdb"].failing_line + release.rows["rdb"].message


def test_with_rollback_a_failure_restores_the_targets_already_updated(tick, tmp_path):
    engine, first = release_of(tick_workspace(tmp_path / "v1", 1))
    assert first.status == "succeeded"
    v1 = {c: code_of(engine, c) for c in CLUSTERS.values()}
    _, release = release_of(tick_workspace(tmp_path / "v2", 2, policy="rollback", broken="rdb"), check=False)
    assert release.status == "rolled back" and release.exit_code == 1
    assert release.rows["tp"].phase == "rolled back"
    assert {c: code_of(engine, c) for c in CLUSTERS.values()} == v1
    rollbacks = [e for e in engine.history(limit=30) if e.kind == "rollback"]
    assert {e.cluster for e in rollbacks} >= {"tick-tp"} and all(e.outcome == "succeeded" for e in rollbacks)
    assert {e.release_id for e in rollbacks} == {release.id}


@pytest.mark.parametrize("plane_restarts", [False, True], ids=["command-killed", "command-and-plane-killed"])
def test_resume_after_killing_the_command_finishes_without_redeploying(tmp_path, monkeypatch, plane_restarts):
    with plane_in(tmp_path, monkeypatch, node_start_seconds=1.0) as running:
        create_tick_clusters()
        src = tick_workspace(tmp_path / "ws", 1)
        engine = Engine(load_settings(poll_initial=0.05, poll_max=0.3))
        cli = subprocess.Popen(
            [sys.executable, "-c", f"from kx_jupyter.cli import main; main(['release', '--src', {src!r}])"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not [e for e in engine.history(limit=20) if e.cluster == "tick-rdb"]:
                assert cli.poll() is None, "the release ended before stage 2 began"
                time.sleep(0.05)
            # a second release on the same clusters, while the first runs, is refused
            assert main(["release", "--src", src]) == 2
        finally:
            os.kill(cli.pid, signal.SIGKILL)
            cli.wait()
        before = engine.history(limit=20)
        assert not [e for e in before if e.cluster in ("tick-hdb", "tick-gw")]  # killed in stage 2
        if plane_restarts:
            running.restart(kill=True)
        assert main(["release", "--src", src, "--resume"]) == 0
        after = engine.history(limit=20)
        per_cluster = {c: [e for e in after if e.cluster == c] for c in CLUSTERS.values()}
        assert all(len(entries) == 1 for entries in per_cluster.values()), (
            per_cluster
        )  # nothing deployed twice
        assert {e.release_id for e in after} == {before[0].release_id}
        assert all(e.outcome == "succeeded" for e in after)


def test_a_release_is_refused_while_another_holds_one_of_its_clusters(tick, tmp_path, capsys):
    src = tick_workspace(tmp_path / "ws", 1)
    settings = load_settings()
    with lock.holding(settings.home_path, [("kxlocaldev", "tick-hdb")]):
        assert main(["release", "--src", src]) == 2
    assert "a release is already running on cluster tick-hdb" in capsys.readouterr().err
    assert Engine(settings).history() == []  # nothing was staged or pushed


def test_each_target_is_checked_with_its_own_arguments(tick, tmp_path, capsys):
    src = tick_workspace(tmp_path / "ws", 1)
    (Path(src) / "tick.q").write_text("\\l common.q\nopts:.Q.opt .z.x\nport:opts`p\n")
    text = (
        (Path(src) / "kxrelease.toml")
        .read_text()
        .replace('arguments = { p = "5010", procName = "tp" }', 'arguments = { procName = "tp" }')
    )
    (Path(src) / "kxrelease.toml").write_text(text)
    assert main(["release", "--src", src, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "tp (tick-tp): tick.q:3:" in out and "'p'" in out
    assert not [line for line in out.splitlines() if line.startswith(("rdb (", "rts (", "hdb (", "gw ("))]


def test_an_unknown_cluster_is_one_line_with_its_line_number(tick, tmp_path, capsys):
    src = tick_workspace(tmp_path / "ws", 1)
    path = Path(src) / "kxrelease.toml"
    path.write_text(path.read_text().replace('cluster = "tick-gw"', 'cluster = "tick-gateway"'))
    assert main(["release", "--src", src]) == 2
    err = capsys.readouterr().err
    assert "kxrelease.toml:23: target gw: cluster tick-gateway does not exist in kxlocaldev" in err


BAD = """on_failure = "retry"
stages = [["tp"], ["rdb", "tp"], ["nope"]]
colour = "blue"

[targets.tp]
cluster = "tick-tp"
init = "tick.q"
arguments = { "bad-key" = "1" }

[targets.rdb]
cluster = "tick-rdb"
iniit = "rdb.q"
"""


def test_manifest_mistakes_are_one_line_each_with_the_line(tmp_path):
    path = tmp_path / "kxrelease.toml"
    path.write_text(BAD)
    with pytest.raises(ManifestError) as err:
        load(path)
    assert err.value.problems == [
        'kxrelease.toml:1: on_failure is \'retry\'; it must be "stop" or "rollback"',
        "kxrelease.toml:2: stages: 'nope' is not a target (targets: tp, rdb)",
        "kxrelease.toml:2: stages: target 'tp' is listed twice",
        "kxrelease.toml:3: unknown key 'colour' (expected one of: on_failure, stages, targets, environment)",
        err.value.problems[4],
        "kxrelease.toml:12: target rdb: unknown key 'iniit' (expected one of: cluster, environment, init, arguments, "
        "strategy, timeout)",
    ]
    assert err.value.problems[4].startswith("kxrelease.toml:8: target tp: argument bad-key")


def test_two_targets_on_one_cluster_are_refused(tmp_path):
    path = tmp_path / "kxrelease.toml"
    path.write_text('[targets.a]\ncluster = "tick-tp"\n\n[targets.b]\ncluster = "tick-tp"\n')
    manifest = load(path)
    with pytest.raises(ManifestError) as err:
        check_clusters(manifest, {"kxlocaldev": {"tick-tp"}}, "kxlocaldev")
    assert err.value.problems == [
        "kxrelease.toml:4: targets a, b all name cluster tick-tp: a cluster runs one target"
    ]


def test_a_missing_manifest_says_where_it_looked(tmp_path):
    with pytest.raises(KxError) as err:
        load(tmp_path / "kxrelease.toml")
    assert "no release manifest at" in err.value.message


FAULTS = {
    "throttle": 0.08,
    "error": 0.08,
    "drop": 0.07,
    "slow": 0.04,
    "drop_after": 0.03,
    "slow_seconds": 0.3,
}


def test_under_thirty_percent_faults_a_release_ends_clearly_and_resume_finishes_it(tick, tmp_path):
    src = tick_workspace(tmp_path / "ws", 1)
    engine = Engine(load_settings(poll_initial=0.05, poll_max=0.3, timeout=60))
    tick.set_faults(FAULTS)
    try:
        outcome = run(engine, load(Path(src) / "kxrelease.toml"), src=src).status
    except KxError as exc:  # refused or unknown: one clear line, no traceback, no secret
        outcome = "refused"
        assert tick.info.secret_key not in str(exc) and "Traceback" not in str(exc)
    finally:
        tick.set_faults({})
    assert outcome in ("succeeded", "failed", "refused")
    for name in CLUSTERS.values():
        tick.wait_status(name, "RUNNING")
    finish = run(
        Engine(load_settings(poll_initial=0.05, poll_max=0.3)),
        load(Path(src) / "kxrelease.toml"),
        src=src,
        resume=True,
    )
    assert finish.status == "succeeded", finish.to_dict()
    applied = tick.counters()["appliedUpdates"]
    assert applied and all(n == 1 for n in applied.values()), applied  # no clientToken applied twice
    tokens = {e.client_token for e in engine.history(limit=50) if e.outcome == "succeeded"}
    assert tokens <= set(applied)


def test_rollback_of_the_newest_release_is_one_action(tick, tmp_path, capsys):
    engine, first = release_of(tick_workspace(tmp_path / "v1", 1))
    v1 = {c: code_of(engine, c) for c in CLUSTERS.values()}
    src = tick_workspace(tmp_path / "v2", 2)
    assert main(["release", "--src", src]) == 0
    assert code_of(engine, "tick-gw") != v1["tick-gw"]
    assert main(["release", "--src", src, "--rollback"]) == 0
    assert {c: code_of(engine, c) for c in CLUSTERS.values()} == v1
    out = capsys.readouterr().out
    assert (
        out.index("rolling back stage 3")
        < out.index("rolling back stage 2")
        < out.index("rolling back stage 1")
    )


def described(engine, cluster: str) -> tuple:
    desc = engine.clients.finspace.get_kx_cluster(environmentId="kxlocaldev", clusterName=cluster)
    return desc["code"], desc.get("initializationScript"), desc.get("commandLineArguments") or []


def test_the_failure_policy_restores_a_cluster_still_on_the_code_it_was_created_with(tick, tmp_path):
    engine = Engine(load_settings())
    seed = {c: described(engine, c) for c in CLUSTERS.values()}
    src = tick_workspace(tmp_path / "v1", 1, policy="rollback", broken="rdb")
    _, release = release_of(src, check=False)
    assert release.status == "rolled back" and release.rows["tp"].phase == "rolled back"
    assert "before this release" in release.rows["tp"].message
    assert {c: described(engine, c) for c in CLUSTERS.values()} == seed  # code, init script and arguments
    back = [(e.cluster, e.kind) for e in engine.history(limit=20) if e.outcome == "succeeded"]
    assert sorted(back) == [
        ("tick-rts", "push"),
        ("tick-rts", "rollback"),
        ("tick-tp", "push"),
        ("tick-tp", "rollback"),
    ]


def test_rollback_of_a_first_release_puts_the_seed_code_back(tick, tmp_path):
    engine = Engine(load_settings())
    seed = {c: described(engine, c) for c in CLUSTERS.values()}
    src = tick_workspace(tmp_path / "v1", 1)
    assert main(["release", "--src", src]) == 0
    assert described(engine, "tick-tp") != seed["tick-tp"]
    assert main(["release", "--src", src, "--rollback"]) == 0
    assert {c: described(engine, c) for c in CLUSTERS.values()} == seed
    # and the release can be shipped again: nothing thinks it is still deployed
    assert main(["release", "--src", src]) == 0
    assert described(engine, "tick-gw")[1] == "gw.q"


def test_a_target_past_its_timeout_ends_the_release_still_updating_and_resume_finishes(
    tmp_path, monkeypatch, capsys
):
    with plane_in(tmp_path, monkeypatch, node_start_seconds=1.0):
        create_tick_clusters()
        src = tick_workspace(tmp_path / "ws", 1)
        path = Path(src) / "kxrelease.toml"
        path.write_text(path.read_text().replace('init = "tick.q"\n', 'init = "tick.q"\ntimeout = 0.2\n'))
        assert main(["release", "--src", src]) == 3
        out = capsys.readouterr().out
        assert "tp (tick-tp): still updating — still updating when its 0.2 s timeout ended" in out
        assert "stopped watching: tp still updating" in out and "--resume" in out
        engine = Engine(load_settings())
        assert [e.cluster for e in engine.history(limit=20)] == ["tick-tp"]  # the next stages waited
        assert main(["release", "--src", src, "--resume"]) == 0
        per_cluster = [e.cluster for e in engine.history(limit=20)]
        assert sorted(per_cluster) == sorted(CLUSTERS.values())  # each updated once, tp not twice


def test_a_timeout_on_the_command_line_is_checked_like_updates(tick, tmp_path, capsys):
    src = tick_workspace(tmp_path / "ws", 1)
    with pytest.raises(SystemExit):
        main(["release", "--src", src, "--timeout", "soon"])
    assert "'soon' is not a positive number of seconds" in capsys.readouterr().err


def test_a_bad_timeout_in_the_manifest_is_one_line_with_its_line(tmp_path):
    path = tmp_path / "kxrelease.toml"
    path.write_text(
        '[targets.a]\ncluster = "tick-tp"\ntimeout = -5\n\n[targets.b]\ncluster = "tick-gw"\ntimeout = "1h"\n'
    )
    with pytest.raises(ManifestError) as err:
        load(path)
    assert err.value.problems == [
        "kxrelease.toml:3: target a: timeout -5 is not a number of seconds from 0.1 to 604800 (e.g. timeout = 1800)",
        "kxrelease.toml:7: target b: timeout '1h' is not a number of seconds from 0.1 to 604800 (e.g. timeout = 1800)",
    ]


def test_json_is_one_line_per_event_as_it_happens_then_the_summary(tick, tmp_path, capsys):
    import json

    src = tick_workspace(tmp_path / "ws", 1)
    assert main(["release", "--src", src, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["event"] for x in lines[-1:]] == ["summary"] and lines[-1]["status"] == "succeeded"
    assert {x["event"] for x in lines[:-1]} == {"message", "target"}
    phases = [(x["target"], x["phase"]) for x in lines if x["event"] == "target"]
    for name in CLUSTERS:
        assert (name, "updating") in phases and (name, "succeeded") in phases
    # events in the order they happened: stage 1 ended before stage 2 began
    assert phases.index(("tp", "succeeded")) < phases.index(("rdb", "updating"))
    assert lines[-1]["release_id"] == lines[0]["release_id"]
    assert main(["release", "--src", src, "--only", "nope", "--json"]) == 2
    refused = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert refused["event"] == "summary" and refused["status"] == "refused" and "nope" in refused["reason"]


def test_create_cluster_exist_ok_keeps_a_matching_cluster_and_refuses_a_different_one(tick, capsys):
    """A tutorial run twice on one plane: the five clusters exist; --exist-ok keeps them, says so,
    and refuses a cluster of another type or size rather than pretend it was created."""
    capsys.readouterr()
    assert main(["local", "create-cluster", "tick-hdb", "--type", "HDB", "--nodes", "2", "--exist-ok"]) == 0
    assert "tick-hdb already exists (HDB, 2 nodes): kept" in capsys.readouterr().out
    assert main(["local", "create-cluster", "tick-hdb", "--type", "HDB", "--nodes", "2"]) != 0
    assert main(["local", "create-cluster", "tick-gw", "--type", "RDB", "--exist-ok"]) == 2
    err = capsys.readouterr().err
    assert "tick-gw already exists as GATEWAY with 1 node(s), not RDB with 1" in err


def test_delete_cluster_waits_until_the_clusters_are_gone(tick, capsys):
    """A tutorial tidies up: the clusters it made are gone when the command returns."""
    assert main(["local", "delete-cluster", "tick-gw", "tick-rts"]) == 0
    assert "deleted tick-gw, tick-rts" in capsys.readouterr().out
    names = {c["clusterName"] for c in Engine().clusters()}
    assert "tick-gw" not in names and "tick-rts" not in names and "tick-tp" in names
    assert main(["local", "delete-cluster", "tick-gw"]) != 0  # no such cluster: said, not a traceback
    assert "tick-gw" in capsys.readouterr().err


def test_one_target_failing_while_another_in_its_stage_times_out(tmp_path, monkeypatch, capsys):
    """The failure decides the release (exit 1); the other target is still updating, not failed,
    and --resume follows it to its end instead of pushing it again."""
    with plane_in(tmp_path, monkeypatch, node_start_seconds=1.0):
        create_tick_clusters()
        src = tick_workspace(tmp_path / "ws", 1, broken="rdb")
        path = Path(src) / "kxrelease.toml"
        path.write_text(path.read_text().replace('init = "rts.q"\n', 'init = "rts.q"\ntimeout = 0.2\n'))
        assert main(["release", "--src", src, "--no-check"]) == 1
        out = capsys.readouterr().out
        assert "[2] rdb (tick-rdb): failed" in out
        assert "[2] rts (tick-rts): still updating — still updating when its 0.2 s timeout ended" in out
        assert "[3] hdb (tick-hdb): not run" in out and "[3] gw (tick-gw): not run" in out
        engine = Engine(load_settings())
        # still updating, or settled as succeeded if its update ended before history was read
        assert {e.cluster: e.outcome for e in engine.history(limit=20)}["tick-rts"] in (
            "still-updating",
            "succeeded",
        )

        assert main(["release", "--src", src, "--no-check", "--resume"]) == 1  # rdb is still broken
        out = capsys.readouterr().out
        assert "resuming: following tick-rts's update" in out
        assert "[2] rts (tick-rts): skipped — already runs this code" in out
        assert [e.cluster for e in engine.history(limit=20)].count("tick-rts") == 1  # not pushed twice


@pytest.mark.parametrize("shown", [True, False], ids=["table-shown", "no-table"])
def test_a_shown_release_counts_each_targets_nodes_as_they_turn_and_a_hidden_one_pays_no_listings(
    tmp_path, monkeypatch, shown
):
    from kx_jupyter.deploy.watch import showing_nodes

    with plane_in(tmp_path, monkeypatch, node_start_seconds=1.0):
        create_tick_clusters()
        src = tick_workspace(tmp_path / "ws", 1)
        seen = set()

        def table(release) -> None:
            row = release.rows["hdb"]
            seen.add((row.nodes_new, row.nodes))

        engine = Engine(load_settings())
        release = run(
            engine,
            load(Path(src) / "kxrelease.toml"),
            src=src,
            only=["hdb"],
            on_change=showing_nodes(table) if shown else table,
        )
        assert release.status == "succeeded"
        assert (2, 2) in seen
        assert ((1, 2) in seen) is shown  # one of the two HDB nodes on the new code, the other turning
