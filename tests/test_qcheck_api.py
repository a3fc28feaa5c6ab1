"""The checker's Python API as its callers use it: bundles, directories, output formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kx_jupyter.qcheck import (
    Diagnostic,
    check_bundle,
    check_dir,
    check_source,
    format_json,
    format_text,
    has_errors,
)

CLEAN = Path(__file__).parent / "qcheck_corpus" / "clean"

INIT = r"""/ init script for a FinSpace GP cluster
args:.Q.opt .z.x
env:first args`env
\l lib/util.q
\l schema/sym.q
system "l gw/gateway.q"
\cd /opt/kx/app/db
\cd /opt/kx/app/code
\l tick/tickerplant.q
.util.info "ready in ",env;
"""


def _workspace(root: Path) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "gw").mkdir()
    (root / "tick").mkdir()
    (root / "schema").mkdir()
    (root / "init.q").write_text(INIT)
    shutil.copy(CLEAN / "util.q", root / "lib" / "util.q")
    shutil.copy(CLEAN / "gateway.q", root / "gw" / "gateway.q")
    shutil.copy(CLEAN / "tickerplant.q", root / "tick" / "tickerplant.q")
    (root / "schema" / "sym.q").write_text("trade:([] time:`timespan$(); sym:`symbol$(); price:`float$())\n")
    (root / "data.csv").write_text("a,b\n1,2\n")
    return root


TICK_ARGS = {"env": "dev", "schema": "sym", "logdir": "/opt/kx/app/shared/tplog", "timer": "1000"}


def test_realistic_workspace_is_clean(tmp_path):
    root = _workspace(tmp_path / "ws")
    assert check_dir(root, "init.q", TICK_ARGS) == []


def test_missing_args_are_reported_where_the_code_reads_them(tmp_path):
    root = _workspace(tmp_path / "ws")
    diags = check_dir(root, "init.q", {})
    rules = {(d.path, d.line, d.rule) for d in diags}
    assert ("init.q", 3, "Q034") in rules
    assert ("tick/tickerplant.q", 11, "Q035") in rules
    assert not has_errors(diags)


def test_files_limits_the_bundle(tmp_path):
    root = _workspace(tmp_path / "ws")
    files = ["init.q", "gw/gateway.q", "tick/tickerplant.q", "schema/sym.q"]
    diags = check_dir(root, "init.q", None, files=files)
    assert [(d.path, d.line, d.rule) for d in diags] == [("init.q", 4, "Q021")]
    assert "lib/util.q" in diags[0].message


def test_hidden_directories_are_not_part_of_the_bundle(tmp_path):
    root = _workspace(tmp_path / "ws")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "init-checkpoint.q").write_text("f:{\n")
    assert check_dir(root, "init.q", TICK_ARGS) == []


def test_check_bundle_accepts_dot_slash_paths_and_ignores_directory_entries():
    files = {"./init.q": b"\\l lib/a.q\n", "lib/": b"", "lib/a.q": b"x:1\n"}
    assert check_bundle(files, "init.q") == []


def test_bytes_that_are_not_utf8_inside_strings_are_fine_outside_they_are_not():
    files = {"init.q": b's:"caf\xe9"\n', "bad.q": b"x:1+\xe9\n"}
    diags = check_bundle(files, "init.q")
    assert [(d.path, d.line, d.col, d.rule) for d in diags] == [("bad.q", 1, 5, "Q006")]
    assert diags[0].message.startswith("byte 0xE9 (not UTF-8) outside a string or comment")


def test_nul_byte_in_code():
    assert [(d.line, d.col, d.rule) for d in check_source("x:1\x00\n")] == [(1, 4, "Q006")]


def test_missing_target_suggests_a_close_name():
    diags = check_bundle({"init.q": b"\\l lib/utils.q\n", "lib/util.q": b"x:1\n"}, "init.q")
    assert diags[0].rule == "Q021"
    assert "did you mean lib/util.q?" in diags[0].message


