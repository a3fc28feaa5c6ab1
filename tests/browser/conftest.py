"""A real JupyterLab driven by a real Chromium, for tests of what a quant sees.

One ``jupyter lab`` per session: bound to 127.0.0.1 on a free port, a temporary root, a
random token, fresh config/data/settings/workspace dirs (the venv's kernelspec and
lab extensions are still found through sys.prefix) and its own kx-jupyter home. The
browser is Debian's Chromium through the ``playwright`` package. Screenshots land in
``test-artifacts/browser/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
VENV_BIN = Path(sys.executable).parent

# JupyterLab user settings that keep pop-ups out of the screenshots and the tests offline.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}


def pytest_collection_modifyitems(items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing; `bash scripts/test` installs Debian's chromium")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@dataclass
class LabServer:
    url: str
    token: str
    root: Path
    kx_home: Path
    env: dict

    def page_url(self, path: str, query: str = "") -> str:
        return f"{self.url}{path}?token={self.token}{'&' + query if query else ''}"


def _wait_for_server(
    runtime_dir: Path, proc: subprocess.Popen, token: str, log: Path, deadline: float
) -> str:
    """The server's URL once it answers /api/status; its port comes from its runtime file."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        for info_file in runtime_dir.glob("jpserver-*.json"):
            info = json.loads(info_file.read_text() or "{}")
            if info.get("pid") != proc.pid or not info.get("port"):
                continue
            url = f"http://127.0.0.1:{info['port']}"
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as resp:
                    if resp.status == 200:
                        return url
            except OSError:
                pass
        time.sleep(0.25)
    raise RuntimeError(f"jupyter lab did not become ready in time:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory) -> LabServer:
    base = tmp_path_factory.mktemp("lab")
    dirs = {
        name: base / name
        for name in ("root", "config", "data", "runtime", "settings", "workspaces", "ipython", "kx-home")
    }
    for path in dirs.values():
        path.mkdir()
    for name, values in LAB_SETTINGS.items():
        target = dirs["settings"] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    token = secrets.token_hex(24)
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "KX_JUPYTER_HOME": str(dirs["kx-home"]),
    }
    # The local plane a test starts must not collide with a developer's on the default port.
    env["KX_JUPYTER_LOCAL_PORT"] = "0"
    env["KX_JUPYTER_NODE_START_SECONDS"] = "1.5"
    log = base / "jupyter-lab.log"
    cmd = [
        str(VENV_BIN / "jupyter"),
        "lab",
        "--ip=127.0.0.1",
        "--port=0",
        "--no-browser",
        f"--ServerApp.root_dir={dirs['root']}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:  # containers and CI runners
        cmd.append("--allow-root")
    with log.open("w") as log_fh:
        proc = subprocess.Popen(
            cmd, env=env, cwd=dirs["root"], stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = _wait_for_server(dirs["runtime"], proc, token, log, time.monotonic() + 90)
        yield LabServer(url=url, token=token, root=dirs["root"], kx_home=dirs["kx-home"], env=env)
    finally:
        _stop_process_group(proc)
        _stop_local_plane(dirs["kx-home"])
        if ARTIFACTS.exists():
            shutil.copy(log, ARTIFACTS / "jupyter-lab.log")


def _stop_local_plane(kx_home: Path) -> None:
    """A form push starts the embedded plane as a detached daemon; it must not outlive the tests."""
    from kx_jupyter.config import load_settings
    from kx_jupyter.local import daemon

    daemon.stop(daemon.state_dir_of(load_settings(environ={"KX_JUPYTER_HOME": str(kx_home)})))


def _stop_process_group(proc: subprocess.Popen) -> None:
    """Stop the server and every kernel it started (they share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # what is left: kernels still shutting down, a wedged server
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _artifact_stem(test_name: str) -> str:
    return re.sub(r"\W+", "_", test_name).strip("_")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.kx_call_failed = report.failed
    return report


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 960})
    page = context.new_page()
    yield page
    if getattr(request.node, "kx_call_failed", False):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / f"{_artifact_stem(request.node.name)}-FAILED.png"), full_page=True
        )
    context.close()


@pytest.fixture
def shot(request):
    """``shot(page_or_locator, "name")`` saves test-artifacts/browser/<test>-<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test_name = _artifact_stem(request.node.name)

    def save(target, name: str) -> Path:
        path = ARTIFACTS / f"{test_name}-{name}.png"
        target.screenshot(path=str(path))
        return path

    return save


class LabPage:
    """One browser page on the session's JupyterLab, with the steps every test needs."""

    def __init__(self, page, server: LabServer):
        self.page = page
        self.server = server

    def open_notebook(self, name: str, cells: list[str], app: str = "lab") -> Path:
        """Write a notebook of code cells into the root, open it in JupyterLab (``app="lab"``)
        or Notebook 7 (``app="notebook"``), and wait for an idle kernel."""
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        path = self.server.root / name
        nbformat.write(nb, path)
        if app == "lab":  # `reset`: do not reopen the notebooks of earlier tests from the saved layout
            self.page.goto(self.server.page_url(f"/lab/tree/{name}", "reset"))
        else:
            self.page.goto(self.server.page_url(f"/notebooks/{name}"))
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
        self.wait_for_kernel_idle()
        return path

    def wait_for_kernel_idle(self, timeout_ms: int = 60_000) -> None:
        self.page.wait_for_function(
            """() => {
                const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                const kernel = panel && panel.sessionContext && panel.sessionContext.session
                    && panel.sessionContext.session.kernel;
                return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
            }""",
            timeout=timeout_ms,
        )

    def run_all_cells(self) -> None:
        self.page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def append_and_run(self, source: str) -> None:
        """Add a code cell at the end of the open notebook and run it, as a user typing would."""
        self.page.evaluate(
            """code => {
                const panel = window.jupyterapp.shell.currentWidget;
                const model = panel.content.model;
                model.sharedModel.insertCell(model.cells.length, {cell_type: 'code', source: code});
                panel.content.activeCellIndex = model.cells.length - 1;
                return window.jupyterapp.commands.execute('notebook:run-cell');
            }""",
            source,
        )

    def errors(self) -> list[str]:
        """Tracebacks and stderr shown in the notebook (a failing test prints them)."""
        return self.page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).all_inner_texts()


@pytest.fixture
def lab(page, lab_server) -> LabPage:
    return LabPage(page, lab_server)
