"""kx-jupyter's own log lines: why the engine polled, retried, settled or gave up.

Modules log to loggers under ``kx_jupyter.`` at INFO (decisions) and DEBUG (every read), never
above: what a user must know is already in the command's output or the view. ``show(level)``
puts those lines on stderr (``kx-jupyter --verbose``/``-vv``, ``KxJupyter.log_level``); at the
default, WARNING, kx-jupyter adds no handler and leaves the logger as the application set it.
No line carries a credential: requests are named by operation, cluster and status only.
"""

from __future__ import annotations

import logging
import sys

ROOT = "kx_jupyter"
FORMAT = "kx-jupyter %(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (a kernel or a test may have replaced it)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter(FORMAT))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def show(level: str) -> None:
    """Show kx-jupyter's log lines of ``level`` and above on stderr; ``WARNING`` undoes an earlier call."""
    logger = logging.getLogger(ROOT)
    ours = [h for h in logger.handlers if isinstance(h, _StderrHandler)]
    if logging.getLevelName(level.upper()) >= logging.WARNING:
        for handler in ours:
            logger.removeHandler(handler)
        if ours:
            logger.setLevel(logging.NOTSET)
        return
    if not ours:
        logger.addHandler(_StderrHandler())
    logger.setLevel(level.upper())
