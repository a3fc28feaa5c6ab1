"""%%kx_file, %kx_check and user errors: no control plane needed."""

import os
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from ipython_fixtures import ip  # noqa: F401  (fixture)


def _workspace(ip) -> Path:
    return Path(ip.config.KxJupyter.workspace)


def test_cell_is_written_atomically_and_checked_clean(ip):
    result = ip.run("%%kx_file lib/analytics.q\nvwap:{[p;s] s wsum p % sum s}\n")
    assert result.error_in_exec is None
    target = _workspace(ip) / "lib" / "analytics.q"
    assert target.read_text() == "vwap:{[p;s] s wsum p % sum s}\n"
    assert "no problems" in repr(result.result) and "Wrote lib/analytics.q" in repr(result.result)
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind


def test_diagnostics_point_at_lines_of_the_cell(ip):
    result = ip.run('%%kx_file lib/bad.q\na:1\nf:{x+1\ns:"open\n')
    text = repr(result.result)
    # the %%kx_file line is cell line 1, so file line 2 is cell line 3
    assert "cell line 3, col 3: error" in text and "{" in text
    assert "cell line 4" in text
    assert "cell line 3" in result.result._repr_html_()


def test_rerunning_a_cell_overwrites_what_the_magic_wrote(ip):
    ip.run("%%kx_file init.q\na:1\n")
    result = ip.run("%%kx_file init.q\na:2\n")
    assert result.error_in_exec is None
    assert (_workspace(ip) / "init.q").read_text() == "a:2\n"


def test_a_file_changed_on_disk_is_not_overwritten_without_force(ip, capsys):
    ip.run("%%kx_file init.q\na:1\n")
    target = _workspace(ip) / "init.q"
    target.write_text("a:1\nedited:1b\n")
    result = ip.run("%%kx_file init.q\na:2\n")
    assert isinstance(result.error_in_exec, UsageError)
    assert "changed on disk since %%kx_file last wrote it" in str(result.error_in_exec)
    assert "--force" in str(result.error_in_exec)
    assert target.read_text() == "a:1\nedited:1b\n"
    assert "Traceback" not in capsys.readouterr().err
    assert ip.run("%%kx_file --force init.q\na:2\n").error_in_exec is None
    assert target.read_text() == "a:2\n"


def test_an_existing_file_the_magic_never_wrote_is_protected(ip):
    target = _workspace(ip) / "init.q"
    target.write_text("hand:1\n")
    result = ip.run("%%kx_file init.q\na:2\n")
    assert "was not written by %%kx_file" in str(result.error_in_exec)
    assert target.read_text() == "hand:1\n"


def test_the_record_survives_a_new_session(ip):
    ip.run("%%kx_file init.q\na:1\n")
    ip.run("%unload_ext kx_jupyter")
    ip.run("%load_ext kx_jupyter")
    assert ip.run("%%kx_file init.q\na:2\n").error_in_exec is None


def test_append_keeps_the_file_and_maps_lines_into_the_cell(ip):
    ip.run("%%kx_file lib/a.q\nx:1\ny:2\n")
    result = ip.run('%%kx_file --append lib/a.q\nz:3\nw:"oops\n')
    assert (_workspace(ip) / "lib/a.q").read_text() == 'x:1\ny:2\nz:3\nw:"oops\n'
    text = repr(result.result)
    assert "Appended to lib/a.q" in text and "cell line 3, col 3" in text


def test_paths_outside_the_workspace_are_refused(ip):
    for bad in ("../escape.q", "/tmp/abs.q"):
        result = ip.run(f"%%kx_file {bad}\na:1\n")
        assert isinstance(result.error_in_exec, UsageError)
        assert "not inside the workspace" in str(result.error_in_exec)
    assert not (_workspace(ip).parent / "escape.q").exists()


def test_new_files_get_normal_permissions(ip):
    ip.run("%%kx_file init.q\na:1\n")
    mask = os.umask(0)
    os.umask(mask)
    assert (_workspace(ip) / "init.q").stat().st_mode & 0o777 == 0o666 & ~mask


def test_kx_check_reports_workspace_problems(ip):
    (_workspace(ip) / "init.q").write_text("\\l lib/missing.q\nf:{x\n")
    result = ip.run("%kx_check")
    text = repr(result.result)
    assert "init.q:2" in text and "error" in text


def test_bad_options_are_one_usage_line_without_traceback(ip, capsys):
    result = ip.run("%kx_update --strategy SIDEWAYS")
    assert isinstance(result.error_in_exec, UsageError)
    assert "invalid choice" in str(result.error_in_exec) and "%kx_update?" in str(result.error_in_exec)
    err = capsys.readouterr()
    assert "Traceback" not in err.err + err.out
    assert "UsageError" in err.err + err.out


