"""A large workspace's files analyzed on every core: other processes share the work.

Analyzing a file (lexing it, its rules, its symbol facts) depends on nothing but its text, its path
and the .Q.opt dictionaries: files can be analyzed anywhere and in any order with the same result.
Pure Python runs one thread at a time, so the other cores are reached by other processes: each
analyzes a share and sends its reports back in the cache's record form (``FileReport.marshaled``,
which the cache then stores as it is), while this process analyzes its own share. Two ways:

- forked copies of this process (``os.fork``: nothing to start or send) from ``PARALLEL_FROM`` bytes
  of files to analyze, on Linux in a process running one thread (the CLI, a CI job): forking a
  process with other threads (a kernel, the plane, a Jupyter server) could copy a lock one holds;
- else fresh worker processes (``python -m kx_jupyter.qcheck.worker``, given the files on stdin) from
  ``SPAWN_FROM`` bytes: they start in ~0.1 s, so they need a larger check to pay.

Either way only with more than one usable core that the rest of the machine leaves idle (on a busy
machine another process would only take a core from someone else). A process that fails sends
nothing usable; its files are then analyzed here, as without it.
"""

from __future__ import annotations

import marshal
import os
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import suppress

from .source import FileReport

PARALLEL_FROM = 1_000_000  # bytes of files still to analyze
# fresh workers start in ~0.1 s (Python, imports): measured on 2 idle cores in a process with a second
# thread, one worker breaks even at ~0.4-0.5 MB and saves 17-32% at 1 MB (0.29 -> 0.20-0.24 s), 40%
# at 5 MB (1.41 -> 0.84 s); from 1 MB, as forks, so the ~0.1 s of CPU it costs buys a clear gain
SPAWN_FROM = 1_000_000
MAX_CLAIMS = 4096  # claims queued in one pipe (4 bytes each: 16 KiB, well within a pipe's buffer)
_CLAIM = 4
_WORKER = ("-m", "kx_jupyter.qcheck.worker")  # its arguments to the Python interpreter (tests change them)
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def workers(size: int) -> int:
    """How many processes (this one included) should share ``size`` bytes of analysis by forking: one
    per core the rest of the machine leaves idle, and one per half ``PARALLEL_FROM``."""
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return 1
    return _share(size, PARALLEL_FROM)


def fresh_workers(size: int) -> int:
    """How many processes (this one included) should share ``size`` bytes where forking is unsafe or
    unavailable: the same rule from ``SPAWN_FROM`` bytes, on POSIX systems (a worker inherits the
    claim queue as a file descriptor)."""
    if os.name != "posix":
        return 1
    return _share(size, SPAWN_FROM)


