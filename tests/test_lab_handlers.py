"""The lab extension's server API, against a real ``jupyter server`` and the local plane it starts.

Everything here is what the kdb sidebar, the status bar, the notifications and the cell lint
see: no kernel is started.
"""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.error
import urllib.request

import pytest
from plane_fixtures import recorded_push
from test_serverext import Server

from kx_jupyter.local import daemon

LOOP_OK = "init:{[] 1b}\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab-api")
    home = tmp / "kx-home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KX_JUPYTER_NODE_START_SECONDS", "0.2")
        running = Server(tmp, home)
    running.root = tmp / "root"  # the server's root_dir
    running.home, running.runtime = home, tmp / "runtime"
    try:
        yield running
    finally:
        running.stop()
        daemon.stop(home / "plane")


def call(server, method, path, body=None, expect=200):
    """One API call with the server's token; asserts the HTTP status and returns the JSON."""
    req = urllib.request.Request(
        f"{server.url}/kx-jupyter/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, got = resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        status, got = exc.code, json.loads(exc.read() or b"null")
    assert status == expect, got
    return got


def workspace(server, name: str, files: dict[str, str]):
    root = server.root / name
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return f"{name}/notebook.ipynb"  # the sidebar sends the open notebook; the workspace is its folder


def finished_run(server, run_id: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = next(r for r in call(server, "GET", "runs") if r["id"] == run_id)
        if run["status"] != "running" or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


def test_the_api_refuses_requests_without_credentials(server):
    for method in ("GET", "POST"):
        req = urllib.request.Request(
            server.url + "/kx-jupyter/overview" if method == "GET" else server.url + "/kx-jupyter/push",
            method=method,
            data=b"{}" if method == "POST" else None,
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 403


def test_a_browser_session_cannot_push_without_the_xsrf_token(server):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(
        f"{server.url}/login?token={server.token}", timeout=10
    ).read()  # a logged-in browser's cookies
    assert any(c.name.startswith("username-") for c in jar), "the token login should set the session cookie"
    assert json.loads(opener.open(server.url + "/kx-jupyter/runs", timeout=10).read()) == []  # reads work
    req = urllib.request.Request(
        server.url + "/kx-jupyter/push", method="POST", data=json.dumps({"cluster": "dev-gp"}).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(req, timeout=10)
    assert err.value.code == 403
    assert call(server, "GET", "runs") == [], "nothing was started"


def test_the_overview_shows_the_seeded_clusters_with_their_nodes(server):
    got = call(server, "GET", "overview")
    assert got["environment"] == "kxlocaldev"
    clusters = {c["name"]: c for c in got["clusters"]}
    assert set(clusters) == {"dev-gp", "hdb-3"}
    assert (clusters["dev-gp"]["type"], clusters["dev-gp"]["nodeCount"]) == ("GP", 1)
    assert (clusters["hdb-3"]["type"], clusters["hdb-3"]["nodeCount"]) == ("HDB", 3)
    assert all(c["status"] == "RUNNING" for c in clusters.values())


def test_a_kx_file_cell_is_linted_in_cell_lines_and_other_cells_are_not(server):
    (diag,) = call(server, "POST", "lint", {"source": "%%kx_file lib/f.q\nok:1\nf:{[x] x+1\n"})
    assert (diag["severity"], diag["line"], diag["col"]) == ("error", 3, 3)
    assert diag["path"] == "lib/f.q"
    assert call(server, "POST", "lint", {"source": "f:{[x] x+1\n"}) == []
    assert call(server, "POST", "lint", {"source": 3}, expect=400)


def test_check_reports_the_workspace_of_the_open_notebook(server):
    notebook = workspace(server, "broken", {"init.q": "\\l lib/missing.q\n"})
    got = call(server, "POST", "check", {"notebook": notebook})
    assert got["errors"] and got["workspace"].endswith("broken")
    assert any("missing.q" in d["message"] for d in got["diagnostics"])
    assert call(server, "POST", "check", {"notebook": "../outside/x.ipynb"}, expect=400)["message"]


def test_a_push_from_the_sidebar_runs_to_its_end_and_lands_in_history_and_activity(server):
    since = time.time()
    notebook = workspace(server, "good", {"init.q": LOOP_OK, "lib/a.q": "a:1\n"})
    started = call(server, "POST", "push", {"cluster": "dev-gp", "notebook": notebook}, expect=202)
    assert (started["cluster"], started["status"]) == ("dev-gp", "running")
    run = finished_run(server, started["id"])
    assert run["status"] == "succeeded", run
    assert [e["phase"] for e in run["events"]][-1] == "done"

    (entry, *_) = call(server, "GET", "history?cluster=dev-gp")
    assert entry["id"] == run["history_id"] and entry["outcome"] == "succeeded"
    dev = next(
        c for c in call(server, "GET", f"overview?notebook={notebook}")["clusters"] if c["name"] == "dev-gp"
    )
    assert dev["running"]["bundle_sha256"] == entry["bundle_sha256"], (
        "the sidebar says which push the cluster runs"
    )
    ended = call(server, "GET", f"activity?since={since}")["ended"]
    assert [e["id"] for e in ended] == [entry["id"]]

    diff = call(server, "GET", f"diff?cluster=dev-gp&notebook={notebook}")
    assert {f["path"]: f["status"] for f in diff["files"]} == {"init.q": "unchanged", "lib/a.q": "unchanged"}
    workspace(server, "good", {"lib/a.q": "a:2\n"})
    diff = call(server, "GET", f"diff?cluster=dev-gp&notebook={notebook}")
    assert {f["path"]: f["status"] for f in diff["files"]}["lib/a.q"] == "modified"


def test_a_push_from_the_sidebar_says_each_nodes_turn(server):
    notebook = workspace(server, "turns", {"init.q": LOOP_OK + "turns:1\n"})  # code no other test pushes
    started = call(server, "POST", "push", {"cluster": "hdb-3", "notebook": notebook}, expect=202)
    run = finished_run(server, started["id"])
    assert run["status"] == "succeeded", run
    mid_update = [
        e
        for e in run["events"]
        if e["phase"] == "nodes" and any(n.get("code") != "new code" for n in e["nodes"])
    ]
    assert mid_update, "the sidebar's card showed the nodes only at the end"


def test_a_push_the_checker_refuses_ends_with_its_message_and_changes_nothing(server):
    before = call(server, "GET", "history?cluster=hdb-3")
    notebook = workspace(server, "bad", {"init.q": "f:{[x] x+1\n"})
    run = finished_run(
        server, call(server, "POST", "push", {"cluster": "hdb-3", "notebook": notebook}, expect=202)["id"]
    )
    assert run["status"] == "refused" and "q checker found errors" in run["message"]
    assert call(server, "GET", "history?cluster=hdb-3") == before


def test_a_rollback_from_the_sidebar_redeploys_the_previous_push(server):
    first = workspace(server, "v1", {"init.q": LOOP_OK})
    second = workspace(server, "v2", {"init.q": LOOP_OK + "v:2\n"})
    for notebook in (first, second):
        run = finished_run(
            server, call(server, "POST", "push", {"cluster": "hdb-3", "notebook": notebook}, expect=202)["id"]
        )
        assert run["status"] == "succeeded", run
    v2, v1 = call(server, "GET", "history?cluster=hdb-3")[:2]
    run = finished_run(server, call(server, "POST", "rollback", {"cluster": "hdb-3"}, expect=202)["id"])
    assert run["status"] == "succeeded", run
    newest = call(server, "GET", "history?cluster=hdb-3")[0]
    assert (newest["kind"], newest["rollback_of"], newest["bundle_sha256"]) == (
        "rollback",
        v1["id"],
        v1["bundle_sha256"],
    )
    assert v2["bundle_sha256"] != v1["bundle_sha256"]


def test_a_push_can_keep_the_clusters_arguments(server):
    notebook = workspace(server, "args", {"init.q": LOOP_OK + "r:.Q.opt .z.x\n"})
    run = finished_run(
        server,
        call(
            server,
            "POST",
            "push",
            {"cluster": "hdb-3", "notebook": notebook, "arguments": {"role": "hdb"}},
            expect=202,
        )["id"],
    )
    assert run["status"] == "succeeded", run
    assert call(server, "GET", "history?cluster=hdb-3")[0]["arguments"] == {"role": "hdb"}
    hdb = next(c for c in call(server, "GET", "overview")["clusters"] if c["name"] == "hdb-3")
    assert hdb["arguments"] == {"role": "hdb"}
    assert call(server, "POST", "push", {"cluster": "hdb-3", "arguments": ["role"]}, expect=400)


def test_unknown_cluster_is_one_line_naming_the_clusters(server):
    got = call(server, "GET", "diff?cluster=nope", expect=400)
    assert "nope" in got["message"] and "dev-gp" in got["message"]


def test_the_rollback_preview_names_the_push_and_its_diff_and_starts_nothing(server):
    for notebook in (
        workspace(server, "p1", {"init.q": LOOP_OK}),
        workspace(server, "p2", {"init.q": LOOP_OK, "lib/extra.q": "e:1\n"}),
    ):
        run = finished_run(
            server,
            call(server, "POST", "push", {"cluster": "dev-gp", "notebook": notebook}, expect=202)["id"],
        )
        assert run["status"] == "succeeded", run
    p2, p1 = call(server, "GET", "history?cluster=dev-gp")[:2]
    runs = call(server, "GET", "runs")
    got = call(server, "GET", "rollback-diff?cluster=dev-gp")
    assert got["entry"]["id"] == p1["id"], "by default: the newest good push whose code differs"
    files = {f["path"]: (f["status"], f["diff"]) for f in got["files"]}
    assert files["lib/extra.q"] == (
        "removed",
        "--- cluster/lib/extra.q\n+++ /dev/null\n@@ -1 +0,0 @@\n-e:1\n",
    )
    assert call(server, "GET", f"rollback-diff?cluster=dev-gp&to={p2['id']}")["entry"]["id"] == p2["id"]
    assert call(server, "GET", "runs") == runs and call(server, "GET", "history?cluster=dev-gp")[0] == p2
    assert "history id" in call(server, "GET", "rollback-diff?cluster=dev-gp&to=x", expect=400)["message"]


def _recorded(server, origin: str) -> int:
    """A finished push with ``origin``, of a cluster no other test uses."""
    return recorded_push(server.home, "cell-links", origin)


def test_history_and_activity_link_a_push_to_the_notebook_cell_it_came_from(server):
    since = time.time() - 1
    inside = _recorded(server, "notebook:work/analysis.ipynb#3f2a-cell")
    absolute = _recorded(server, f"notebook:{server.root / 'abs' / 'nb.ipynb'}#c1")
    outside = _recorded(server, "notebook:/elsewhere/nb.ipynb#c2")
    from_cli = _recorded(server, "cli")
    cells = {e["id"]: e["cell"] for e in call(server, "GET", "history?cluster=cell-links")}
    assert cells[inside] == {"path": "work/analysis.ipynb", "cellId": "3f2a-cell"}
    assert cells[absolute] == {"path": "abs/nb.ipynb", "cellId": "c1"}, (
        "a path under the root, as JupyterLab opens it"
    )
    assert cells[outside] is None and cells[from_cli] is None, "no link JupyterLab could not open"
    ended = {e["id"]: e["cell"] for e in call(server, "GET", f"activity?since={since}")["ended"]}
    assert ended[inside] == {"path": "work/analysis.ipynb", "cellId": "3f2a-cell"}


KERNEL_ASKS_THE_SIDEBAR = """
import os
os.chdir({root!r})  # where JupyterLab starts a notebook's kernel: the notebook's folder
%load_ext kx_jupyter
%config KxJupyter.workspace = "kernel-ws"
%config KxJupyter.cluster = "hdb-3"
%config KxJupyter.strategy = "FORCE"
import json, re, urllib.error, urllib.request
from ipykernel.connect import get_connection_file
kid = re.search(r"kernel-(.+)[.]json", get_connection_file()).group(1)
def ask(path, body=None):
    req = urllib.request.Request({url!r} + "/kx-jupyter/" + path, data=body and json.dumps(body).encode(),
                                 headers={{"Authorization": "token {token}", "Content-Type": "application/json"}})
    try:
        return json.load(urllib.request.urlopen(req, timeout=60))
    except urllib.error.HTTPError as exc:
        raise RuntimeError(path + " " + exc.read().decode()) from None
mine, other = ask("overview?kernel=" + kid), ask("overview?kernel=not-a-kernel")
check = ask("check", {{"kernel": kid}})
print(json.dumps({{"kid": kid, "mine": mine, "other": other, "check": check}}))
"""


def test_the_sidebar_follows_the_active_kernels_config_and_says_whose_settings_it_shows(server):
    (server.root / "kernel-ws").mkdir(exist_ok=True)
    (server.root / "kernel-ws" / "init.q").write_text("f:{[x] x+1\n")  # an unclosed brace: the check says so
    printed = server.run_in_kernel(
        KERNEL_ASKS_THE_SIDEBAR.format(url=server.url, token=server.token, root=str(server.root))
    )
    got = json.loads(printed.strip().splitlines()[-1])
    mine, other = got["mine"], got["other"]
    assert mine["workspace"] == str((server.root / "kernel-ws").resolve())
    assert (mine["cluster"], mine["strategy"]) == ("hdb-3", "FORCE")
    assert mine["settings"]["from"] == "kernel"
    assert mine["settings"]["kernel"] == {"cluster": "hdb-3", "strategy": "FORCE"}, (
        "what differs from the server's"
    )
    assert other["settings"] == {"from": "server", "kernel": {}, "note": ""} and other["cluster"] == ""
    assert got["check"]["workspace"] == mine["workspace"] and got["check"]["errors"]
    published = server.runtime / f"kx-jupyter-kernel-{got['kid']}.json"
    deadline = time.monotonic() + 30
    while published.exists() and time.monotonic() < deadline:  # the kernel removes it as it exits
        time.sleep(0.1)
    assert not published.exists()