def test_magic_help_is_the_shared_parser_help(ip):
    from kx_jupyter.ui.magics import KxMagics

    doc = KxMagics.kx_update.__doc__
    for option in ("--cluster", "--arg", "--strategy", "--dry-run", "--no-check", "--background"):
        assert option in doc


def _magics(ip):
    return [c for c in ip.shell.configurables if type(c).__name__ == "KxMagics"][0]


def test_config_kxjupyter_sets_the_defaults_and_a_magic_option_wins(ip):
    ip.run('%config KxJupyter.cluster = "hdb-3"')
    assert _magics(ip).settings().cluster == "hdb-3"
    assert _magics(ip).settings(cluster="dev-gp").cluster == "dev-gp"


def test_config_kxmagics_picks_the_view(ip):
    ip.run('%config KxMagics.view = "html"')
    assert _magics(ip).view == "html"


@pytest.mark.filterwarnings("ignore:`Completer.complete` is pending deprecation")
def test_completion_never_waits_for_a_slow_backend(ip):
    import threading

    answered, release = [], threading.Event()
    names = _magics(ip).names

    def slow_backend():  # answers only after the completion below has returned
        release.wait()
        answered.append(True)
        return ["kxlocaldev"], ["dev-gp"]

    names._fetch = slow_backend
    _, matches = ip.shell.complete("", "%kx_status ")
    assert not answered and not [m for m in matches if not m.startswith("%")]  # it returned without the names
    release.set()
    names._thread.join()
    _, matches = ip.shell.complete("", "%kx_status ")
    assert "dev-gp" in matches  # and the next Tab has them


@pytest.mark.filterwarnings("ignore:`Completer.complete` is pending deprecation")
def test_completion_with_an_unreachable_backend_is_quiet(ip, capsys):
    ip.run("%config KxJupyter.local_autostart = False")  # no plane runs for this test's home
    _, matches = ip.shell.complete("", "%kx_status ")
    _magics(ip).names._thread.join()
    assert not [m for m in matches if not m.startswith("%")]  # no names, and no error either
    assert "Traceback" not in capsys.readouterr().err


def test_files_that_are_not_q_are_written_but_not_checked(ip):
    result = ip.run('%%kx_file conf/settings.json\n{"a": 1}\n')
    assert repr(result.result) == "Wrote conf/settings.json (1 line, 9 B)"
    result = ip.run("%%kx_file --no-check lib/wip.q\nf:{x\n")
    assert "q check" not in repr(result.result)


def test_kx_check_sees_what_the_push_bundles_and_the_passed_arguments(ip):
    workspace = _workspace(ip)
    (workspace / "init.q").write_text("args:.Q.opt .z.x;\nregion:first args`region;\n")
    (workspace / "scratch.q").write_text("f:{x\n")  # broken, but not bundled
    (workspace / ".kxignore").write_text("scratch.q\n")
    without = repr(ip.run("%kx_check").result)
    assert "scratch.q" not in without
    assert "Q034" in without and "region" in without  # read by the code, not passed
    passed = repr(ip.run("%kx_check --arg region=emea").result)
    assert "no problems" in passed
    bad = ip.run("%kx_check --arg region")
    assert isinstance(bad.error_in_exec, UsageError)


def test_an_init_script_loading_a_missing_file_is_reported_when_written(ip):
    result = ip.run("%%kx_file init.q\n\\l lib/missing.q\nx:1\n")
    text = repr(result.result)
    assert "no problems" not in text
    assert "cell line 2" in text and "Q021" in text and "lib/missing.q" in text


def test_a_file_the_init_script_loads_gets_the_bundle_rules_too(ip):
    ip.run("%%kx_file init.q\n\\l lib/util.q\n")
    text = repr(ip.run("%%kx_file lib/util.q\nf:{x+1}\n\\l lib/gone.q\n").result)
    assert "cell line 3" in text and "Q021" in text and "lib/gone.q" in text
    (_workspace(ip) / "lib" / "gone.q").write_text("g:1\n")
    assert "no problems" in repr(ip.run("%%kx_file lib/util.q\nf:{x+1}\n\\l lib/gone.q\n").result)


def test_a_file_nothing_loads_is_checked_on_its_own(ip):
    ip.run("%%kx_file init.q\nx:1\n")
    assert "no problems" in repr(ip.run("%%kx_file scratch.q\n\\l elsewhere.q\n").result)


