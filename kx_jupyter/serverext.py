"""Jupyter Server extension: the local control plane lives as long as the Jupyter server.

When the server starts (backend 'local'), a running plane is attached to at once, or one is
started in the background: the server answers without waiting for it, and a kernel that needs
the plane before it is up waits for the same start (``daemon.start`` is idempotent under a
lock), so nobody gets a second one. Its home and port go into the server's environment, which
every kernel the server launches inherits, so ``%load_ext kx_jupyter`` in any notebook finds it
with no other step. A plane this extension started is stopped with the server. Turn it off with
``c.KxJupyterServer.manage_local_plane = False`` (or ``--KxJupyterServer.manage_local_plane=False``).
"""

from __future__ import annotations

import atexit
import os
import threading

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool

from .config import ENV_PREFIX, load_settings

START_WAIT_SECONDS = 60.0  # a stop during the plane's start waits this long for it, then stops it


class KxJupyterServer(ExtensionApp):
    name = "kx_jupyter"
    load_other_extensions = True

    manage_local_plane = Bool(
        True,
        help="Start (or attach to) kx-jupyter's local control plane with the server and stop it with the server.",
    ).tag(config=True)

    _started_plane = None
    _starting: threading.Thread | None = None

    def initialize_settings(self):
        if not self.manage_local_plane:
            self.log.info("kx-jupyter: not managing the local control plane (manage_local_plane is off)")
            return
        try:
            settings = load_settings()
        except ValueError as exc:  # a bad KX_JUPYTER_* value must not stop Jupyter from starting
            self.log.warning("kx-jupyter: local control plane not started: %s", exc)
            return
        if settings.backend != "local":
            return
        from .local import daemon

        os.environ[ENV_PREFIX + "HOME"] = str(settings.home_path)
        running = daemon.status(daemon.state_dir_of(settings))  # a file and one local request: quick
        if running is not None:
            self._announce(running, "attached")
            return
        self._starting = threading.Thread(
            target=self._start_plane, args=(settings,), name="kx-plane-start", daemon=True
        )
        self._starting.start()

    def _start_plane(self, settings) -> None:
        """The background start: seconds of imports and seeding the server need not wait for."""
        from .errors import KxError
        from .local import daemon

        state_dir = daemon.state_dir_of(settings)
        try:
            plane = daemon.ensure_running(settings.with_overrides(local_autostart=True))
        except KxError as exc:
            self.log.warning("kx-jupyter: local control plane not started: %s", exc)
            return
        self._started_plane = state_dir
        atexit.register(self._stop_started_plane)  # also when the server ends without its cleanup
        self._announce(plane, "started")

    def _announce(self, plane, how: str) -> None:
        os.environ[ENV_PREFIX + "LOCAL_PORT"] = str(plane.endpoint.rsplit(":", 1)[1])
        self.log.info("kx-jupyter: local control plane at %s (%s)", plane.endpoint, how)

    def initialize_handlers(self):
        from .server import routes  # the lab extension's API (kx_jupyter/server/)

        self.handlers.extend(routes(self.serverapp.root_dir))

    async def stop_extension(self):
        self._stop_started_plane()

    def _stop_started_plane(self):
        if self._starting is not None:
            self._starting.join(START_WAIT_SECONDS)
        if self._started_plane is not None:
            from .local import daemon

            daemon.stop(self._started_plane)
            self._started_plane = None
            self.log.info("kx-jupyter: local control plane stopped")