def test_no_init_script_checks_every_file_on_its_own():
    diags = check_bundle({"a.q": b"\\l nowhere.q\nf:{\n"}, None)
    assert [(d.rule, d.line) for d in diags] == [("Q002", 2)]


def test_text_and_json_formats():
    diags = check_source('s:"abc\nx:a==b\n', "cell.q")
    text = format_text(diags)
    assert text.splitlines() == [
        'cell.q:1:3: error Q001 string is not closed before line 2, which starts a new expression at column 0: add the closing "',
        "cell.q:2:4: warning Q010 '==': q reads a==b as a=(=b), equal to the group of b; q's "
        "equality is a single '=' ('~' to match whole values)",
    ]
    parsed = json.loads(format_json(diags))
    assert parsed[0] == {
        "path": "cell.q",
        "line": 1,
        "col": 3,
        "rule": "Q001",
        "severity": "error",
        "message": diags[0].message,
    }
    assert [Diagnostic(**d) for d in parsed] == diags
    assert has_errors(diags) and not has_errors(diags[1:])
    assert format_text([]) == "" and json.loads(format_json([])) == []


def test_default_path_is_cell():
    (d,) = check_source("f:{\n")
    assert str(d).startswith("<cell>:1:3: error Q002")


def test_damaged_scripts_never_crash_the_checker_and_positions_stay_in_the_file():
    import random

    rng = random.Random(7)
    sources = [p.read_text() for p in sorted(CLEAN.glob("*.q"))]
    pieces = [
        '"',
        "\\",
        "/",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "`",
        "\n",
        "\n/\n",
        "\n\\\n",
        " /",
        "\\\\",
        "é",
        "==",
        ":",
    ]
    for _ in range(300):
        text = rng.choice(sources)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(pieces) + text[at + rng.randint(0, 3) :]
        lines = text.split("\n")
        for d in check_source(text, "fuzz.q"):
            assert 1 <= d.line <= len(lines)
            assert 1 <= d.col <= len(lines[d.line - 1]) + 1


def test_init_script_without_q_suffix_is_checked_too():
    diags = check_bundle({"start": b"f:{\n"}, "start")
    assert [(d.path, d.rule) for d in diags] == [("start", "Q002")]


def test_pasted_typographic_quotes_are_named():
    (d,) = check_source("s:\u201cabc\n")
    assert (d.rule, d.line, d.col) == ("Q006", 1, 3)
    assert 'U+201C), probably pasted where " was meant, outside a string' in d.message


def test_defined_names_follow_the_load_graph_for_autocomplete():
    from kx_jupyter.qcheck import defined_names

    files = {
        "init.q": b"\\l lib/util.q\ncfg:1\n",
        "lib/util.q": b"\\d .util\nadd:{x+y}\n\\d .\n`tbl set ([] a:1 2)\n",
        "unused.q": b"nope:1\n",
    }
    # a column name counts too: the table is erring towards "defined", never towards a false error
    assert defined_names(files, "init.q") == [".util.add", "a", "cfg", "tbl"]


def test_argument_checks_read_the_model_without_botocore_and_agree_with_it():
    """The checker's argument rules come from the shipped model's JSON (importing botocore cost ~0.1 s
    of every cold check); for every string shape they must say exactly what botocore's path says."""
    import subprocess
    import sys

    from kx_jupyter.finspace import rules
    from kx_jupyter.finspace.model import shape

    code = (
        "import sys\nfrom kx_jupyter.qcheck import check_bundle\n"
        "d = check_bundle({'init.q': b'x:1\\n'}, 'init.q', {'-k': 'v', 'k2': '$x', 'aws': '1'})\n"
        "print(sorted(x.rule for x in d), 'botocore' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("]")[1].strip() == "False"
    assert done.stdout.startswith("['Q032', 'Q032', 'Q033']")
    values = [
        "",
        "s",
        "ab",
        "AWS_ZIP_DEFAULT",
        "awsx",
        "x-y",
        "my init.q",
        "lib/init.q",
        "a" * 1025,
        "a\n",
        "é",
    ]
    for name in ("KxCommandLineArgumentKey", "KxCommandLineArgumentValue", "InitializationScriptFilePath"):
        for value in values:
            for field in ("", "key", ".x"):
                assert rules.check_value(name, value, field) == rules._violations(shape(name), value, field)


