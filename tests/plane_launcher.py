"""Start the tests' local planes in ~0.1 s: fork each from a process that has already imported the plane.

``daemon.start`` runs a new Python that imports moto, werkzeug and botocore before it serves
(about 0.5 s of CPU, 1-4 s on a loaded machine), and the suite starts well over a hundred
planes. The launcher process imports all of that once and forks one child per plane. The
child is what ``daemon.start`` makes: its own session, output to ``plane.log``, its pid and
port in ``plane.json``, SIGTERM to stop; so ``daemon.status``, ``daemon.stop``, SIGKILL and a
restart treat it as any plane. Each test still gets a fresh plane in a process of its own.

``launch(...)`` starts one; ``stop(info)`` asks one to stop without waiting (``close()``, at the
end of the session, waits for them and ends the launcher).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
SERVER_MODULE = "kx_jupyter.local.server"

_lock = threading.Lock()
_launcher: subprocess.Popen | None = None
_stopping: list[int] = []


def _process() -> subprocess.Popen:
    global _launcher
    if _launcher is None or _launcher.poll() is not None:
        _launcher = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    return _launcher


def launch(
    state_dir: Path,
    port: int = 0,
    node_start_seconds: float = 2.0,
    q_binary: str = "",
    faults: dict | None = None,
):
    """A ready plane for ``state_dir`` (``daemon.start``'s arguments), forked by the launcher."""
    from kx_jupyter.errors import KxError
    from kx_jupyter.local import daemon

    state_dir = Path(state_dir)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = daemon._server_argv(state_dir, port, node_start_seconds, q_binary, faults)
    request = {
        "argv": argv[argv.index(SERVER_MODULE) + 1 :],
        "log": str(state_dir / daemon.LOG_FILE),
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
    }  # a spawned plane would inherit both
    with _lock:
        proc = _process()
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        reply = proc.stdout.readline()
    if not reply:
        raise KxError("the test plane launcher exited", hint="run one test with -s to see why")
    pid = json.loads(reply)["pid"]
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        info = daemon.status(state_dir)
        if info is not None and info.pid == pid:
            return info
        if not _alive(pid):
            raise KxError(f"the local plane exited while starting: {daemon._log_tail(state_dir)}")
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    raise KxError(f"the local plane did not become ready within {READY_TIMEOUT_SECONDS:.0f} s")


def stop(info) -> None:
    """Ask a plane to stop (SIGTERM, as ``daemon.stop``) and move on; ``close()`` waits for it."""
    try:
        os.kill(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    _stopping.append(info.pid)


def close() -> None:
    """Wait for the planes asked to stop (SIGKILL after 15 s), then end the launcher."""
    global _launcher
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for pid in _stopping:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    _stopping.clear()
    if _launcher is not None:
        _launcher.stdin.close()
        _launcher.wait(timeout=STOP_TIMEOUT_SECONDS)
        _launcher = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # reaped by the launcher soon; until then a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


# -- the launcher process ------------------------------------------------------------------------
def _preload() -> None:
    """Import what a plane imports, without creating any of its state (each child makes its own)."""
    import moto.logs.models  # noqa: F401
    import moto.moto_server.werkzeug_app  # noqa: F401
    import moto.s3.models  # noqa: F401
    import werkzeug.serving  # noqa: F401

    import kx_jupyter.local.server  # noqa: F401
    from kx_jupyter.local import api, awsbackends, reconciler, runtime, seed, store  # noqa: F401


def _child(request: dict) -> None:
    """Become the plane of ``request``: what ``daemon.start``'s detached child is. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # nodes are waited for
        os.setsid()
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.environ.clear()
        os.environ.update(request["environ"])
        os.chdir(request["cwd"])
        from kx_jupyter.local.server import main

        code = main(request["argv"])
    except BaseException:  # noqa: BLE001  (the plane log says why; the parent sees the exit)
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve() -> None:
    _preload()
    if threading.active_count() != 1:  # forking a threaded process is unsafe: say so, never guess
        raise SystemExit("plane launcher: importing the plane started threads; cannot fork safely")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the planes that end
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
