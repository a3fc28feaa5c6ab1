"""Run every benchmark and print one table: figure, median, target, pass/miss (issue 8).

Run by hand: ``.venv/bin/python bench/run.py [--runs 5] [--only push,watch]``. Each figure
is a median over several runs; comparisons are measured side by side in the same run,
because the machine is shared and noisy (the load average is printed with the table).
A figure that misses its target is a MISS, and its note says what limits it.
The table and every figure (JSON) are also written to ``bench/results/`` (git-ignored).
Exit code: 0 when every figure with a target passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import bench_bundle
import bench_editor
import bench_form
import bench_kernel
import bench_plane
import bench_pollers
import bench_push
import bench_qcheck_figure
import bench_qcheck_scale
import bench_qcheck_threaded
import bench_release
import bench_startup
import bench_watch
from common import Figure

BENCHMARKS = {
    "startup": bench_startup,  # 1. %load_ext cost
    "push": bench_push,  # 2. push latency, unchanged re-push
    "watch": bench_watch,  # 3. detection delay, API calls (real updates up to 60 s: minutes)
    "watch-replay": SimpleNamespace(run=bench_watch.run_replayed),  # 3b. only the replayed 5-15 min rows
    "bundle": bench_bundle,  # 4. bundling vs zip -r -X
    "pollers": bench_pollers,  # 5. 50 concurrent pollers
    "kernel": bench_kernel,  # 6. kernel responsiveness during a background watch
    "qcheck": bench_qcheck_figure,  # 7. the q checker on 5 MB
    "qcheck_threaded": bench_qcheck_threaded,  # 7b. the same inside a process with threads (a kernel)
    "plane": bench_plane,  # 8. the local plane flat at any age: S3 versions, RSS per push
    "qcheck_scale": bench_qcheck_scale,  # 9. the checker cold in a fresh process, warm on 100,000 files, a 50 MB string
    "release": bench_release,  # 10. a five-target release vs five sequential updates
    "form": bench_form,  # 11. the form on 20,000 files, %kx_clusters on 500 clusters
    "editor": bench_editor,  # 12. the q editor's completion names on 20,000 files
}
RESULTS = Path(__file__).resolve().parent / "results"


def _format(value: float) -> str:
    if value != value:  # NaN: not measured
        return "n/a"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def table(figures: list[Figure]) -> str:
    width = max(len(f.name) for f in figures)
    lines = [f"{'figure':<{width}}  {'median':>10}  {'unit':<5}  {'target':<20}  result", "-" * (width + 48)]
    for f in figures:
        lines.append(f"{f.name:<{width}}  {_format(f.value):>10}  {f.unit:<5}  {f.target:<20}  {f.verdict}")
    notes = [f"  {f.name.strip()}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + ["", "notes:"] + notes)


def environment() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC, {os.cpu_count()} cores, load average {load}, "
        f"Python {platform.python_version()}, reference loop {reference_loop_ms():.0f} ms"
    )


def reference_loop_ms() -> float:
    """A fixed pure-Python loop (10 million additions), best of three: a shared or virtual machine's
    speed drifts (the same check's CPU time rose 35% within an hour here), so figures from two runs
    compare only beside this."""
    best = math.inf
    for _ in range(3):
        start, total = time.perf_counter(), 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per figure; the median is reported (default 5)"
    )
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    ns = parser.parse_args()
    chosen = [n.strip() for n in ns.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    started_env = environment()
    figures: list[Figure] = []
    timings = {}
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            figures += BENCHMARKS[name].run(ns.runs)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            figures.append(
                Figure(f"{name} (failed to run)", float("nan"), "", "", False, f"{type(exc).__name__}: {exc}")
            )
        timings[name] = time.perf_counter() - start
    text = (
        f"kx-jupyter benchmarks — started {started_env}; ended {environment()}\n"
        f"time per benchmark: {', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}\n\n{table(figures)}\n"
    )
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.txt").write_text(text)
    (RESULTS / f"{stamp}.json").write_text(
        json.dumps(
            {
                "started": started_env,
                "runs": ns.runs,
                "seconds": timings,
                "figures": [f.to_dict() for f in figures],
            },
            indent=2,
            default=str,
        )
    )
    print(f"written to {RESULTS / stamp}.txt and .json", file=sys.stderr)
    return 0 if all(f.passed is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
