"""The code bundle: which workspace files go in, and a zip that is the same bytes for the same files.

Determinism is what makes the S3 key content-addressed: entries are sorted and carry no
time or permission of their own (``kx_jupyter.zipwrite``), so an unchanged workspace hashes to the
same SHA-256 and is never uploaded twice.

Selection uses gitignore syntax: built-in excludes first, then the workspace's
``.kxignore`` (so ``!*.ipynb`` there re-includes notebooks). Files that look like secrets,
by name or by content (``secrets``), are refused unless ``.kxignore`` names them with a
``!`` rule: better a clear stop than a key shipped to every node.

Links: a symbolic link inside the workspace is followed, file or directory, and its target
is bundled under the link's name too (a zip holds no links); a link leading outside the
workspace, or to a directory it sits in (a cycle, directly or through other links), is
refused with its name.

Nothing is read before the size limit is checked against the files' sizes on disk, and
files are then streamed: a bundle holds in memory only the q scripts the checker reads;
the zip is a temporary file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from ..errors import KxError
from ..zipwrite import ZipWriter
from .secrets import NAMES as LIKELY_SECRETS
from .secrets import ChunkScan, Finding, finding, first_secret

IGNORE_FILE = ".kxignore"

DEFAULT_EXCLUDES = (
    ".git/",
    ".hg/",
    ".svn/",
    ".bzr/",
    ".ipynb_checkpoints/",
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".mypy_cache/",
    "*.ipynb",
    ".DS_Store",
    "Thumbs.db",
    ".vscode/",
    ".idea/",
    "*.swp",
    "*~",
    ".venv/",
    "venv/",
    "node_modules/",
    IGNORE_FILE,
)
SCRIPT_SUFFIX = ".q"  # the checker reads these (and the init script); other files only need to exist
CHUNK = 1 << 20  # files larger than this are streamed in pieces of this size
OUT_BUFFER = 1 << 20  # the zip goes to a temporary file through a buffer of this size
LARGEST_NAMED = 5  # the size-limit refusal names this many of the largest files


class WorkspaceFile(NamedTuple):  # a tuple: workspaces of tens of thousands of files are listed quickly
    name: str  # zip-relative, '/'-separated
    path: str
    size: int  # as stat saw it; what is read may differ if the file changes meanwhile


@dataclass(frozen=True)
class Bundle:
    """A built bundle: the zip (a stream), its size and SHA-256, and its files for the checker.

    ``files`` maps every bundled path to its content when the checker reads it (q scripts and
    the init script) and to ``b""`` otherwise: the checker needs the others only to exist.
    """

    root: Path
    files: dict[str, bytes]
    size: int
    sha256: str
    zip: IO[bytes] = field(repr=False, compare=False)

    def open(self) -> IO[bytes]:
        """The zip, positioned at its start (for an upload)."""
        self.zip.seek(0)
        return self.zip

    @property
    def data(self) -> bytes:
        return self.open().read()

    def summary(self) -> dict:
        return {"sha256": self.sha256, "bytes": self.size, "files": sorted(self.files)}


def _spec(lines):
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _any_of(*specs) -> Callable[[str], object]:
    """A test passed (a true result) by exactly the paths some pattern of ``specs`` matches, in one search.

    gitignore patterns compile to ``^(?:.+/)?X``: X at the start or after a '/'. One alternation
    of the X's behind ``(?:^|/)`` tests all of them at about a tenth of the cost, so the full,
    ordered evaluation runs only for the few paths that can match.
    """
    floating, anchored = [], []
    for spec in specs:
        for p in spec.patterns:
            if p.include is None or p.regex is None:
                continue
            source = re.sub(r"\(\?P<\w+>", "(?:", p.regex.pattern)  # named groups cannot repeat
            if source.startswith(_FLOATING):
                floating.append(source[len(_FLOATING) :])
            else:
                anchored.append(source)
    alternatives = ([f"(?:^|/)(?:{'|'.join(floating)})"] if floating else []) + anchored
    if not alternatives:
        return lambda path: None
    return re.compile("|".join(alternatives)).search


_FLOATING = "^(?:.+/)?"


def _ignore_lines(root: Path) -> list[str]:
    path = root / IGNORE_FILE
    if not path.is_file():
        return []
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KxError(f"cannot read {path}: {exc}", hint="Fix the file's permissions or encoding.") from None


class _Rules:
    def __init__(self, root: Path):
        user = _ignore_lines(root)
        self.excluded = _spec(list(DEFAULT_EXCLUDES) + user)
        self.secret = _spec(LIKELY_SECRETS)
        explicit = _spec([line.strip()[1:] for line in user if line.strip().startswith("!")])
        self.notable = _any_of(self.excluded, self.secret)  # False: neither excluded nor a secret's name
        self.deliberate = _any_of(
            explicit
        )  # named with a ``!`` rule: included knowingly, whatever it looks like

    def skip(self, rel: str) -> bool:
        """Excluded (``rel`` ends with '/' for a directory)."""
        return self.excluded.match_file(rel)

    def refused_name(self, rel: str) -> bool:
        return self.secret.match_file(rel) and not self.deliberate(rel)


@dataclass
class _Selection:
    root: Path
    rules: _Rules
    files: list[WorkspaceFile]


def _workspace(src) -> Path:
    root = Path(src).expanduser()
    if not root.is_dir():
        raise KxError(
            f"the workspace {root} is not a directory", hint="Pass --src DIR or set KxJupyter.workspace."
        )
    return root.resolve()


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def select(src, max_bytes: int | None = None) -> _Selection:
    """The files a bundle of ``src`` holds, sorted, from names and sizes alone; raises KxError on bad input."""
    root = _workspace(src)
    rules = _Rules(root)
    files: list[WorkspaceFile] = []
    refused: list[Finding] = []
    real_root, notable, add = str(root), rules.notable, files.append  # the loop runs per file
    stack = [(str(root), "", (os.stat(root).st_dev, os.stat(root).st_ino), ())]
    while stack:
        here, prefix, key, ancestors = stack.pop()
        ancestors = (*ancestors, key)
        with os.scandir(here) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_dir():
                    if notable(rel + "/"):
                        if rules.skip(rel + "/"):
                            continue
                        if rules.refused_name(rel + "/"):
                            refused.append(Finding(rel + "/", 0, ""))
                            continue
                    if entry.is_symlink():
                        _check_link(entry, real_root, rel)
                    st = entry.stat()
                    if (st.st_dev, st.st_ino) in ancestors:
                        raise KxError(
                            f"{rel} is a symbolic link to {os.readlink(entry.path)}, a folder it is inside of: "
                            "bundling it would never end",
                            hint=f"Remove the link, or leave it out with a line '{rel}' in {IGNORE_FILE}.",
                        )
                    stack.append((entry.path, rel + "/", (st.st_dev, st.st_ino), ancestors))
                    continue
                if notable(rel):
                    if rules.skip(rel):
                        continue
                    if rules.refused_name(rel):
                        refused.append(Finding(rel, 0, ""))
                        continue
                if entry.is_symlink():
                    _check_link(entry, real_root, rel)
                if entry.is_file():  # sockets, fifos, dangling links inside the workspace are not code
                    add(WorkspaceFile(rel, entry.path, entry.stat().st_size))
    _refuse_secrets(root, refused)
    if not files:
        raise KxError(
            f"the workspace {root} has no files to bundle",
            hint=f"Put your q code there (e.g. init.q), or check the rules in {IGNORE_FILE}.",
        )
    total = sum(f.size for f in files)
    if max_bytes is not None and total > max_bytes:
        _refuse_size(root, files, total, max_bytes)
    files.sort()  # by name: tuples compare by their first field, and names are unique
    return _Selection(root, rules, files)


def _check_link(entry: os.DirEntry, real_root: str, rel: str) -> None:
    """A symbolic link must stay inside the workspace."""
    target = os.path.realpath(entry.path)
    if target != real_root and not target.startswith(real_root + os.sep):
        raise KxError(
            f"{rel} is a symbolic link to {os.readlink(entry.path)}, outside the workspace",
            hint=f"Copy the target into the workspace, or leave the link out in {IGNORE_FILE}.",
        )


def _refuse_size(root: Path, files: list[WorkspaceFile], total: int, max_bytes: int) -> None:
    largest = sorted(files, key=lambda f: (-f.size, f.name))[:LARGEST_NAMED]
    named = ", ".join(f"{f.name} ({_mb(f.size)})" for f in largest)
    raise KxError(
        f"the workspace {root} holds {_mb(total)} in {len(files)} files, over the bundle limit of "
        f"{max_bytes / 2**20:g} MB; the largest: {named}",
        hint=f"Leave large files out in {IGNORE_FILE}, or raise KxJupyter.max_bundle_mb.",
    )


def _refuse_secrets(root: Path, found: list[Finding]) -> None:
    if not found:
        return
    listed = "; ".join(map(str, found[:5])) + (" …" if len(found) > 5 else "")
    first = found[0].name.rstrip("/")
    raise KxError(
        f"refusing to bundle what looks like secrets: {listed}",
        hint=f"Leave them out with a line per file in {root / IGNORE_FILE}, "
        f"or include one deliberately with a '!{first}' line there.",
    )


def _read(f: WorkspaceFile) -> bytes:
    """A whole file (os.read: half the CPU of open().read() for the many small files of a workspace)."""
    fd = os.open(f.path, os.O_RDONLY)
    try:
        data = os.read(fd, f.size + 1)
        if len(data) > f.size:  # it grew since it was listed
            data += b"".join(iter(lambda: os.read(fd, CHUNK), b""))
        return data
    finally:
        os.close(fd)


def _read_each(
    selection: _Selection,
    max_bytes: int | None,
    keep: Callable[[str], bool],
    sink: ZipWriter | None,
    progress: Callable[[int, int, int, int], None] | None = None,
) -> dict[str, bytes]:
    """Read every selected file once: scan it for secrets, zip it into ``sink``, keep it if ``keep(name)``.

    The result maps each name to its content when kept, else ``b""``. ``progress(files, bytes,
    all files, all bytes)`` is called after each file (it decides itself how often to say so).
    """
    out: dict[str, bytes] = {}
    found: list[Finding] = []
    total = 0
    count, planned = 0, (len(selection.files), sum(f.size for f in selection.files))
    deliberate, add = (
        selection.rules.deliberate,
        sink.add if sink is not None else None,
    )  # the loop runs per file
    for f in selection.files:
        scan = not deliberate(f.name)
        kept = keep(f.name)
        try:
            if f.size <= CHUNK or kept:
                data = _read(f)
                total += len(data)
                hit = first_secret(data) if scan else None
                if add is not None:
                    add(f.name, data)
                out[f.name] = data if kept else b""
            else:
                chunks = _Streamed(f, ChunkScan() if scan else None)
                if sink is not None:
                    sink.add_stream(f.name, chunks, f.size)
                else:
                    for _ in chunks:
                        pass
                total += chunks.read
                hit = chunks.scan.hit if scan else None
                out[f.name] = b""
        except OSError as exc:
            raise KxError(
                f"cannot read {f.name} in the workspace: {exc.strerror or exc}",
                hint=f"Fix its permissions, or leave it out with a line '{f.name}' in {IGNORE_FILE}.",
            ) from None
        if max_bytes is not None and total > max_bytes:  # it grew since it was listed
            _refuse_size(selection.root, selection.files, total, max_bytes)
        if hit is not None:
            found.append(finding(f.name, f.path, hit))
        if progress is not None:
            count += 1
            progress(count, total, *planned)
    _refuse_secrets(selection.root, found)
    return out


class _Streamed:
    """A large file's chunks, each scanned for secrets on the way; ``read`` counts the bytes."""

    def __init__(self, f: WorkspaceFile, scan: ChunkScan | None):
        self.f, self.scan, self.read = f, scan, 0

    def __iter__(self) -> Iterator[bytes]:
        with open(self.f.path, "rb") as stream:
            while chunk := stream.read(CHUNK):
                self.read += len(chunk)
                if self.scan is not None:
                    self.scan.feed(chunk)
                yield chunk


