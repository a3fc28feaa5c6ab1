"""Jupyter Server extension: the local control plane lives as long as the Jupyter server.

When the server starts (backend 'local'), the plane is started, or the running one is
attached to; its home and port go into the server's environment, which every kernel the
server launches inherits, so ``%load_ext kx_jupyter`` in any notebook finds it with no other
step. A plane this extension started is stopped with the server. Turn it off with
``c.KxJupyterServer.manage_local_plane = False`` (or ``--KxJupyterServer.manage_local_plane=False``).
"""

from __future__ import annotations

import atexit
import os

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool

from .config import ENV_PREFIX, load_settings


class KxJupyterServer(ExtensionApp):
    name = "kx_jupyter"
    load_other_extensions = True

    manage_local_plane = Bool(
        True, help="Start (or attach to) kx-jupyter's local control plane with the server and stop it with the server."
    ).tag(config=True)

    _started_plane = None

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

        state_dir = settings.home_path / "plane"
        running = daemon.status(state_dir)
        plane = running or daemon.ensure_running(settings.with_overrides(local_autostart=True))
        if running is None:
            self._started_plane = state_dir
            atexit.register(self._stop_started_plane)  # also when the server ends without its cleanup
        os.environ[ENV_PREFIX + "HOME"] = str(settings.home_path)
        os.environ[ENV_PREFIX + "LOCAL_PORT"] = str(plane.endpoint.rsplit(":", 1)[1])
        self.log.info("kx-jupyter: local control plane at %s (%s)", plane.endpoint, "started" if running is None else "attached")

    def initialize_handlers(self):
        from .server import routes  # the lab extension's API (kx_jupyter/server/)

        self.handlers.extend(routes(self.serverapp.root_dir))

    async def stop_extension(self):
        self._stop_started_plane()

    def _stop_started_plane(self):
        if self._started_plane is not None:
            from .local import daemon

            daemon.stop(self._started_plane)
            self._started_plane = None
            self.log.info("kx-jupyter: local control plane stopped")

