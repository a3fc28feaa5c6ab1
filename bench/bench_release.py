"""Figure 10: a five-target release of a 1 MB workspace on the plane, start to all RUNNING,
against five sequential ``kx-jupyter update`` calls of the same change (each with the target's
init script and arguments). Stages in parallel (tp; rdb+rts; hdb+gw) should win."""

from __future__ import annotations

import time

from common import Figure, local_plane, median, q_module, write_tree

FILES, TOTAL_BYTES = 50, 1_000_000
NODE_SECONDS = 1.0
TARGETS = {  # name: (cluster, init, arguments)
    "tp": ("tick-tp", "tick.q", {"procName": "tp"}),
    "rdb": ("tick-rdb", "rdb.q", {"procName": "rdb"}),
    "rts": ("tick-rts", "rts.q", {"procName": "rts"}),
    "hdb": ("tick-hdb", "hdb.q", {"procName": "hdb"}),
    "gw": ("tick-gw", "gw.q", {"procName": "gw"}),
}
MANIFEST = 'stages = [["tp"], ["rdb", "rts"], ["hdb", "gw"]]\n' + "".join(
    f'\n[targets.{name}]\ncluster = "{c}"\ninit = "{i}"\narguments = {{ procName = "{a["procName"]}" }}\n'
    for name, (c, i, a) in TARGETS.items()
)


def workspace(root):
    files = {f"lib/m{n:02d}.q": q_module(n, TOTAL_BYTES // FILES) for n in range(FILES - 5)}
    loads = "".join(f"\\l lib/m{n:02d}.q\n" for n in range(FILES - 5))
    for _, init, _ in TARGETS.values():
        files[init] = loads + "/ edit 0\n"
    files["kxrelease.toml"] = MANIFEST
    return write_tree(root, files)


def _edit(ws, i: int) -> None:
    for _, init, _ in TARGETS.values():
        path = ws / init
        path.write_text(path.read_text().rsplit("/ edit", 1)[0] + f"/ edit {i}\n")


def run(runs: int) -> list[Figure]:
    from kx_jupyter.cli import main
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine
    from kx_jupyter.release import load
    from kx_jupyter.release import run as release

    rounds = max(2, min(runs, 5))
    with local_plane(node_start_seconds=NODE_SECONDS) as (home, _info):
        assert main(["local", "create-cluster", "tick-tp", "tick-rdb", "tick-rts"]) == 0
        assert main(["local", "create-cluster", "--type", "HDB", "--nodes", "2", "tick-hdb"]) == 0
        assert main(["local", "create-cluster", "--type", "GATEWAY", "tick-gw"]) == 0
        ws = workspace(home.parent / "ws")
        together, one_by_one, edit = [], [], 0
        for _ in range(rounds):
            edit += 1
            _edit(ws, edit)
            start = time.perf_counter()
            engine = Engine(load_settings())
            r = release(engine, load(ws / "kxrelease.toml"), src=str(ws))
            together.append(time.perf_counter() - start)
            assert r.status == "succeeded", r.to_dict()
            edit += 1
            _edit(ws, edit)
            start = time.perf_counter()
            for cluster, init, args in TARGETS.values():
                d = Engine(load_settings()).update(cluster=cluster, src=str(ws), init=init, args=args)
                assert d.wait()["status"] == "succeeded", d.result
            one_by_one.append(time.perf_counter() - start)
    t, s = median(together), median(one_by_one)
    return [
        Figure(
            "release 5 targets / 3 stages -> all RUNNING",
            t,
            "s",
            f"< {s:.1f} (sequential)",
            t < s,
            f"{rounds} releases of a 1 MB, 50-file workspace to 5 clusters (tp; rdb+rts; hdb (2 nodes)+gw), "
            f"node start {NODE_SECONDS:g} s, ROLLING, one bundle staged once, each target checked with its "
            "own init script and arguments",
        ),
        Figure(
            "5 sequential updates of the same change",
            s,
            "s",
            "",
            None,
            f"the same clusters, init scripts and arguments pushed one after another ({rounds} rounds)",
        ),
    ]
