"""Tornado handlers for the lab extension: authenticated, JSON, blocking work off the loop.

Reads are GETs; anything that changes a cluster is a POST, which Jupyter Server's XSRF check
guards for browser (cookie) sessions. A user mistake (``KxError``, a bad setting) is a 400
with ``{"message", "hint"}``, the one line the sidebar shows.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from jupyter_server.base.handlers import APIHandler
from tornado import web

from .. import kernelsettings
from ..config import ConfigError
from ..errors import KxError
from .service import LabService, lint_cell

PREFIX = "kx-jupyter"


class _Handler(APIHandler):
    def initialize(self, service: LabService, executor: ThreadPoolExecutor):
        self.service = service
        self.executor = executor

    async def answer(self, fn, *args, status: int = 200) -> None:
        """Run ``fn(*args)`` in the executor and reply with its JSON (or the user's mistake, as a 400)."""
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        except KxError as exc:
            self.set_status(400)
            result = {"message": exc.message, "hint": exc.hint}
        except ConfigError as exc:
            self.set_status(400)
            result = {
                "message": str(exc),
                "hint": "Fix the setting named above (KX_JUPYTER_* or the config file).",
            }
        else:
            self.set_status(status)
        self.finish(json.dumps(result))

    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "the request body must be a JSON object") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the request body must be a JSON object")
        return data

    def kernel_settings(self, data: dict | None = None) -> dict | None:
        """The ``%config KxJupyter.*`` the active notebook's kernel published (its id is the ``kernel``
        argument), or None: no kernel named, not one of this server's, or nothing published."""
        kernel_id = (data or {}).get("kernel") if data is not None else self.get_query_argument("kernel", "")
        if not isinstance(kernel_id, str) or not kernel_id or kernel_id not in self.kernel_manager:
            return None
        return kernelsettings.read(self.kernel_manager.connection_dir, kernel_id)

    def cluster_arg(self, data: dict | None = None) -> str:
        value = (data or {}).get("cluster") if data is not None else self.get_query_argument("cluster", "")
        if not isinstance(value, str) or not value:
            raise web.HTTPError(400, "name a cluster")
        return value


class OverviewHandler(_Handler):
    @web.authenticated
    async def get(self):
        await self.answer(
            self.service.overview, self.get_query_argument("notebook", ""), self.kernel_settings()
        )


class ActivityHandler(_Handler):
    @web.authenticated
    async def get(self):
        try:
            since = float(self.get_query_argument("since", "0"))
        except ValueError:
            raise web.HTTPError(400, "since must be a number of seconds since the epoch") from None
        await self.answer(self.service.activity, since)


class HistoryHandler(_Handler):
    @web.authenticated
    async def get(self):
        await self.answer(self.service.history, self.cluster_arg(), self.kernel_settings())


class DiffHandler(_Handler):
    @web.authenticated
    async def get(self):
        await self.answer(
            self.service.diff,
            self.cluster_arg(),
            self.get_query_argument("notebook", ""),
            self.kernel_settings(),
        )


class RollbackDiffHandler(_Handler):
    @web.authenticated
    async def get(self):
        to = self.get_query_argument("to", "")
        if to and not to.isdigit():
            raise web.HTTPError(400, "to must be a history id (a number)")
        await self.answer(
            self.service.rollback_diff, self.cluster_arg(), int(to) if to else None, self.kernel_settings()
        )


class CheckHandler(_Handler):
    @web.authenticated
    async def post(self):
        data = self.body()
        await self.answer(self.service.check, str(data.get("notebook") or ""), self.kernel_settings(data))


class LintHandler(_Handler):
    @web.authenticated
    async def post(self):
        source = self.body().get("source")
        if not isinstance(source, str):
            raise web.HTTPError(400, "source must be the cell's text")
        await self.answer(lint_cell, source)


class PushHandler(_Handler):
    @web.authenticated
    async def post(self):
        data = self.body()
        strategy = data.get("strategy") or None
        arguments = data.get("arguments") or None
        if arguments is not None and not (
            isinstance(arguments, dict) and all(isinstance(v, str) for v in arguments.values())
        ):
            raise web.HTTPError(400, "arguments must be an object of names to text values")
        await self.answer(
            self.service.push,
            self.cluster_arg(data),
            str(data.get("notebook") or ""),
            strategy,
            arguments,
            self.kernel_settings(data),
            status=202,
        )


class RollbackHandler(_Handler):
    @web.authenticated
    async def post(self):
        data = self.body()
        to = data.get("to")
        if to is not None and not isinstance(to, int):
            raise web.HTTPError(400, "to must be a history id (a number)")
        await self.answer(
            self.service.rollback, self.cluster_arg(data), to, self.kernel_settings(data), status=202
        )


class RunsHandler(_Handler):
    @web.authenticated
    async def get(self):
        await self.answer(self.service.runs.snapshot)


def routes(root_dir: str) -> list[tuple]:
    """The extension's (pattern, handler, kwargs) triples; Jupyter Server prepends its base_url."""
    kwargs = {"service": LabService(root_dir), "executor": ThreadPoolExecutor(4, thread_name_prefix="kx-lab")}
    table = {
        "overview": OverviewHandler,
        "activity": ActivityHandler,
        "history": HistoryHandler,
        "diff": DiffHandler,
        "rollback-diff": RollbackDiffHandler,
        "check": CheckHandler,
        "lint": LintHandler,
        "push": PushHandler,
        "rollback": RollbackHandler,
        "runs": RunsHandler,
    }
    return [(f"/{PREFIX}/{name}", handler, kwargs) for name, handler in table.items()]
