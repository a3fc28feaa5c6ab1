"""The checker against the corpus in tests/qcheck_corpus: exact rule ids and positions per case.

``*.cases`` files hold many small cases ("=== name", q source or "+++ path" files, "----",
expected "line:col RULE" / "path:line:col RULE" lines; "%% ..." lines set options). Every
``clean/*.q`` file is a substantial real-world script that must produce no diagnostics.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kx_jupyter.qcheck import RULES, check_bundle, check_source

CORPUS = Path(__file__).parent / "qcheck_corpus"


def _parse(path: Path):
    name, lines = None, []
    for raw in path.read_text(encoding="utf-8").split("\n") + ["=== <end>"]:
        if raw.startswith("=== "):
            if name is not None:
                yield name, lines
            name, lines = raw[4:].strip(), []
        elif name is not None:
            lines.append(raw)


def _case(lines):
    body, expected = lines[: lines.index("----")], [e for e in lines[lines.index("----") + 1 :] if e.strip()]
    opts = {}
    while body and body[0].startswith("%% "):
        key, _, value = body.pop(0)[3:].partition(" ")
        opts[key] = value
    files, current = {}, None
    for line in body:
        if line.startswith("+++ "):
            current = line[4:]
            files[current] = []
        elif current is not None:
            files[current].append(line)
    return body, files, opts, expected


def _cases():
    for path in sorted(CORPUS.glob("*.cases")):
        for name, lines in _parse(path):
            yield pytest.param(lines, id=f"{path.stem}: {name}")


def _text(lines, opts):
    text = "\n".join(lines).rstrip("\n") + "\n"
    if "crlf" in opts:
        text = text.replace("\n", "\r\n")
    if "bom" in opts:
        text = "\ufeff" + text
    return text


@pytest.mark.parametrize("lines", list(_cases()))
def test_corpus_case(lines):
    body, files, opts, expected = _case(lines)
    if files:
        args = None
        if "args" in opts:
            args = dict(kv.split("=", 1) for kv in opts["args"].split())
        contents = {p: _text(ls, {}).encode() for p, ls in files.items()}
        diags = check_bundle(contents, opts.get("init"), args)
        got = [f"{d.path}:{d.line}:{d.col} {d.rule}" for d in diags]
    else:
        diags = check_source(_text(body, opts), "t.q")
        got = [f"{d.line}:{d.col} {d.rule}" for d in diags]
    assert sorted(got) == sorted(expected), "\n".join(str(d) for d in diags)
    for d in diags:
        assert d.severity == RULES[d.rule][0]
        assert d.message and d.message[0] != " "


CLEAN = sorted(CORPUS.glob("clean/*.q"))


@pytest.mark.parametrize("path", CLEAN, ids=[p.name for p in CLEAN])
def test_real_world_script_is_clean(path):
    assert check_source(path.read_text(), path.name) == []


def test_corpus_is_large():
    assert len(list(_cases())) + len(CLEAN) >= 120
