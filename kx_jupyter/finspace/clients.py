"""boto3 clients for FinSpace, S3 and CloudWatch Logs, for either backend.

The shipped model is added to a private botocore session's loader search path, so
``client("finspace")`` works on any botocore without touching ``~/.aws`` or ``AWS_DATA_PATH``.
With the 'local' backend the clients point at the embedded control plane (started on first
use) and sign with its own credentials; with 'aws' they use the standard credential chain,
the configured profile/region/endpoint, and ``AWS_ENDPOINT_URL_*`` as boto3 always does.
This module never imports a backend: ``kx_jupyter.BACKENDS`` names where each non-'aws'
backend makes its ``Connection``. A connection may ``follow`` its endpoint: after a connection
error the clients ask it where the endpoint is now (a local plane restarted on another port).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .model import DATA_PATH


@dataclass(frozen=True)
class Connection:
    """Where a backend is and how to sign for it (credentials are ``None`` for the default chain)."""

    endpoint_url: str | None
    s3_endpoint_url: str | None
    region: str | None
    access_key: str | None = None
    secret_key: str | None = None
    profile: str | None = None
    logs_endpoint_url: str | None = None
    follow: Callable[[], str | None] | None = field(default=None, compare=False)  # where the endpoint is now

    def __repr__(self) -> str:  # never show the secret
        return f"Connection(endpoint_url={self.endpoint_url!r}, region={self.region!r})"


_shared_loader = None  # the first session's model loader, with the shipped model's path added
log = logging.getLogger(__name__)


def botocore_session():
    """A botocore session that can load the shipped FinSpace model.

    Every session of the process shares the first one's model loader: it caches parsed models,
    so each new Engine skips ~100 ms of JSON (and no throw-away session is built to get one)."""
    global _shared_loader
    import botocore.session

    session = botocore.session.Session()
    if _shared_loader is None:
        loader = session.get_component("data_loader")
        loader.search_paths.insert(0, str(DATA_PATH))
        _shared_loader = loader
    else:
        session.register_component("data_loader", _shared_loader)
    return session


def boto3_session(conn: Connection):
    import boto3

    return boto3.Session(
        botocore_session=botocore_session(),
        aws_access_key_id=conn.access_key,
        aws_secret_access_key=conn.secret_key,
        region_name=conn.region,
        profile_name=conn.profile,
    )


def connection(settings) -> Connection:
    """The connection the settings describe; for 'local' this starts the plane if needed."""
    if settings.backend != "aws":
        return _backend(settings.backend)(settings)
    return Connection(
        endpoint_url=settings.endpoint_url or None,
        s3_endpoint_url=settings.s3_endpoint_url or None,
        region=settings.region or None,
        logs_endpoint_url=settings.logs_endpoint_url or None,
        profile=settings.profile or None,
    )


def _backend(name: str):
    """The function that makes a backend's Connection, found by name (see ``kx_jupyter.BACKENDS``)."""
    import importlib

    from .. import BACKENDS

    module, _, attr = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def client_config(max_attempts: int = 6, **extra):
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra="kx-jupyter",
        **extra,
    )


def _log_failed_attempt(response=None, attempts=0, caught_exception=None, operation=None, **_) -> None:
    """An attempt that botocore may retry (no answer, 5xx, throttling), named by operation only."""
    if caught_exception is not None:
        what = type(caught_exception).__name__
    else:
        status = (response[1].get("ResponseMetadata", {}) if response else {}).get("HTTPStatusCode") or 0
        code = (response[1].get("Error", {}) if response else {}).get("Code", "")
        if status < 500 and status != 429 and "Throttl" not in code:
            return
        what = f"HTTP {status} {code}".rstrip()
    log.info(
        "%s: attempt %d failed (%s); botocore retries while attempts remain",
        getattr(operation, "name", "?"),
        attempts,
        what,
    )


class Clients:
    """The three clients the engine needs, built lazily from one connection."""

    def __init__(self, conn: Connection, max_attempts: int = 6):
        self.conn = conn
        self._session = boto3_session(conn)
        self._config = client_config(max_attempts)
        self._cache: dict[str, object] = {}
        self._moved_to: str | None = None  # the endpoint a followed connection moved to
        self._lost = False  # a connection error since the endpoint was last looked up

    def _client(self, service: str, endpoint: str | None, **config):
        if service not in self._cache:
            from botocore.config import Config

            # merge only the extra options: a whole client_config() would reset retries to its default
            cfg = self._config.merge(Config(**config)) if config else self._config
            client = self._session.client(service, endpoint_url=endpoint, config=cfg)
            client.meta.events.register("needs-retry", _log_failed_attempt)
            if self.conn.follow is not None:
                client.meta.events.register("needs-retry", self._note_lost)
                client.meta.events.register("before-sign", self._redirect)
            self._cache[service] = client
        return self._cache[service]

    def _note_lost(self, caught_exception=None, **_):
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if isinstance(caught_exception, BotoConnectionError):
            self._lost = True  # the next attempt asks where the endpoint is now

    def _redirect(self, request, **_):
        """Send this attempt to where the followed endpoint is now (before it is signed, so the
        signature covers the new host)."""
        if self._lost:
            now = self.conn.follow()
            if now:
                self._moved_to, self._lost = now, False
        if self._moved_to:
            target = urlsplit(self._moved_to)
            request.url = urlsplit(request.url)._replace(scheme=target.scheme, netloc=target.netloc).geturl()

    @property
    def finspace(self):
        return self._client("finspace", self.conn.endpoint_url)

    @property
    def s3(self):
        addressing = {"s3": {"addressing_style": "path"}} if self.conn.s3_endpoint_url else {}
        return self._client("s3", self.conn.s3_endpoint_url, **addressing)

    @property
    def logs(self):
        return self._client("logs", self.conn.logs_endpoint_url)