def _large_workspace() -> dict:
    """~250 KB of scripts with findings of most kinds, loaded from an init script."""
    files, init = {}, []
    scripts = [p.read_bytes() for p in sorted(CLEAN.glob("*.q")) if b".Q.opt" not in p.read_bytes()]
    for n in range(60):
        clean = scripts[n % len(scripts)] * 2
        broken = b'x%d:a==b\nf%d:{[a;b;c;d;e;f;g;h;i] a}\n.z.pg:{x}\ny:(1;2\ns:"a\\qb"\n' % (n, n)
        files[f"lib/m{n}.q"] = clean * 3 + (broken if n % 3 else b"")
        init.append(f"\\l lib/m{n}.q")
    files["init.q"] = (
        "zz:undefined_name 1\nargs:.Q.opt .z.x\nport:args`port\n" + "\n".join(init) + "\n"
    ).encode()
    return files


def test_a_large_workspace_checked_on_several_cores_gives_the_same_findings(tmp_path, monkeypatch):
    import os

    from kx_jupyter.qcheck import bundle as bundle_module
    from kx_jupyter.qcheck import parallel
    from kx_jupyter.qcheck.cache import ReportCache

    files = _large_workspace()
    assert sum(len(data) for data in files.values() if b".Q.opt" not in data) > 200_000
    monkeypatch.setattr(parallel, "workers", lambda size: 1)
    serial = check_bundle(files, "init.q", {"env": "dev"})
    assert {d.rule for d in serial} >= {"Q002", "Q004", "Q009", "Q010", "Q028", "Q030", "Q034"}
    forks = []
    real_fork = os.fork

    def counting_fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(parallel, "workers", lambda size: 3 if size >= 200_000 else 1)  # as for a large one
    monkeypatch.setattr(os, "fork", counting_fork)
    assert check_bundle(files, "init.q", {"env": "dev"}) == serial
    assert len(forks) == 2
    cache = ReportCache(tmp_path / "cache", 64 * 2**20)
    assert (
        check_bundle(files, "init.q", {"env": "dev"}, cache) == serial
    )  # filled from the children's reports
    assert len(forks) == 4
    assert (
        check_bundle(files, "init.q", {"env": "dev"}, ReportCache(tmp_path / "cache", 64 * 2**20)) == serial
    )
    assert len(forks) == 4  # the warm check had nothing to share out

    parent, real_analyze = os.getpid(), bundle_module.analyze

    def failing_in_children(*args, **kwargs):
        if os.getpid() != parent:
            raise MemoryError("a child that fails")
        return real_analyze(*args, **kwargs)

    monkeypatch.setattr(bundle_module, "analyze", failing_in_children)
    assert check_bundle(files, "init.q", {"env": "dev"}) == serial  # what they had is analyzed here


def test_an_interrupted_check_on_several_cores_ends_its_children_at_once(monkeypatch):
    """Ctrl-C during a large check stops it now: the children are ended, not waited for while they
    finish the files they took."""
    import os
    import select
    import signal

    from kx_jupyter.qcheck import bundle as bundle_module
    from kx_jupyter.qcheck import parallel

    parent, real_analyze, real_waitpid = os.getpid(), bundle_module.analyze, os.waitpid
    at_work, never = os.pipe(), os.pipe()
    blocked = []

    def analyze(*args, **kwargs):
        if os.getpid() == parent:
            select.select([at_work[0]], [], [], 20)  # once the child is in the middle of a file
            raise KeyboardInterrupt
        if not blocked:  # the child's first file takes until it is ended (at most 20 s)
            blocked.append(1)
            os.write(at_work[1], b"x")
            select.select([never[0]], [], [], 20)
        return real_analyze(*args, **kwargs)

    statuses = []

    def waitpid(pid, options):
        done = real_waitpid(pid, options)
        statuses.append(done[1])
        return done

    monkeypatch.setattr(bundle_module, "analyze", analyze)
    monkeypatch.setattr(parallel, "workers", lambda size: 2)
    monkeypatch.setattr(parallel.os, "waitpid", waitpid)
    try:
        with pytest.raises(KeyboardInterrupt):
            check_bundle(_large_workspace(), "init.q", {"env": "dev"})
    finally:
        for fd in (*at_work, *never):
            os.close(fd)
    assert len(statuses) == 1
    assert os.WIFSIGNALED(statuses[0]) and os.WTERMSIG(statuses[0]) == signal.SIGKILL


