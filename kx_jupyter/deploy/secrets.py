"""Secrets a bundle must not carry: found by file name and by content, and named with file and line.

A bundle is unpacked on every node of a cluster and kept in S3 for rollback, so a key in it
is a key handed out. Names (gitignore syntax) catch the usual credential files; content
catches a key pasted anywhere: AWS access key ids, AWS secret keys next to the word secret,
``aws_secret_access_key =`` settings and PEM private key blocks. Content is scanned as the
bundle reads it, in chunks, with a cheap substring test first: the scan costs a few percent
of compressing the same bytes. A ``!path`` line in ``.kxignore`` includes a file deliberately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAMES = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".ssh/",
    ".aws/",
    ".gnupg/",
    "credentials",
    "credentials.json",
    "credentials.csv",
    "credentials.ini",
    "*credentials.json",
    ".netrc",
    ".pgpass",
    "*.kdbx",
    ".git-credentials",
    ".pypirc",
    ".npmrc",
    ".docker/",
    ".kube/",
    "*.tfstate",
    "*.tfstate.backup",
)

_PATTERNS = (  # each holds AKIA, ASIA, PRIVATE KEY or (s|S)ecret/ECRET: first_secret tests those first
    (re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "an AWS access key id"),
    (re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), "a PEM private key"),
    (re.compile(rb"(?i)aws_secret_access_key[\"']?[ \t]*[=:]"), "an aws_secret_access_key setting"),
    (
        re.compile(rb"(?i)secret[^\n]{0,40}?(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"),
        "an AWS secret access key",
    ),
)
OVERLAP = 256  # bytes of the previous chunk scanned again, so a key split across two chunks is found


@dataclass(frozen=True)
class Finding:
    """One likely secret: the file, its line (0 when found by the file's name) and what it looks like."""

    name: str
    line: int
    what: str

    def __str__(self) -> str:
        return (
            f"{self.name} line {self.line} ({self.what})"
            if self.line
            else f"{self.name} (a credentials file name)"
        )


def first_secret(data: bytes) -> tuple[int, str] | None:
    """Offset and kind of the first likely secret in ``data``."""
    if not (
        b"AKIA" in data or b"ASIA" in data or b"PRIVATE KEY" in data or b"ecret" in data or b"ECRET" in data
    ):
        return (
            None  # the common case, in a few fast substring tests (a loop over a tuple costs twice as much)
        )
    found = None
    for pattern, what in _PATTERNS:
        for m in pattern.finditer(data):
            if what == "an AWS secret access key":
                key = m.group(1)
                if not (re.search(rb"[A-Z]", key) and re.search(rb"[a-z]", key)):  # hex digests are not keys
                    continue
            if found is None or m.start() < found[0]:
                found = (m.start(), what)
            break
    return found


class ChunkScan:
    """``first_secret`` over a file fed in chunks: ``hit`` is (offset, kind) of its first likely secret."""

    def __init__(self):
        self.hit: tuple[int, str] | None = None
        self._tail = b""
        self._read = 0  # bytes fed before the current chunk

    def feed(self, chunk: bytes) -> None:
        if self.hit is None:
            hit = first_secret(self._tail + chunk)
            if hit is not None:
                self.hit = (self._read - len(self._tail) + hit[0], hit[1])
            self._tail = chunk[-OVERLAP:]
        self._read += len(chunk)


def finding(name: str, path: str, hit: tuple[int, str]) -> Finding:
    """The finding for ``hit`` in the file at ``path``, with its line number."""
    with open(path, "rb") as f:  # rare: lines are counted only in a file that holds a secret
        line = f.read(hit[0]).count(b"\n") + 1
    return Finding(name, line, hit[1])
