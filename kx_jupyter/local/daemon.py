"""Start, find, stop and reset the local plane; the only part of ``local`` the engine uses.

A detached plane is a child process in its own session writing to ``plane.log`` in the
state dir; ``plane.json`` says which pid serves which port. A plane counts as running only
if that pid answers the health route, so a stale file after a crash is harmless.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import KxError
from .credentials import load_or_create

REGION = "us-east-1"
STATE_FILE = "plane.json"
LOG_FILE = "plane.log"
READY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class PlaneInfo:
    """Where a running plane is and how to sign for it."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    pid: int
    state_dir: Path

    def __repr__(self) -> str:
        return f"PlaneInfo(endpoint={self.endpoint!r}, region={self.region!r}, pid={self.pid}, state_dir={str(self.state_dir)!r})"


def state_dir_of(settings) -> Path:
    return settings.home_path / "plane"


def _state(state_dir) -> dict:
    try:
        return json.loads((Path(state_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def node_runtime(state_dir) -> str:
    """What the running plane's nodes run, for status lines: ``q (<path>)`` or the checker."""
    state = _state(state_dir)
    if not state:
        return "unknown"
    q_binary = state.get("q_binary")
    return f"q ({q_binary})" if q_binary else "the offline q checker (no q binary found)"


def node_start_seconds(state_dir) -> float:
    """How long the running plane takes to start a node (0 if unknown): what a first push can expect."""
    return float(_state(state_dir).get("node_start_seconds") or 0.0)


def write_state_file(state_dir: Path, pid: int, port: int, q_binary: str | None, node_start_seconds: float) -> None:
    path = Path(state_dir) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid, "port": port, "q_binary": q_binary, "node_start_seconds": node_start_seconds}))
    tmp.replace(path)


def remove_state_file(state_dir: Path, pid: int) -> None:
    path = Path(state_dir) / STATE_FILE
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def _healthy(port: int, pid: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_kxlocal/health", timeout=2) as resp:
            return json.loads(resp.read()).get("pid") == pid
    except (OSError, ValueError):
        return False


def status(state_dir) -> PlaneInfo | None:
    """The running plane of ``state_dir``, or ``None``."""
    state_dir = Path(state_dir).expanduser()
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not _healthy(state["port"], state["pid"]):
        return None
    creds = load_or_create(state_dir)
    return PlaneInfo(f"http://127.0.0.1:{state['port']}", REGION, creds["access_key"], creds["secret_key"], state["pid"], state_dir)


@contextmanager
def _start_lock(state_dir: Path):
    with open(state_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _server_argv(state_dir: Path, port: int, node_start_seconds: float, q_binary: str, faults: dict | None) -> list[str]:
    argv = [sys.executable, "-m", "kx_jupyter.local.server", "--state-dir", str(state_dir), "--port", str(port),
            "--node-start-seconds", str(node_start_seconds)]
    if q_binary:
        argv += ["--q-binary", q_binary]
    if faults:
        argv += ["--faults", json.dumps(faults)]
    return argv


def start(state_dir, port: int = 4580, foreground: bool = False, node_start_seconds: float = 2.0,
          q_binary: str = "", faults: dict | None = None, on_ready=None) -> PlaneInfo:
    """Start a plane for ``state_dir`` unless one runs; idempotent. ``foreground`` blocks until it stops."""
    state_dir = Path(state_dir).expanduser()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # code, logs and credentials: owner only
    with _start_lock(state_dir):
        running = status(state_dir)
        if running is not None:
            return running
        if foreground:
            return serve(state_dir, port, node_start_seconds, q_binary, faults, on_ready)
        log = open(state_dir / LOG_FILE, "ab")
        proc = subprocess.Popen(
            _server_argv(state_dir, port, node_start_seconds, q_binary, faults),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            info = status(state_dir)
            if info is not None and info.pid == proc.pid:
                return info
            if proc.poll() is not None:
                raise KxError(
                    f"the local plane exited while starting (code {proc.returncode}): {_log_tail(state_dir)}",
                    hint=f"see {state_dir / LOG_FILE}; if the port is taken use `kx-jupyter local start --port 0`",
                )
            time.sleep(0.1)
        proc.kill()
        raise KxError(f"the local plane did not become ready within {READY_TIMEOUT_SECONDS:.0f} s", hint=f"see {state_dir / LOG_FILE}")


def serve(state_dir: Path, port: int, node_start_seconds: float = 2.0, q_binary: str = "",
          faults: dict | None = None, on_ready=None) -> PlaneInfo:
    """Run a plane in this process until SIGTERM or Ctrl-C (the detached child runs this too)."""
    import threading

    from .server import Plane

    try:
        plane = Plane(state_dir, port, node_start_seconds, q_binary, faults)
    except OSError as exc:
        raise KxError(f"cannot start the local plane on port {port}: {exc}", hint="use --port 0 for a free port") from None
    write_state_file(state_dir, os.getpid(), plane.port, plane.q_binary, node_start_seconds)
    creds = plane.credentials
    info = PlaneInfo(plane.endpoint, REGION, creds["access_key"], creds["secret_key"], os.getpid(), Path(state_dir))
    # shutdown() waits for the serving loop, so it must run outside the signal handler's thread
    previous = signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=plane.shutdown, daemon=True).start())
    if on_ready:
        on_ready(info, plane)
    try:
        plane.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        remove_state_file(state_dir, os.getpid())
    return info


def _log_tail(state_dir: Path, lines: int = 5) -> str:
    try:
        return " | ".join((state_dir / LOG_FILE).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(state_dir) -> bool:
    """Stop the plane of ``state_dir``; ``True`` if one was running."""
    state_dir = Path(state_dir).expanduser()
    info = status(state_dir)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive(info.pid):
        time.sleep(0.1)
    if _alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    remove_state_file(state_dir, info.pid)
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
    """Stop the plane and delete all its state: the next start seeds afresh."""
    state_dir = Path(state_dir).expanduser()
    stop(state_dir)
    if state_dir.exists():
        shutil.rmtree(state_dir)


def ensure_running(settings) -> PlaneInfo:
    """The plane for these settings, started detached if needed and ``local_autostart`` allows it."""
    state_dir = state_dir_of(settings)
    info = status(state_dir)
    if info is not None:
        return info
    if not settings.local_autostart:
        raise KxError(
            f"the local control plane is not running (state dir {state_dir})",
            hint="start it with `kx-jupyter local start`, or set KxJupyter.local_autostart = True",
        )
    return start(state_dir, settings.local_port, node_start_seconds=settings.node_start_seconds, q_binary=settings.q_binary)
