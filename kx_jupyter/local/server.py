"""The plane's one HTTP endpoint: SigV4 check, then FinSpace kx routes, CloudWatch Logs or S3.

Run as ``python -m kx_jupyter.local.server --state-dir DIR [--port N]`` (``daemon`` does this).
Dispatch: ``/_kxlocal/...`` admin routes; ``/kx/...`` FinSpace (rest-json, routes from the
shipped model); ``X-Amz-Target: Logs_20140328.*`` moto's CloudWatch Logs; everything else
moto's S3 (path-style). Every route but health needs a SigV4 signature made with the plane's
credentials; the error for a bad one is the addressed service's own 403 form.
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

from ..files import remove_unpublished
from ..finspace.rules import validate
from . import wire
from .admin import admin_response
from .bodies import INLINE_BYTES, SPILL_PREFIX, BodyError, StagedBody
from .faults import Faults
from .s3names import s3_operation
from .sigv4 import SignatureError, check_headers, check_payload, verify

REGION = "us-east-1"
LOGS_TARGET_PREFIX = "Logs_20140328."
LOGS_CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_S3_BODY_BYTES = 5 * 1024**3  # S3's own limit for one PutObject
MAX_API_BODY_BYTES = 1024**2  # FinSpace and CloudWatch Logs requests are small JSON (PutLogEvents: 1 MiB)


def _json_response(
    start_response, status: int, body: dict, headers=(), content_type="application/json"
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", content_type), ("Content-Length", str(len(data))), *headers],
    )
    return [data]


def _s3_error(start_response, status: str, code: str, message: str) -> list[bytes]:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message><RequestId>{uuid.uuid4()}</RequestId></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(xml)))])
    return [xml]


def _injected(service: str, fault: str, start_response) -> list[bytes]:
    """An injected throttle or internal error, in the form the addressed service uses."""
    if service == "s3":
        if fault == "throttle":
            return _s3_error(
                start_response,
                "503 Slow Down",
                "SlowDown",
                "Please reduce your request rate. (fault injected by the local plane)",
            )
        return _s3_error(
            start_response,
            "500 Internal Server Error",
            "InternalError",
            "internal error (fault injected by the local plane)",
        )
    if fault == "throttle":
        body = {
            "__type": "ThrottlingException",
            "message": "Rate exceeded (fault injected by the local plane)",
        }
        return _json_response(start_response, 400, body, content_type=LOGS_CONTENT_TYPE)
    body = {
        "__type": "ServiceUnavailableException",
        "message": "internal error (fault injected by the local plane)",
    }
    return _json_response(start_response, 500, body, content_type=LOGS_CONTENT_TYPE)


class PlaneApp:
    """The WSGI application; holds no state of its own beyond counters and the fault plan."""

    def __init__(self, plane, backends, credentials: dict, faults: Faults):
        self.plane = plane
        self.backends = backends
        self.access_key = credentials["access_key"]
        self.secret_key = credentials["secret_key"]
        self.faults = faults
        self.spill_dir = Path(plane.store.path).parent / "uploads"  # large bodies, until they become blobs
        remove_unpublished(self.spill_dir, SPILL_PREFIX)  # bodies a killed plane was receiving
        self.requests: dict[str, int] = {}
        self._count_lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/_kxlocal/health":
            return _json_response(start_response, 200, {"ok": True, "pid": os.getpid()})
        service = self._service_of(environ, path)
        signing_service = "finspace" if service == "admin" else service  # admin routes sign like FinSpace
        try:  # what the headers alone decide comes before reading a byte of the body
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = MAX_S3_BODY_BYTES if service == "s3" else MAX_API_BODY_BYTES
        if not 0 <= length <= limit:
            return self._too_large(service, length, limit, start_response)
        try:
            signed = check_headers(environ, self.access_key, REGION, signing_service)
            if length > INLINE_BYTES and not signed.body_digest_declared:
                raise SignatureError(
                    f"a request body over {INLINE_BYTES // 2**20} MiB must be signed with its "
                    "SHA-256 in x-amz-content-sha256"
                )
            if signed.payload_hash is not None:
                verify(environ, signed, None, self.access_key, self.secret_key, REGION, signing_service)
        except SignatureError as exc:
            return self._denied(service, str(exc), start_response)
        try:
            staged = StagedBody(environ["wsgi.input"], length, self.spill_dir)
        except (BodyError, OSError) as exc:
            return self._denied(service, f"the request body could not be read: {exc}", start_response)
        try:
            if signed.payload_hash is None:
                verify(
                    environ, signed, staged.data, self.access_key, self.secret_key, REGION, signing_service
                )
            check_payload(signed, staged.sha256)
        except SignatureError as exc:
            staged.discard()
            return self._denied(service, str(exc), start_response)
        environ["wsgi.input"] = body_input = staged.as_input()
        try:
            if path.startswith("/_kxlocal/"):
                status, payload = admin_response(self, environ["REQUEST_METHOD"], path, staged.data or b"")
                return _json_response(start_response, status, payload)
            if service == "finspace":
                return self._finspace(environ, path, staged.data or b"", start_response)
            return self._s3_or_logs(service, environ, path, start_response, staged)
        finally:
            body_input.close()
            staged.discard()

    @staticmethod
    def _too_large(service: str, length: int, limit: int, start_response):
        message = (
            f"the request body of {length} bytes is over the {limit} bytes this service accepts"
            if length >= 0
            else "the Content-Length header is not a number"
        )
        if service == "s3":
            return _s3_error(start_response, "400 Bad Request", "EntityTooLarge", message)
        return _json_response(
            start_response,
            413,
            {"__type": "ValidationException", "message": message},
            [("x-amzn-ErrorType", "ValidationException")],
        )

    @staticmethod
    def _service_of(environ, path: str) -> str:
        if wire.is_finspace_path(path):
            return "finspace"
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(LOGS_TARGET_PREFIX):
            return "logs"
        return "admin" if path.startswith("/_kxlocal/") else "s3"

    @staticmethod
    def _denied(service: str, message: str, start_response):
        if service == "s3":
            code = (
                "AccessDenied"
                if "not signed" in message
                else (
                    "XAmzContentSHA256Mismatch"
                    if "x-amz-content-sha256" in message.lower() and "match" in message
                    else "SignatureDoesNotMatch"
                )
            )
            return _s3_error(start_response, "403 Forbidden", code, message)
        if service == "logs":
            return _json_response(
                start_response,
                403,
                {"__type": "AccessDeniedException", "message": message},
                content_type=LOGS_CONTENT_TYPE,
            )
        return _json_response(
            start_response, 403, {"message": message}, [("x-amzn-ErrorType", "AccessDeniedException")]
        )

    def _s3_or_logs(self, service: str, environ, path: str, start_response, staged: StagedBody):
        """moto's S3 or CloudWatch Logs, under the same fault plan as the FinSpace routes."""
        if service == "logs":
            call, operation = self.backends.call_logs, environ.get("HTTP_X_AMZ_TARGET", "").split(".", 1)[-1]
        else:
            operation = s3_operation(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""))
            call = self.backends.call_s3
            if operation == "PutObject" and staged.on_disk and "HTTP_X_AMZ_COPY_SOURCE" not in environ:
                if (
                    environ.get("HTTP_CONTENT_MD5")
                    and base64.b64encode(bytes.fromhex(staged.md5)).decode() != environ["HTTP_CONTENT_MD5"]
                ):
                    return _s3_error(
                        start_response,
                        "400 Bad Request",
                        "BadDigest",
                        "The Content-MD5 you specified did not match what we received.",
                    )
                # moto stores an empty body; the body already on disk becomes the version's blob
                environ.update({"CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b"")})
                environ.pop("HTTP_CONTENT_MD5", None)
                call = functools.partial(self.backends.call_s3, staged=staged)
        fault = self._fault(operation)
        if fault == "drop":
            return self._drop(environ, start_response)
        if fault in ("throttle", "error"):
            return _injected(service, fault, start_response)
        if fault == "drop_after":  # carried out, but the client never hears
            b"".join(call(environ, lambda status, headers, exc_info=None: lambda data: None))
            return self._drop(environ, start_response)
        return call(environ, start_response)

    def _fault(self, operation: str) -> str | None:
        """Count the request and pick its fault from the plan; a slow one is served here (it then goes on)."""
        with self._count_lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
        fault = self.faults.pick(operation)
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        return fault

    def _finspace(self, environ, path, body, start_response):
        """Route on the model's requestUris, validate as the service does, run, shape the answer."""
        request_id = str(uuid.uuid4())
        method = environ["REQUEST_METHOD"]
        try:
            raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(path)).split("?", 1)[0]
            found = wire.match(method, raw_path)
            if found is None:
                raise wire.ApiError("ValidationException", f"no FinSpace kx operation at {method} {path}")
            operation, labels = found
            fault = self._fault(operation)
            if fault == "drop":
                return self._drop(environ, start_response)
            if fault == "throttle":
                raise wire.ApiError(
                    "ThrottlingException", "Rate exceeded (fault injected by the local plane)"
                )
            elif fault == "error":
                raise wire.ApiError(
                    "InternalServerException", "internal error (fault injected by the local plane)"
                )
            if operation not in wire.SUPPORTED:
                raise wire.unsupported(operation)
            params = wire.parse_request(
                operation, labels, environ.get("QUERY_STRING", ""), _Headers(environ), body
            )
            violations = validate(operation, params)
            if violations:
                raise wire.bad_request(operation, "; ".join(str(v) for v in violations))
            result = self.plane.handle(operation, params)
            if fault == "drop_after":  # done, but the client never hears: its retry must not redo it
                return self._drop(environ, start_response)
            data = wire.serialize_response(operation, result)
            start_response(
                "200 OK",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(data))),
                    ("x-amzn-RequestId", request_id),
                ],
            )
            return [data]
        except wire.ApiError as exc:
            return _json_response(
                start_response,
                exc.status,
                exc.body(),
                [("x-amzn-ErrorType", exc.code), ("x-amzn-RequestId", request_id)],
            )
        except Exception as exc:  # a plane bug must look like the service's 500, not kill the thread
            logging.getLogger("kx_jupyter.local").exception("request failed")
            return _json_response(
                start_response,
                500,
                {"message": f"internal error in the local plane: {exc}"},
                [("x-amzn-ErrorType", "InternalServerException"), ("x-amzn-RequestId", request_id)],
            )

    @staticmethod
    def _drop(environ, start_response):
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        start_response("500 Internal Server Error", [("Content-Length", "0")])
        return [b""]


