"""What the checker reports, and the two ways it is printed (compiler-style text, JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True, order=True)
class Diagnostic:
    path: str
    line: int  # 1-based
    col: int  # 1-based
    rule: str
    severity: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.severity} {self.rule} {self.message}"


def sort_key(d: Diagnostic):
    return (d.path, d.line, d.col, d.rule, d.message)


def format_text(diags: Iterable[Diagnostic]) -> str:
    """One line per diagnostic, ``file:line:col: severity rule message``, sorted by position."""
    return "\n".join(str(d) for d in sorted(diags, key=sort_key))


def format_json(diags: Iterable[Diagnostic]) -> str:
    """A JSON list of diagnostic objects (path, line, col, rule, severity, message), sorted by position."""
    return json.dumps([d.to_dict() for d in sorted(diags, key=sort_key)], indent=2)


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diags)
