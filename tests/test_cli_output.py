"""The command as Unix tools behave: a version, a header over tables, quiet pipes, diff exit codes, JSON refusals."""

import json
import subprocess
import sys
from pathlib import Path

from test_cli_deploy import ws  # a one-file workspace

import kx_jupyter

COMMAND = Path(sys.executable).with_name("kx-jupyter")


def test_version_is_the_packages_one():
    done = subprocess.run([str(COMMAND), "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"kx-jupyter {kx_jupyter.__version__}"


def test_a_reader_that_goes_away_gets_no_traceback(kx_home):
    """Like `kx-jupyter check --rules | head -1`, with the reader gone before the first write."""
    proc = subprocess.Popen(
        [str(COMMAND), "check", "--rules"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # nobody reads: every write is a broken pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == ""


def test_clusters_has_a_header_and_the_columns_of_kx_clusters(cli):
    code, out, _ = cli("clusters")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "clusters of kxlocaldev"
    assert lines[1].split() == [
        "name",
        "type",
        "status",
        "nodes",
        "code",
        "version",
        "last",
        "modified",
        "(UTC)",
    ]
    assert set(lines[2]) == {"-", " "}
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert rows["dev-gp"][:4] == ["dev-gp", "GP", "RUNNING", "1/1"]
    assert rows["hdb-3"][:4] == ["hdb-3", "HDB", "RUNNING", "3/3"] and rows["hdb-3"][4].startswith(
        "code.zip@"
    )


def test_diff_exit_code_follows_git(cli, tmp_path):
    src = ws(tmp_path, "x:1\n")
    assert cli("update", "--cluster", "dev-gp", "--src", src)[0] == 0
    assert cli("diff", "dev-gp", "--src", src, "--exit-code")[0] == 0
    (src / "init.q").write_text("x:2\n")
    code, out, _ = cli("diff", "dev-gp", "--src", src, "--exit-code")
    assert code == 1 and "M init.q" in out
    code, out, _ = cli("diff", "dev-gp", "--src", src, "--exit-code", "--json")
    assert code == 1 and [d["status"] for d in json.loads(out)] == ["modified"]
    assert (
        cli("diff", "dev-gp", "--src", src)[0] == 0
    )  # without it, differences are not a failure (as git diff)


def test_a_json_refusal_carries_the_checkers_diagnostics(cli, tmp_path):
    code, out, _ = cli("update", "--cluster", "dev-gp", "--src", ws(tmp_path, "f:{x+1\n"), "--json")
    result = json.loads(out)
    assert code == 2 and result["status"] == "refused"
    (first,) = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert (first["path"], first["line"], first["rule"]) == ("init.q", 1, "Q002") and first["message"]
