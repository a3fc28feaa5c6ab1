"""A real ipykernel: %kx_update --background, then other cells, while the view keeps updating.

This is what the InteractiveShell tests cannot show: that the watch thread's widget trait
changes (comm messages) and the final display update reach the front end after the cell
that started them has finished, with nothing printed from a thread.
"""

import queue

import pytest
from ipython_fixtures import slow_plane  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


SESSION = "team/open.ipynb"


@pytest.fixture
def kernel(slow_plane, monkeypatch):  # noqa: F811  (the plane sets KX_JUPYTER_HOME, which the kernel inherits)
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("JPY_SESSION_NAME", SESSION)  # what Jupyter Server tells a notebook's kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _run(kc, code: str, seen: list, timeout: float = 60.0, cell_id: str | None = None) -> list:
    """Execute ``code`` (as the cell ``cell_id``, as JupyterLab sends it); every iopub message goes to
    ``seen``; returns this cell's messages."""
    if cell_id is None:
        msg_id = kc.execute(code)
    else:
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}}
        request = kc.session.msg("execute_request", content, metadata={"cellId": cell_id})
        kc.shell_channel.send(request)
        msg_id = request["header"]["msg_id"]
    mine = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        seen.append(msg)
        if msg["parent_header"].get("msg_id") == msg_id:
            mine.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return mine


def _drain(kc, seen: list, seconds: float = 1.0) -> None:
    try:
        while True:
            seen.append(kc.get_iopub_msg(timeout=seconds))
    except queue.Empty:
        pass


def _text(msgs) -> str:
    return "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")


def test_background_update_keeps_updating_while_other_cells_run(kernel, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "init.q").write_text("a:1\n")
    seen: list = []
    setup = _run(
        kernel,
        "%load_ext kx_jupyter\n"
        f"%config KxJupyter.workspace = {str(workspace)!r}\n"
        "%config KxJupyter.poll_initial = 0.05\n%config KxJupyter.poll_max = 0.2",
        seen,
    )
    assert not [m for m in setup if m["msg_type"] == "error"]

    started = _run(kernel, "d = %kx_update --cluster hdb-3 --background", seen)
    shown = [m for m in started if m["msg_type"] == "display_data"]
    assert len(shown) == 1
    data = shown[0]["content"]["data"]
    assert "application/vnd.jupyter.widget-view+json" in data and "text/html" in data  # widget + fallback
    display_id = shown[0]["content"]["transient"]["display_id"]
    model_id = data["application/vnd.jupyter.widget-view+json"]["model_id"]

    other = _run(kernel, "print(6 * 7, d.status)", seen)
    assert _text(other).strip() == "42 watching"  # another cell ran while the update was being watched

    end = _run(kernel, "print(d.wait(60)['status'])", seen)
    assert _text(end).strip() == "succeeded"
    _drain(kernel, seen)

    updates = [
        m for m in seen if m["msg_type"] == "comm_msg" and "value" in m["content"]["data"].get("state", {})
    ]
    assert any(
        "deployed" in m["content"]["data"]["state"]["value"] for m in updates
    )  # the view inside the box
    assert any(m["msg_type"] == "comm_open" and m["content"]["comm_id"] == model_id for m in seen)
    finals = [
        m
        for m in seen
        if m["msg_type"] == "update_display_data" and m["content"]["transient"]["display_id"] == display_id
    ]
    assert finals and "deployed" in finals[-1]["content"]["data"]["text/html"]
    assert not [m for m in seen if m["msg_type"] == "error"]
    stray = [m for m in seen if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"]
    assert stray == [], _text(stray)


def test_a_user_error_in_a_kernel_is_one_line(kernel, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "init.q").write_text("a:1\n")
    seen: list = []
    _run(kernel, f"%load_ext kx_jupyter\n%config KxJupyter.workspace = {str(workspace)!r}", seen)
    msgs = _run(kernel, "%kx_update --cluster no-such-cluster", seen)
    errors = [m for m in msgs if m["msg_type"] == "error"]
    text = _text(msgs) + "".join("".join(m["content"]["traceback"]) for m in errors)
    assert "no-such-cluster" in text and "does not exist" in text
    assert "Traceback" not in text and "File " not in text


def test_a_push_records_the_notebook_and_the_cell_it_came_from(kernel, tmp_path):
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine

    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "init.q").write_text("a:1\n")
    seen: list = []
    _run(kernel, f"%load_ext kx_jupyter\n%config KxJupyter.workspace = {str(workspace)!r}", seen)
    msgs = _run(kernel, "%kx_update --cluster dev-gp", seen, cell_id="5f1e-cell")
    assert not [m for m in msgs if m["msg_type"] == "error"]
    entry = Engine(load_settings()).history("dev-gp")[0]
    assert entry.origin == f"notebook:{SESSION}#5f1e-cell"