class _Headers:
    def __init__(self, environ):
        self.environ = environ

    def get(self, name: str, default=None):
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"), default)


class Plane:
    """Everything behind one endpoint, startable in-process (tests) or as the daemon's child."""

    def __init__(
        self,
        state_dir: Path,
        port: int = 0,
        node_start_seconds: float = 2.0,
        q_binary: str = "",
        faults: dict | None = None,
    ):
        from werkzeug.serving import make_server

        from .api import ControlPlane
        from .awsbackends import AwsBackends
        from .credentials import load_or_create
        from .keepalive import keep_alive_handler
        from .reconciler import Reconciler
        from .runtime import find_q
        from .seed import seed
        from .store import DB_FILE, Store

        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.credentials = load_or_create(self.state_dir)
        self.store = Store(self.state_dir / DB_FILE)
        self.backends = AwsBackends(self.store, self.state_dir / "s3", REGION)
        self.backends.restore()
        self.api = ControlPlane(self.store, self.backends, REGION)
        seed(self.store, self.backends, self.api)
        self.q_binary = find_q(q_binary)
        self.api.runs_q = bool(self.q_binary)
        fault_plan = Faults(faults)
        self.reconciler = Reconciler(
            self.store, self.backends, self.state_dir, node_start_seconds, self.q_binary, faults=fault_plan
        )
        self.api.wake = self.reconciler.wake
        self.app = PlaneApp(self.api, self.backends, self.credentials, fault_plan)
        self.server = make_server(
            "127.0.0.1", port, self.app, threaded=True, request_handler=keep_alive_handler()
        )
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        self.reconciler.start()
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            self.reconciler.stop()
            self.store.close()

    def shutdown(self) -> None:
        self.server.shutdown()


