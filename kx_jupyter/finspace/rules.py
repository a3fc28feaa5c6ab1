"""The service's request rules: botocore's own checks, then those the service makes and botocore skips.

botocore's ``ParamValidator`` checks required and unknown members, types and minimum lengths.
The service also refuses what breaks a maximum, an enum or a pattern (a name like ``ABC!``
leaves the client and is refused there), and a request it could not carry out (an argument
without a value, code without its object). ``validate`` applies both, in one wording, so the
local plane refuses what the service refuses and the engine refuses it before anything
leaves the machine. botocore is imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache

from .model import SERVICE_PATH, operation, shape


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

# Members the model leaves optional but without which the service cannot carry a request out
# (a q argument needs both halves; code is read from an object), refused as malformed.
OBSERVED_REQUIRED = {
    "KxCommandLineArgument": ("key", "value"),
    "CodeConfiguration": ("s3Bucket", "s3Key"),
}

# Smallest values the service takes where the model says less: maxResults=0 is a 400.
OBSERVED_MINIMUM = {"maxResults": 1}

# One wording per rule that users meet often, used by the plane, the engine, the checker and the form.
PLAIN_RULES = {
    "KxCommandLineArgumentKey": "a letter followed by letters, digits or '_', not starting with 'aws' "
    "(or AWS_ZIP_DEFAULT), at most 1024 characters",
    "KxCommandLineArgumentValue": "1-1024 of letters, digits, space and _ : . / , ; (no '-', quotes or '$')",
}

_KINDS = {
    "structure": "an object",
    "map": "an object",
    "list": "a list",
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "boolean": "true or false",
    "timestamp": "a timestamp",
}


def validate(operation_name: str, params: dict) -> list[Violation]:
    """Every way ``params`` breaks the input shape of ``operation_name``, as the service sees it."""
    input_shape = operation(operation_name).input_shape
    return _violations(input_shape, params, "") if input_shape is not None else []


def check_value(shape_name: str, value, field: str) -> list[Violation]:
    """Check one value against one named shape, e.g. ``check_value("KxClusterName", "ab", "cluster")``.

    A string checked against a string shape needs no botocore: importing it and parsing the model
    took the q checker's argument checks ~0.1 s, more than checking a small bundle."""
    if isinstance(value, str):
        spec = _string_shape(shape_name)
        if spec is not None:
            return _string_violations(spec, value, field)
    return _violations(shape(shape_name), value, field)


def _violations(root, value, field: str) -> list[Violation]:
    collector, validator = _classes()
    found = collector()
    validator()._validate(value, root, found, field)  # botocore's checks, reported with each value's shape
    _check(root, value, field, found.violations)  # then the ones botocore leaves to the service
    return found.violations


@dataclass(frozen=True)
class _StringShape:
    """The parts of botocore's ``StringShape`` the checks read, straight from the shipped model's JSON."""

    name: str
    metadata: dict
    type_name = "string"

    @property
    def enum(self) -> list:
        return self.metadata.get("enum", [])


@cache
def _string_shape(name: str) -> _StringShape | None:
    spec = _model_shapes().get(name)
    if spec is None or spec.get("type") != "string":
        return None
    return _StringShape(name, {k: v for k, v in spec.items() if k in ("min", "max", "pattern", "enum")})


@lru_cache(maxsize=1)
def _model_shapes() -> dict:
    return json.loads(SERVICE_PATH.read_text(encoding="utf-8"))["shapes"]


def _string_violations(spec: _StringShape, value: str, field: str) -> list[Violation]:
    """What ``_violations`` finds for a string: botocore's one check (the minimum length), then ``_check``."""
    found = []
    if len(value) < spec.metadata.get("min", 0):
        path = field[1:] if field.startswith(".") else field
        found.append(
            Violation(path or spec.name, _length_message(spec, len(value), "characters", _describe(spec)))
        )
    _check(spec, value, field, found)
    return found


@lru_cache(maxsize=1)
def _classes():
    """botocore's validator reporting into a collector that knows the shape of every value it saw."""
    from botocore.validate import ParamValidator, ValidationErrors

    class Collector(ValidationErrors):
        """Turns botocore's findings into Violations worded like the service's own checks."""

        def __init__(self):
            super().__init__()
            self.shapes: dict = {}  # name -> shape of the value validated there
            self.violations: list[Violation] = []

        def report(self, name, reason, **details):
            super().report(name, reason, **details)
            spec = self.shapes.get(name)
            if spec is None and name.endswith("]"):  # an item of a list of scalars, checked without a visit
                spec = getattr(self.shapes.get(name[: name.rindex("[")]), "member", None)
            path = name[1:] if name.startswith(".") else name
            field = path or (spec.name if spec is not None else "input")
            if reason == "missing required field":
                self.violations.append(Violation(_join(path, details["required_name"]), "is required"))
            elif reason == "unknown field":
                self.violations.append(
                    Violation(
                        _join(path, details["unknown_param"]),
                        f"is not a member; expected one of {', '.join(details['valid_names'])}",
                    )
                )
            elif reason == "invalid type":
                kind = spec.type_name if spec is not None else ""
                self.violations.append(Violation(field, f"must be {_KINDS.get(kind, 'of another type')}"))
            elif reason == "invalid length":
                unit = "characters" if spec is not None and spec.type_name == "string" else "items"
                described = _describe(spec) if unit == "characters" else ""
                self.violations.append(
                    Violation(field, _length_message(spec, details["param"], unit, described))
                )
            elif reason == "invalid range":
                low = max(
                    details["min_allowed"],
                    OBSERVED_MINIMUM.get(path.rsplit(".", 1)[-1], details["min_allowed"]),
                )
                self.violations.append(Violation(field, f"must be at least {low}"))
            else:
                self.violations.append(Violation(field, self._format_error((reason, name, details))))

    class Validator(ParamValidator):
        def _validate(self, params, shape, errors, name):
            errors.shapes[name] = shape
            super()._validate(params, shape, errors, name)

    return Collector, Validator


