"""The lab extension's server side: a JSON API under ``<base_url>/kx-jupyter/`` over the engine.

It answers JupyterLab's kdb sidebar, its status-bar item, its notifications and the q lint
of ``%%kx_file`` cells without a kernel: every route calls ``kx_jupyter.deploy.Engine`` (or
the offline checker) with the server's settings, off the tornado loop.
"""

from .handlers import routes

__all__ = ["routes"]