def preflight(state_dir: Path) -> None:
    """Refuse, in one line that says how to recover, a state dir whose credentials or database are broken."""
    import sqlite3
    from contextlib import closing

    from ..errors import KxError
    from .credentials import load_or_create
    from .store import DB_FILE

    load_or_create(state_dir)
    db = Path(state_dir) / DB_FILE
    if not db.exists():
        return
    try:
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem != "ok":
        raise KxError(
            f"the local plane's state database {db} is damaged ({problem})",
            hint=f"move it aside to start with fresh state (clusters, code and logs are then new), "
            f"or delete the whole state with `kx-jupyter local reset --yes --state-dir {state_dir}`",
        )


def serve(
    state_dir: Path,
    port: int,
    node_start_seconds: float = 2.0,
    q_binary: str = "",
    faults: dict | None = None,
    on_ready=None,
):
    """Run a plane in this process until SIGTERM or Ctrl-C (the detached child runs this too),
    holding the state dir's lock: a second plane on the same state refuses to start."""
    import signal

    from ..errors import KxError
    from .statefiles import PlaneInfo, hold_lock, mark, read_state, remove_state, write_state

    state_dir = Path(state_dir)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = hold_lock(state_dir)
    if lock is None:
        raise KxError(
            f"another local plane (pid {read_state(state_dir).get('pid', 'unknown')}) already serves {state_dir}",
            hint="use that one (`kx-jupyter local status`), or stop it with `kx-jupyter local stop`",
        )
    try:
        mark(state_dir)
        try:
            plane = Plane(state_dir, port, node_start_seconds, q_binary, faults)
        except OSError as exc:
            raise KxError(
                f"cannot start the local plane on port {port}: {exc}", hint="use --port 0 for a free port"
            ) from None
        write_state(state_dir, os.getpid(), plane.port, plane.q_binary, node_start_seconds)
        creds = plane.credentials
        info = PlaneInfo(
            plane.endpoint, REGION, creds["access_key"], creds["secret_key"], os.getpid(), state_dir
        )
        # shutdown() waits for the serving loop, so it must run outside the signal handler's thread
        previous = signal.signal(
            signal.SIGTERM, lambda *_: threading.Thread(target=plane.shutdown, daemon=True).start()
        )
        if on_ready:
            on_ready(info, plane)
        try:
            plane.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            remove_state(state_dir, os.getpid())
        return info
    finally:
        lock.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kx_jupyter.local.server")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--node-start-seconds", type=float, default=2.0)
    parser.add_argument("--q-binary", default="")
    parser.add_argument("--faults", default="", help="initial fault plan as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from ..errors import KxError

    def announce(info, plane):
        runs = f"q ({plane.q_binary})" if plane.q_binary else "the offline q checker (no q binary found)"
        print(f"kx-jupyter local plane listening on {info.endpoint}; nodes run {runs}", flush=True)

    try:
        serve(
            Path(args.state_dir),
            args.port,
            args.node_start_seconds,
            args.q_binary,
            json.loads(args.faults) if args.faults else None,
            on_ready=announce,
        )
    except KxError as exc:
        print(f"kx-jupyter: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
