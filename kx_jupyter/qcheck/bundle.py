"""Checks that need the whole bundle: the init script, what it loads, and the deployment's arguments.

Loads are resolved the way q resolves them on a cluster: relative to the process's working
directory, which starts at the code root ``/opt/kx/app/code`` (where the bundle unpacks)
and moves with every ``\\cd`` / ``system "cd ..."`` run at load time, in load order.
Absolute paths under the code root name bundle files; paths under ``/opt/kx/app/db`` and
``/opt/kx/app/shared`` are databases and volumes, not code, and are not checked.
"""

from __future__ import annotations

import gc
import os
import posixpath
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..finspace.rules import PLAIN_RULES, check_value
from .diagnostic import sort_key
from .parallel import analyze_files
from .rules import diag
from .source import FileReport, analyze
from .symbols import SymbolTable, body_names

if TYPE_CHECKING:
    from .cache import ReportCache

APP_ROOT = "/opt/kx/app"  # AWS's examples \\cd here on purpose, so db-relative reads work
CODE_ROOT = "/opt/kx/app/code"
DATA_ROOTS = ("/opt/kx/app/db", "/opt/kx/app/shared")
ARGS_PATH = "<args>"
SCRIPT_SUFFIXES = (".q",)
LOADED_SUFFIXES = (".q", ".k")  # a .k file is lexed when the load graph reaches it
# rules about what FinSpace refuses: errors only in files the initialization script loads
POLICY_RULES = {"Q030", "Q031"}
SKIP_DIRS = {"__pycache__", "node_modules"}  # and every hidden directory


def _norm(name: str) -> str:
    if "\\" not in name and name[:1] not in ("/", "."):
        return name  # the common case, without a copy
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


class _Bundle:
    """The bundle's files and directories, and each script's analysis, made once on demand."""

    def __init__(
        self, files: Mapping[str, bytes], scripts: Iterable[str], cache: ReportCache | None, progress=None
    ):
        self.files = {_norm(k): v for k, v in files.items() if not k.endswith("/")}
        self.cache = cache
        self.progress = progress  # progress(files, bytes, all files, all bytes) after each first analysis
        if progress is not None:
            self._planned = (len(scripts), sum(len(self.files.get(n, b"")) for n in scripts))
            self._analyzed, self._read = set(), 0
        self.dirs = set()  # every directory holding a file, at any depth
        for parent in {name.rpartition("/")[0] for name in self.files}:  # files share directories
            while parent and parent not in self.dirs:  # a directory seen has had its ancestors added
                self.dirs.add(parent)
                parent = parent.rpartition("/")[0]
        self.reports: dict[str, FileReport] = {}
        # .Q.opt dictionaries held in globals, which any file may read. Every file is analyzed once
        # knowing none of them (on every core when the workspace is large: no file waits for
        # another); the few that read a name one of them has (FileReport.dict_names) are analyzed
        # again knowing just those, so a file's report (and cache entry) depends on no dictionary it
        # does not read
        self.shared: dict = {}
        names = [n for n in scripts if n in self.files]
        made = self._analyze_all(dict.fromkeys(names))
        alone = {name: self._analyze(name, None, made) for name in names}
        for name in names:
            self.shared.update(alone[name].opt_vars)
        again = {}
        for name in names:
            wanted = self._dictionaries(alone[name])
            if wanted:
                again[name] = wanted
            else:
                self.reports[name] = alone[name]
        knowing = self._analyze_all(again)
        for name, wanted in again.items():
            self.reports[name] = self._analyze(name, wanted, knowing)

    def _dictionaries(self, alone: FileReport) -> dict:
        """The other files' .Q.opt dictionaries (name -> keys with defaults) that a file, analyzed
        knowing none (``alone``), reads. A dictionary named ``set`` stops the rule pass reading
        ``set`` as ``set``: every file is analyzed knowing it."""
        shared, own = self.shared, alone.opt_vars
        return {
            v: shared[v]
            for v in (alone.dict_names | {"set"} if "set" in shared else alone.dict_names)
            if v in shared and v not in own
        }

    def _analyze_all(self, opt_vars_of: dict) -> dict:
        """Reports of these files (name -> the .Q.opt dictionaries to analyze it with) that no cache
        holds, made on every core when they are large enough to pay for it; else {} (made one by one)."""
        names = list(opt_vars_of)
        if self.cache is not None:  # their stored reports in a few queries, not one each
            names = self.cache.prefetch((self.files[n], n, opt_vars_of[n]) for n in names)
        # as a fresh worker analyzes them (qcheck/worker.py): a description it can receive, no closure
        return analyze_files(
            [(n, self.files[n], opt_vars_of[n]) for n in names],
            lambda n, data, opt_vars: analyze(_decode(data), n, opt_vars),
        )

    def report(self, name: str) -> FileReport:
        """A file's report (one the load graph reaches that is not a script is analyzed now)."""
        if name not in self.reports:
            alone = self._analyze(name, None)
            wanted = self._dictionaries(alone)
            self.reports[name] = self._analyze(name, wanted) if wanted else alone
        return self.reports[name]

    def _analyze(self, name: str, opt_vars: dict | None, ready: dict | None = None) -> FileReport:
        """``ready``: reports made on other cores, by name, taken from there."""
        data = self.files[name]

        def run() -> FileReport:
            if ready and name in ready:
                return ready.pop(name)
            return analyze(_decode(data), name, opt_vars)

        report = run() if self.cache is None else self.cache.report(data, name, opt_vars, run)
        if self.progress is not None and name not in self._analyzed:
            self._analyzed.add(name)
            self._read += len(data)
            self.progress(len(self._analyzed), self._read, *self._planned)
        return report

    def suggest(self, rel: str) -> str:
        import difflib  # only for a missing file's suggestion: not on every start

        close = difflib.get_close_matches(rel, list(self.files), n=1, cutoff=0.8)
        return f" (did you mean {close[0]}?)" if close else ""


