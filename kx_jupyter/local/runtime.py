"""What runs on a local node: a real q process when a q binary exists, else the offline checker.

Either runtime starts from its own unpacked copy of the code bundle (``extract_bundle`` streams
it from the zip file to the node's directory; nothing of it is kept in memory) and reports through
``poll()``: ``("starting", "")``, ``("ready", "")`` or ``("failed", why)``. Output worth keeping
is returned by ``drain_log()`` so the reconciler can write it to the node's CloudWatch stream.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

from ..zipread import unpack

QHOME_ARCH_DIRS = ("l64", "l64arm", "m64", "l32")


def find_q(configured: str = "") -> str | None:
    """The q executable to use: the configured one, ``$QHOME/<arch>/q``, or ``q`` on PATH."""
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            from ..errors import KxError

            raise KxError(
                f"q_binary {configured} is not an executable file",
                hint="fix KxJupyter.q_binary, or set it to '' to use QHOME, PATH or the offline checker",
            )
        return configured
    qhome = os.environ.get("QHOME")
    if qhome:
        for arch in QHOME_ARCH_DIRS:
            candidate = Path(qhome) / arch / "q"
            if os.access(candidate, os.X_OK):
                return str(candidate)
    return shutil.which("q")


def extract_bundle(zip_path: Path | None, root: Path) -> list[str]:
    """Unpack a code bundle into ``root`` (replacing what was there), streaming each entry to disk;
    the zip-relative paths written. Entries that could escape the root are skipped."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return [] if zip_path is None else unpack(zip_path, root)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CheckerRuntime:
    """Without q, a node 'starts' by running the offline q checker over its bundle."""

    kind = "checker"
    port = None
    pid = None

    def __init__(self, code_dir: Path, names: list[str], init: str | None, args: dict[str, str]):
        self._log = ["no q binary found: this node runs the kx-jupyter offline q checker instead of q"]
        self._result: tuple[str, str] | None = None
        threading.Thread(target=self._check, args=(code_dir, names, init, args), daemon=True).start()

    def _check(self, code_dir, names, init, args) -> None:
        from ..qcheck import check_dir, forget_lexed_files  # reads only the q scripts, from the unpacked code

        try:
            if init is None:
                self._log.append("no initialization script: the node starts empty")
                self._result = ("ready", "")
                return
            if init not in names:
                self._fail(f"initialization script {init} is not in the code bundle")
                return
            diags = check_dir(code_dir, init, args, files=names)
            errors = [d for d in diags if d.severity == "error"]
            self._log.extend(str(d) for d in diags)
            if errors:
                self._fail(f"{errors[0].path} line {errors[0].line} {errors[0].rule} {errors[0].message}")
            else:
                self._log.append(f"{init} and the files it loads passed the checker")
                self._result = ("ready", "")
        except Exception as exc:  # a checker bug must fail the node, not the plane
            self._fail(f"the q checker failed: {exc}")
        finally:
            forget_lexed_files()  # a plane checks each bundle once; keeping 256 lexed files grew it by hundreds of MB

    def _fail(self, why: str) -> None:
        self._log.append(f"node start failed: {why}")
        self._result = ("failed", why)

    def poll(self) -> tuple[str, str]:
        return self._result or ("starting", "")

    def drain_log(self) -> list[str]:
        out, self._log = self._log, []
        return out

    def stop(self) -> None:
        pass


class QProcessRuntime:
    """A real q process: ``q <init> -p <port> -key value ...`` in the node's own code directory."""

    kind = "q"

    def __init__(
        self, q_binary: str, code_dir: Path, names: list[str], init: str | None, args: dict[str, str]
    ):
        self.port = free_port()
        self._log_path = code_dir.parent / "q.log"
        self._log_offset = 0
        self._log: list[str] = []
        self._failed = ""
        self.proc = None
        self.pid = None
        if init is not None and init not in names:
            self._failed = f"initialization script {init} is not in the code bundle"
            self._log.append(f"node start failed: {self._failed}")
            return
        argv = [q_binary, *([init] if init else []), "-p", f"127.0.0.1:{self.port}"]  # loopback only
        for key, value in args.items():
            argv += [f"-{key}", value]
        self._log.append("starting: " + " ".join(argv[1:]))
        with open(self._log_path, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=code_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def poll(self) -> tuple[str, str]:
        if self._failed:
            return ("failed", self._failed)
        code = self.proc.poll()
        if code is not None:
            self._failed = f"q exited with code {code}"
            self._log.append(f"node start failed: {self._failed}")
            return ("failed", self._failed)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return ("ready", "")
        except OSError:
            return ("starting", "")

    def drain_log(self) -> list[str]:
        out, self._log = self._log, []
        try:
            with open(self._log_path, "rb") as f:
                f.seek(self._log_offset)
                data = f.read()
            self._log_offset += len(data)
            out.extend(data.decode("utf-8", "replace").splitlines())
        except OSError:
            pass
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_runtime(
    q_binary: str | None, code_dir: Path, names: list[str], init: str | None, args: dict[str, str]
):
    """A node's runtime over its unpacked code in ``code_dir`` (``names``: the bundle's files)."""
    if q_binary:
        return QProcessRuntime(q_binary, code_dir, names, init, args)
    return CheckerRuntime(code_dir, names, init, args)
