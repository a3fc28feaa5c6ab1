"""Figure 4: bundling a 200 MB, 2,000-file tree against Info-ZIP's ``zip -r -X`` at level 6.

The engine's bundle (collect, deterministic zip in memory, SHA-256: ``deploy.bundle.build``)
and ``zip -r -X -6`` run on the same tree, alternately, from the page cache (just written); the figure
is the ratio of their median times (target <= 1.0). Determinism: two builds, and a build
after every file's mtime and one file's mode changed, must have the same SHA-256.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import Figure, median

FILES, TOTAL_BYTES = 2000, 200_000_000
LEVEL = 6  # deploy.bundle.build_zip uses compresslevel=6


def _pool(size: int) -> bytes:
    """Tick-data-like text (reference data shipped next to q code): compresses about 3:1."""
    rng = random.Random(7)
    syms = [f"S{n:04d}" for n in range(500)]
    lines, total = [], 0
    while total < size:
        line = f"{rng.choice(syms)},{rng.uniform(1, 500):.4f},{rng.randrange(1, 10_000)},{rng.random() < 0.5:d}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def make_tree(root: Path) -> Path:
    per_file = TOTAL_BYTES // FILES
    pool = _pool(4 * per_file + 1)
    for n in range(FILES):
        start = (n * 7919) % (len(pool) - per_file)
        path = root / f"d{n % 40:02d}" / f"f{n:04d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"/ file {n}\n".encode() + pool[start:start + per_file])
    (root / "init.q").write_text("x:1\n")
    return root


def _zip(tree: Path, out: Path) -> float:
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(["zip", "-r", "-X", f"-{LEVEL}", "-q", str(out), "."], cwd=tree, check=True)
    return time.perf_counter() - start


def _build(tree: Path):
    from kx_jupyter.deploy.bundle import build

    start = time.perf_counter()
    bundle = build(tree, max_mb=256)
    return time.perf_counter() - start, bundle


def run(runs: int) -> list[Figure]:
    if shutil.which("zip") is None:
        return [Figure("bundle vs zip -r -X (ratio)", float("nan"), "x", "<= 1.0", False,
                       "Info-ZIP's zip is not installed (apt-get install zip)")]
    rounds = max(3, runs // 2 + 1)
    with tempfile.TemporaryDirectory(prefix="kx-bench-bundle-") as tmp:
        tree, out = make_tree(Path(tmp) / "tree"), Path(tmp) / "zip-out.zip"
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        ours, theirs, hashes, sizes = [], [], set(), {}
        for i in range(rounds):
            order = [_build, _zip] if i % 2 == 0 else [_zip, _build]
            for step in order:
                if step is _zip:
                    theirs.append(_zip(tree, out))
                    sizes["zip"] = out.stat().st_size
                else:
                    took, bundle = _build(tree)
                    ours.append(took)
                    hashes.add(bundle.sha256)
                    sizes["ours"] = bundle.size
                    del bundle
        for path in tree.rglob("*.csv"):
            os.utime(path, (1_000_000_000, 1_000_000_000))
        os.chmod(tree / "init.q", 0o600)
        hashes.add(_build(tree)[1].sha256)
    ratio = median(ours) / median(theirs)
    deterministic = len(hashes) == 1
    mb = size / 1e6
    return [
        Figure("bundle vs zip -r -X, same tree (ratio)", ratio, "x", "<= 1.0, same sha256",
               ratio <= 1.0 and deterministic,
               f"{FILES} files, {mb:.0f} MB, level {LEVEL}; ours {median(ours):.2f} s ({mb / median(ours):.0f} MB/s), "
               f"zip {median(theirs):.2f} s ({mb / median(theirs):.0f} MB/s); "
               f"{'deterministic' if deterministic else 'NOT deterministic'} over {rounds + 1} builds; "
               f"zip sizes ours {sizes['ours'] / 1e6:.0f} MB, Info-ZIP {sizes['zip'] / 1e6:.0f} MB"),
    ]
