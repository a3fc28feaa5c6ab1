"""Figure 1: what ``%load_ext kx_jupyter`` adds to an IPython start (target: under 50 ms), and
what the server extension adds to a ``jupyter server`` start (target: under 100 ms).

Two fresh IPython processes per round, side by side in random order: one bare, one that
loads the extension. The figure is the median of the per-round differences of their wall
times, so machine noise that hits both in a round cancels out. The in-process time of the
magic itself is reported alongside, as a cross-check.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time

from common import Figure, median

TARGET_MS = 50.0

BARE = "pass"
LOADED = "get_ipython().run_line_magic('load_ext', 'kx_jupyter')"
IN_PROCESS = (
    "import time; ip = get_ipython(); t = time.perf_counter(); ip.run_line_magic('load_ext', 'kx_jupyter'); "
    "print('LOAD_EXT', time.perf_counter() - t)"
)


def _ipython(code: str, env: dict) -> tuple[float, str]:
    argv = [
        sys.executable,
        "-m",
        "IPython",
        "--quick",
        "--no-banner",
        "--HistoryManager.enabled=False",
        "--colors=NoColor",
        "-c",
        code,
    ]
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"IPython failed: {done.stderr[-500:]}")
    return elapsed, done.stdout


def run(runs: int) -> list[Figure]:
    rounds = max(15, runs * 4)  # process starts are noisy: more rounds than the other figures
    with tempfile.TemporaryDirectory(prefix="kx-bench-ipy-") as tmp:
        env = dict(os.environ, IPYTHONDIR=tmp, KX_JUPYTER_HOME=tmp, KX_JUPYTER_LOCAL_AUTOSTART="false")
        _ipython(LOADED, env)  # warm the OS file cache and byte-code for both
        diffs, bare, loaded, inside = [], [], [], []
        for _ in range(rounds):
            pair = [("bare", BARE), ("loaded", LOADED)]
            random.shuffle(pair)
            times = {kind: _ipython(code, env)[0] for kind, code in pair}
            bare.append(times["bare"])
            loaded.append(times["loaded"])
            diffs.append(times["loaded"] - times["bare"])
        for _ in range(max(3, runs)):
            out = _ipython(IN_PROCESS, env)[1]
            inside.append(
                float(next(line.split()[1] for line in out.splitlines() if line.startswith("LOAD_EXT")))
            )
    cost = median(diffs) * 1000
    return [
        Figure(
            "load_ext cost over bare IPython start",
            cost,
            "ms",
            f"< {TARGET_MS:g}",
            cost < TARGET_MS,
            f"{rounds} paired process starts; bare {median(bare) * 1000:.0f} ms, "
            f"with load_ext {median(loaded) * 1000:.0f} ms",
        ),
        Figure(
            "  %load_ext itself, in process",
            median(inside) * 1000,
            "ms",
            note="cross-check of the figure above",
        ),
        *server_figures(runs),
    ]


SERVER_TARGET_MS = 100.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter_server(tmp: str, with_extension: bool) -> float:
    """Seconds from launching ``jupyter server`` until /api/status answers; the server is stopped after."""
    import secrets
    import signal
    import urllib.request
    from pathlib import Path

    port, token = _free_port(), secrets.token_hex(8)
    home = tempfile.mkdtemp(dir=tmp)  # a fresh home: with the extension, a plane starts for it
    env = dict(
        os.environ,
        KX_JUPYTER_HOME=home,
        KX_JUPYTER_LOCAL_PORT="0",
        JUPYTER_RUNTIME_DIR=os.path.join(home, "rt"),
    )
    argv = [
        str(Path(sys.executable).with_name("jupyter")),
        "server",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={home}",
    ]
    if not with_extension:
        argv.append("--ServerApp.jpserver_extensions={'kx_jupyter': False}")
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
                )
                with urllib.request.urlopen(req, timeout=5):
                    return time.perf_counter() - start
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("jupyter server exited while starting") from None
                time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def server_figures(runs: int) -> list[Figure]:
    """What the server extension adds to `jupyter server`'s start-up (target: under 100 ms)."""
    rounds = max(6, runs * 2)
    with tempfile.TemporaryDirectory(prefix="kx-bench-server-") as tmp:
        _jupyter_server(tmp, True)  # warm the file cache and byte-code
        diffs, bare, loaded = [], [], []
        for _ in range(rounds):
            pair = [False, True]
            random.shuffle(pair)
            times = {enabled: _jupyter_server(tmp, enabled) for enabled in pair}
            bare.append(times[False])
            loaded.append(times[True])
            diffs.append(times[True] - times[False])
        inside = [_initialize_settings(tmp) for _ in range(max(3, runs))]
    cost = median(diffs) * 1000
    return [
        Figure(
            "jupyter server start-up, added by the extension",
            cost,
            "ms",
            f"< {SERVER_TARGET_MS:g}",
            cost < SERVER_TARGET_MS,
            f"{rounds} paired starts until /api/status answers, fresh home each (the plane starts in the "
            f"background); without {median(bare) * 1000:.0f} ms, with {median(loaded) * 1000:.0f} ms",
        ),
        Figure(
            "  the extension's initialize_settings, in process",
            median(inside) * 1000,
            "ms",
            note="cross-check of the figure above: what the server waits for, a fresh home each",
        ),
    ]


INITIALIZE = (
    "import time\nfrom kx_jupyter.serverext import KxJupyterServer\napp = KxJupyterServer()\n"
    "t = time.perf_counter(); app.initialize_settings(); took = time.perf_counter() - t\n"
    "app._stop_started_plane(); print('INIT', took)"
)


def _initialize_settings(tmp: str) -> float:
    home = tempfile.mkdtemp(dir=tmp)
    env = dict(os.environ, KX_JUPYTER_HOME=home, KX_JUPYTER_LOCAL_PORT="0")
    done = subprocess.run(
        [sys.executable, "-c", INITIALIZE], env=env, capture_output=True, text=True, timeout=180, check=True
    )
    return float(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("INIT")))