@contextmanager
def _no_collection():
    """Checking allocates millions of small acyclic tuples; the cyclic collector re-scanning them cost ~25%."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def check_bundle(
    files: Mapping[str, bytes],
    init_script: str | None,
    args: Mapping[str, str] | None = None,
    cache: ReportCache | None = None,
    progress=None,
) -> list:
    """Every diagnostic for a bundle: each q file, the init script and what it loads, the arguments.

    ``files`` maps zip-relative paths to contents; ``args`` are the deployment's command-line
    arguments (``None``: unknown, so argument checks are skipped); no ``init_script`` (None or
    empty) skips the init script and load checks. ``cache`` keeps each file's own findings
    across processes; the result is the same with or without it. ``progress(files, bytes,
    all files, all bytes)`` is called as each script's findings are in (a push's progress line).
    """
    with _no_collection():
        return _check_bundle(files, init_script, args, cache, progress)


def _check_bundle(files, init_script, args, cache, progress=None) -> list:
    init = _norm(init_script) if init_script else None
    scripts = sorted(n for n in map(_norm, files) if n.endswith(SCRIPT_SUFFIXES) or n == init)
    bundle = _Bundle(files, scripts, cache, progress)
    out: list = []
    reachable = None
    dynamic = False
    if init_script:
        reachable, dynamic = _check_init(bundle, init_script, out)
    names = set(scripts) | (reachable or set())
    for name in scripts if len(names) == len(scripts) else sorted(names):  # scripts are sorted: no re-sort
        if name in bundle.files:
            out.extend(_policy(bundle.report(name).diags, reachable, dynamic, init))
    if args is not None:
        out.extend(_check_args(args))
        out.extend(_unpassed_args(bundle, reachable if reachable is not None else set(bundle.reports), args))
    if cache is not None:
        cache.flush()
    return _visible(bundle, out)


def _policy(diags, reachable, dynamic, init):
    """FinSpace-policy errors count where the initialization script loads the file; elsewhere they warn."""
    if reachable is None:
        return diags
    out = []
    for d in diags:
        if d.rule in POLICY_RULES and d.severity == "error" and d.path not in reachable:
            maybe = " unless a load built at run time reaches it" if dynamic else ""
            d = diag(
                "Q037",
                d.path,
                d.line,
                d.col,
                f"{init} does not load this file{maybe}, so this is not an error here: {d.message}",
            )
        out.append(d)
    return out


def check_dir(
    root: Path,
    init_script: str | None,
    args: Mapping[str, str] | None = None,
    files: Iterable[str] | None = None,
) -> list:
    """``check_bundle`` over a directory: every non-hidden file, or only ``files`` (relative paths).

    A push bundles what ``deploy.bundle.collect`` selects (``.kxignore``); pass its names as
    ``files`` to check exactly that.
    """
    root = Path(root)
    names = sorted(_norm(f) for f in files) if files is not None else _walk(root)
    contents = {}
    init = _norm(init_script) if init_script else None
    for name in names:
        p = root / name
        if not p.is_file():
            continue
        # only scripts are read; other files only need to exist
        contents[name] = p.read_bytes() if name.endswith(SCRIPT_SUFFIXES) or name == init else b""
    return check_bundle(contents, init_script, args)


def _walk(root: Path) -> list:
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        rel = os.path.relpath(dirpath, root)
        for f in sorted(filenames):
            if not f.startswith("."):
                names.append(_norm(f if rel == "." else f"{rel}/{f}"))
    return names


def _visible(bundle: _Bundle, diags: list) -> list:
    out = []
    for d in diags:
        rep = bundle.reports.get(d.path)
        if rep is None or not rep.suppressions.silences(d.rule, d.line):
            out.append(d)
    return sorted(set(out), key=sort_key)


def _check_init(bundle: _Bundle, init_script: str, out: list) -> set:
    for v in check_value("InitializationScriptFilePath", init_script, "initializationScript"):
        out.append(
            diag("Q025", init_script, 1, 1, f"the API rejects this initialization script path: {v.message}")
        )
    init = _norm(init_script)
    if init not in bundle.files:
        out.append(
            diag(
                "Q020",
                init_script,
                1,
                1,
                f"initialization script {init} is not in the bundle{bundle.suggest(init)}: add it "
                f"or fix the initialization script setting",
            )
        )
        return None, False
    run = _Run(bundle, out)
    run.script(init, CODE_ROOT)
    run.report_undefined()
    return run.reached, run.dynamic


def _where(cwd: str | None, target: str):
    """(absolute path, zone) for a target: zone is 'code', 'data', 'outside', or 'unknown' (cwd set at run time)."""
    if target.startswith("/"):
        full = posixpath.normpath(target)
    elif cwd is None:
        return None, "unknown"
    else:
        full = posixpath.normpath(posixpath.join(cwd, target))
    if full == CODE_ROOT or full.startswith(CODE_ROOT + "/"):
        return full, "code"
    if full == APP_ROOT or any(full == r or full.startswith(r + "/") for r in DATA_ROOTS):
        return full, "data"
    return full, "outside"


class _Run:
    """One start of a node: the init script and what it loads, in load order, with the symbol table."""

    def __init__(self, bundle: _Bundle, out: list, keep_names: bool = False):
        self.bundle, self.out = bundle, out
        self.reached: set = set()
        self.stack: list = []
        self.table = SymbolTable(keep_names)
        self.dynamic = False  # a load built at run time: any file may be reached
        self.undefined: dict = {}  # (file, name) -> [line, col, later uses] of a name used before any definition

    def unknown_load(self) -> None:
        self.table.opaque = True  # what it defines is not known

    def script(self, name: str, cwd):
        """Follow ``name`` as q runs it at load time; returns the working directory it leaves behind."""
        bundle, out, stack = self.bundle, self.out, self.stack
        self.reached.add(name)
        rep = bundle.report(name)
        stack.append(name)
        table = self.table
        for kind, target, line, col, at_load in rep.steps:
            if kind == "defs":  # the commonest step, without a call
                table.define(target)
                continue
            if kind in ("use", "call", "opaque", "loader", "fn"):
                self._symbol(name, kind, target, line, col, at_load)
                continue
            if kind == "quit":
                if at_load:
                    what = (
                        "the initialization script"
                        if not stack[:-1]
                        else f"{name}, which the initialization script loads,"
                    )
                    out.append(
                        diag(
                            "Q023",
                            name,
                            line,
                            col,
                            f"{what} quits the q process here, so the cluster node stops: remove it",
                        )
                    )
                continue
            if kind == "cd" and not at_load:
                continue  # a function's cd runs when it is called, with a directory we cannot know
            if target is None:
                verb = "loads a file" if kind == "load" else "changes directory"
                out.append(
                    diag(
                        "Q022",
                        name,
                        line,
                        col,
                        f"{verb} through a path built at run time, which cannot be checked offline: "
                        f"make sure it names a file of the bundle",
                    )
                )
                if kind == "cd":
                    cwd = None
                elif at_load:
                    self.dynamic = True
                    self.unknown_load()
                continue
            full, zone = _where(cwd, target)
            if zone == "unknown":
                out.append(
                    diag(
                        "Q022",
                        name,
                        line,
                        col,
                        f"'{target}' is relative to a working directory set at run time, which cannot be checked offline",
                    )
                )
                if kind == "load" and at_load:
                    self.dynamic = True
                    self.unknown_load()
                continue
            if zone != "code" and kind == "load" and at_load:
                self.unknown_load()  # a database or a file outside the bundle: its names are not known
            if zone == "outside":
                fix = "load it from the bundle" if kind == "load" else "stay under those directories"
                out.append(
                    diag(
                        "Q024",
                        name,
                        line,
                        col,
                        f"'{target}' resolves to {full}, outside {CODE_ROOT} (the bundle), "
                        f"/opt/kx/app/db and /opt/kx/app/shared, and a cluster has nothing else: {fix}",
                    )
                )
            elif zone == "code":
                rel = full[len(CODE_ROOT) + 1 :]
                if kind == "cd":
                    if rel and rel not in bundle.dirs:
                        out.append(
                            diag(
                                "Q021",
                                name,
                                line,
                                col,
                                f"'\\cd {target}' changes to {full}, but the bundle has no "
                                f"directory {rel}: add it or fix the path",
                            )
                        )
                elif rel in bundle.files:
                    if at_load and rel.endswith(LOADED_SUFFIXES) and rel not in stack:
                        cwd = self.script(rel, cwd)
                    elif at_load and not rel.endswith(LOADED_SUFFIXES):
                        self.unknown_load()
                elif not rel or rel in bundle.dirs:
                    if at_load:
                        self.unknown_load()  # \\l . or \\l db: a database (re)load defines its tables
                else:
                    where = (
                        "" if cwd == CODE_ROOT or target.startswith("/") else f" (working directory {cwd})"
                    )
                    fix = f"add {rel} to the bundle or fix the path"
                    if at_load:
                        self.unknown_load()
                        out.append(
                            diag(
                                "Q021",
                                name,
                                line,
                                col,
                                f"loads '{target}', which resolves to {full}{where} and is not in "
                                f"the bundle{bundle.suggest(rel)}: {fix}",
                            )
                        )
                    else:
                        out.append(
                            diag(
                                "Q026",
                                name,
                                line,
                                col,
                                f"a function here loads '{target}'; from the working directory at "
                                f"load time that is {full}{where}, which is not in the bundle{bundle.suggest(rel)}: {fix}",
                            )
                        )
            if kind == "cd":
                cwd = full
        stack.pop()
        return cwd

    def _symbol(self, name, kind, target, line, col, ns) -> None:
        table = self.table
        if kind == "opaque":
            table.opaque = True
        elif kind == "loader":
            table.loaders.add(target.rsplit(".", 1)[-1])
        elif kind == "fn":  # [name, body span] of each function a run of definitions defines
            table.add_functions(partial(_body_names, self.bundle.files[name]), target)
        elif table.loaders and not table.opaque and table.may_load(target):
            table.opaque = True  # this may call a function that loads files: its names are unknown
        elif kind == "use" and not table.knows(target, ns):
            if self.bundle.report(name).suppressions.silences("Q028", line):
                return
            first = self.undefined.get((name, target))
            if first is None:
                self.undefined[(name, target)] = [line, col, 0]
            else:
                first[2] += 1  # q stops at the first use: one finding per name and file

    def report_undefined(self) -> None:
        for (name, target), (line, col, more) in self.undefined.items():
            times = "1 more time" if more == 1 else f"{more} more times"
            also = f" (it is used {times} before anything defines it)" if more else ""
            self.out.append(
                diag(
                    "Q028",
                    name,
                    line,
                    col,
                    f"'{target}' is used here while {name} loads, but no file loaded before this line "
                    f"and no q built-in defines it: q stops with '{target}; define or load it first{also}",
                )
            )


def _body_names(data: bytes, span) -> set:
    return body_names(_decode(data), span)


def defined_names(files: Mapping[str, bytes], init_script: str) -> list:
    """The globals the initialization script and what it loads define, in load order's union (for autocomplete)."""
    bundle = _Bundle(files, [], None)
    init = _norm(init_script)
    if init not in bundle.files:
        return []
    run = _Run(bundle, [], keep_names=True)
    run.script(init, CODE_ROOT)
    return sorted(run.table.names)


