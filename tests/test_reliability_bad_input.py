"""Reliability: a corpus of bad input through the CLI, the magics and the form's validation.

Every case must give one clear message naming what to fix (a given phrase), no traceback, no
credential, and change nothing: the code bucket's object versions and the plane's update
calls are compared before and after. One plane serves the whole module; its ``hdb-3`` runs
a bundle with zip-slip entries (``../evil.q``, ``/etc/abs.q``) so ``diff`` meets them.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from plane_fixtures import CODE_BUCKET, ENV_ID, start_plane

from kx_jupyter.cli import main as cli_main

pytestmark = pytest.mark.slow

ZIP_SLIP = {"init.q": "a:1\n", "../evil.q": "x", "/etc/abs.q": "y", "lib/../../up.q": "z"}


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


@dataclass
class Corpus:
    plane: object
    base: Path
    ws: dict

    def snapshot(self) -> tuple:
        s3 = self.plane.clients().s3
        versions = sorted(
            (v["Key"], v["VersionId"])
            for v in s3.list_object_versions(Bucket=CODE_BUCKET).get("Versions", [])
        )
        counters = self.plane.counters()
        return (
            versions,
            counters["requests"].get("UpdateKxClusterCodeConfiguration", 0),
            counters["appliedUpdates"],
        )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from kx_jupyter.local import daemon

    base = tmp_path_factory.mktemp("bad-input")
    home = base / "kx-home"
    home.mkdir()
    outside = _tree(base / "outside", {"secret.q": "s:1\n"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KX_JUPYTER_HOME", str(home))
        mp.setenv("KX_JUPYTER_LOCAL_AUTOSTART", "false")
        mp.setenv("KX_JUPYTER_MAX_ATTEMPTS", "1")
        mp.chdir(base)
        plane = start_plane(home)
        try:
            fs = plane.clients().finspace
            version = plane.upload(ZIP_SLIP, key="evil/code.zip")
            fs.update_kx_cluster_code_configuration(
                environmentId=ENV_ID,
                clusterName="hdb-3",
                initializationScript="init.q",
                code={"s3Bucket": CODE_BUCKET, "s3Key": "evil/code.zip", "s3ObjectVersion": version},
                commandLineArguments=[{"key": "role", "value": "hdb"}],
            )
            assert plane.wait_status("hdb-3", "RUNNING")["code"]["s3Key"] == "evil/code.zip"
            w = base / "ws"
            ws = {
                "ok": _tree(w / "ok", {"init.q": "x:1\n"}),
                "empty": _tree(w / "empty", {}),
                "only_ignored": _tree(
                    w / "only_ignored", {".ipynb_checkpoints/a.q": "x:1\n", "nb.ipynb": "{}"}
                ),
                "broken": _tree(w / "broken", {"init.q": "f:{x+1\n"}),
                "non_utf8": _tree(w / "non_utf8", {"init.q": b"a:1\n\xff\xfe b:2\n"}),
                "binary": _tree(w / "binary", {"init.q": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"}),
                "huge": _tree(w / "huge", {"init.q": "x:1\n", "data.bin": os.urandom(3 * 2**20)}),
                "secret_env": _tree(w / "secret_env", {"init.q": "x:1\n", ".env": "TOKEN=abc\n"}),
                "secret_ssh": _tree(w / "secret_ssh", {"init.q": "x:1\n", "id_rsa": "-----BEGIN KEY-----\n"}),
                "secret_aws": _tree(w / "secret_aws", {"init.q": "x:1\n", ".aws/credentials": "[default]\n"}),
                "secret_pem": _tree(
                    w / "secret_pem", {"init.q": "x:1\n", "tls/server.pem": "-----BEGIN-----\n"}
                ),
                "link_file": _tree(w / "link_file", {"init.q": "x:1\n"}),
                "link_dir": _tree(w / "link_dir", {"init.q": "x:1\n"}),
                "a_file": _tree(w / "a_file", {"init.q": "x:1\n"}) / "init.q",
            }
            (ws["link_file"] / "lib.q").symlink_to(outside / "secret.q")
            (ws["link_dir"] / "shared").symlink_to(outside)
            yield Corpus(plane, base, ws)
        finally:
            daemon.stop(plane.state_dir)


def assert_clear(text: str, corpus: Corpus, *phrases: str) -> None:
    assert text.strip(), "no message at all"
    assert "Traceback" not in text and 'File "' not in text, text
    assert corpus.plane.info.secret_key not in text and corpus.plane.info.access_key not in text
    for phrase in phrases:
        assert phrase.lower() in text.lower(), f"{phrase!r} not in {text!r}"


# -- the command -----------------------------------------------------------------------------


def push(*extra: str, src: str = "{ok}", cluster: str = "dev-gp") -> list[str]:
    return ["update", "--cluster", cluster, "--src", src, *extra]


CLI_CASES = {  # every one must stop with exit code 2 (nothing deployed)
    # names
    "cluster name with bad characters": (push(cluster="bad name!"), ["--cluster", "matching"]),
    "cluster name too short": (push(cluster="ab"), ["--cluster", "3-63"]),
    "cluster that does not exist": (push(cluster="nosuch"), ["nosuch does not exist", "dev-gp"]),
    "environment id with bad characters": (push("--env", "Bad_Env"), ["--env"]),
    "environment that does not exist": (push("--env", "nosuchenv"), ["nosuchenv"]),
    "status of a bad cluster name": (["status", "bad!"], ["--cluster"]),
    "unknown sub-command": (["deploy"], ["invalid choice"]),
    # arguments
    "argument without =": (push("--arg", "novalue"), ["KEY=VALUE"]),
    "argument key starting with a digit": (push("--arg", "1abc=v"), ["key"]),
    "argument key reserved for AWS": (push("--arg", "awsRegion=x"), ["key"]),
    "argument value with a bad character": (push("--arg", "mode=a|b"), ["value"]),
    "argument given twice": (push("--arg", "a=1", "--arg", "a=2"), ["given twice"]),
    "unknown strategy": (push("--strategy", "SLOW"), ["invalid choice"]),
    "NO_RESTART on an HDB cluster": (push("--strategy", "NO_RESTART", cluster="hdb-3"), ["only on GP"]),
    "timeout that is not a number": (
        push("--timeout", "soon"),
        ["--timeout", "not a positive number of seconds"],
    ),
    "timeout that is not positive": (
        push("--timeout", "-5"),
        ["--timeout", "not a positive number of seconds"],
    ),
    "history limit that is not a number": (["history", "--limit", "ten"], ["invalid int"]),
    "rollback to a history id that does not exist": (["rollback", "dev-gp", "--to", "9999"], ["9999"]),
    # init paths
    "init script not in the workspace": (push("--init", "missing.q"), ["not in the bundle"]),
    "init script outside the workspace": (push("--init", "../outside/secret.q"), ["not in the bundle"]),
    "absolute init script path": (push("--init", "/etc/init.q"), ["not in the bundle"]),
    "init script path with a space": (
        push("--init", "my init.q"),
        ["rejects this initialization script path"],
    ),
    # workspaces
    "workspace that does not exist": (push(src="/nonexistent/kx-ws"), ["not a directory"]),
    "workspace that is a file": (push(src="{a_file}"), ["not a directory"]),
    "empty workspace": (push(src="{empty}"), ["no files to bundle"]),
    "workspace with only ignored files": (push(src="{only_ignored}"), ["no files to bundle"]),
    "q that does not parse": (push(src="{broken}"), ["q checker found errors", "init.q:"]),
    "non-UTF-8 q file": (push(src="{non_utf8}"), ["not UTF-8", "init.q:2"]),
    "binary file as the init script": (push(src="{binary}"), ["q checker found errors"]),
    "symlinked file leaving the workspace": (push(src="{link_file}"), ["lib.q", "outside the workspace"]),
    "symlinked directory leaving the workspace": (
        push(src="{link_dir}"),
        ["shared", "outside the workspace"],
    ),
    # secrets
    ".env in the workspace": (push(src="{secret_env}"), ["secrets", ".env", ".kxignore"]),
    "ssh key in the workspace": (push(src="{secret_ssh}"), ["secrets", "id_rsa"]),
    "AWS credentials in the workspace": (push(src="{secret_aws}"), ["secrets", ".aws"]),
    "TLS key in the workspace": (push(src="{secret_pem}"), ["secrets", "server.pem"]),
    # where the code goes
    "bucket that does not exist": (
        push("--bucket", "no-such-bucket-kx"),
        ["bucket does not exist", "--bucket"],
    ),
    "bucket name S3 cannot have": (push("--bucket", "Bad_Bucket"), ["Bad_Bucket"]),
}

AWS_BASE = {
    "KX_JUPYTER_BACKEND": "aws",
    "KX_JUPYTER_REGION": "us-east-1",
    "KX_JUPYTER_CODE_BUCKET": CODE_BUCKET,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}
ENV_CASES = {
    "unreachable endpoint": (
        {
            **AWS_BASE,
            "KX_JUPYTER_ENDPOINT_URL": "http://127.0.0.1:9",
            "KX_JUPYTER_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
            "AWS_SECRET_ACCESS_KEY": "not-a-secret",
        },
        ["cannot reach the endpoint", "endpoint_url"],
    ),
    "wrong credentials": (
        {
            **AWS_BASE,
            "KX_JUPYTER_ENDPOINT_URL": "{endpoint}",
            "KX_JUPYTER_S3_ENDPOINT_URL": "{endpoint}",
            "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG0",
            "AWS_SECRET_ACCESS_KEY": "wrong-secret",
        },
        ["denied"],
    ),
    "aws backend without a code bucket": (
        {
            **AWS_BASE,
            "KX_JUPYTER_CODE_BUCKET": "",
            "KX_JUPYTER_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
            "AWS_SECRET_ACCESS_KEY": "x",
        },
        ["no code bucket", "--bucket"],
    ),
    "local plane not running": (
        {"KX_JUPYTER_HOME": "{empty_home}"},
        ["not running", "kx-jupyter local start"],
    ),
    "workspace over the size limit": (
        {"KX_JUPYTER_MAX_BUNDLE_MB": "1"},
        ["bundle limit", "max_bundle_mb"],
        "huge",
    ),
    "setting with a bad value": ({"KX_JUPYTER_STRATEGY": "SOMETIMES"}, ["KX_JUPYTER_STRATEGY"]),
}


def run_cli(argv, capsys) -> tuple[int, str]:
    try:
        code = cli_main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out + err


def _fill(value: str, corpus: Corpus) -> str:
    names = {k: str(v) for k, v in corpus.ws.items()}
    names.update(endpoint=corpus.plane.info.endpoint, empty_home=str(corpus.base / "empty-home"))
    return value.format(**names) if "{" in value else value


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_refuses_bad_input_clearly(case, corpus, capsys):
    argv, phrases = CLI_CASES[case]
    before = corpus.snapshot()
    code, text = run_cli([_fill(a, corpus) for a in argv], capsys)
    assert code == 2, text
    assert_clear(text, corpus, *phrases)
    assert corpus.snapshot() == before


@pytest.mark.parametrize("case", list(ENV_CASES))
def test_cli_refuses_bad_settings_and_backends_clearly(case, corpus, capsys, monkeypatch):
    env, phrases, *src = ENV_CASES[case]
    (corpus.base / "empty-home").mkdir(exist_ok=True)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, _fill(value, corpus))
    before = corpus.snapshot()
    code, text = run_cli(
        ["update", "--cluster", "dev-gp", "--src", str(corpus.ws[src[0] if src else "ok"])], capsys
    )
    assert code == 2, text
    assert_clear(text, corpus, *phrases)
    assert corpus.snapshot() == before


@pytest.mark.parametrize("as_json", [False, True])
def test_diff_reports_zip_slip_entries_without_extracting_them(corpus, capsys, as_json):
    before = corpus.snapshot()
    code, text = run_cli(
        ["diff", "hdb-3", "--src", str(corpus.ws["ok"])] + (["--json"] if as_json else []), capsys
    )
    assert code == 0, text
    assert_clear(text, corpus, "../evil.q", "/etc/abs.q", "lib/../../up.q")
    if not as_json:
        assert "! ../evil.q" in text  # marked unsafe, never compared or written
    assert not (corpus.base / "evil.q").exists() and not (corpus.ws["ok"].parent / "evil.q").exists()
    assert corpus.snapshot() == before


# -- the magics --------------------------------------------------------------------------------


@pytest.fixture
def shell(corpus, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("KX_JUPYTER_HOME", str(corpus.plane.settings.home))
    ip = InteractiveShell.instance()
    ip.config.KxJupyter.home = str(corpus.plane.settings.home)
    ip.config.KxJupyter.workspace = str(corpus.ws["ok"])
    ip.run_line_magic("load_ext", "kx_jupyter")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "kx_jupyter")
        del ip.config["KxJupyter"]


MAGIC_CASES = {
    "%kx_update with a bad cluster name": ("%kx_update --cluster 'bad name!'", ["--cluster"]),
    "%kx_update with an unknown option": (
        "%kx_update --cluster dev-gp --bogus",
        ["unrecognized arguments: --bogus"],
    ),
    "%kx_update with an unbalanced quote": ('%kx_update --cluster "dev-gp', ["quotation"]),
    "%kx_update with a missing workspace": (
        "%kx_update --cluster dev-gp --src /nonexistent/kx-ws",
        ["not a directory"],
    ),
    "%kx_update with an argument without a key": ("%kx_update --cluster dev-gp --arg =v", ["KEY=VALUE"]),
    "%kx_update with secrets in the workspace": (
        "%kx_update --cluster dev-gp --src {secret_env}",
        ["secrets", ".env"],
    ),
    "%kx_update with broken q": ("%kx_update --cluster dev-gp --src {broken}", ["q checker found errors"]),
    "%kx_update with a symlink out of the tree": (
        "%kx_update --cluster dev-gp --src {link_dir}",
        ["outside the workspace"],
    ),
    "%%kx_file outside the workspace": ("%%kx_file ../escape.q\nx:1\n", ["not inside the workspace"]),
    "%%kx_file with an absolute path": ("%%kx_file /tmp/kx-escape.q\nx:1\n", ["not inside the workspace"]),
    "%%kx_file without a name": ("%%kx_file\nx:1\n", ["path"]),
    "%kx_rollback of a cluster that does not exist": ("%kx_rollback nosuch", ["nosuch does not exist"]),
    "%kx_status with a bad cluster name": ("%kx_status 'bad!'", ["--cluster"]),
    "%kx_history with a limit that is not a number": ("%kx_history --limit ten", ["invalid int"]),
    "%kx_check of a missing workspace": ("%kx_check --src /nonexistent/kx-ws", ["not a directory"]),
}


@pytest.mark.parametrize("case", list(MAGIC_CASES))
def test_magics_refuse_bad_input_clearly(case, corpus, shell, capsys):
    from IPython.core.error import UsageError

    source, phrases = MAGIC_CASES[case]
    before = corpus.snapshot()
    result = shell.run_cell(_fill(source, corpus), store_history=False)
    out, err = capsys.readouterr()
    assert isinstance(result.error_in_exec, UsageError), (result.error_in_exec, out, err)
    assert_clear(f"{result.error_in_exec}\n{out}\n{err}", corpus, *phrases)
    assert "UsageError" in out + err  # IPython's one-line error display, not a traceback
    assert corpus.snapshot() == before
    assert not Path("/tmp/kx-escape.q").exists() and not (corpus.ws["ok"].parent / "escape.q").exists()


def test_kx_diff_marks_zip_slip_entries(corpus, shell, capsys):
    before = corpus.snapshot()
    result = shell.run_cell("%kx_diff hdb-3", store_history=False)
    assert result.error_in_exec is None
    text, html = repr(result.result), result.result._repr_html_()
    assert_clear(text, corpus, "../evil.q", "/etc/abs.q")
    assert "../evil.q" in html
    assert corpus.snapshot() == before


# -- the form's validation ---------------------------------------------------------------------


@pytest.fixture
def deploy_form(corpus):
    pytest.importorskip("anywidget")
    from kx_jupyter.config import load_settings
    from kx_jupyter.ui.form import form

    return form(load_settings(home=str(corpus.plane.settings.home), workspace=str(corpus.ws["ok"])))


ARGUMENT_CASES = {
    "key starting with a digit": ([("1abc", "v")], ["key"]),
    "key reserved for AWS": ([("awsKey", "v")], ["key"]),
    "value with a character the API refuses": ([("mode", "a=b")], ["value"]),
    "value longer than the API allows": ([("mode", "v" * 1025)], ["value", "1025"]),
    "value without a key": ([("", "v")], ["key"]),
    "key given twice": ([("mode", "a"), ("mode", "b")], ["given twice"]),
}


@pytest.mark.parametrize("case", list(ARGUMENT_CASES))
def test_form_refuses_bad_arguments_before_push(case, corpus, deploy_form):
    rows, phrases = ARGUMENT_CASES[case]
    before = corpus.snapshot()
    assert deploy_form.push_problems() == []  # a good form can push ...
    for key, value in rows:
        deploy_form.add_argument(key, value)
    problems = deploy_form.push_problems()
    assert problems and deploy_form.push_button.disabled  # ... this one cannot
    assert_clear("; ".join(problems), corpus, *phrases)
    deploy_form.push_button.click()  # a click on a disabled button does nothing
    assert deploy_form.deployment is None
    assert corpus.snapshot() == before


FILE_NAME_CASES = {
    "name climbing out of the workspace": ("../escape", "not a workspace file name"),
    "absolute name": ("/etc/passwd", "not a workspace file name"),
    "empty name": ("", "no file name"),
    "name with a space": ("my file", "not a workspace file name"),
    "hidden name": ("lib/.hidden", "not a workspace file name"),
}


@pytest.mark.parametrize("case", list(FILE_NAME_CASES))
def test_form_refuses_bad_file_names(case, corpus, deploy_form):
    from kx_jupyter.errors import KxError

    name, phrase = FILE_NAME_CASES[case]
    with pytest.raises(KxError) as err:
        deploy_form.workspace.create(name, "x:1\n")
    assert_clear(str(err.value), corpus, phrase)
    assert sorted(p.name for p in corpus.ws["ok"].rglob("*")) == ["init.q"]
