"""Request bodies read once, hashed as they arrive, and spilled to disk when large.

The plane checks a request's signature before it reads the body; the body is then read here in
chunks while its SHA-256 (and MD5, S3's ETag) is computed, so a large signed upload goes straight
to a file in the state dir and is never held whole in memory.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from ..files import NewFile

CHUNK = 1 << 20
SPILL_PREFIX = "upload-"  # a spilled body, until it becomes a blob
INLINE_BYTES = 8 * 1024 * 1024  # boto3's multipart part size: parts and API calls stay in memory


class BodyError(Exception):
    """The body ended before its declared length."""


class StagedBody:
    """A request body: ``data`` (bytes) when small, else a file at ``path``; ``size``, ``sha256``, ``md5``."""

    def __init__(self, stream, length: int, spill_dir: Path, inline_bytes: int = INLINE_BYTES):
        self.size = length
        self.data: bytes | None = None
        self.path: Path | None = None
        self._spill: NewFile | None = None  # the spilled body until it is kept or dropped
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        if length <= inline_bytes:
            self.data = _read_exactly(stream, length)
            sha.update(self.data)
            md5.update(self.data)
        else:
            Path(spill_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            self._spill = NewFile(spill_dir, mode=0o600, prefix=SPILL_PREFIX)
            self.path = self._spill.path
            try:
                left = length
                while left:
                    block = stream.read(min(CHUNK, left))
                    if not block:
                        raise BodyError(f"the request body ended after {length - left} of {length} bytes")
                    sha.update(block)
                    md5.update(block)
                    self._spill.write(block)
                    left -= len(block)
                self._spill.close()
            except BaseException:
                self.discard()
                raise
        self.sha256 = sha.hexdigest()
        self.md5 = md5.hexdigest()

    @property
    def on_disk(self) -> bool:
        return self.path is not None

    def as_input(self):
        """A file object with the body, for the next WSGI application."""
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")

    def move_to(self, target: Path) -> None:
        """Keep the spilled file as ``target`` (or drop it if an identical one is there already)."""
        self._spill.publish(target, overwrite=False)
        self._spill, self.path = None, target

    def discard(self) -> None:
        if self._spill is not None:
            self._spill.discard()


def _read_exactly(stream, length: int) -> bytes:
    data = stream.read(length) if length else b""
    if len(data) != length:
        raise BodyError(f"the request body ended after {len(data)} of {length} bytes")
    return data
