"""Every diagnostic and completion name the checker gives on a body of q code, one sorted line each.

A speed change to the checker must not change a single result: dump before, dump after, compare
the files byte for byte. It covers the test corpus (cases and clean scripts), the bench's
generated code bases, every directory given (each top-level directory is one repository: checked
as a directory without an initialization script, then once per ``.q`` file at its root as the
initialization script, with ``defined_names`` for each), every ``.q``/``.k`` file on its own, and
damaged copies of each (a few characters deleted or inserted at fixed pseudo-random places), so
the error paths are compared as well as clean code. A check through the on-disk cache (filled,
then read) must equal the check without it; a difference is dumped as a ``cache`` line.
Run: ``.venv/bin/python bench/qcheck_dump.py OUT [REPOSITORY_ROOTS...]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from bench_qcheck import code_base  # noqa: E402
from test_qcheck_corpus import CLEAN, CORPUS, _case, _parse, _text  # noqa: E402

from kx_jupyter.qcheck import check_bundle, check_dir, check_source, defined_names  # noqa: E402
from kx_jupyter.qcheck.cache import ReportCache  # noqa: E402

ARGS = {"schema": "sym", "logdir": "x", "timer": "1"}
DAMAGE = ['"', "{", "}", "[", "]", "(", ")", "/", "\\", "\n", " ", ";", ":", "`", "\n/\n", "\n\\\n"]


def _lines(label: str, diags) -> list[str]:
    return [f"{label}\t{d.path}:{d.line}:{d.col}\t{d.rule}\t{d.severity}\t{d.message}" for d in diags]


def _corpus() -> list[str]:
    out = []
    for path in sorted(CORPUS.glob("*.cases")):
        for name, lines in _parse(path):
            body, files, opts, _ = _case(lines)
            label = f"case {path.stem}: {name}"
            if files:
                args = dict(kv.split("=", 1) for kv in opts["args"].split()) if "args" in opts else None
                contents = {p: _text(ls, {}).encode() for p, ls in files.items()}
                out += _lines(label, check_bundle(contents, opts.get("init"), args))
                if opts.get("init"):
                    out += [f"{label}\tname {n}" for n in defined_names(contents, opts["init"])]
            else:
                out += _lines(label, check_source(_text(body, opts), "t.q"))
    for path in CLEAN:
        out += _lines(f"clean {path.name}", check_source(path.read_text(), path.name))
    return out


def _generated() -> list[str]:
    files = code_base(1.0)
    out = _lines("bench 1 MB", check_bundle(files, "init.q", ARGS))
    out += [f"bench 1 MB\tname {n}" for n in defined_names(files, "init.q")]
    tiny = {f"lib/m{n // 1000}/f{n}.q": f"f{n}:{{x+{n}}}\n".encode() for n in range(2000)}
    tiny["init.q"] = b"x:1\n"
    return out + _lines("bench tiny", check_bundle(tiny, "init.q", {}))


def _damaged(text: str, seed: str) -> list[str]:
    rnd = random.Random(seed)
    copies = []
    for _ in range(3):
        t = text
        for _ in range(rnd.randint(1, 4)):
            at = rnd.randrange(len(t) + 1)
            if rnd.random() < 0.4 and t:
                t = t[:at] + t[at + 1 :]
            else:
                t = t[:at] + rnd.choice(DAMAGE) + t[at:]
        copies.append(t)
    return copies


def _repository(root: Path) -> list[str]:
    out = []
    label = root.name
    out += _lines(f"{label} no init", check_dir(root, None, None))
    out += _lines(f"{label} no init, no args", check_dir(root, None, {}))
    for init in sorted(p.name for p in root.glob("*.q")):
        out += _lines(f"{label} init {init}", check_dir(root, init, ARGS))
        files = {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".q", ".k")
        }
        out += [f"{label} init {init}\tname {n}" for n in defined_names(files, init)]
    files = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".q", ".k"):
            rel = str(p.relative_to(root))
            data = p.read_bytes()
            files[rel] = data
            text = data.decode("utf-8", errors="surrogateescape")
            out += _lines(f"{label} file", check_source(text, rel))
            for n, copy in enumerate(_damaged(text, rel)):
                out += _lines(f"{label} damaged {n}", check_source(copy, rel))
    init = next(iter(sorted(p.name for p in root.glob("*.q"))), None)
    plain = check_bundle(files, init, ARGS)
    with tempfile.TemporaryDirectory() as store:
        for attempt in ("cold", "warm"):
            cached = check_bundle(files, init, ARGS, ReportCache(Path(store), 64 * 2**20))
            if cached != plain:
                out.append(f"{label}\tcache {attempt} differs")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("roots", type=Path, nargs="*", help="directories holding one repository each")
    ns = parser.parse_args()
    lines = _corpus() + _generated()
    for top in ns.roots:
        for repo in sorted(p for p in top.iterdir() if p.is_dir()):
            lines += _repository(repo)
    ns.out.write_text(
        "".join(line + "\n" for line in sorted(lines)), encoding="utf-8", errors="surrogateescape"
    )
    print(f"{len(lines)} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