def _is_script(init: str | None) -> Callable[[str], bool]:
    return lambda name: name.endswith(SCRIPT_SUFFIX) or name == init


def build(src, max_mb: float = 256.0, init: str | None = None, progress=None) -> Bundle:
    """Select, scan and zip the workspace ``src``; raises KxError naming what to fix.
    ``progress``: see ``_read_each``."""
    max_bytes = int(max_mb * 2**20)
    selection = select(src, max_bytes)
    out = tempfile.TemporaryFile(buffering=OUT_BUFFER)
    writer = ZipWriter(out)
    files = _read_each(selection, max_bytes, _is_script(init), writer, progress)
    size, sha256 = writer.finish()
    return Bundle(selection.root, files, size, sha256, out)


def checked_files(src, max_mb: float = 256.0, init: str | None = None) -> dict[str, bytes]:
    """What ``build(...).files`` would be, without zipping: the checker's view of a push."""
    max_bytes = int(max_mb * 2**20)
    return _read_each(select(src, max_bytes), max_bytes, _is_script(init), None)


def read_all(src, max_mb: float = 256.0) -> dict[str, bytes]:
    """Every file a bundle of ``src`` would hold, with its content (``diff`` compares them)."""
    max_bytes = int(max_mb * 2**20)
    return _read_each(select(src, max_bytes), max_bytes, lambda name: True, None)
