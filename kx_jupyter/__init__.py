"""kx-jupyter: edit, check, bundle and push kdb+/q code to kdb clusters from Jupyter.

Import is cheap on purpose: boto3, moto and ipywidgets load only when first used.
"""

__version__ = "0.1.0"

# Backends other than 'aws', and the function that makes each one's finspace.clients.Connection:
# the API layer finds the embedded plane through this table instead of importing it.
BACKENDS = {"local": "kx_jupyter.local.daemon:connection"}


def _jupyter_server_extension_points():
    """Jupyter Server finds the extension here; the import happens only inside the server."""
    from .serverext import KxJupyterServer

    return [{"module": "kx_jupyter", "app": KxJupyterServer}]


def form(settings=None, engine=None):
    """The deploy form widget (``kx_jupyter.form()`` in a cell): pick a cluster, edit q, push, watch."""
    from .ui.form import form as _form

    return _form(settings, engine)


def load_ipython_extension(ipython):
    """``%load_ext kx_jupyter``: the ``%kx_*`` magics, ``%config KxJupyter``, live status views."""
    from .ui import release_magic
    from .ui.magics import load

    load(ipython)
    release_magic.load(ipython)
    from .kernelsettings import publish  # the lab sidebar's view of this kernel's %config

    publish(ipython)


def unload_ipython_extension(ipython):
    from .ui import release_magic
    from .ui.magics import unload

    unload(ipython)
    release_magic.unload(ipython)
