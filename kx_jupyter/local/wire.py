"""FinSpace's rest-json wire format, driven by the shipped model rather than hand-written tables.

Routes come from each operation's ``http`` trait (method + ``requestUri``); request members
are read from their ``location`` (uri, querystring, header, body); responses are shaped by
the output shape (timestamps as epoch seconds, unknown members dropped); errors carry
``x-amzn-ErrorType`` and a JSON body so botocore raises the modeled exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import parse_qs, unquote

from ..finspace.model import service_model, shape

SUPPORTED = frozenset(
    {
        "CreateKxEnvironment", "GetKxEnvironment", "ListKxEnvironments", "DeleteKxEnvironment",
        "CreateKxCluster", "GetKxCluster", "ListKxClusters", "DeleteKxCluster",
        "ListKxClusterNodes", "DeleteKxClusterNode", "UpdateKxClusterCodeConfiguration",
        "GetKxConnectionString",
    }
)


class ApiError(Exception):
    """A modeled FinSpace error; ``code`` is the shape name (e.g. ``ConflictException``)."""

    def __init__(self, code: str, message: str, reason: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason

    @property
    def status(self) -> int:
        return shape(self.code).get("error", {}).get("httpStatusCode", 400)

    def body(self) -> dict:
        out = {"message": self.message}
        if self.reason is not None and "reason" in shape(self.code).get("members", {}):
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    pattern: re.Pattern
    literal_segments: int


@lru_cache(maxsize=1)
def routes() -> tuple[Route, ...]:
    out = []
    for name, op in service_model()["operations"].items():
        uri = op["http"]["requestUri"].split("?", 1)[0]
        regex = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(uri))
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        literals = sum(1 for seg in uri.split("/") if seg and not seg.startswith("{"))
        out.append(Route(name, op["http"]["method"], re.compile(f"^{regex}/?$"), literals))
    return tuple(sorted(out, key=lambda r: -r.literal_segments))


def match(method: str, path: str) -> tuple[str, dict] | None:
    """The operation a request addresses and its URI labels, or ``None`` for no FinSpace route."""
    for route in routes():
        if route.method == method:
            m = route.pattern.match(path)
            if m:
                return route.operation, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


def _from_text(shape_name: str, text: str, field: str):
    kind = shape(shape_name)["type"]
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise ApiError("ValidationException", f"{field}: '{text}' must be an integer") from None
    if kind == "boolean":
        return text.lower() == "true"
    return text


def parse_request(operation: str, labels: dict, query: str, headers, body: bytes) -> dict:
    """The request's parameters keyed by member name, from wherever the model puts them."""
    input_ref = service_model()["operations"][operation].get("input")
    if not input_ref:
        return {}
    members = shape(input_ref["shape"]).get("members", {})
    qs = parse_qs(query, keep_blank_values=True)
    params: dict = {}
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError:
        raise ApiError("ValidationException", "the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError("ValidationException", "the request body must be a JSON object")
    for name, ref in members.items():
        where, wire_name = ref.get("location"), ref.get("locationName", name)
        if where == "uri" and wire_name in labels:
            params[name] = _from_text(ref["shape"], labels[wire_name], name)
        elif where == "querystring" and wire_name in qs:
            params[name] = _from_text(ref["shape"], qs[wire_name][-1], name)
        elif where == "header" and headers.get(wire_name) is not None:
            params[name] = _from_text(ref["shape"], headers.get(wire_name), name)
        elif where is None and wire_name in payload:
            params[name] = payload[wire_name]
    return params


def _serialize(shape_name: str, value):
    spec = shape(shape_name)
    kind = spec["type"]
    if kind == "structure":
        out = {}
        for name, ref in spec.get("members", {}).items():
            if value.get(name) is not None:
                out[ref.get("locationName", name)] = _serialize(ref["shape"], value[name])
        return out
    if kind == "list":
        return [_serialize(spec["member"]["shape"], item) for item in value]
    if kind == "map":
        return {k: _serialize(spec["value"]["shape"], v) for k, v in value.items()}
    if kind == "timestamp":
        return value.timestamp() if isinstance(value, datetime) else float(value)
    return value


def serialize_response(operation: str, result: dict) -> bytes:
    output_ref = service_model()["operations"][operation].get("output")
    if not output_ref:
        return b"{}"
    return json.dumps(_serialize(output_ref["shape"], result)).encode()
