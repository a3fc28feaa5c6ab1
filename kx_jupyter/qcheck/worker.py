"""A fresh process that takes a share of a large check (``python -m kx_jupyter.qcheck.worker QUEUE``).

Started by ``parallel.analyze_files`` where forking is unsafe (a kernel, the plane: a process with
other threads) or unavailable (macOS). It reads the claims ``[[(name, data, opt_vars)]]`` as marshal data on
stdin, takes claim numbers from the queue (QUEUE: an inherited pipe's read end) as the parent
does, analyzes each file exactly as the parent would, and writes
``[(name, FileReport.marshaled())]`` as marshal data on stdout. Anything else it might do is the
parent's: a worker that fails writes nothing usable and the parent analyzes what it had.
"""

from __future__ import annotations

import gc
import marshal
import sys

from .parallel import claimed
from .source import analyze


def main() -> None:
    gc.disable()  # as in the parent's check: millions of small acyclic tuples
    claims = marshal.loads(sys.stdin.buffer.read())
    reports = [
        (name, analyze(data.decode("utf-8", "surrogateescape"), name, opt_vars).marshaled())
        for name, data, opt_vars in claimed(int(sys.argv[1]), claims)
    ]
    sys.stdout.buffer.write(marshal.dumps(reports))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
