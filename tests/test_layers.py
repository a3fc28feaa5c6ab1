"""The rules of the house (docs/ARCHITECTURE.md), checked on the imports the code really has.

Every ``import`` and ``from ... import`` of the package, at module level or inside a function,
is read with ``ast``; each rule below is a sentence of the document, and a change that breaks
one fails here with the module and the import that broke it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kx_jupyter"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> every kx_jupyter module or name it imports (``kx_jupyter.deploy.engine.Engine``...)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                source = ".".join(base + ([node.module] if node.module else []))
                targets.add(source)
                targets.update(f"{source}.{alias.name}" for alias in node.names)
        found[module] = {t for t in targets if t == "kx_jupyter" or t.startswith("kx_jupyter.")}
    return found


IMPORTS = _imports()


def _area(module: str) -> str:
    """``kx_jupyter.deploy.engine`` -> ``deploy``; top-level modules are their own area."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _breaks(importers, imported) -> list[str]:
    """``importer -> target`` for every import from a module ``importers`` accepts of one ``imported`` accepts."""
    return sorted(
        f"{module} -> {target}"
        for module, targets in IMPORTS.items()
        if importers(module)
        for target in targets
        if imported(target)
    )


def _in(*areas):
    return lambda module: _area(module) in areas


def test_the_import_reader_sees_the_package():
    assert "kx_jupyter.deploy.engine" in IMPORTS and "kx_jupyter.ui.magics" in IMPORTS
    assert "kx_jupyter.deploy.Engine" in IMPORTS["kx_jupyter.ui.magics"]  # an import inside a method
    assert "kx_jupyter.config.KxJupyter" in IMPORTS["kx_jupyter.deploy.engine"]  # a relative import


INTERFACES = ("ui", "cli", "server", "serverext")


@pytest.mark.parametrize("part", ["deploy", "qcheck", "finspace", "local", "release", "config", "options"])
def test_the_engine_and_its_parts_import_no_interface(part):
    """`deploy/`, `qcheck/`, `finspace/`, `local/` and `release/` import nothing from `ui/`, `cli/`,
    `server/` or `serverext`."""
    assert _breaks(_in(part), _in(*INTERFACES)) == []


def test_interfaces_reach_a_backend_only_through_the_engine():
    """`ui/`, `cli/` and `server/` never make a client (`finspace.clients`) or import `local/`; the
    exceptions are the two whose job is the plane itself: `cli/local_cmd.py` (`kx-jupyter local`)
    and `serverext.py` (the plane's life with the Jupyter server)."""
    plane_managers = {"kx_jupyter.cli.local_cmd", "kx_jupyter.serverext"}
    backend = lambda target: _area(target) == "local" or target.startswith("kx_jupyter.finspace.clients")  # noqa: E731
    assert _breaks(lambda m: _area(m) in INTERFACES and m not in plane_managers, backend) == []


def test_interfaces_use_only_the_offline_parts_besides_the_engine():
    """Besides `deploy/`, an interface may use what runs offline and needs no backend: the checker
    (`qcheck`), the request rules (`finspace.rules`), the model's files (`finspace.model`)."""
    allowed = ("kx_jupyter.finspace.rules", "kx_jupyter.finspace.model")
    assert _breaks(_in(*INTERFACES), lambda t: _area(t) == "finspace" and not t.startswith(allowed)) == []


def test_the_engine_uses_the_plane_only_for_its_node_start_time():
    """The engine reaches FinSpace, S3 and Logs only through `finspace.clients.Clients`; from
    `local/` it reads only the plane's node start time (`local.daemon.node_start_seconds` of
    `state_dir_of(settings)`), a hint for the poll policy, and whether the plane runs
    (`local.daemon.status`: settling history never starts it); the plane is found through
    `kx_jupyter.BACKENDS` like any backend."""
    allowed = {
        "kx_jupyter.local.daemon",
        "kx_jupyter.local.daemon.node_start_seconds",
        "kx_jupyter.local.daemon.state_dir_of",
        "kx_jupyter.local.daemon.status",
    }
    assert _breaks(_in("deploy"), lambda t: _area(t) == "local" and t not in allowed) == []


def test_finspace_never_imports_the_plane_and_the_checker_only_the_rules():
    """`finspace/` never imports `local/` (it finds a backend's Connection maker through
    `kx_jupyter.BACKENDS`); `qcheck/` imports nothing of the package but `finspace.rules`."""
    assert _breaks(_in("finspace"), _in("local", "deploy", "qcheck")) == []
    assert (
        _breaks(
            _in("qcheck"),
            lambda t: _area(t) not in ("qcheck", "") and not t.startswith("kx_jupyter.finspace.rules"),
        )
        == []
    )


def test_inside_the_plane_the_daemon_starts_the_server_never_the_reverse():
    assert (
        _breaks(
            lambda m: m.startswith("kx_jupyter.local.") and m != "kx_jupyter.local.daemon",
            lambda t: t.startswith("kx_jupyter.local.daemon"),
        )
        == []
    )
    assert _breaks(_in("local"), _in("deploy", "release")) == []


def _environment_reads(path: Path) -> list[str]:
    """``os.environ[...]`` / ``.get(...)`` / ``os.getenv(...)`` calls naming a ``KX_JUPYTER_`` variable,
    and any use of ``config.ENV_PREFIX``, as ``file:line``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        text = ast.unparse(node) if isinstance(node, (ast.Subscript, ast.Call)) else ""
        if ("environ" in text or "getenv" in text) and ("KX_JUPYTER_" in text or "ENV_PREFIX" in text):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def test_only_config_reads_the_settings_environment_and_only_the_server_extension_writes_it():
    """Only `config.py` reads `KX_JUPYTER_*`. The server extension writes `KX_JUPYTER_HOME` and
    `KX_JUPYTER_LOCAL_PORT` into its own environment: the kernels it launches inherit them and so
    find its plane (an assignment, not a read)."""
    uses = sorted({hit.rsplit(":", 1)[0] for p in PACKAGE.rglob("*.py") for hit in _environment_reads(p)})
    assert uses == ["kx_jupyter/config.py", "kx_jupyter/serverext.py"]
    server = ast.parse((PACKAGE / "serverext.py").read_text())
    assigned = {n.targets[0].lineno for n in ast.walk(server) if isinstance(n, ast.Assign)}
    lines = {int(hit.rsplit(":", 1)[1]) for hit in _environment_reads(PACKAGE / "serverext.py")}
    assert len(lines) == 2 and lines <= assigned  # both are writes


def test_loading_the_extension_and_the_command_imports_no_heavy_library():
    """boto3, botocore, moto and ipywidgets are imported on first use, not by `%load_ext kx_jupyter`
    or the command's start-up (a fresh interpreter, so nothing another test imported counts)."""
    import subprocess
    import sys

    probe = (
        "import sys, kx_jupyter, kx_jupyter.ui.magics, kx_jupyter.ui.release_magic\n"
        "from kx_jupyter.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'moto', 'ipywidgets') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
