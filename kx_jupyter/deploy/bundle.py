"""The code bundle: which workspace files go in, and a zip that is the same bytes for the same files.

Determinism is what makes the S3 key content-addressed: entries are sorted, every entry
has the same timestamp (1980-01-01, the zip epoch) and permissions, so an unchanged
workspace hashes to the same SHA-256 and is never uploaded twice.

Selection uses gitignore syntax: built-in excludes first, then the workspace's
``.kxignore`` (so ``!*.ipynb`` there re-includes notebooks). Files that look like secrets
are refused unless ``.kxignore`` names them with a ``!`` rule: better a clear stop than a
key shipped to every node.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import KxError

IGNORE_FILE = ".kxignore"

DEFAULT_EXCLUDES = (
    ".git/", ".hg/", ".svn/", ".bzr/",
    ".ipynb_checkpoints/", "__pycache__/", "*.pyc", ".pytest_cache/", ".mypy_cache/",
    "*.ipynb", ".DS_Store", "Thumbs.db", ".vscode/", ".idea/", "*.swp", "*~",
    ".venv/", "venv/", "node_modules/", IGNORE_FILE,
)

LIKELY_SECRETS = (
    ".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".ssh/", ".aws/", ".gnupg/",
    "credentials", "credentials.json", "credentials.csv", "credentials.ini", "*credentials.json", ".netrc",
    ".pgpass", "*.kdbx",
)

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16  # regular file, rw-r--r--


@dataclass(frozen=True)
class Bundle:
    """A built bundle: its files (zip-relative path -> bytes), the zip and its SHA-256."""

    root: Path
    files: dict[str, bytes]
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)

    def summary(self) -> dict:
        return {"sha256": self.sha256, "bytes": self.size, "files": sorted(self.files)}


def _spec(lines):
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


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
        self.explicit = _spec([line.strip()[1:] for line in user if line.strip().startswith("!")])

    def skip_dir(self, rel: str) -> bool:
        return self.excluded.match_file(rel + "/")

    def skip_file(self, rel: str) -> bool:
        return self.excluded.match_file(rel)

    def refused_secret(self, rel: str) -> bool:
        return self.secret.match_file(rel) and not self.explicit.match_file(rel)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def collect(src, max_bytes: int | None = None) -> dict[str, bytes]:
    """The workspace files a bundle holds, zip-relative path -> content; raises KxError on bad input."""
    root = Path(src).expanduser()
    if not root.is_dir():
        raise KxError(f"the workspace {root} is not a directory", hint="Pass --src DIR or set KxJupyter.workspace.")
    root = root.resolve()
    rules = _Rules(root)
    files: dict[str, bytes] = {}
    secrets: list[str] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for name in sorted(dirnames):
            rel = prefix + name
            if rules.skip_dir(rel):
                continue
            if rules.refused_secret(rel + "/"):
                secrets.append(rel + "/")
                continue
            _check_link(here / name, root, rel)
            if not _loops(here / name):
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = prefix + name
            if rules.skip_file(rel):
                continue
            if rules.refused_secret(rel):
                secrets.append(rel)
                continue
            path = here / name
            _check_link(path, root, rel)
            if not path.is_file():
                continue  # sockets, fifos, dangling links inside the workspace are not code
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise KxError(f"cannot read {rel} in the workspace: {exc.strerror or exc}",
                              hint=f"Fix its permissions, or leave it out with a line '{rel}' in {IGNORE_FILE}.") from None
            total += len(content)
            if max_bytes is not None and total > max_bytes:
                raise KxError(f"the workspace {root} holds more than the bundle limit of {max_bytes / 2**20:g} MB",
                              hint=f"Leave large files out in {IGNORE_FILE}, or raise KxJupyter.max_bundle_mb.")
            files[rel] = content
    if secrets:
        listed = ", ".join(secrets[:5]) + (" …" if len(secrets) > 5 else "")
        raise KxError(f"refusing to bundle files that look like secrets: {listed}",
                      hint=f"Leave them out with a line per file in {root / IGNORE_FILE}, "
                           f"or include one deliberately with a '!{secrets[0].rstrip('/')}' line there.")
    if not files:
        raise KxError(f"the workspace {root} has no files to bundle",
                      hint=f"Put your q code there (e.g. init.q), or check the rules in {IGNORE_FILE}.")
    return files


def _check_link(path: Path, root: Path, rel: str) -> None:
    if path.is_symlink() and not _inside(path.resolve(), root):
        raise KxError(f"{rel} is a symbolic link to {os.readlink(path)}, outside the workspace",
                      hint=f"Copy the target into the workspace, or leave the link out in {IGNORE_FILE}.")


def _loops(path: Path) -> bool:
    """A directory link back to itself or an ancestor would make the walk endless."""
    if not path.is_symlink():
        return False
    target, parent = path.resolve(), path.parent.resolve()
    return target == parent or target in parent.parents


def build_zip(files: dict[str, bytes]) -> bytes:
    """The deterministic zip of ``files``: same mapping, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = _FILE_MODE
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name], compresslevel=6)
    return buffer.getvalue()


def build(src, max_mb: float = 256.0) -> Bundle:
    """Collect and zip the workspace ``src``; raises KxError naming what to fix."""
    max_bytes = int(max_mb * 2**20)
    files = collect(src, max_bytes)
    data = build_zip(files)
    if len(data) > max_bytes:
        raise KxError(f"the bundle is {len(data) / 2**20:.1f} MB, over the limit of {max_mb:g} MB",
                      hint=f"Leave large files out in {IGNORE_FILE}, or raise KxJupyter.max_bundle_mb.")
    return Bundle(Path(src).expanduser().resolve(), files, data, hashlib.sha256(data).hexdigest())
