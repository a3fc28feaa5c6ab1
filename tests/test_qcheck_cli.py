"""``kx-jupyter check``: what a user sees and the exit codes scripts rely on."""

from __future__ import annotations

import gc
import json

import pytest

from kx_jupyter.cli import main


@pytest.fixture
def ws(tmp_path, kx_home):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "init.q").write_text("\\l lib.q\nargs:.Q.opt .z.x\nd:args`db\n")
    (root / "lib.q").write_text("f:{x+1}\n")
    return root


def test_clean_workspace_exits_0(ws, capsys):
    assert main(["check", str(ws), "--arg", "db=hdb"]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("0 error(s), 0 warning(s), 0 info")


def test_errors_exit_1_and_print_compiler_style_lines(ws, capsys):
    (ws / "lib.q").write_text("f:{x+1\n")
    assert main(["check", str(ws)]) == 1
    out = capsys.readouterr().out
    assert "lib.q:1:3: error Q002 '{' is never closed: add the matching '}'" in out
    assert "1 error(s)" in out


def test_warnings_alone_exit_0(ws, capsys):
    assert main(["check", str(ws), "--arg", "other=1"]) == 0
    assert "init.q:3:7: warning Q034" in capsys.readouterr().out


def test_json_output(ws, capsys):
    (ws / "init.q").write_text("\\l nope.q\n")
    assert main(["check", str(ws), "--json"]) == 1
    diags = json.loads(capsys.readouterr().out)
    assert [(d["path"], d["line"], d["col"], d["rule"], d["severity"]) for d in diags] == [
        ("init.q", 1, 1, "Q021", "error")
    ]


def test_init_option_and_missing_init(ws, capsys):
    assert main(["check", str(ws), "--init", "start.q"]) == 1
    assert (
        "start.q:1:1: error Q020 initialization script start.q is not in the bundle"
        in capsys.readouterr().out
    )


def test_defaults_come_from_the_settings(ws, capsys, monkeypatch):
    monkeypatch.setenv("KX_JUPYTER_WORKSPACE", str(ws))
    monkeypatch.setenv("KX_JUPYTER_INIT_SCRIPT", "lib.q")
    assert main(["check"]) == 0
    assert str(ws) in capsys.readouterr().out


def test_bad_args_are_reported_as_diagnostics(ws, capsys):
    assert main(["check", str(ws), "--arg=-db=x", "--arg", "date=2024-01-01"]) == 1
    out = capsys.readouterr().out
    assert "<args>:1:1: error Q032" in out and "<args>:2:1: error Q033" in out


def test_missing_directory_is_a_usage_error(tmp_path, kx_home, capsys):
    assert main(["check", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_malformed_arg_is_a_usage_error(ws, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", str(ws), "--arg", "novalue"])
    assert exc.value.code == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err


def test_repeated_arg_is_a_usage_error(ws, capsys):
    assert main(["check", str(ws), "--arg", "db=a", "--arg", "db=b"]) == 2
    assert "--arg db is given twice" in capsys.readouterr().err


def test_rules_lists_every_rule_id(capsys, kx_home):
    from kx_jupyter.qcheck import RULES

    assert main(["check", "--rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(RULES)
    assert "Q010  warning  operator from another language that means something else in q" in lines


def test_a_caller_of_main_keeps_its_garbage_collector_settings(ws, capsys):
    """Only the `kx-jupyter` process itself (main() without argv) tunes collection for a short life."""
    before = gc.get_threshold()
    assert main(["check", str(ws), "--arg", "db=hdb"]) == 0
    assert gc.get_threshold() == before


def test_a_folder_without_init_q_is_checked_file_by_file_and_says_so(tmp_path, kx_home, capsys):
    root = tmp_path / "feeds"
    root.mkdir()
    (root / "feed.q").write_text("\\l helpers.q\nf:{x+\n")
    assert main(["check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "Q020" not in out and "Q021" not in out  # no bundle rules without an init script
    assert "feed.q:2:3: error Q002" in out
    assert f"init.q:1:1: info Q027 {root} has no init.q and no --init was given" in out


def test_the_symbol_table_reports_a_name_used_before_its_file_is_loaded(ws, capsys):
    (ws / "init.q").write_text("x:f 1\n\\l lib.q\n")
    assert main(["check", str(ws)]) == 1
    assert "init.q:1:3: error Q028 'f' is used here while init.q loads" in capsys.readouterr().out


def test_folders_linked_to_each_other_stop_with_the_link_named(ws, capsys):
    (ws / "a").mkdir()
    (ws / "b").mkdir()
    (ws / "a" / "to_b").symlink_to(ws / "b")
    (ws / "b" / "to_a").symlink_to(ws / "a")
    assert main(["check", str(ws)]) == 2
    err = capsys.readouterr().err
    assert "a/to_b/to_a in the workspace is a symbolic link back to a, which contains it" in err