def test_kx_form_in_a_terminal_ipython_is_one_line(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("KX_JUPYTER_")}
    env.update(
        KX_JUPYTER_HOME=str(tmp_path / "home"),
        KX_JUPYTER_LOCAL_AUTOSTART="false",
        IPYTHONDIR=str(tmp_path / "ipy"),
    )
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("ipython")),
            "--no-banner",
            "--colors=NoColor",
            "-c",
            "%load_ext kx_jupyter\n%kx_form",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0 and lines == [
        "kx-jupyter: the form is a widget, and this terminal shows only text; open it in a notebook (JupyterLab), "
        "or use %kx_update, %kx_status and the other magics here"
    ], done.stdout + done.stderr


def _printer(formatter):
    try:
        return formatter.lookup_by_type("kx_jupyter.deploy.watch.Deployment")
    except KeyError:
        return None


def _kx_state(shell) -> dict:
    """What the extension may add to a shell: magics, configurables, completers, Deployment printers."""
    return {
        "magics": sorted(
            n for kind in shell.magics_manager.magics.values() for n in kind if n.startswith("kx_")
        ),
        "registry": sorted(n for n in shell.magics_manager.registry if n.endswith("Magics")),
        "configurables": sorted(type(c).__name__ for c in shell.configurables),
        "matchers": len(shell.Completer.custom_matchers),
        "printers": [_printer(shell.display_formatter.formatters[m]) for m in ("text/html", "text/plain")],
    }


def test_unload_removes_what_load_added_and_nothing_else(ip):
    from kx_jupyter.ui.magics import KxMagics
    from kx_jupyter.ui.tables import deployment_html, deployment_text

    loaded = _kx_state(ip.shell)
    assert "kx_update" in loaded["magics"] and "KxMagics" in loaded["registry"]
    assert loaded["printers"] == [deployment_html, deployment_text]
    ip.run("%unload_ext kx_jupyter")
    gone = _kx_state(ip.shell)
    assert gone["magics"] == [] and "KxMagics" not in gone["registry"]
    assert "KxMagics" not in gone["configurables"] and "KxJupyter" not in gone["configurables"]
    assert gone["matchers"] == loaded["matchers"] - 1 and gone["printers"] == [None, None]
    assert "timeit" in ip.shell.magics_manager.magics["line"]  # IPython's own magics stay
    assert isinstance(ip.run("%kx_clusters").error_in_exec, UsageError)  # the magic is gone
    ip.run("%load_ext kx_jupyter")
    assert _kx_state(ip.shell) == loaded and KxMagics.kx_update.__doc__


def test_help_option_prints_the_help_and_ends_the_magic_quietly(ip, capsys):
    result = ip.run("%kx_history -h")
    out = capsys.readouterr().out
    assert result.error_in_exec is None and result.result is None
    assert out.startswith("usage: %kx_history [-h]") and "--limit" in out and "Recorded pushes" in out


def test_a_quoted_option_value_keeps_its_spaces_and_loses_its_quotes():
    from kx_jupyter.ui.magic_args import parse

    ns = parse("kx_update", "--cluster dev-gp --note 'new limits for the open'")
    assert ns.note == "new limits for the open" and ns.cluster == "dev-gp"


def test_origin_names_the_notebook_and_cell_when_the_kernel_knows_them():
    from types import SimpleNamespace

    from kx_jupyter.ui.origin import cell_origin

    request = {"header": {"msg_type": "execute_request"}, "metadata": {"cellId": "c0ffee-1"}}
    kernel = SimpleNamespace(parent_header=request, user_ns={"__session__": "work/deploy.ipynb"})
    assert cell_origin(kernel) == "notebook:work/deploy.ipynb#c0ffee-1"
    vscode = SimpleNamespace(parent_header={"metadata": {}}, user_ns={"__vsc_ipynb_file__": "/w/a.ipynb"})
    assert cell_origin(vscode) == "notebook:/w/a.ipynb"
    assert cell_origin(SimpleNamespace(parent_header={}, user_ns={})) == "notebook:"
    assert cell_origin(SimpleNamespace(user_ns={})) == "ipython"  # terminal IPython: no request


def test_names_complete_on_a_magic_line_anywhere_in_a_cell(ip):
    """What a kernel asks (``Completer.completions`` over the whole cell, as JupyterLab sends it)."""
    from IPython.core.completer import provisionalcompleter

    names = _magics(ip).names
    names._fetch = lambda: (["kxlocaldev"], ["dev-gp", "hdb-3"])
    names.warm().join()
    with provisionalcompleter():
        for cell, expected in (
            ("x = 1\n%kx_status h", ["hdb-3"]),
            ("%kx_update --env kx", ["kxlocaldev"]),
            ("%kx_rollback ", ["dev-gp", "hdb-3"]),
        ):
            assert [c.text for c in ip.shell.Completer.completions(cell, len(cell))] == expected
