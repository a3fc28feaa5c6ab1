"""Start, find, stop and reset the local plane; the only part of ``local`` the engine uses.

A detached plane is a child process in its own session writing to ``plane.log`` in the
state dir; ``plane.json`` says which pid serves which port, and the plane holds ``plane.lock``
while it lives (see ``statefiles``). A plane counts as running if that pid answers the health
route; one that holds the lock but does not answer (stopped, swapping) is "running but not
answering", and nothing starts a second plane on its state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from ..errors import KxError
from .credentials import load_or_create
from .statefiles import LOG_FILE, PlaneInfo, is_marked, lock_holder, read_state, remove_state

REGION = "us-east-1"
READY_TIMEOUT_SECONDS = 60.0
STOP_SECONDS = 15.0
EXIT_SECONDS = 1.0


def state_dir_of(settings) -> Path:
    return settings.home_path / "plane"


def node_runtime(state_dir) -> str:
    """What the running plane's nodes run, for status lines: ``q (<path>)`` or the checker."""
    state = read_state(state_dir)
    if not state:
        return "unknown"
    q_binary = state.get("q_binary")
    return f"q ({q_binary})" if q_binary else "the offline q checker (no q binary found)"


def node_start_seconds(state_dir) -> float:
    """How long the running plane takes to start a node (0 if unknown): what a first push can expect."""
    return float(read_state(state_dir).get("node_start_seconds") or 0.0)


