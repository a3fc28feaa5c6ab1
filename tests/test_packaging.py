"""`pip install .` must give users everything: code, shipped model, built JS, server config, command."""

import subprocess
import sys
import zipfile

import pytest

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("kx_jupyter-*.whl")
    with zipfile.ZipFile(path) as zf:
        return set(zf.namelist()), zf.read(next(n for n in zf.namelist() if n.endswith("entry_points.txt"))).decode()


def test_wheel_ships_the_model_and_its_notice(wheel):
    names, _ = wheel
    assert "kx_jupyter/finspace/data/finspace/2021-03-12/service-2.json" in names
    assert "kx_jupyter/finspace/data/finspace/2021-03-12/endpoint-rule-set-1.json" in names
    assert "kx_jupyter/finspace/data/NOTICE" in names


def test_wheel_ships_the_server_extension_config(wheel):
    names, _ = wheel
    assert any(n.endswith(".data/data/etc/jupyter/jupyter_server_config.d/kx_jupyter.json") for n in names)


def test_wheel_ships_the_built_editor(wheel):
    names, _ = wheel
    assert any(n.startswith("kx_jupyter/ui/static/") and n.endswith(".js") for n in names)


def test_wheel_has_the_command(wheel):
    _, entry_points = wheel
    assert "kx-jupyter = kx_jupyter.cli:main" in entry_points


def test_wheel_has_no_tests_or_machine_files(wheel):
    names, _ = wheel
    assert not any(n.startswith(("tests/", "js/", ".venv/")) or "node_modules" in n for n in names)
