"""A deterministic zip written front to back, hashed as it is written: same entries, same bytes.

Every entry has the zip epoch (1980-01-01) as its time and ``rw-r--r--`` as its mode, so the
archive depends only on names and contents. Nothing is ever rewritten, so the SHA-256 is
known when the last byte is (no second read), and the output may be any writable stream.
A whole entry (``add``) has its sizes in its header and is stored when deflate would not
shrink it, as Info-ZIP does; a streamed entry (``add_stream``) is always deflated and its
sizes follow its data in a data descriptor. Small entries are deflated with a window just
large enough for them: as small a result as the full window gives (the window covers the whole
file), in far less time (zlib sets up a full window at more cost than a 200-byte file takes).
No zip64: at most 65,535 entries and 4 GiB.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable
from typing import BinaryIO

from ..errors import KxError

LEVEL = 6
_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01 in MS-DOS form; time 00:00:00 is 0
_MODE = 0o100644 << 16  # regular file, rw-r--r--
_MADE_BY = (3 << 8) | 20  # unix, spec 2.0
_DESCRIPTOR, _UTF8 = 0x08, 0x800
_STORED, _DEFLATED = 0, 8
_MAX_ENTRIES, _MAX_OFFSET = 0xFFFF, 0xFFFFFFFF
_LOCAL = struct.Struct("<4sHHHHHLLLHH")
_CENTRAL = struct.Struct("<4sHHHHHHLLLHHHHHLL")
_END = struct.Struct("<4sHHHHLLH")
_DATA_DESCRIPTOR = struct.Struct("<4sLLL")
_BATCH = 1 << 20


_WINDOWS = [(-w, 8 if w == 15 else max(1, w - 8)) for w in range(16)]  # (wbits, memLevel) by window bits


def _compressor(size: int):
    """Raw deflate at LEVEL with a window of at least ``size`` bytes (a full one past 32 KiB)."""
    wbits, memory = _WINDOWS[max(9, min(15, (size - 1).bit_length()))]
    return zlib.compressobj(LEVEL, zlib.DEFLATED, wbits, memory)


class ZipWriter:
    """Append entries in the order given; ``finish()`` writes the directory and returns (size, sha256)."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._sha = hashlib.sha256()
        self._offset = 0
        self._central: list[bytes] = []
        self._pending: list[bytes] = []  # small entries, written and hashed together (a call per file costs)
        self._pending_bytes = 0

    def _write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        self._offset += len(data)
        if self._pending_bytes >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._out.write(data)
            self._sha.update(data)
            self._pending, self._pending_bytes = [], 0

    def _header(self, name: str, flags: int, method: int, crc: int, compressed: int, size: int) -> bytes:
        encoded = name.encode()
        if not name.isascii():
            flags |= _UTF8
        version = 20 if method == _DEFLATED else 10
        if self._offset > _MAX_OFFSET or len(self._central) >= _MAX_ENTRIES:
            raise KxError(
                "the bundle would need zip64 (more than 65,535 files or 4 GiB)",
                hint="Leave files out in .kxignore.",
            )
        self._central.append(
            _CENTRAL.pack(
                b"PK\x01\x02",
                _MADE_BY,
                version,
                flags,
                method,
                0,
                _DATE,
                crc,
                compressed,
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                _MODE,
                self._offset,
            )
            + encoded
        )
        return (
            _LOCAL.pack(
                b"PK\x03\x04", version, flags, method, 0, _DATE, crc, compressed, size, len(encoded), 0
            )
            + encoded
        )

    def add(self, name: str, data: bytes) -> None:
        """One entry whose content is all in ``data``."""
        size = len(data)
        deflate = _compressor(size)
        packed = deflate.compress(data) + deflate.flush()
        method = _DEFLATED
        if len(packed) >= size:
            packed, method = data, _STORED
        self._write(self._header(name, 0, method, zlib.crc32(data), len(packed), size) + packed)

    def add_stream(self, name: str, chunks: Iterable[bytes]) -> None:
        """One entry from ``chunks`` (a large file read piece by piece); returns when they end."""
        self._write(self._header(name, _DESCRIPTOR, _DEFLATED, 0, 0, 0))
        entry = len(self._central) - 1
        deflate, crc, size, start = zlib.compressobj(LEVEL, zlib.DEFLATED, -15), 0, 0, self._offset
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            packed = deflate.compress(chunk)
            if packed:
                self._write(packed)
        self._write(deflate.flush())
        compressed = self._offset - start
        if compressed > _MAX_OFFSET or size > _MAX_OFFSET:
            raise KxError(
                f"{name} is too large for a zip without zip64 (4 GiB)", hint="Leave it out in .kxignore."
            )
        self._write(_DATA_DESCRIPTOR.pack(b"PK\x07\x08", crc, compressed, size))
        record = bytearray(self._central[entry])
        struct.pack_into(
            "<LLL", record, 16, crc, compressed, size
        )  # crc, sizes: offset 16 of a central record
        self._central[entry] = bytes(record)

    def finish(self) -> tuple[int, str]:
        """Write the central directory; the archive's size and SHA-256 (hex)."""
        start = self._offset
        directory = b"".join(self._central)
        self._write(directory)
        count = len(self._central)
        self._write(_END.pack(b"PK\x05\x06", 0, 0, count, count, len(directory), start, 0))
        self._flush()
        return self._offset, self._sha.hexdigest()
