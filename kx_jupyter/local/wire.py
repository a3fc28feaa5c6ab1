"""FinSpace's rest-json wire format, driven by botocore's loaded model rather than hand-written tables.

Routes are a ``werkzeug.routing.Map`` built from each operation's ``http`` trait (method +
``requestUri``); request members are read from their ``location`` (uri, querystring, header,
body); responses are shaped by the output shape (timestamps as epoch seconds to the millisecond,
members the shape lacks dropped); errors carry ``x-amzn-ErrorType`` and a JSON body so botocore
raises the modeled exception.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from urllib.parse import parse_qs, unquote

from ..finspace.model import operation, service_model, shape

SUPPORTED = frozenset(
    {
        "CreateKxEnvironment",
        "GetKxEnvironment",
        "ListKxEnvironments",
        "DeleteKxEnvironment",
        "CreateKxCluster",
        "GetKxCluster",
        "ListKxClusters",
        "DeleteKxCluster",
        "ListKxClusterNodes",
        "DeleteKxClusterNode",
        "UpdateKxClusterCodeConfiguration",
        "GetKxConnectionString",
        "CreateKxUser",
        "GetKxUser",
        "ListKxUsers",
        "DeleteKxUser",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    }
)
TAGS_PREFIX = "/tags/arn:aws:finspace:"  # the tagging routes, as they arrive decoded in PATH_INFO
BAD_REQUEST_ERRORS = (
    "ValidationException",
    "InvalidRequestException",
)  # what operations declare for bad input


class ApiError(Exception):
    """A modeled FinSpace error; ``code`` is the shape name (e.g. ``ConflictException``)."""

    def __init__(self, code: str, message: str, reason: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason

    @property
    def status(self) -> int:
        return shape(self.code).metadata.get("error", {}).get("httpStatusCode", 400)

    def body(self) -> dict:
        out = {"message": self.message}
        if self.reason is not None and "reason" in shape(self.code).members:
            out["reason"] = self.reason
        return out


def bad_request(operation_name: str, message: str) -> ApiError:
    """A refusal of malformed input, with the error type this operation declares for it (the tagging
    operations say InvalidRequestException where the kx ones say ValidationException)."""
    declared = {e.name for e in operation(operation_name).error_shapes}
    return ApiError(next((c for c in BAD_REQUEST_ERRORS if c in declared), "ValidationException"), message)


def unsupported(operation_name: str) -> ApiError:
    return bad_request(
        operation_name,
        f"{operation_name} is not supported by the local plane. It supports: {', '.join(sorted(SUPPORTED))}.",
    )


def is_finspace_path(path: str) -> bool:
    """Whether a (decoded) request path addresses FinSpace rather than S3 on the shared endpoint."""
    return path == "/kx" or path.startswith("/kx/") or path.startswith(TAGS_PREFIX)


@lru_cache(maxsize=1)
def url_map():
    """One werkzeug rule per operation: ``{label}`` is one path segment, ``{label+}`` the rest."""
    from werkzeug.routing import Map, Rule

    rules = []
    for name in service_model().operation_names:
        http = operation(name).http
        uri = http["requestUri"].split("?", 1)[0]
        path = re.sub(r"\{(\w+)\}", r"<\1>", re.sub(r"\{(\w+)\+\}", r"<path:\1>", uri))
        rules.append(Rule(path, methods=[http["method"]], endpoint=name))
    return Map(rules, strict_slashes=False, merge_slashes=False)


def match(method: str, raw_path: str) -> tuple[str, dict] | None:
    """The operation a request addresses and its decoded URI labels, or ``None`` for no route.
    ``raw_path`` is still percent-encoded, so an ARN label's encoded ``/`` stays inside its segment."""
    from werkzeug.exceptions import HTTPException
    from werkzeug.routing import RequestRedirect

    try:
        name, labels = url_map().bind("plane").match(raw_path, method)
    except (HTTPException, RequestRedirect):  # NotFound, MethodNotAllowed
        return None
    return name, {k: unquote(v) for k, v in labels.items()}


def _from_text(spec, text: str, field: str, operation_name: str):
    if spec.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise bad_request(operation_name, f"{field}: '{text}' must be an integer") from None
    if spec.type_name == "boolean":
        return text.lower() == "true"
    return text


def _from_json(spec, value):
    """A body value keyed by member names (the wire may rename members with ``locationName``)."""
    if spec.type_name == "structure" and isinstance(value, dict):
        out = {}
        for name, member in spec.members.items():
            wire_name = member.serialization.get("name", name)
            if wire_name in value:
                out[name] = _from_json(member, value[wire_name])
        return out
    if spec.type_name == "list" and isinstance(value, list):
        return [_from_json(spec.member, item) for item in value]
    if spec.type_name == "map" and isinstance(value, dict):
        return {k: _from_json(spec.value, v) for k, v in value.items()}
    return value


def parse_request(operation_name: str, labels: dict, query: str, headers, body: bytes) -> dict:
    """The request's parameters keyed by member name, from wherever the model puts them; members the
    model does not know are ignored, as the service ignores them."""
    input_shape = operation(operation_name).input_shape
    if input_shape is None:
        return {}
    qs = parse_qs(query, keep_blank_values=True)
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError:
        raise bad_request(operation_name, "the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise bad_request(operation_name, "the request body must be a JSON object")
    params: dict = {}
    for name, member in input_shape.members.items():
        where, wire_name = member.serialization.get("location"), member.serialization.get("name", name)
        if where == "uri" and wire_name in labels:
            params[name] = _from_text(member, labels[wire_name], name, operation_name)
        elif where == "querystring" and wire_name in qs:
            values = qs[wire_name]
            params[name] = (
                [_from_text(member.member, v, name, operation_name) for v in values]
                if member.type_name == "list"
                else _from_text(member, values[-1], name, operation_name)
            )
        elif where == "header" and headers.get(wire_name) is not None:
            params[name] = _from_text(member, headers.get(wire_name), name, operation_name)
        elif where is None and wire_name in payload:
            params[name] = _from_json(member, payload[wire_name])
    return params


def _serialize(spec, value):
    kind = spec.type_name
    if kind == "structure":
        return {
            member.serialization.get("name", name): _serialize(member, value[name])
            for name, member in spec.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [_serialize(spec.member, item) for item in value]
    if kind == "map":
        return {k: _serialize(spec.value, v) for k, v in value.items()}
    if kind == "timestamp":  # the service answers epoch seconds with millisecond precision
        return round(value.timestamp() if isinstance(value, datetime) else float(value), 3)
    return value


def serialize_response(operation_name: str, result: dict) -> bytes:
    output_shape = operation(operation_name).output_shape
    if output_shape is None:
        return b"{}"
    return json.dumps(_serialize(output_shape, result)).encode()