def test_only_a_large_workspace_in_a_single_threaded_process_is_shared_out(monkeypatch):
    import threading

    from kx_jupyter.qcheck import parallel

    monkeypatch.setattr(parallel, "_busy", lambda: 0)
    monkeypatch.setattr(parallel, "_cores", lambda: 4)
    # a test process may hold other tests' daemon threads; the CLI runs one
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    assert parallel.workers(parallel.PARALLEL_FROM - 1) == 1
    assert parallel.workers(parallel.PARALLEL_FROM) == 2
    assert parallel.workers(50 * parallel.PARALLEL_FROM) == 4
    monkeypatch.setattr(parallel, "_busy", lambda: 2.5)  # the machine is busy: one idle core
    assert parallel.workers(50 * parallel.PARALLEL_FROM) == 2
    monkeypatch.setattr(parallel, "_busy", lambda: 7)  # saturated: none
    assert parallel.workers(50 * parallel.PARALLEL_FROM) == 1
    monkeypatch.setattr(parallel, "_busy", lambda: 0)
    assert [parallel.quota_cores(line) for line in ("max 100000\n", "200000 100000\n", "50000 100000")] == [
        None,
        2,
        1,
    ]  # a container's CPU quota bounds the cores its affinity shows
    monkeypatch.undo()  # the real thread count, with one more thread surely running
    monkeypatch.setattr(parallel, "_busy", lambda: 0)
    monkeypatch.setattr(parallel, "_cores", lambda: 4)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert parallel.workers(50 * parallel.PARALLEL_FROM) == 1
    finally:
        stop.set()
        other.join()


def test_every_undotted_name_a_rule_reads_is_in_the_rule_pass_s_list_of_them():
    """The rule pass skips a name outside ``_RULED_NAMES`` before trying its rules (most names):
    a rule about another word that is not added there would never run."""
    import ast
    import inspect

    from kx_jupyter.qcheck import source

    walk = ast.parse(inspect.getsource(source._walk))
    read = set()
    for node in ast.walk(walk):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "text":
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.Eq) and isinstance(right, ast.Constant):
                    read.add(right.value)
                elif isinstance(op, ast.In) and isinstance(right, ast.Name) and right.id.isupper():
                    read.update(getattr(source, right.id))
    words = {w for w in read if w[:1] not in (".", "`")}  # dotted names and symbols have rules of their own
    assert {"system", "set", "exit", "ts"} <= words
    assert words <= source._RULED_NAMES


@pytest.fixture
def threaded_process(monkeypatch):
    """A process with a second thread (a kernel, the plane) on 2 idle cores, where a workspace of
    ``_large_workspace``'s size counts as large: it is shared out to fresh workers, never forked."""
    import subprocess
    import threading

    from kx_jupyter.qcheck import parallel

    monkeypatch.setattr(parallel, "_busy", lambda: 0)
    monkeypatch.setattr(parallel, "_cores", lambda: 2)
    monkeypatch.setattr(parallel, "SPAWN_FROM", 200_000)
    started, real_popen = [], subprocess.Popen

    def counting_popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert parallel.workers(50 * parallel.PARALLEL_FROM) == 1  # forking is off
        yield started
    finally:
        stop.set()
        other.join()


def _serial(monkeypatch, files: dict) -> list:
    from kx_jupyter.qcheck import parallel

    with monkeypatch.context() as serial:
        serial.setattr(parallel, "fresh_workers", lambda size: 1)
        return check_bundle(files, "init.q", {"env": "dev"})


