"""How pytest-xdist shares the tests out (pyproject: ``-n auto``).

Most of a test's time is waiting for planes, nodes and kernels, not computing (the suite's CPU
time is about a third of its test time), so ``-n auto`` runs three processes per CPU core, at
most eight (each holds planes, kernels and their memory).

Each test is a unit of its own, so no long file finishes last on one process. Tests that must
share a process stay together: a notebook's cells (one kernel), the browser tests (one
JupyterLab and one Chromium), and the tests of a file that defines a fixture wider than a test
(built once per process). Those groups and the tests marked ``slow`` are handed out first; the
quick tests fill in around them.
"""

import functools
import os
import re
from pathlib import Path

import pytest

WORKERS_PER_CORE = 3
MAX_WORKERS = 8
SHARED_FIXTURE = re.compile(r"""scope\s*=\s*["'](?:module|package|class|session)["']""")


def pytest_xdist_auto_num_workers(config):
    return min(MAX_WORKERS, WORKERS_PER_CORE * (os.cpu_count() or 1))


@functools.cache
def _defines_a_shared_fixture(path: str) -> bool:
    """Read from the file: the scheduler sees test ids only (xdist's ``xdist_group`` marks do not reach
    it under pytest 9, which no longer reads the ``_nodeid`` they rename)."""
    try:
        return bool(SHARED_FIXTURE.search((Path(__file__).parent / path).read_text(encoding="utf-8")))
    except OSError:
        return False


def _unit(nodeid: str) -> str:
    """The unit of work ``nodeid`` belongs to: its file for the groups above, else itself."""
    path = nodeid.split("::", 1)[0]
    if path.startswith("tests/browser/"):
        return "tests/browser/"
    if path.endswith(".ipynb") or (path.endswith(".py") and _defines_a_shared_fixture(path)):
        return path
    return nodeid


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):  # groups first (the most tests first), then collection order
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    return ByUnit(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """On an xdist worker: the groups and the slow tests first (the order the scheduler hands out)."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda i: _unit(i.nodeid) == i.nodeid and i.get_closest_marker("slow") is None)
