"""A large workspace's files analyzed on every core: forked copies of this process share the work.

Analyzing a file (lexing it, its rules, its symbol facts) depends on nothing but its text, its path
and the .Q.opt dictionaries: files can be analyzed anywhere and in any order with the same result.
Pure Python runs one thread at a time, so the other cores are reached by ``os.fork``: each child
analyzes a share and sends its reports back in the cache's record form (``FileReport.marshaled``,
which the cache then stores as it is), while this process analyzes its own share. Only where it pays and is safe:

- from ``PARALLEL_FROM`` bytes of files to analyze (below, starting a process costs more than it saves);
- on Linux, with more than one usable core that the rest of the machine leaves idle (on a busy
  machine another process would only take a core from someone else), and in a process running
  one thread (the CLI, a CI job): forking a process with other threads (a kernel, the plane)
  could copy a lock one of them holds.

A child that fails sends nothing; its files are then analyzed here, as without children.
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
MAX_CLAIMS = 4096  # claims queued in one pipe (4 bytes each: 16 KiB, well within a pipe's buffer)
_CLAIM = 4


def workers(size: int) -> int:
    """How many processes (this one included) should share ``size`` bytes of analysis: one per core the
    rest of the machine leaves idle, and one per half ``PARALLEL_FROM``."""
    if size < PARALLEL_FROM or not sys.platform.startswith("linux") or threading.active_count() != 1:
        return 1
    cores = _cores()
    idle = int(cores - _busy())
    return max(1, min(cores, 1 + idle, size // (PARALLEL_FROM // 2)))


def _cores() -> int:
    """The cores this process may use: its affinity, bounded by a container's CPU quota (cgroup v2
    ``cpu.max``, e.g. ``200000 100000`` for 2 cores), which affinity does not show."""
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
        return os.getloadavg()[0]


def analyze_files(items: list, analyze: Callable[[str, bytes], FileReport]) -> dict:
    """``analyze(name, data)`` of every (name, data) item, shared with forked children when it pays.

    Returns reports by name; a name is missing only if the child that had it failed."""
    count = workers(sum(len(data) for _, data in items))
    if count < 2:
        return {}
    # the files, largest first, in claims that every process takes from one pipe as it goes: all end
    # within a claim of each other (fixed shares left one waiting ~5% of the time for the other)
    items = sorted(items, key=lambda item: -len(item[1]))
    per = -(-len(items) // MAX_CLAIMS)
    claims = [items[k : k + per] for k in range(0, len(items), per)]
    queue, fill = os.pipe()
    try:
        os.write(fill, b"".join(k.to_bytes(_CLAIM, "little") for k in range(len(claims))))
        children = [
            child for child in (_fork(queue, fill, claims, analyze) for _ in range(count - 1)) if child
        ]
    finally:
        os.close(fill)  # with the children's copies closed too, an empty queue reads as its end
    try:
        reports = {name: analyze(name, data) for name, data in _claimed(queue, claims)}
        while children:
            pid, pipe = children[-1]
            with os.fdopen(pipe, "rb") as received:
                body = received.read()
            children.pop()
            _, status = os.waitpid(pid, 0)
            try:
                for name, record in marshal.loads(body) if status == 0 and body else []:
                    reports[name] = FileReport.from_marshaled(name, record)
            except (EOFError, ValueError, TypeError):
                continue  # the caller analyzes what is missing
    finally:
        os.close(queue)
        for pid, pipe in children:  # interrupted here (Ctrl-C): end the children, not wait for their work
            with suppress(OSError):
                os.close(pipe)
            with suppress(OSError):
                os.kill(
                    pid, signal.SIGKILL
                )  # a child holds nothing to clean up: it analyzes and writes its pipe
            os.waitpid(pid, 0)
    return reports


def _claimed(queue: int, claims: list):
    """The files of each claim this process takes from ``queue`` (a read of one claim's number is
    atomic, so no two processes take the same), until it is empty."""
    while True:
        number = os.read(queue, _CLAIM)
        if len(number) < _CLAIM:
            return
        yield from claims[int.from_bytes(number, "little")]


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
            [(name, analyze(name, data).marshaled()) for name, data in _claimed(queue, claims)]
        )
        with os.fdopen(write, "wb") as out:
            out.write(body)
        code = 0
    except BaseException:
        code = 1
    os._exit(code)
