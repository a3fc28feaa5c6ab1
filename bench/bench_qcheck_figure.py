"""Figure 7: the q checker on a 5 MB code base, by running ``bench_qcheck.py`` (its owner's bench).

Its table line ``check_bundle, median of N runs (s)`` is read back; the target is its own
``TARGET_SECONDS`` (under 2 s).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from common import Figure

SCRIPT = Path(__file__).resolve().parent / "bench_qcheck.py"
MEDIAN_LINE = re.compile(r"check_bundle, median of (\d+) runs \(s\)\s+([\d.]+)\s+<\s*([\d.]+)")
CPU_LINE = re.compile(r"CPU time of the same runs, median \(s\)\s+([\d.]+)")


def run(runs: int) -> list[Figure]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--mb", "5", "--runs", str(max(3, runs))],
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = MEDIAN_LINE.search(done.stdout)
    if not found:
        return [
            Figure(
                "q checker on 5 MB",
                float("nan"),
                "s",
                "< 2",
                False,
                f"bench_qcheck.py printed no median (exit {done.returncode}): {done.stderr[-300:]}",
            )
        ]
    n, value, target = int(found.group(1)), float(found.group(2)), float(found.group(3))
    cpu = CPU_LINE.search(done.stdout)
    summary = done.stdout.splitlines()[0] if done.stdout else ""
    return [
        Figure(
            "q checker on a 5 MB code base",
            value * 1000,
            "ms",
            f"< {target * 1000:g}",
            value < target,
            f"bench_qcheck.py, median of {n}; CPU {float(cpu.group(1)) * 1000:.0f} ms; {summary}"
            if cpu
            else f"bench_qcheck.py, median of {n}; {summary}",
        )
    ]
