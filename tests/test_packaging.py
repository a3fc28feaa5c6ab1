"""`pip install .` must give users everything: code, shipped model, built JS, server config, command."""

import subprocess
import sys
import zipfile

import pytest

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("kx_jupyter-*.whl")
    return path


@pytest.fixture(scope="module")
def wheel(wheel_file):
    with zipfile.ZipFile(wheel_file) as zf:
        return set(zf.namelist()), zf.read(
            next(n for n in zf.namelist() if n.endswith("entry_points.txt"))
        ).decode()


@pytest.fixture(scope="module")
def metadata(wheel_file):
    with zipfile.ZipFile(wheel_file) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()


def test_the_version_is_written_once_and_the_wheel_describes_itself(metadata):
    import kx_jupyter

    assert f"\nVersion: {kx_jupyter.__version__}\n" in metadata
    assert "Classifier: Framework :: Jupyter :: JupyterLab :: Extensions" in metadata
    assert "Classifier: Programming Language :: Python :: 3 :: Only" in metadata


def test_jupyterlab_comes_only_with_the_lab_extra(metadata):
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: jupyterlab")]
    assert requires and all("extra == 'lab'" in line or "extra == 'test'" in line for line in requires), (
        requires
    )
    assert "Provides-Extra: lab" in metadata


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


def _run_test_script(tmp_path, *args, collects: str) -> subprocess.CompletedProcess:
    """scripts/test in a copy of the repo whose python, pip and apt-get are stand-ins and which has no chromium.

    The stand-in ``python -m pytest --collect-only`` prints ``collects`` unless ``-m "not browser"``
    was given; ``python -m pytest`` otherwise says it ran. apt-get always fails, as offline.
    """
    import os
    import shutil
    import stat

    repo, bin_dir = tmp_path / "repo", tmp_path / "bin"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "test", repo / "scripts" / "test")
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    bin_dir.mkdir()

    def script(path, body):
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)

    script(
        venv_bin / "python",
        f"""
case "$*" in
  "-m pip"*) exit 0 ;;
  *--collect-only*) [[ "$*" == *"not browser"* ]] || printf '%s\\n' {collects!r}; echo "tests/test_config.py::test_x"; exit 0 ;;
  *) echo "pytest ran: $*"; exit 0 ;;
esac
""",
    )
    script(bin_dir / "apt-get", "echo 'E: offline' >&2; exit 100\n")
    script(bin_dir / "sudo", '"$@"\n')
    for tool in ("bash", "dirname", "mktemp", "id", "grep", "env", "printf"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bin_dir / tool)
    return subprocess.run(
        ["bash", str(repo / "scripts" / "test"), *args],
        capture_output=True,
        text=True,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        timeout=60,
    )


def test_test_script_runs_without_chromium_when_browser_tests_are_left_out(tmp_path):
    done = _run_test_script(
        tmp_path, "-m", "not browser", collects="tests/browser/test_form_browser.py::test_y"
    )
    assert done.returncode == 0, done.stderr
    assert (
        "pytest ran: -m pytest -m not browser" in done.stdout and "chromium" not in done.stdout + done.stderr
    )


def test_test_script_fails_loudly_when_browser_tests_need_chromium_it_cannot_install(tmp_path):
    done = _run_test_script(tmp_path, collects="tests/browser/test_form_browser.py::test_y")
    assert done.returncode == 1 and "pytest ran" not in done.stdout
    assert "browser tests are selected but chromium could not be installed" in done.stderr
    assert 'bash scripts/test -m "not browser"' in done.stderr
