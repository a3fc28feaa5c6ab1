"""Figure 4: bundling against Info-ZIP's ``zip -r -X -6``, its memory, and refusing an oversized file.

CPU: the engine's bundle (select, scan for secrets, deterministic zip, SHA-256:
``deploy.bundle.build``) and ``zip -r -X -6`` run on the same tree, alternately, from the page
cache (just written); the figure is the ratio of their median CPU times (user + system; ours
from this process's rusage, zip's from its children's), target <= 1.0 for every shape:
2,000 mixed files of 200 MB, 20,000 tiny q files, one 500 MB file. Determinism: every build
of a shape, and one after every file's mtime and one file's mode changed, has the same SHA-256.
Memory: a fresh process bundles the 200 MB tree; the figure is its peak RSS (VmHWM) minus its
resident size after the imports (VmRSS; target < 64 MiB). Refusal: a fresh process bundles a workspace holding an 8 GiB
(sparse) file under a 256 MB limit; the figure is the time to the refusal, and the bytes the
process read meanwhile must stay below 64 KiB (the file is refused by its size, never read).
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from common import Figure, median

LEVEL = 6  # zipwrite.LEVEL
MIXED_FILES, MIXED_BYTES = 2000, 200_000_000
TINY_FILES = 20_000
LARGE_BYTES = 500_000_000
REFUSED_BYTES = 8 * 2**30


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


def make_mixed(root: Path) -> Path:
    per_file = MIXED_BYTES // MIXED_FILES
    pool = _pool(4 * per_file + 1)
    for n in range(MIXED_FILES):
        start = (n * 7919) % (len(pool) - per_file)
        path = root / f"d{n % 40:02d}" / f"f{n:04d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"/ file {n}\n".encode() + pool[start : start + per_file])
    (root / "init.q").write_text("x:1\n")
    return root


def make_tiny(root: Path) -> Path:
    """A large q code base: 20,000 small scripts (100-400 bytes) in 200 folders."""
    rng = random.Random(3)
    for n in range(TINY_FILES):
        path = root / f"m{n % 200:03d}" / f"f{n:05d}.q"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(f"g{k}:{{[x;y] x+y*{rng.randrange(1000)}}}\n" for k in range(rng.randrange(2, 12)))
        path.write_text(f"/ module {n}\n\\d .m{n}\n{body}\\d .\n")
    (root / "init.q").write_text("x:1\n")
    return root


def make_large(root: Path) -> Path:
    pool = _pool(4_000_000)
    root.mkdir(parents=True)
    with open(root / "ticks.csv", "wb") as f:
        written, n = 0, 0
        while written < LARGE_BYTES:
            piece = pool[(n * 7919) % 1_000_000 :][: LARGE_BYTES - written]
            f.write(piece)
            written += len(piece)
            n += 1
    (root / "init.q").write_text("x:1\n")
    return root


def _cpu(who) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _zip(tree: Path, out: Path) -> float:
    out.unlink(missing_ok=True)
    before = _cpu(resource.RUSAGE_CHILDREN)
    subprocess.run(["zip", "-r", "-X", f"-{LEVEL}", "-q", str(out), "."], cwd=tree, check=True)
    return _cpu(resource.RUSAGE_CHILDREN) - before


def _build(tree: Path):
    from kx_jupyter.deploy.bundle import build

    before = _cpu(resource.RUSAGE_SELF)
    bundle = build(tree, max_mb=1024)
    return _cpu(resource.RUSAGE_SELF) - before, bundle


def _compare(name: str, tree: Path, out: Path, rounds: int) -> Figure:
    files = sum(1 for p in tree.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    ours, theirs, hashes, sizes = [], [], set(), {}
    for i in range(rounds):
        for step in ("ours", "zip") if i % 2 == 0 else ("zip", "ours"):
            if step == "zip":
                theirs.append(_zip(tree, out))
                sizes["zip"] = out.stat().st_size
            else:
                took, bundle = _build(tree)
                ours.append(took)
                hashes.add(bundle.sha256)
                sizes["ours"] = bundle.size
                del bundle
    for path in tree.rglob("*"):
        if path.is_file():
            os.utime(path, (1_000_000_000, 1_000_000_000))
    os.chmod(tree / "init.q", 0o600)
    hashes.add(_build(tree)[1].sha256)
    ratio = median(ours) / median(theirs)
    deterministic = len(hashes) == 1
    mb = size / 1e6
    return Figure(
        f"bundle CPU vs zip -r -X -6, {name} (ratio)",
        ratio,
        "x",
        "<= 1.0, same sha256",
        ratio <= 1.0 and deterministic,
        f"{files} files, {mb:.0f} MB; ours {median(ours):.2f} s CPU, zip {median(theirs):.2f} s CPU; "
        f"{'deterministic' if deterministic else 'NOT deterministic'} over {rounds + 1} builds; "
        f"zip sizes ours {sizes['ours'] / 1e6:.1f} MB, Info-ZIP {sizes['zip'] / 1e6:.1f} MB",
    )


_CHILD = textwrap.dedent("""
    import json, sys, time
    from kx_jupyter.deploy.bundle import build
    from kx_jupyter.errors import KxError
    import pathspec  # imported by the first build: part of idle, not of bundling

    def rss(field):  # VmRSS: resident now; VmHWM: the peak so far
        with open("/proc/self/status") as f:
            return int(next(line.split()[1] for line in f if line.startswith(field + ":"))) * 1024

    def read_bytes():
        with open("/proc/self/io") as f:
            return int(dict(line.split(": ") for line in f.read().splitlines())["rchar"])

    idle, read_before, start = rss("VmRSS"), read_bytes(), time.perf_counter()
    try:
        bundle = build(sys.argv[1], max_mb=float(sys.argv[2]))
        outcome = f"{bundle.size} bytes"
    except KxError as exc:
        outcome = "refused: " + exc.message
    took, read = time.perf_counter() - start, read_bytes() - read_before
    print(json.dumps({"idle": idle, "peak": rss("VmHWM"), "seconds": took, "read": read, "outcome": outcome}))
