"""Figure 7b: the q checker on 5 MB inside a process with a second thread (a kernel, the plane).

There forking is unsafe, so a large check is shared with fresh worker processes
(``qcheck/parallel.py``, ``qcheck/worker.py``). Side by side in this process, with one extra thread
running: the check on one core (workers off) and as the idle-core rule decides; wall and CPU time
(this process and its waited-for workers), median of the runs, the lexed-file memo cleared before
each run as in a new check.
Run alone: ``.venv/bin/python bench/bench_qcheck_threaded.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

from bench_qcheck import code_base
from common import Figure

from kx_jupyter.qcheck import check_bundle, forget_lexed_files, parallel

ARGS = {"schema": "sym", "logdir": "x", "timer": "1"}


def _timed(files: dict, runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        forget_lexed_files()
        start, start_cpu = time.perf_counter(), sum(os.times()[:4])
        check_bundle(files, "init.q", ARGS)
        walls.append(time.perf_counter() - start)
        cpus.append(sum(os.times()[:4]) - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def run(runs: int) -> list[Figure]:
    files = code_base(5)
    size = sum(len(data) for data in files.values())
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)  # the kernel's other threads
    other.start()
    real = parallel.fresh_workers
    try:
        count = real(size)  # decided before the runs load the machine
        parallel.fresh_workers = lambda size: 1
        serial, serial_cpu = _timed(files, max(3, runs))
        parallel.fresh_workers = real
        spawned, spawned_cpu = _timed(files, max(3, runs))
    finally:
        parallel.fresh_workers = real
        stop.set()
    load = os.getloadavg()[0]
    return [
        Figure(
            "q checker on 5 MB with a 2nd thread, one core",
            serial * 1000,
            "ms",
            note=f"CPU {serial_cpu * 1000:.0f} ms; forking off (a thread is running), workers off",
        ),
        Figure(
            "q checker on 5 MB with a 2nd thread, workers",
            spawned * 1000,
            "ms",
            "< one core" if count > 1 else "",
            spawned < serial if count > 1 else None,
            f"CPU {spawned_cpu * 1000:.0f} ms; {count - 1} fresh worker(s) by the idle-core rule at load {load:.1f}",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each; the median is reported")
    for figure in run(parser.parse_args().runs):
        print(f"{figure.name:<48} {figure.value:>8.0f} ms  {figure.verdict:<5} {figure.note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
