"""The update options are one definition: the CLI and %kx_update parse the same words the same way."""

import argparse

import pytest

from kx_jupyter.errors import KxError
from kx_jupyter.options import add_update_arguments, settings_overrides, update_kwargs


def parse(*words):
    return add_update_arguments(argparse.ArgumentParser(prog="t")).parse_args(list(words))


def test_every_option_reaches_the_engine():
    ns = parse(
        "--env",
        "e1",
        "--cluster",
        "dev-gp",
        "--src",
        "ws",
        "--init",
        "app/init.q",
        "--arg",
        "a=1",
        "--arg",
        "dbdir=/opt/kx/app/db",
        "--strategy",
        "force",
        "--bucket",
        "b",
        "--prefix",
        "p/",
        "--no-wait",
        "--timeout",
        "60",
        "--dry-run",
        "--no-check",
        "--force",
        "--json",
        "--note",
        "why",
    )
    assert update_kwargs(ns) == {
        "cluster": "dev-gp",
        "env": "e1",
        "src": "ws",
        "init": "app/init.q",
        "args": {"a": "1", "dbdir": "/opt/kx/app/db"},
        "strategy": "FORCE",
        "force": True,
        "check": False,
        "wait": False,
        "dry_run": True,
        "note": "why",
    }
    assert settings_overrides(ns) == {"code_bucket": "b", "code_prefix": "p/", "timeout": 60.0}
    assert ns.json


def test_defaults_leave_settings_alone():
    ns = parse()
    assert settings_overrides(ns) == {"code_bucket": None, "code_prefix": None, "timeout": None}
    kwargs = update_kwargs(ns)
    assert kwargs["args"] is None and kwargs["check"] and kwargs["wait"] and not kwargs["dry_run"]


def test_value_may_contain_equals():
    assert update_kwargs(parse("--arg", "expr=a=b"))["args"] == {"expr": "a=b"}


@pytest.mark.parametrize(
    "words,says",
    [
        (["--arg", "novalue"], "is not KEY=VALUE"),
        (["--arg", "=x"], "is not KEY=VALUE"),
        (["--strategy", "SOMETIMES"], "invalid choice"),
    ],
)
def test_bad_words_are_usage_errors(words, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(*words)
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err


def test_duplicate_arg_keys_are_refused():
    with pytest.raises(KxError, match="--arg a is given twice"):
        update_kwargs(parse("--arg", "a=1", "--arg", "a=2"))