def _healthy(port: int, pid: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_kxlocal/health", timeout=2) as resp:
            return json.loads(resp.read()).get("pid") == pid
    except (OSError, ValueError):
        return False


def endpoint_of(state_dir) -> str | None:
    """Where the plane of ``state_dir`` says it listens (no health check): clients follow a restart with it."""
    port = read_state(Path(state_dir).expanduser()).get("port")
    return f"http://127.0.0.1:{port}" if port else None


def status(state_dir) -> PlaneInfo | None:
    """The running (answering) plane of ``state_dir``, or ``None``."""
    state_dir = Path(state_dir).expanduser()
    state = read_state(state_dir)
    if not state or not _healthy(state.get("port", 0), state.get("pid")):
        return None
    creds = load_or_create(state_dir)
    return PlaneInfo(
        f"http://127.0.0.1:{state['port']}",
        REGION,
        creds["access_key"],
        creds["secret_key"],
        state["pid"],
        state_dir,
    )


def unresponsive_pid(state_dir) -> int | None:
    """The pid of a plane that serves ``state_dir`` (holds its lock, wrote its state file) but does
    not answer, else ``None``. A plane still starting is not one (its state file comes once it
    serves); one just killed holds its lock until its exit completes, so the lock must stay held
    for ``EXIT_SECONDS`` to count."""
    state_dir = Path(state_dir).expanduser()
    deadline = time.monotonic() + EXIT_SECONDS
    while True:
        pid = lock_holder(state_dir)
        if pid is None or pid != read_state(state_dir).get("pid"):
            return None
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return None if status(state_dir) is not None else pid


def _not_answering(state_dir: Path, pid: int) -> KxError:
    return KxError(
        f"the local plane (pid {pid}) of {state_dir} is running but not answering",
        hint="wait and retry (it may be busy or swapping), or stop it with `kx-jupyter local stop`",
    )


@contextmanager
def _start_lock(state_dir: Path):
    """Serialises starts on one state dir (the plane's own ``plane.lock`` is held while it serves)."""
    import fcntl

    with open(state_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _server_argv(
    state_dir: Path, port: int, node_start_seconds: float, q_binary: str, faults: dict | None
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "kx_jupyter.local.server",
        "--state-dir",
        str(state_dir),
        "--port",
        str(port),
        "--node-start-seconds",
        str(node_start_seconds),
    ]
    if q_binary:
        argv += ["--q-binary", q_binary]
    if faults:
        argv += ["--faults", json.dumps(faults)]
    return argv


def start(
    state_dir,
    port: int = 4580,
    foreground: bool = False,
    node_start_seconds: float = 2.0,
    q_binary: str = "",
    faults: dict | None = None,
    on_ready=None,
) -> PlaneInfo:
    """Start a plane for ``state_dir`` unless one runs; idempotent. ``foreground`` blocks until it stops."""
    return _start(state_dir, port, foreground, node_start_seconds, q_binary, faults, on_ready)[0]


def _start(
    state_dir, port, foreground, node_start_seconds, q_binary, faults, on_ready
) -> tuple[PlaneInfo, bool]:
    """``start``, and whether this call started the plane (another process may have, meanwhile)."""
    from .server import preflight, serve

    state_dir = Path(state_dir).expanduser()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # code, logs and credentials: owner only
    with _start_lock(state_dir):
        running = status(state_dir)
        if running is not None:
            return running, False
        pid = unresponsive_pid(state_dir)
        if pid is not None:
            raise _not_answering(state_dir, pid)
        preflight(state_dir)  # a corrupt state or credentials file is said here, in one line
        if foreground:
            return serve(state_dir, port, node_start_seconds, q_binary, faults, on_ready), True
        fd = os.open(state_dir / LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as log:
            proc = subprocess.Popen(
                _server_argv(state_dir, port, node_start_seconds, q_binary, faults),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")},
            )  # a thread per request: glibc's default of 8 arenas per core holds freed memory in each
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            info = status(state_dir)
            if info is not None and info.pid == proc.pid:
                return info, True
            if proc.poll() is not None:
                raise KxError(
                    f"the local plane exited while starting (code {proc.returncode}): {_log_tail(state_dir)}",
                    hint=f"see {state_dir / LOG_FILE}; if the port is taken use `kx-jupyter local start --port 0`",
                )
            time.sleep(0.1)
        proc.kill()
        raise KxError(
            f"the local plane did not become ready within {READY_TIMEOUT_SECONDS:.0f} s",
            hint=f"see {state_dir / LOG_FILE}",
        )


def _log_tail(state_dir: Path, lines: int = 5) -> str:
    try:
        return " | ".join((state_dir / LOG_FILE).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(state_dir) -> bool:
    """Stop the plane of ``state_dir``, answering or not; ``True`` if one was running."""
    state_dir = Path(state_dir).expanduser()
    info = status(state_dir)
    pid = info.pid if info is not None else unresponsive_pid(state_dir)
    if not pid:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)  # a stopped (SIGSTOP) process is killed too
    remove_state(state_dir, pid)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def reset(state_dir) -> None:
    """Stop the plane and delete all its state: the next start seeds afresh. Only a directory a
    plane marked as its own is deleted."""
    state_dir = Path(state_dir).expanduser()
    if not state_dir.exists():
        return
    if not is_marked(state_dir):
        raise KxError(
            f"{state_dir} is not a local plane's state directory (it has no plane marker): nothing deleted",
            hint="pass the --state-dir of a plane (the default is <KX_JUPYTER_HOME>/plane)",
        )
    stop(state_dir)
    shutil.rmtree(state_dir)


def connection(settings):
    """The clients' ``Connection`` to the plane of these settings (started if need be); it follows the
    plane to another port if it is restarted (the state file says where it is now)."""
    import functools

    from ..finspace.clients import Connection

    plane = ensure_running(settings)
    return Connection(
        plane.endpoint,
        plane.endpoint,
        plane.region,
        plane.access_key,
        plane.secret_key,
        logs_endpoint_url=plane.endpoint,
        follow=functools.partial(endpoint_of, state_dir_of(settings)),
    )


def ensure_running(settings) -> PlaneInfo:
    """The plane for these settings, started detached if needed and ``local_autostart`` allows it
    (saying so in one line on stderr, so a first command's new background process is no surprise)."""
    state_dir = state_dir_of(settings)
    info = status(state_dir)
    if info is not None:
        return info
    pid = unresponsive_pid(state_dir)
    if pid is not None:
        raise _not_answering(state_dir, pid)
    if not settings.local_autostart:
        raise KxError(
            f"the local control plane is not running (state dir {state_dir})",
            hint="start it with `kx-jupyter local start`, or set KxJupyter.local_autostart = True",
        )
    info, started = _start(
        state_dir, settings.local_port, False, settings.node_start_seconds, settings.q_binary, None, None
    )
    if started:  # not when JupyterLab's server extension (or another command) started it meanwhile
        print(
            f"kx-jupyter: started the local plane in the background at {info.endpoint} (pid {info.pid}); "
            "`kx-jupyter local stop` stops it",
            file=sys.stderr,
            flush=True,
        )
    return info
