"""The ASGI app of one port: the adapters' handlers behind the port's browser checks, swappable
while serving so that a reload never drops a request (issue 10, item 5).

Each request goes to the kind that owns its path (a prefix such as ``/mcp``), else to the kind that
takes the rest (REST). No router or middleware stack sits in front: the REST hot path is one prefix
check away from its route table. A reload builds a new generation of handlers, enters their
lifespans (the MCP session managers), switches new requests to them in one assignment, and leaves
the previous generation running until the requests it already took have had time to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.asgi import send_problem
from ..adapters.base import MountContext, PortPart
from ..adapters.registry import KINDS
from ..core.execution import Executor
from ..core.problems import Problem
from ..settings import Settings
from .listeners import Listener
from .origins import OriginGuard, OriginPolicy
from .rate_limits import RateLimitLayer

log = logging.getLogger("naftiko")


async def _no_route(scope: Scope, receive: Receive, send: Send) -> None:
    await send_problem(send, Problem(404, f"nothing is exposed at {scope['path']}"), scope["path"])


def mount_parts(listener: Listener, executor: Executor, settings: Settings) -> list[PortPart]:
    """Every kind's handler for its adapters on one port."""
    context = MountContext(executor, settings)
    return [KINDS[kind].mount(mounted, context) for kind, mounted in listener.mounted.items()]


@dataclass(frozen=True)
class _Routing:
    """One generation of handlers, read by a request in one attribute access."""

    owned: tuple[tuple[str, ASGIApp], ...]
    default: ASGIApp

    @classmethod
    def of(cls, parts: Sequence[PortPart]) -> _Routing:
        owned = tuple((prefix, part.app) for part in parts for prefix in part.prefixes)
        return cls(owned, next((part.app for part in parts if not part.prefixes), _no_route))

    def route(self, path: str) -> ASGIApp:
        for prefix, app in self.owned:
            if path == prefix or path.startswith(prefix + "/"):
                return app
        return self.default


class PortApp:
    def __init__(self, parts: Sequence[PortPart], drain_seconds: float):
        self.parts = list(parts)
        self.routing = _Routing.of(parts)
        self.drain_seconds = drain_seconds
        """How long a replaced generation keeps running for the requests it already took."""
        self._lifespans = contextlib.AsyncExitStack()
        self._retiring: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.routing.route(scope["path"])(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def replace(self, parts: Sequence[PortPart]) -> None:
        """Serve ``parts`` from now on; the previous ones finish what they took, then stop."""
        lifespans = contextlib.AsyncExitStack()
        await _enter(lifespans, parts)
        previous, self._lifespans = self._lifespans, lifespans
        self.parts, self.routing = list(parts), _Routing.of(parts)
        task = asyncio.create_task(self._retire(previous))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, lifespans: contextlib.AsyncExitStack) -> None:
        try:
            await asyncio.sleep(self.drain_seconds)
        finally:
            await lifespans.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Enter every part's lifespan at start-up; at shutdown leave them, retired ones included."""
        await receive()
        try:
            await _enter(self._lifespans, self.parts)
        except Exception as exc:
            await send({"type": "lifespan.startup.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()
        retiring = list(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        await self._lifespans.aclose()
        await send({"type": "lifespan.shutdown.complete"})


async def _enter(stack: contextlib.AsyncExitStack, parts: Sequence[PortPart]) -> None:
    for part in parts:
        if part.lifespan is not None:
            await stack.enter_async_context(part.lifespan())


def build_app(listener: Listener, executor: Executor, settings: Settings) -> tuple[ASGIApp, PortApp]:
    """The app a server runs for one port, and the ``PortApp`` inside it that a reload replaces."""
    port_app = PortApp(mount_parts(listener, executor, settings), drain_seconds=settings.total_timeout + 1)
    # Rate limits count only calls from allowed origins; each port keeps its own buckets.
    limited: ASGIApp = RateLimitLayer(port_app, settings.rate_limit) if settings.rate_limit.requests else port_app
    return OriginGuard(limited, OriginPolicy.for_listener(listener.host, settings)), port_app
