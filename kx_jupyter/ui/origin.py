"""Where a push from a cell came from, for the history's ``origin`` column: ``notebook:<path>#<cell id>``.

Best effort and cheap: the notebook's path is what Jupyter Server gave the kernel as its session
name (ipykernel copies ``JPY_SESSION_NAME`` into ``__session__`` in the namespace; VS Code sets
``__vsc_ipynb_file__``), the cell id is what the front end sent with the execute request
(ipykernel keeps the request as the shell's ``parent_header``; JupyterLab and Notebook 7 put
``cellId`` in its metadata). Either may be missing; terminal IPython is ``ipython``.
"""

from __future__ import annotations

_PATH_NAMES = ("__session__", "__vsc_ipynb_file__")


def cell_origin(shell) -> str:
    request = getattr(shell, "parent_header", None)  # only ipykernel's shell has one
    if not isinstance(request, dict):
        return "ipython"
    metadata = request.get("metadata")
    cell = metadata.get("cellId") if isinstance(metadata, dict) else None
    namespace = getattr(shell, "user_ns", None) or {}
    path = next((namespace[name] for name in _PATH_NAMES if isinstance(namespace.get(name), str)), "")
    return f"notebook:{path}" + (f"#{cell}" if isinstance(cell, str) and cell else "")
