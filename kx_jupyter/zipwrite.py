"""A deterministic zip written front to back, hashed as it is written: same entries, same bytes.

Every entry has the zip epoch (1980-01-01) as its time and ``rw-r--r--`` as its mode, so the
archive depends only on names and contents. Nothing is ever rewritten, so the SHA-256 is
known when the last byte is (no second read), and the output may be any writable stream.
A whole entry (``add``) has its sizes in its header and is stored when deflate would not
shrink it, as Info-ZIP does; a streamed entry (``add_stream``) is always deflated and its
sizes follow its data in a data descriptor. Small entries are deflated with a window just
large enough for them: as small a result as the full window gives (the window covers the whole
file), in far less time (zlib sets up a full window at more cost than a 200-byte file takes).

Zip64 records are written only where a field would not fit in its 16 or 32 bits (more than
65,535 entries, an offset or size of 4 GiB or more), so every smaller bundle keeps its bytes.
A streamed entry's sizes are unknown until its end: it is declared zip64 up front when the
size it was expected to have could deflate to 4 GiB or more.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable
from typing import BinaryIO

from .errors import KxError

LEVEL = 6
_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01 in MS-DOS form; time 00:00:00 is 0
_MODE = 0o100644 << 16  # regular file, rw-r--r--
_MADE_BY, _MADE_BY_20 = (3 << 8) | 45, (3 << 8) | 20  # unix, spec 4.5 (zip64) or 2.0
_DESCRIPTOR, _UTF8 = 0x08, 0x800
_STORED, _DEFLATED = 0, 8
_ZIP64_VERSION = 45
_MAX_ENTRIES, _MARK_32 = 0xFFFF, 0xFFFFFFFF  # a field holding its maximum says "see the zip64 record"
_LIMIT_32 = _MARK_32  # a size or offset from here on needs zip64 (the tests lower it)
_LOCAL = struct.Struct("<4sHHHHHLLLHH")
_CENTRAL = struct.Struct("<4sHHHHHHLLLHHHHHLL")
_END = struct.Struct("<4sHHHHLLH")
_END64 = struct.Struct("<4sQHHLLQQQQ")
_END64_LOCATOR = struct.Struct("<4sLQL")
_DATA_DESCRIPTOR = struct.Struct("<4sLLL")
_DATA_DESCRIPTOR64 = struct.Struct("<4sLQQ")
_BATCH = 1 << 20


_WINDOWS = [(-w, 8 if w == 15 else max(1, w - 8)) for w in range(16)]  # (wbits, memLevel) by window bits


def _compressor(size: int):
    """Raw deflate at LEVEL with a window of at least ``size`` bytes (a full one past 32 KiB)."""
    wbits, memory = _WINDOWS[max(9, min(15, (size - 1).bit_length()))]
    return zlib.compressobj(LEVEL, zlib.DEFLATED, wbits, memory)


def _deflate_bound(size: int) -> int:
    """The most deflate can make of ``size`` bytes (zlib's deflateBound for its default settings)."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 13


def _zip64_extra(*values: int) -> bytes:
    """The zip64 extended information field (header id 1) holding ``values`` as 8-byte numbers."""
    return struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values)


def _local_header(
    name: bytes, flags: int, method: int, crc: int, compressed: int, size: int, zip64: bool
) -> bytes:
    extra, version = b"", 20 if method == _DEFLATED else 10
    if zip64:  # both sizes, in the zip64 field, in a local header (zero when a descriptor follows)
        extra, version = _zip64_extra(size, compressed), _ZIP64_VERSION
        compressed = size = _MARK_32
    return (
        _LOCAL.pack(
            b"PK\x03\x04", version, flags, method, 0, _DATE, crc, compressed, size, len(name), len(extra)
        )
        + name
        + extra
    )