def test_a_large_workspace_checked_in_a_threaded_process_uses_fresh_workers_with_the_same_findings(
    threaded_process, monkeypatch, tmp_path
):
    import select

    from kx_jupyter.qcheck import bundle as bundle_module
    from kx_jupyter.qcheck import parallel
    from kx_jupyter.qcheck.cache import ReportCache

    files = _large_workspace()
    serial = _serial(monkeypatch, files)
    assert threaded_process == []
    real_analyze, received, real_received = bundle_module.analyze, [], parallel.FileReport.from_marshaled

    def analyze(*args, **kwargs):
        if len(threaded_process) == 1 and not received:  # this process's first file waits for the worker
            select.select([threaded_process[0].stdout], [], [], 60)  # to take every other claim and write
            received.append(0)
        return real_analyze(*args, **kwargs)

    def receiving(name, record):
        received.append(name)
        return real_received(name, record)

    with monkeypatch.context() as waiting:
        waiting.setattr(bundle_module, "analyze", analyze)
        waiting.setattr(parallel.FileReport, "from_marshaled", receiving)
        assert check_bundle(files, "init.q", {"env": "dev"}) == serial
    assert len(threaded_process) == 1 and threaded_process[0].returncode == 0  # one worker, ended well
    assert len(received) > 50  # nearly every file's findings came from the worker
    assert (
        check_bundle(files, "init.q", {"env": "dev"}, ReportCache(tmp_path / "cache", 64 * 2**20)) == serial
    )  # the cache filled from the worker's reports
    assert len(threaded_process) == 2
    assert (
        check_bundle(files, "init.q", {"env": "dev"}, ReportCache(tmp_path / "cache", 64 * 2**20)) == serial
    )
    assert len(threaded_process) == 2  # the warm check had nothing to share out


@pytest.mark.parametrize(
    "worker",
    [
        ("-m", "kx_jupyter.qcheck.no_such_worker"),  # an import error
        (
            "-c",
            "import os, signal; os.read(int(__import__('sys').argv[1]), 4); os.kill(os.getpid(), signal.SIGKILL)",
        ),
        ("-c", "import os, sys; os.read(int(sys.argv[1]), 4); sys.stdout.write('not marshal data')"),
        (
            "-c",
            "import marshal, os, sys; os.read(int(sys.argv[1]), 4); sys.stdout.buffer.write(marshal.dumps([1]))",
        ),
    ],
    ids=["import-error", "killed", "bad-output", "wrong-shape"],
)
def test_a_fresh_worker_that_fails_leaves_the_findings_unchanged(threaded_process, monkeypatch, worker):
    from kx_jupyter.qcheck import parallel

    files = _large_workspace()
    serial = _serial(monkeypatch, files)
    monkeypatch.setattr(parallel, "_WORKER", worker)
    assert check_bundle(files, "init.q", {"env": "dev"}) == serial  # the claims it took are analyzed here
    assert len(threaded_process) == 1


def test_an_interrupted_check_in_a_threaded_process_ends_its_fresh_workers_at_once(
    threaded_process, monkeypatch
):
    """Ctrl-C in a kernel during a large check stops it now: its workers are killed, not waited for."""
    import select
    import signal

    from kx_jupyter.qcheck import bundle as bundle_module
    from kx_jupyter.qcheck import parallel

    # a worker whose first file takes until it is ended (at most 20 s); it says when it has taken it
    monkeypatch.setattr(
        parallel,
        "_WORKER",
        ("-c", "import os, sys, time; os.read(int(sys.argv[1]), 4); print(flush=True); time.sleep(20)"),
    )

    def analyze(*args, **kwargs):
        select.select([threaded_process[0].stdout], [], [], 20)  # once the worker is in the middle of a file
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle_module, "analyze", analyze)
    with pytest.raises(KeyboardInterrupt):
        check_bundle(_large_workspace(), "init.q", {"env": "dev"})
    assert len(threaded_process) == 1
    assert threaded_process[0].returncode == -signal.SIGKILL
