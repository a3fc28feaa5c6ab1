"""The JupyterLab extension ships prebuilt: users get it with ``pip install`` and never need Node.

The built assets (kx_jupyter/labextension/) are committed; where Node and
``labextension/node_modules`` exist, a fresh build of the source must reproduce them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "kx_jupyter" / "labextension"
SOURCE = ROOT / "labextension"
LABEXT_DIR = "share/jupyter/labextensions/kx-jupyter"


def _entry(built: Path) -> str:
    return json.loads((built / "package.json").read_text())["jupyterlab"]["_build"]["load"]


def test_the_built_extension_is_in_the_package():
    meta = json.loads((BUILT / "package.json").read_text())
    assert meta["name"] == "kx-jupyter" and meta["jupyterlab"]["extension"] is True
    assert (BUILT / _entry(BUILT)).is_file(), (
        "package.json names a remoteEntry that is not there: run scripts/build_labextension"
    )
    assert json.loads((BUILT / "install.json").read_text())["packageName"] == "kx-jupyter"


def _normalised(built: Path) -> dict[str, bytes]:
    """Every built file; webpack names the remote entry's container module after the build's
    absolute path, so that one id (and the file name hashing it) is masked."""
    files = {}
    for path in sorted(p for p in built.rglob("*") if p.is_file()):
        data = path.read_bytes()
        name = path.relative_to(built).as_posix()
        if name.startswith("static/remoteEntry."):
            container = re.match(rb'var _JUPYTERLAB;\(\(\)=>\{"use strict";var e=\{(\d+)\(', data).group(1)
            data = re.sub(rb"\b" + container + rb"\b", b"ID", data)
            name = "static/remoteEntry.js"
        elif name == "package.json":
            data = re.sub(rb"remoteEntry\.[0-9a-f]+\.js", b"remoteEntry.js", data)
        files[name] = data
    return files


@pytest.mark.skipif(
    shutil.which("node") is None or not (SOURCE / "node_modules").is_dir(),
    reason="needs Node and `npm ci` in labextension/ (scripts/build_labextension does both)",
)
def test_the_committed_extension_is_built_from_the_current_source(tmp_path):
    # Build a copy laid out like the repo (node_modules hard-linked, so module paths match), never in place.
    copy = tmp_path / "labextension"
    copy.mkdir()
    for name in ("package.json", "webpack.config.js", "install.json", "src", "style"):
        (shutil.copytree if (SOURCE / name).is_dir() else shutil.copy)(SOURCE / name, copy / name)
    subprocess.run(["cp", "-al", str(SOURCE / "node_modules"), str(copy / "node_modules")], check=True)
    (tmp_path / "js" / "src").mkdir(parents=True)
    shutil.copy(ROOT / "js" / "package.json", tmp_path / "js" / "package.json")
    shutil.copy(ROOT / "js" / "src" / "q-mode.js", tmp_path / "js" / "src" / "q-mode.js")
    import jupyterlab

    core = Path(jupyterlab.__file__).parent / "staging"
    subprocess.run(
        ["node", "node_modules/@jupyterlab/builder/lib/build-labextension.js", "--core-path", str(core), "."],
        cwd=copy,
        check=True,
        capture_output=True,
        timeout=600,
    )
    shutil.copy(SOURCE / "install.json", tmp_path / "kx_jupyter" / "labextension" / "install.json")
    fresh, committed = _normalised(tmp_path / "kx_jupyter" / "labextension"), _normalised(BUILT)
    assert sorted(fresh) == sorted(committed), "run scripts/build_labextension: the built files differ"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"run scripts/build_labextension: {', '.join(stale)} is stale"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("kx_jupyter-*.whl")
    return path


def test_the_wheel_puts_the_extension_where_jupyterlab_looks(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    shipped = {n.split(f"/data/{LABEXT_DIR}/", 1)[1] for n in names if f".data/data/{LABEXT_DIR}/" in n}
    assert {"package.json", "install.json", _entry(BUILT)} <= shipped


@pytest.mark.slow
def test_jupyter_labextension_list_shows_it_enabled_after_pip_install(wheel, tmp_path):
    """A scratch venv that sees this environment's packages (a .pth), with only the wheel pip-installed in it."""
    scratch = tmp_path / "venv"
    venv.create(scratch)  # no ensurepip (~8 s): this environment's pip installs into it (--python)
    python = scratch / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    here = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "kx_env.pth").write_text(here + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_PLATFORM_DIRS="0",
    )
    listed = subprocess.run(
        [str(python), "-m", "jupyterlab.labextensions", "list"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    text = listed.stdout + listed.stderr
    line = next((ln for ln in text.splitlines() if "kx-jupyter" in ln), "")
    assert str(scratch / LABEXT_DIR.rsplit("/", 1)[0]) in text, text
    assert re.search(r"kx-jupyter v\S+ .*enabled.*OK", line), text
