"""The service's request rules, read from the model: what botocore checks and what it does not.

botocore validates required members, types, lengths and enums, but not regex patterns, so a
name like ``ABC!`` leaves the client and is refused by the service. The local control plane
uses ``validate`` to refuse what the service refuses; the deploy engine uses it to refuse
the same things before anything leaves the machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .model import operation, shape


@dataclass(frozen=True)
class Violation:
    field: str  # dotted path of the offending member, e.g. "commandLineArguments[0].key"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


# Where the real service accepted what the model's pattern, read literally, refuses, the observed
# behaviour wins. AWS's basic-tick example ran clusters with argument keys g, tp, procName and
# AWS_ZIP_DEFAULT; the model's key pattern allows no single letter but 's'.
OBSERVED_PATTERNS = {
    "KxCommandLineArgumentKey": r"(?![Aa][Ww][Ss])[a-zA-Z][a-zA-Z0-9_]*|AWS_ZIP_DEFAULT",
}

# One wording per rule that users meet often, used by the plane, the engine, the checker and the form.
PLAIN_RULES = {
    "KxCommandLineArgumentKey": "a letter followed by letters, digits or '_', not starting with 'aws' "
                                "(or AWS_ZIP_DEFAULT), at most 1024 characters",
    "KxCommandLineArgumentValue": "1-1024 of letters, digits, space and _ : . / , ; (no '-', quotes or '$')",
}


@lru_cache(maxsize=None)
def _pattern(expr: str) -> re.Pattern:
    return re.compile(expr)


def _matches(shape_name: str, spec: dict, value: str) -> bool:
    """Our own patterns and anchored model patterns must match the whole value (no prefix, no
    trailing newline); an unanchored model pattern such as ARN's ``^arn:*:*`` is searched, as the
    service evidently does (read as a full match it would refuse every ARN)."""
    expr = OBSERVED_PATTERNS.get(shape_name)
    if expr is not None:
        return _pattern(expr).fullmatch(value) is not None
    expr = spec["pattern"]
    if expr.startswith("^") and expr.endswith("$"):
        return _pattern(expr).fullmatch(value) is not None
    return _pattern(expr).search(value) is not None


def validate(operation_name: str, params: dict) -> list[Violation]:
    """Every way ``params`` breaks the input shape of ``operation_name``, as the service sees it."""
    input_shape = operation(operation_name).get("input")
    if not input_shape:
        return []
    out: list[Violation] = []
    _check(input_shape["shape"], params, "", out)
    return out


def check_value(shape_name: str, value, field: str) -> list[Violation]:
    """Check one value against one named shape, e.g. ``check_value("KxClusterName", "ab", "cluster")``."""
    out: list[Violation] = []
    _check(shape_name, value, field, out)
    return out


def _describe(spec: dict, shape_name: str = "") -> str:
    if shape_name in PLAIN_RULES:
        return PLAIN_RULES[shape_name]
    parts = []
    if "min" in spec or "max" in spec:
        parts.append(f"{spec.get('min', 0)}-{spec.get('max', '…')} characters")
    if "pattern" in spec:
        parts.append(f"matching {spec['pattern']}")
    return ", ".join(parts)


def _check(shape_name: str, value, field: str, out: list[Violation]) -> None:
    spec = shape(shape_name)
    kind = spec["type"]
    label = field or shape_name
    if kind == "structure":
        if not isinstance(value, dict):
            out.append(Violation(label, "must be an object"))
            return
        for name in spec.get("required", []):
            if value.get(name) in (None, ""):
                out.append(Violation(_join(field, name), "is required"))
        for name, member in spec.get("members", {}).items():
            if value.get(name) is not None:
                _check(member["shape"], value[name], _join(field, name), out)
    elif kind == "list":
        if not isinstance(value, list):
            out.append(Violation(label, "must be a list"))
            return
        _check_length(spec, len(value), label, out, unit="items")
        for i, item in enumerate(value):
            _check(spec["member"]["shape"], item, f"{label}[{i}]", out)
    elif kind == "map":
        if not isinstance(value, dict):
            out.append(Violation(label, "must be an object"))
            return
        for key, item in value.items():
            _check(spec["key"]["shape"], key, f"{label} key", out)
            _check(spec["value"]["shape"], item, f"{label}[{key}]", out)
    elif kind == "string":
        if not isinstance(value, str):
            out.append(Violation(label, "must be a string"))
            return
        if "enum" in spec and value not in spec["enum"]:
            out.append(Violation(label, f"'{value}' is not one of {', '.join(spec['enum'])}"))
            return
        described = _describe(spec, shape_name)
        bad_length = _check_length(spec, len(value), label, out, unit="characters", described=described)
        if not bad_length and "pattern" in spec and not _matches(shape_name, spec, value):
            out.append(Violation(label, f"'{value}' must be {described}"))
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(Violation(label, "must be an integer"))
            return
        if "min" in spec and value < spec["min"]:
            out.append(Violation(label, f"must be at least {spec['min']}"))
        if "max" in spec and value > spec["max"]:
            out.append(Violation(label, f"must be at most {spec['max']}"))
    elif kind == "boolean" and not isinstance(value, bool):
        out.append(Violation(label, "must be true or false"))


def _check_length(spec, length, label, out, unit, described=""):
    low, high = spec.get("min"), spec.get("max")
    if (low is not None and length < low) or (high is not None and length > high):
        detail = described or f"{low if low is not None else 0}-{high if high is not None else '…'} {unit}"
        out.append(Violation(label, f"has {length} {unit}; it must be {detail}"))
        return True
    return False


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