""")


def _in_fresh_process(tree: Path, max_mb: float) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tree), str(max_mb)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def _memory(tree: Path, runs: int) -> Figure:
    got = [_in_fresh_process(tree, 256) for _ in range(max(1, runs // 2))]
    over = median([(g["peak"] - g["idle"]) / 2**20 for g in got])
    return Figure(
        "peak RSS bundling 200 MB, over idle",
        over,
        "MiB",
        "< 64",
        over < 64,
        f"a fresh process; {got[0]['idle'] / 2**20:.0f} MiB resident after the imports; "
        f"bundle of {got[0]['outcome']}",
    )


def _refusal(tmp: Path, runs: int) -> Figure:
    tree = tmp / "refused"
    tree.mkdir()
    (tree / "init.q").write_text("x:1\n")
    with open(tree / "huge.bin", "wb") as f:
        f.truncate(REFUSED_BYTES)
    got = [_in_fresh_process(tree, 256) for _ in range(max(3, runs))]
    seconds = median([g["seconds"] for g in got]) * 1000
    read = max(g["read"] for g in got)
    refused = all(g["outcome"].startswith("refused") and "huge.bin" in g["outcome"] for g in got)
    return Figure(
        "refuse an 8 GiB file over the limit",
        seconds,
        "ms",
        "< 100, reads < 64 KiB",
        seconds < 100 and read < 64 * 1024 and refused,
        f"read {read} bytes meanwhile; {'refused, naming huge.bin' if refused else 'NOT refused'}",
    )


def run(runs: int) -> list[Figure]:
    if shutil.which("zip") is None:
        return [
            Figure(
                "bundle CPU vs zip -r -X -6 (ratio)",
                float("nan"),
                "x",
                "<= 1.0",
                False,
                "Info-ZIP's zip is not installed (apt-get install zip)",
            )
        ]
    rounds = max(3, runs // 2 + 1)
    figures = []
    with tempfile.TemporaryDirectory(prefix="kx-bench-bundle-") as tmp:
        tmp = Path(tmp)
        out = tmp / "zip-out.zip"
        mixed = make_mixed(tmp / "mixed")
        figures.append(_compare(f"{MIXED_FILES:,} mixed files", mixed, out, rounds))
        figures.append(_memory(mixed, runs))
        shutil.rmtree(mixed)
        tiny = make_tiny(tmp / "tiny")
        figures.append(_compare(f"{TINY_FILES:,} tiny files", tiny, out, rounds))
        shutil.rmtree(tiny)
        large = make_large(tmp / "large")
        figures.append(_compare(f"one {LARGE_BYTES // 10**6} MB file", large, out, rounds))
        shutil.rmtree(large)
        figures.append(_refusal(tmp, runs))
    return figures


if __name__ == "__main__":
    for figure in run(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        print(figure)
