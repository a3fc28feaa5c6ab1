"""The form on a big workspace (opening, editor events at 20,000 files) and ``%kx_clusters`` on 500 clusters (issue 17).

A folder of 20,000 small files (q scripts, CSVs and notes in 200 folders, as a research repo
grows) is opened with ``form()`` against the local plane (so the cluster listing is real too);
then the editor events a user causes are timed on their own: the first keystroke (the file becomes
unsaved and the list marks it), a further keystroke, and a save. Before the fix opening took 16.4 s
(the file list's labels were quadratic) and every editor event paid it again.

``%kx_clusters``'s rows (``deploy.overview.cluster_rows``) are timed on the local plane with 500
GP clusters created through boto3 CreateKxCluster, side by side with the bare listing
(``Engine.clusters``, ListKxClusters pages); they used to take two more calls per cluster.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from common import Figure, local_plane, median

FILES = 20_000
OPEN_TARGET_MS = 300.0
EVENT_TARGET_MS = 20.0
CLUSTERS = 500
CLUSTER_RATIO_TARGET = 1.5
VPC = {
    "vpcId": "vpc-0abc1234",
    "securityGroupIds": ["sg-0abc1234"],
    "subnetIds": ["subnet-0abc1234"],
    "ipAddressType": "IP_V4",
}


def _big_workspace(root: Path) -> Path:
    suffixes = (".q", ".q", ".csv", ".md")
    for i in range(FILES):
        folder = root / f"pkg{i % 200:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"m{i}{suffixes[i % len(suffixes)]}").write_text(f"f{i}:{{x+{i}}}\n")
    (root / "init.q").write_text("\\l pkg000/m0.q\n")
    return root


def _ms(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def _many_clusters(engine) -> None:
    fs, env = engine.clients.finspace, engine.environment()
    for i in range(CLUSTERS):
        fs.create_kx_cluster(
            environmentId=env,
            clusterName=f"bench-{i:03d}",
            clusterType="GP",
            releaseLabel="1.0",
            azMode="SINGLE",
            availabilityZoneId="use1-az1",
            vpcConfiguration=VPC,
            capacityConfiguration={"nodeType": "kx.s.large", "nodeCount": 1},
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and any(c["status"] != "RUNNING" for c in engine.clusters(env)):
        time.sleep(0.5)  # between timed runs, never inside one


def cluster_figures(runs: int) -> list[Figure]:
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine
    from kx_jupyter.deploy.overview import cluster_rows

    listing, rows = [], []
    with local_plane(node_start_seconds=0.05):
        engine = Engine(load_settings())
        _many_clusters(engine)
        cluster_rows(engine)  # warm
        for _ in range(max(3, runs)):
            listing.append(_ms(lambda: engine.clusters()))
            rows.append(_ms(lambda: cluster_rows(engine)))
    ratio = median(rows) / median(listing)
    return [
        Figure(
            f"%kx_clusters rows, {CLUSTERS + 2} clusters",
            median(rows),
            "ms",
            note=("cluster_rows on the local plane, clusters made with boto3 CreateKxCluster, all RUNNING"),
        ),
        Figure(
            "  the listing alone (ListKxClusters)",
            median(listing),
            "ms",
            note="Engine.clusters, measured alternately",
        ),
        Figure(
            "  rows / listing",
            ratio,
            "x",
            f"< {CLUSTER_RATIO_TARGET:g}",
            ratio < CLUSTER_RATIO_TARGET,
            "was 2.1 s / 0.11 s (two calls per cluster); now the listing plus one history query",
        ),
    ]


def run(runs: int) -> list[Figure]:
    return form_figures(runs) + cluster_figures(runs)


def form_figures(runs: int) -> list[Figure]:
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine
    from kx_jupyter.ui.form import form

    opening, first_key, next_key, saving = [], [], [], []
    with (
        local_plane(node_start_seconds=0.2) as (_home, _info),
        tempfile.TemporaryDirectory(prefix="kx-bench-ws-") as tmp,
    ):
        workspace = _big_workspace(Path(tmp))
        count = sum(len(files) for _, _, files in os.walk(workspace))
        settings = load_settings(workspace=str(workspace))
        engine = Engine(settings)
        form(settings, engine=engine)  # warm: imports, the API models, the OS file cache
        for n in range(max(3, runs)):
            box = {}
            opening.append(_ms(lambda: box.setdefault("ui", form(settings, engine=engine))))  # noqa: B023
            editor = box["ui"].code.editor
            text = editor.value
            first_key.append(_ms(lambda: setattr(editor, "value", text + f"x{n}:1\n")))  # noqa: B023
            next_key.append(_ms(lambda: setattr(editor, "value", text + f"x{n}:12\n")))  # noqa: B023
            editor.file = None  # time the form's reaction to a save, not the disk write
            saving.append(_ms(editor.save))
    method = f"{count} files in 201 folders, local plane; median of {len(opening)} runs"
    return [
        Figure(
            f"form opens on {FILES:,} files",
            median(opening),
            "ms",
            f"< {OPEN_TARGET_MS:g}",
            median(opening) < OPEN_TARGET_MS,
            f"form() incl. environments, clusters, status, history; {method}",
        ),
        Figure(
            "  first keystroke (file marked unsaved)",
            median(first_key),
            "ms",
            f"< {EVENT_TARGET_MS:g}",
            median(first_key) < EVENT_TARGET_MS,
            "editor value set as the browser does; includes the q check",
        ),
        Figure(
            "  further keystroke",
            median(next_key),
            "ms",
            f"< {EVENT_TARGET_MS:g}",
            median(next_key) < EVENT_TARGET_MS,
            "the list is already marked: nothing is rebuilt",
        ),
        Figure(
            "  save (mark cleared)",
            median(saving),
            "ms",
            f"< {EVENT_TARGET_MS:g}",
            median(saving) < EVENT_TARGET_MS,
            "the form's reaction to a save, without the disk write",
        ),
    ]
