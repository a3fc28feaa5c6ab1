"""The q checker at scale: a cold check in a fresh process, a warm check of 100,000 files, a 50 MB string.

Figures (each run in a fresh Python process, so imports and the cache's first open count):
- cold: a realistic 5 MB code base (``bench_qcheck.code_base``) checked as a bundle with an empty
  on-disk cache, cache fill included; target >= 5 MB/s. Its CPU time includes the forked processes
  that share a large check out when the machine has idle cores (``qcheck/parallel.py``).
- warm: 100,000 tiny files checked again through the cache the cold pass filled; target < 3 s.
- a 50 MB single-line string literal: time and peak memory over the text itself (the lexer must
  stay linear and small; it took 23.7 s and 8.4 GB).
Run: ``.venv/bin/python bench/bench_qcheck_scale.py [--runs 3]``; exit 1 on a miss.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import Figure

HERE = Path(__file__).resolve().parent
COLD_TARGET_MBS = 5.0
WARM_TARGET_S = 3.0
TINY_FILES = 100_000

_COLD = """
import os, sys, time
cpu = lambda: sum(os.times()[:4])  # with the forked children that share a large check out (qcheck/parallel.py)
start, cpu0 = time.perf_counter(), cpu()
sys.path.insert(0, {here!r})
from pathlib import Path
from kx_jupyter.qcheck import check_bundle
from kx_jupyter.qcheck.cache import ReportCache
from bench_qcheck import code_base
imported, cpu1 = time.perf_counter(), cpu()
files = code_base(5.0)
made, cpu2 = time.perf_counter(), cpu()
check_bundle(files, "init.q", {{"schema": "sym", "logdir": "x", "timer": "1"}}, ReportCache(Path(sys.argv[1]), 64 * 2**20))
end, cpu3 = time.perf_counter(), cpu()
# the making of the files is not counted
print(sum(map(len, files.values())), (imported - start) + (end - made), (cpu1 - cpu0) + (cpu3 - cpu2))
"""

_TINY = """
import sys, time
start, cpu0 = time.perf_counter(), time.process_time()
from pathlib import Path
from kx_jupyter.qcheck import check_bundle
from kx_jupyter.qcheck.cache import ReportCache
imported, cpu1 = time.perf_counter(), time.process_time()
files = {{f"lib/m{{n // 1000}}/f{{n}}.q": f"f{{n}}:{{{{x+{{n}}}}}}\\n".encode() for n in range({count})}}
files["init.q"] = b"x:1\\n"
made, cpu2 = time.perf_counter(), time.process_time()
diags = check_bundle(files, "init.q", {{}}, ReportCache(Path(sys.argv[1]), 64 * 2**20))
end, cpu3 = time.perf_counter(), time.process_time()
print(len(diags), (imported - start) + (end - made), (cpu1 - cpu0) + (cpu3 - cpu2))
"""

_STRING = """
import resource, time
from kx_jupyter.qcheck import check_source
text = 's:"' + ("abc/def " * 6_250_000) + '"\\n'
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
diags = check_source(text, "big.q")
took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(text), took, (peak - base) * 1024, len(diags))
"""


def _python(code: str, *args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise RuntimeError(done.stderr[-400:])
    return done.stdout.split()


def cold(runs: int) -> tuple[float, float]:
    """MB/s of a fresh process checking 5 MB into an empty cache (imports and cache fill included)."""
    speeds, cpu = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            size, seconds, cpu_seconds = _python(_COLD.format(here=str(HERE)), cache)
            speeds.append(int(size) / 1e6 / float(seconds))
            cpu.append(int(size) / 1e6 / float(cpu_seconds))
    return statistics.median(speeds), statistics.median(cpu), int(size) / 1e6


def warm(runs: int) -> tuple[float, float]:
    """Seconds (wall, CPU) of a fresh process re-checking 100,000 tiny files through a filled cache."""
    with tempfile.TemporaryDirectory() as cache:
        _python(_TINY.format(count=TINY_FILES), cache)  # fills it
        measured = [_python(_TINY.format(count=TINY_FILES), cache) for _ in range(runs)]
        return statistics.median(float(m[1]) for m in measured), statistics.median(
            float(m[2]) for m in measured
        )


def long_string() -> tuple[float, float]:
    size, seconds, extra, _ = _python(_STRING)
    return float(seconds), int(extra) / int(size)


def run(runs: int) -> list[Figure]:
    runs = max(1, min(runs, 3))
    speed, cpu_speed, megabytes = cold(runs)
    warm_s, warm_cpu = warm(runs)
    took, ratio = long_string()
    return [
        Figure(
            "q checker cold, fresh process, cache fill",
            speed,
            "MB/s",
            f">= {COLD_TARGET_MBS:g}",
            speed >= COLD_TARGET_MBS,
            f"bench_qcheck_scale.py: {megabytes:.1f} MB realistic code base, median of {runs}, imports included; "
            f"{cpu_speed:.2f} MB/s of CPU time (wall time includes waiting for a core)",
        ),
        Figure(
            "q checker warm, 100,000 tiny files",
            warm_s,
            "s",
            f"< {WARM_TARGET_S:g}",
            warm_s < WARM_TARGET_S,
            f"bench_qcheck_scale.py: every report from the SQLite cache, median of {runs}; CPU {warm_cpu:.2f} s",
        ),
        Figure(
            "q checker, 50 MB one-line string",
            took,
            "s",
            "",
            None,
            f"bench_qcheck_scale.py: peak memory {ratio:.1f}x the text (was 23.7 s and 8.4 GB)",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    figures = run(parser.parse_args().runs)
    for f in figures:
        print(f"{f.name:<45} {f.value:>8.2f} {f.unit:<5} {f.target:<8} {f.verdict}  {f.note}")
    print(json.dumps([f.to_dict() for f in figures]))
    return 0 if all(f.passed is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
