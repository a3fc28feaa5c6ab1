"""How pytest-xdist shares the tests out (pyproject runs a process per CPU core).

One file is one unit, run in order by one process: a notebook's cells share a kernel, and a
module-scoped fixture is built once. The browser tests are one unit: they share a JupyterLab
and a Chromium, which several processes would start several times on a small machine.
"""


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/browser/" if path.startswith("tests/browser/") else path

    return ByFile(config, log)