def _share(size: int, start: int) -> int:
    if size < start:
        return 1
    cores = _cores()
    idle = int(cores - _busy())
    return max(1, min(cores, 1 + idle, size // (start // 2)))


def _cores() -> int:
    """The cores this process may use: its affinity, bounded by a container's CPU quota (cgroup v2
    ``cpu.max``, e.g. ``200000 100000`` for 2 cores), which affinity does not show."""
    if not hasattr(os, "sched_getaffinity"):  # macOS, Windows
        return os.cpu_count() or 1
    cores = len(os.sched_getaffinity(0))
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            return min(cores, quota_cores(f.read()) or cores)
    except OSError:
        return cores


def quota_cores(cpu_max: str) -> int | None:
    """Whole cores a cgroup ``cpu.max`` line allows (at least 1), or None without a quota."""
    fields = cpu_max.split()
    if len(fields) != 2 or not fields[0].isdigit() or not fields[1].isdigit() or not int(fields[1]):
        return None
    return max(1, int(fields[0]) // int(fields[1]))


def _busy() -> float:
    """Tasks running or waiting for a core right now besides this one (/proc/loadavg's fourth field: the
    load average lags a minute, and counts the work that ran just before this process)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return int(f.read().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0  # Windows has neither


def analyze_files(items: list, analyze: Callable[[str, bytes, dict | None], FileReport]) -> dict:
    """``analyze(name, data, opt_vars)`` of every (name, data, opt_vars) item, shared with other
    processes when it pays (a fresh worker analyzes as ``source.analyze`` of the decoded text would).

    Returns reports by name; a name is missing only if the process that had it failed."""
    size = sum(len(item[1]) for item in items)
    count, fresh = workers(size), False
    if count < 2:
        count, fresh = fresh_workers(size), True
    if count < 2:
        return {}
    # the files, largest first, in claims that every process takes from one pipe as it goes: all end
    # within a claim of each other (fixed shares left one waiting ~5% of the time for the other)
    items = sorted(items, key=lambda item: -len(item[1]))
    per = -(-len(items) // MAX_CLAIMS)
    claims = [items[k : k + per] for k in range(0, len(items), per)]
    queue, fill = os.pipe()
    others: list = []  # the processes started so far: ended whenever this is interrupted (Ctrl-C)
    try:
        try:
            os.write(fill, b"".join(k.to_bytes(_CLAIM, "little") for k in range(len(claims))))
            for _ in range(count - 1):
                other = _spawn(queue, claims) if fresh else _fork(queue, fill, claims, analyze)
                if other:
                    others.append(other)
        finally:
            os.close(fill)  # with the children's copies closed too, an empty queue reads as its end
        reports = {name: analyze(name, data, opt_vars) for name, data, opt_vars in claimed(queue, claims)}
        while others:
            body, ok = _collect(others[-1])
            others.pop()
            try:
                for name, record in marshal.loads(body) if ok and body else []:
                    reports[name] = FileReport.from_marshaled(name, record)
            except (EOFError, ValueError, TypeError):
                continue  # the caller analyzes what is missing
    finally:
        os.close(queue)
        for other in others:  # interrupted: end them, not wait for their work
            _end(other)
    return reports


def claimed(queue: int, claims: list):
    """The items of each claim this process takes from ``queue`` (a read of one claim's number is
    atomic, so no two processes take the same), until it is empty."""
    while True:
        number = os.read(queue, _CLAIM)
        if len(number) < _CLAIM:
            return
        yield from claims[int.from_bytes(number, "little")]


def _collect(other) -> tuple[bytes, bool]:
    """What a forked child ((pid, pipe)) or a worker (a Popen) sent, and whether it ended well."""
    if isinstance(other, tuple):
        pid, pipe = other
        with os.fdopen(pipe, "rb") as received:
            body = received.read()
        return body, os.waitpid(pid, 0)[1] == 0
    body = other.stdout.read()
    other.stdout.close()
    return body, other.wait() == 0


def _end(other) -> None:
    """End a child or worker at once: neither holds anything to clean up (it analyzes and writes)."""
    if isinstance(other, tuple):
        pid, pipe = other
        with suppress(OSError):
            os.close(pipe)
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return
    other.kill()  # SIGKILL
    other.stdout.close()
    other.wait()


def _spawn(queue: int, claims: list):
    """A fresh worker taking claims from ``queue``, or None if none could start. It reads every claim's
    items on stdin from a file of its own (a pipe would need a thread to feed it while this one
    analyzes, and that thread would get the lock that runs Python only between this one's slices),
    and runs in the directory holding this package, not the caller's (``-m`` puts the working
    directory first on its path: a notebook folder's ``random.py`` would shadow the standard one)."""
    import subprocess
    import tempfile

    if not sys.executable:  # an embedding interpreter that cannot name its executable
        return None
    try:
        with tempfile.TemporaryFile() as items:
            items.write(marshal.dumps(claims))
            items.seek(0)
            return subprocess.Popen(
                [sys.executable, *_WORKER, str(queue)],
                stdin=items,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(queue,),
                cwd=_PACKAGE_ROOT,
            )
    except (OSError, ValueError, subprocess.SubprocessError):
        return None  # this process analyzes what the worker would have


def _fork(queue: int, fill: int, claims: list, analyze) -> tuple | None:
    """A child analyzing the claims it takes: (pid, read end of its pipe), or None if none could start."""
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid:
        os.close(write)
        return pid, read
    try:  # the child: never returns into the caller's code
        os.close(read)
        os.close(fill)
        body = marshal.dumps(
            [
                (name, analyze(name, data, opt_vars).marshaled())
                for name, data, opt_vars in claimed(queue, claims)
            ]
        )
        with os.fdopen(write, "wb") as out:
            out.write(body)
        code = 0
    except BaseException:
        code = 1
    os._exit(code)