def _check_args(args: Mapping[str, str]) -> list:
    """Keys and values the API would refuse, in the words the plane and the form use too."""
    out = []
    for i, (key, value) in enumerate(args.items()):
        line, field = i + 1, f"commandLineArguments[{i}]"
        if key.startswith("-"):
            bare = key.lstrip("-")
            out.append(
                diag(
                    "Q032",
                    ARGS_PATH,
                    line,
                    1,
                    f"argument key {key!r}: write {bare!r} without the '-'; q receives it as -{bare}",
                )
            )
        elif check_value("KxCommandLineArgumentKey", key, f"{field}.key"):
            out.append(
                diag(
                    "Q032",
                    ARGS_PATH,
                    line,
                    1,
                    f"argument key {key!r} is rejected by the API: use {PLAIN_RULES['KxCommandLineArgumentKey']}",
                )
            )
        text = value if isinstance(value, str) else str(value)
        if check_value("KxCommandLineArgumentValue", text, f"{field}.value"):
            out.append(
                diag(
                    "Q033",
                    ARGS_PATH,
                    line,
                    1,
                    f"value {text!r} of argument {key!r} is rejected by the API: use "
                    f"{PLAIN_RULES['KxCommandLineArgumentValue']}",
                )
            )
    return out


def _unpassed_args(bundle: _Bundle, names: set, args: Mapping[str, str]) -> list:
    reads = {"Q034": [], "Q035": []}
    for name in sorted(names):
        for key, line, col, has_default in bundle.report(name).arg_reads:
            if key not in args:
                reads["Q035" if has_default else "Q034"].append((name, line, col, key))
    out = []
    for name, line, col, key in reads["Q035"]:
        out.append(
            diag(
                "Q035",
                name,
                line,
                col,
                f"the deployment does not pass '{key}', so its .Q.def default is used; add --arg {key}=... to set it",
            )
        )
    if not args:
        return out + _no_args_given(reads["Q034"])
    for name, line, col, key in reads["Q034"]:
        out.append(
            diag(
                "Q034",
                name,
                line,
                col,
                f"reads argument '{key}' from .Q.opt .z.x, but the deployment does not pass it (it "
                f"will be missing): add --arg {key}=... or give it a default with .Q.def",
            )
        )
    return out


def _no_args_given(reads: list) -> list:
    """No arguments at all: one line naming every key read without a default, not one per read."""
    if not reads:
        return []
    keys = sorted({key for *_, key in reads})
    name, line, col, _ = reads[0]
    return [
        diag(
            "Q034",
            name,
            line,
            col,
            f"no arguments are given, and the code reads {len(keys)} with .Q.opt .z.x and no default "
            f"({', '.join(keys)}; first here): add --arg KEY=VALUE for each, or give them defaults with .Q.def",
        )
    ]
