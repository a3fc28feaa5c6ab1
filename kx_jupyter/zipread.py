"""Reading a code bundle, wherever it comes from: the one place a zip is opened.

A bundle from S3 is untrusted input. Entries whose names could escape a directory (absolute,
``..``, backslashes, drive letters, NUL) are never read or written, only reported; what is read
is bounded by its declared sizes before a byte is inflated. ``read_bundle`` keeps the files in
memory (a diff compares them); ``unpack`` streams each entry to disk (a node's code directory),
holding none of them whole. Zip64 archives (over 65,535 entries or 4 GiB) read like any other.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .errors import KxError

Source = bytes | str | os.PathLike | BinaryIO
_COPY = 1 << 20


def safe_name(name: str) -> bool:
    """Whether an entry name stays inside the directory it is unpacked into, on any system."""
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
    ):
        return False
    return ".." not in PurePosixPath(name).parts


def _open(source: Source) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes | bytearray) else source)


def _files(archive: zipfile.ZipFile) -> tuple[list[zipfile.ZipInfo], list[str]]:
    """(the entries to read, the names refused), directories left out."""
    files, unsafe = [], []
    for info in archive.infolist():
        if info.is_dir():
            continue
        if safe_name(info.filename):
            files.append(info)
        else:
            unsafe.append(info.filename)
    return files, unsafe


def read_bundle(
    source: Source, max_bytes: int | None = None, label: str = "the bundle"
) -> tuple[dict[str, bytes], list[str]]:
    """(name -> content, unsafe names) of a bundle, refusing one that unpacks to more than ``max_bytes``."""
    try:
        archive = _open(source)
    except zipfile.BadZipFile as exc:
        raise KxError(f"{label} is not a valid zip: {exc}", hint="Push the code again.") from None
    with archive:
        entries, unsafe = _files(archive)
        total = sum(info.file_size for info in entries)
        if max_bytes is not None and total > max_bytes:
            raise KxError(
                f"{label} unpacks to {total / 2**20:.1f} MB, more than the bundle limit of "
                f"{max_bytes / 2**20:g} MB",
                hint="Raise KxJupyter.max_bundle_mb.",
            )
        return {info.filename: archive.read(info) for info in entries}, unsafe


def unpack(source: Source, root: Path) -> list[str]:
    """Write a bundle's files under ``root`` (which must exist), one entry at a time; the names written.

    Unsafe names are skipped. Raises ``zipfile.BadZipFile`` (the plane words it as a node failure)."""
    names = []
    with _open(source) as archive:
        entries, _ = _files(archive)
        made: set[Path] = set()
        for info in entries:
            target = root / info.filename
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, _COPY)
            names.append(info.filename)
    return names