@cache
def _pattern(expr: str) -> re.Pattern:
    return re.compile(expr)


def _matches(spec, value: str) -> bool:
    """Our own patterns and anchored model patterns must match the whole value (no prefix, no
    trailing newline); an unanchored model pattern such as ARN's ``^arn:*:*`` is searched, as the
    service evidently does (read as a full match it would refuse every ARN)."""
    expr = OBSERVED_PATTERNS.get(spec.name)
    if expr is not None:
        return _pattern(expr).fullmatch(value) is not None
    expr = spec.metadata["pattern"]
    if expr.startswith("^") and expr.endswith("$"):
        return _pattern(expr).fullmatch(value) is not None
    return _pattern(expr).search(value) is not None


def _describe(spec) -> str:
    if spec.name in PLAIN_RULES:
        return PLAIN_RULES[spec.name]
    meta = spec.metadata
    parts = []
    if "min" in meta or "max" in meta:
        parts.append(f"{meta.get('min', 0)}-{meta.get('max', '…')} characters")
    if "pattern" in meta:
        parts.append(f"matching {meta['pattern']}")
    return ", ".join(parts)


def _length_message(spec, length: int, unit: str, described: str = "") -> str:
    meta = spec.metadata if spec is not None else {}
    detail = described or f"{meta.get('min', 0)}-{meta.get('max', '…')} {unit}"
    return f"has {length} {unit}; it must be {detail}"


def _check(spec, value, field: str, out: list[Violation]) -> None:
    """What botocore skips: maximums, enums, patterns and the OBSERVED_* rules. A value of the
    wrong type was already reported by botocore and is not looked into."""
    kind, label = spec.type_name, field or spec.name
    if kind == "structure" and isinstance(value, dict):
        for name in OBSERVED_REQUIRED.get(spec.name, ()):
            if name not in value and name not in spec.required_members:
                out.append(Violation(_join(field, name), "is required"))
        for name, member in spec.members.items():
            if value.get(name) is not None:
                _check_member(name, member, value[name], _join(field, name), out)
    elif kind == "list" and isinstance(value, (list, tuple)):
        _check_max(spec, len(value), label, out, "items")
        for i, item in enumerate(value):
            _check(spec.member, item, f"{label}[{i}]", out)
    elif kind == "map" and isinstance(value, dict):
        _check_max(spec, len(value), label, out, "items")
        for key, item in value.items():
            _check(spec.key, key, f"{label} key", out)
            _check(spec.value, item, f"{label}.{key}", out)
    elif kind == "string" and isinstance(value, str):
        if spec.enum and value not in spec.enum:
            out.append(Violation(label, f"'{value}' is not one of {', '.join(spec.enum)}"))
        elif (
            not _check_max(spec, len(value), label, out, "characters")
            and len(value) >= spec.metadata.get("min", 0)
            and "pattern" in spec.metadata
            and not _matches(spec, value)
        ):
            out.append(Violation(label, f"'{value}' must be {_describe(spec)}"))
    elif kind in ("integer", "long") and isinstance(value, int):
        if isinstance(value, bool):
            out.append(Violation(label, "must be an integer"))
        elif "max" in spec.metadata and value > spec.metadata["max"]:
            out.append(Violation(label, f"must be at most {spec.metadata['max']}"))


def _check_member(name: str, spec, value, field: str, out: list[Violation]) -> None:
    low = OBSERVED_MINIMUM.get(name)
    if (
        low is not None
        and isinstance(value, int)
        and not isinstance(value, bool)
        and value < low
        and value >= spec.metadata.get("min", value)
    ):  # below the model's own minimum botocore spoke already
        out.append(Violation(field, f"must be at least {low}"))
        return
    _check(spec, value, field, out)


def _check_max(spec, length: int, label: str, out: list[Violation], unit: str) -> bool:
    high = spec.metadata.get("max")
    if high is not None and length > high:
        described = _describe(spec) if unit == "characters" else ""
        out.append(Violation(label, _length_message(spec, length, unit, described)))
        return True
    return False


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
