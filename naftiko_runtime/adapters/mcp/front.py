"""The MCP side of one port, served from the first instant while the ``mcp`` package loads (D152).

Importing the ``mcp`` package costs about 1.2 s of CPU (its pydantic models are built at import),
more than Python, the runtime and loading 21 files together. So the package is imported in a
thread once the ports serve, and the front answers meanwhile what needs none of it: the short
path's ``tools/call`` (``stateless_call``), a method other than POST, an unknown MCP URL. Whatever
else arrives early waits for the package, then goes its way; readiness (``unready``, read by the
control adapter's ``/health/ready``, D92) says "not ready" until it is there. A reload, or a
process where the package is already loaded, builds the package's side before serving.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from ...core.execution import Executor
from ...core.problems import Problem
from ...settings import McpPolicy
from ..asgi import send_problem
from ..base import Mounted
from .schemas import MCP_PATH, adapter_path
from .stateless_call import ToolSet, answer_or_pass
from .tools import ToolSpec, adapter_tools

if TYPE_CHECKING:
    from .endpoints import McpEndpoints

log = logging.getLogger("naftiko.mcp")
PACKAGE_SIDE = "naftiko_runtime.adapters.mcp.endpoints"
"""The module that imports the ``mcp`` package."""
NOT_POST = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"use POST: this endpoint is stateless"}}'

_loading: concurrent.futures.Future[ModuleType] | None = None
_loading_lock = threading.Lock()


def _import_package_side(done: concurrent.futures.Future[ModuleType]) -> None:
    done.set_running_or_notify_cancel()  # from here on, nobody can cancel what others wait for
    try:
        done.set_result(importlib.import_module(PACKAGE_SIDE))
    except BaseException as exc:  # an ImportError, or the package failing at import: told, not raised
        done.set_exception(exc)


def package_side() -> concurrent.futures.Future[ModuleType]:
    """The package side's module, imported once per process by a thread of its own: the event
    loop keeps serving meanwhile (the import holds the GIL in 5 ms turns)."""
    global _loading
    with _loading_lock:
        if _loading is None:
            _loading = concurrent.futures.Future()
            thread = threading.Thread(target=_import_package_side, args=(_loading,), name="naftiko-mcp-import")
            thread.daemon = True
            thread.start()
        return _loading


def _package_loaded() -> bool:
    return _loading is not None and _loading.done() and _loading.exception() is None


class McpFront:
    """``/mcp`` (every adapter of the port, D31) and ``/mcp/<namespace>`` (each alone)."""

    def __init__(self, mounted: Sequence[Mounted], executor: Executor, max_body: int, policy: McpPolicy):
        self.mounted = mounted
        self.executor = executor
        self.max_body = max_body
        self.policy = policy
        self.tools = [adapter_tools(each) for each in mounted]
        confirm = policy.confirm_destructive
        merged = {tool.name: tool for own in self.tools for tool in own}
        self.paths: dict[str, ToolSet] = {MCP_PATH: ToolSet(merged, executor, confirm)}
        for each, own in zip(mounted, self.tools, strict=True):
            self.paths[adapter_path(each.adapter.namespace)] = ToolSet(_by_name(own), executor, confirm)
        self.package: McpEndpoints | None = None
        self._settled = asyncio.Event()
        self._failure: str | None = None

    def unready(self) -> str | None:
        """``PortPart.unready``: while the package loads, and for good if it failed to."""
        if self.package is not None:
            return None
        return self._failure or "the MCP server is loading the mcp package"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tools = self.paths.get(scope["path"])
        if tools is None:
            detail = f"no MCP endpoint at {scope['path']}; this port serves {', '.join(self.paths)}"
            await send_problem(send, Problem(404, detail), scope["path"])
            return
        if scope["method"] != "POST":
            await _not_post(send)
            return
        rest: Receive | None = receive
        if self.policy.short_path:
            rest = await answer_or_pass(scope, receive, send, tools, self.max_body)
        if rest is None:
            return
        package = self.package or await self._wait_for_package()
        if package is None:
            await send_problem(send, Problem(503, self._failure or "the MCP server is not running"), scope["path"])
            return
        await package.handle(scope, rest, send)

    async def _wait_for_package(self) -> McpEndpoints | None:
        await self._settled.wait()
        return self.package

    def _build(self, module: ModuleType) -> McpEndpoints:
        endpoints: McpEndpoints = module.McpEndpoints(
            self.mounted, self.tools, self.executor, self.max_body, self.policy
        )
        return endpoints

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """With the package loaded, its side is built and running before this returns; else it
        is built by a task that holds its lifespan (anyio's cancel scopes are left by the task
        that entered them) until the port stops."""
        if _package_loaded():
            package = self._build(package_side().result())
            async with package.lifespan():
                self._ready(package)
                yield
            return
        stopping = asyncio.Event()
        task = asyncio.create_task(self._serve_package(stopping))
        try:
            yield
        finally:
            if self.package is None:  # stopped while the package loads: nothing to leave
                task.cancel()
            stopping.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _serve_package(self, stopping: asyncio.Event) -> None:
        async with contextlib.AsyncExitStack() as stack:
            try:
                # Shielded: the import is the process's, and a reload may still want it.
                module = await asyncio.shield(asyncio.wrap_future(package_side()))
                package = self._build(module)
                await stack.enter_async_context(package.lifespan())
            except Exception as exc:
                log.exception("the MCP server could not start; MCP requests other than tool calls are refused")
                self._failure = f"the MCP server could not start: {exc!r}"
                self._settled.set()
                return
            self._ready(package)
            await stopping.wait()

    def _ready(self, package: McpEndpoints) -> None:
        self.package = package
        self._settled.set()


def _by_name(tools: list[ToolSpec]) -> dict[str, ToolSpec]:
    return {tool.name: tool for tool in tools}


async def _not_post(send: Send) -> None:
    """Stateless mode keeps no session: a GET stream would never close and DELETE has nothing to end."""
    headers = [(b"allow", b"POST"), (b"content-type", b"application/json"), (b"content-length", b"%d" % len(NOT_POST))]
    await send({"type": "http.response.start", "status": 405, "headers": headers})
    await send({"type": "http.response.body", "body": NOT_POST})
