"""How long the offline q checker takes on a ~5 MB q code base (target: under 2 s).

Generates the code base in memory (realistic scripts: multi-line functions, tables, strings
with slashes, comments, iterators, system commands, loads), checks it as a bundle several
times and prints the median wall time (the target) and CPU time.
Run: ``.venv/bin/python bench/bench_qcheck.py [--mb 5] [--runs 5]``; exit 1 on a miss.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from kx_jupyter.qcheck import check_bundle

CLEAN = Path(__file__).resolve().parent.parent / "tests" / "qcheck_corpus" / "clean"
TARGET_SECONDS = 2.0

MODULE = r"""/ generated module {n}: analytics for book {n}
/
Block comment describing module {n}; text here is ignored ( [ {{
\
\d .m{n}
cfg:`name`limit`path!(`book{n};{n}000;"/opt/kx/app/shared/m{n}/")
trades:([] time:`timespan$(); sym:`symbol$(); price:`float$(); size:`long$())
vwap:{{[t] select vwap:size wavg price by sym from t}}
bars:{{[t;w]
  select o:first price, h:max price, l:min price, c:last price, v:sum size
    by sym, bucket:w xbar time
    from t
  }}
stats:{{[x]
  m:avg x; s:dev x;          / mean and deviation
  z:(x-m)%s;
  r:$[s>0;
      z;
      0f*x];
  (m;s;r)
  }}
path:{{[f] "/" sv (cfg`path;f)}}
roll:{{[n;x] (n-1)_ (sums x) - (n#0),sums x}}
pairs:{{x,/:y}}
left:{{x,\:y}}
over:{{(+/) x}}
scan:{{0 {{x+y}}\ x}}
prior:{{-':[x]}}
msg:"module {n}: loaded \\ ok \"quoted\" / not a comment";
lookup:{{[d;k] $[k in key d;d k;0N]}}
upd{n}:{{[t;x] t insert x; count value t}}
\d .
"""


def code_base(megabytes: float) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    clean = {p.name: p.read_bytes() for p in sorted(CLEAN.glob("*.q"))}
    init = ["/ generated init script"]
    size, n = 0, 0
    while size < megabytes * 1_000_000:
        name = f"lib/m{n}.q"
        body = MODULE.format(n=n).encode()
        # every fifth module also carries a copy of a real-world script
        if n % 5 == 0:
            real = list(clean.values())[n // 5 % len(clean)]
            body += real.replace(b"\\d .", b"/ d").replace(b"\\l ", b"/ l ").replace(b"\\cd ", b"/ cd ")
        files[name] = body
        init.append(f"\\l {name}")
        size += len(body)
        n += 1
    files["init.q"] = ("\n".join(init) + "\n").encode()
    return files


def _cpu() -> float:
    """CPU seconds of this process and of the children a large check forks (qcheck/parallel.py)."""
    return sum(os.times()[:4])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0, help="size of the generated code base in MB")
    parser.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported")
    ns = parser.parse_args()
    files = code_base(ns.mb)
    total = sum(len(v) for v in files.values())
    lines = sum(v.count(b"\n") for v in files.values())
    times, cpu, diags = [], [], []
    for _ in range(ns.runs):
        start, start_cpu = time.perf_counter(), _cpu()
        diags = check_bundle(files, "init.q", {"schema": "sym", "logdir": "x", "timer": "1"})
        times.append(time.perf_counter() - start)
        cpu.append(_cpu() - start_cpu)
    median = statistics.median(times)
    errors = sum(d.severity == "error" for d in diags)
    print(
        f"code base: {len(files)} files, {total / 1e6:.2f} MB, {lines} lines; {len(diags)} diagnostics ({errors} errors)"
    )
    print(f"{'figure':<40} {'value':>10} {'target':>10}  result")
    print(
        f"{'check_bundle, median of ' + str(ns.runs) + ' runs (s)':<40} {median:>10.3f} {'< ' + str(TARGET_SECONDS):>10}  "
        f"{'pass' if median < TARGET_SECONDS else 'MISS'}"
    )
    print(f"{'CPU time of the same runs, median (s)':<40} {statistics.median(cpu):>10.3f}")
    print(f"{'throughput (MB/s, wall)':<40} {total / 1e6 / median:>10.2f}")
    print("(wall time includes waiting for a core: on a busy machine compare the CPU time)")
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
