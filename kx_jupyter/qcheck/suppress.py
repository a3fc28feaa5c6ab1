"""Silencing rules from inside q: ``/ kxcheck: disable=Q010`` (this line), ``disable-next-line``, ``disable-file``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(r"kxcheck:\s*(disable-file|disable-next-line|disable)\s*=\s*([A-Za-z0-9, ]+)")


@dataclass
class Suppressions:
    file: set = field(default_factory=set)
    lines: dict = field(default_factory=dict)  # line -> set of rule ids ("all" silences every rule)

    def silences(self, rule: str, line: int) -> bool:
        if "all" in self.file or rule in self.file:
            return True
        on_line = self.lines.get(line)
        return bool(on_line) and ("all" in on_line or rule in on_line)


def parse(comments) -> Suppressions:
    """Directives from ``(line, comment text)`` pairs."""
    out = Suppressions()
    for line, text in comments:
        for kind, ids in _DIRECTIVE.findall(text):
            rules = {
                r.strip() if r.strip() == "all" else r.strip().upper() for r in ids.split(",") if r.strip()
            }
            if kind == "disable-file":
                out.file |= rules
            else:
                target = line + 1 if kind == "disable-next-line" else line
                out.lines.setdefault(target, set()).update(rules)
    return out