def _central_record(
    name: bytes, flags: int, method: int, crc: int, compressed: int, size: int, offset: int, zip64: bool
) -> bytes:
    """The entry's central directory record (``zip64``: its local header has the zip64 field)."""
    if not zip64 and size < _LIMIT_32 and compressed < _LIMIT_32 and offset < _LIMIT_32:  # nearly always
        version, made_by, extra = (20 if method == _DEFLATED else 10), _MADE_BY_20, b""
    else:
        wide = []
        if size >= _LIMIT_32:  # in this order, and only the fields that do not fit (APPNOTE 4.5.3)
            wide.append(size)
            size = _MARK_32
        if compressed >= _LIMIT_32:
            wide.append(compressed)
            compressed = _MARK_32
        if offset >= _LIMIT_32:
            wide.append(offset)
            offset = _MARK_32
        version, made_by, extra = _ZIP64_VERSION, _MADE_BY, _zip64_extra(*wide) if wide else b""
    return (
        _CENTRAL.pack(
            b"PK\x01\x02",
            made_by,
            version,
            flags,
            method,
            0,
            _DATE,
            crc,
            compressed,
            size,
            len(name),
            len(extra),
            0,
            0,
            0,
            _MODE,
            offset,
        )
        + name
        + extra
    )


class ZipWriter:
    """Append entries in the order given; ``finish()`` writes the directory and returns (size, sha256)."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._sha = hashlib.sha256()
        self._offset = 0
        self._central: list[bytes] = []  # each entry's central directory record
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

    def add(self, name: str, data: bytes) -> None:
        """One entry whose content is all in ``data``."""
        size = len(data)
        deflate = _compressor(size)
        packed = deflate.compress(data) + deflate.flush()
        method = _DEFLATED
        if len(packed) >= size:
            packed, method = data, _STORED
        encoded, flags, crc = name.encode(), 0 if name.isascii() else _UTF8, zlib.crc32(data)
        zip64 = size >= _LIMIT_32 or len(packed) >= _LIMIT_32
        self._central.append(
            _central_record(encoded, flags, method, crc, len(packed), size, self._offset, zip64)
        )
        self._write(_local_header(encoded, flags, method, crc, len(packed), size, zip64) + packed)

    def add_stream(self, name: str, chunks: Iterable[bytes], expected_size: int = 0) -> None:
        """One entry from ``chunks`` (a large file read piece by piece); returns when they end.

        ``expected_size``: what the file's size was when it was listed; it decides zip64."""
        flags = _DESCRIPTOR | (0 if name.isascii() else _UTF8)
        zip64 = _deflate_bound(expected_size) >= _LIMIT_32
        encoded, offset = name.encode(), self._offset
        self._central.append(b"")  # its record once its sizes are known
        index = len(self._central) - 1
        self._write(_local_header(encoded, flags, _DEFLATED, 0, 0, 0, zip64))
        deflate, crc, size, begin = zlib.compressobj(LEVEL, zlib.DEFLATED, -15), 0, 0, self._offset
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            packed = deflate.compress(chunk)
            if packed:
                self._write(packed)
        self._write(deflate.flush())
        compressed = self._offset - begin
        if not zip64 and (compressed >= _LIMIT_32 or size >= _LIMIT_32):
            raise KxError(
                f"{name} grew past 4 GiB while it was being bundled",
                hint="Bundle again once it stops changing, or leave it out in .kxignore.",
            )
        descriptor = _DATA_DESCRIPTOR64 if zip64 else _DATA_DESCRIPTOR
        self._write(descriptor.pack(b"PK\x07\x08", crc, compressed, size))
        self._central[index] = _central_record(
            encoded, flags, _DEFLATED, crc, compressed, size, offset, zip64
        )

    def finish(self) -> tuple[int, str]:
        """Write the central directory; the archive's size and SHA-256 (hex)."""
        start = self._offset
        self._write(b"".join(self._central))
        length, count = self._offset - start, len(self._central)
        if count >= _MAX_ENTRIES or length >= _LIMIT_32 or start >= _LIMIT_32:
            end64 = self._offset
            self._write(
                _END64.pack(
                    b"PK\x06\x06",
                    _END64.size - 12,
                    _MADE_BY,
                    _ZIP64_VERSION,
                    0,
                    0,
                    count,
                    count,
                    length,
                    start,
                )
            )
            self._write(_END64_LOCATOR.pack(b"PK\x06\x07", 0, end64, 1))
            count, length, start = _MAX_ENTRIES, _MARK_32, _MARK_32
        self._write(_END.pack(b"PK\x05\x06", 0, 0, count, count, length, start, 0))
        self._flush()
        return self._offset, self._sha.hexdigest()
