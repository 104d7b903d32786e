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
from collections.abc import Awaitable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.asgi import send_problem
from ..adapters.auth.mounting import guarded, protected_resource_parts
from ..adapters.base import MountContext, PortPart, RuntimeControl
from ..adapters.registry import KINDS
from ..core.execution import Executor
from ..core.problems import Problem
from ..core.state import StateStore
from ..records import dataclass
from ..settings import Settings
from .listeners import Listener
from .origins import OriginGuard, OriginPolicy
from .rate_limits import RateLimiter, RateLimitLayer, SharedRateLimiter

log = logging.getLogger("naftiko")


async def _nothing() -> None:
    """A scope type the port does not serve (``websocket``: uvicorn's httptools protocol never
    sends one here) is ignored, as before."""


async def _no_route(scope: Scope, receive: Receive, send: Send) -> None:
    await send_problem(send, Problem(404, f"nothing is exposed at {scope['path']}"), scope["path"])


def mount_parts(
    listener: Listener, executor: Executor, settings: Settings, control: RuntimeControl | None = None
) -> list[PortPart]:
    """Every kind's handler for its adapters on one port, behind their authentication (D90)."""
    context = MountContext(executor, settings, control)
    parts = [guarded(KINDS[kind].mount(mounted, context), mounted) for kind, mounted in listener.mounted.items()]
    every = [m for mounted in listener.mounted.values() for m in mounted]
    return parts + protected_resource_parts(every)


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


class _Lifespans:
    """One generation's lifespans, entered and left by a task of their own: the MCP session
    managers hold anyio cancel scopes, which only the task that entered them may exit. Left from
    another task (the reload's, or a retiring one), they raised at every retirement and shutdown."""

    def __init__(self, parts: Sequence[PortPart]):
        self.parts = parts
        self._leave = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def enter(self) -> None:
        """Returns once every lifespan is entered; raises what entering one raised."""
        entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(entered))
        await entered

    async def _hold(self, entered: asyncio.Future[None]) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                await _enter(stack, self.parts)
                entered.set_result(None)
                await self._leave.wait()
        except Exception as exc:
            if entered.done():
                log.exception("leaving a generation of handlers failed")
            else:
                entered.set_exception(exc)

    async def leave(self) -> None:
        self._leave.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


class PortApp:
    def __init__(self, parts: Sequence[PortPart], drain_seconds: float):
        self.parts = list(parts)
        self.routing = _Routing.of(parts)
        self.drain_seconds = drain_seconds
        """How long a replaced generation keeps running for the requests it already took."""
        self._lifespans = _Lifespans(self.parts)
        self._retiring: set[asyncio.Task[None]] = set()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The routed handler's own coroutine: no frame of the port's on a request's stack (D159)."""
        if scope["type"] == "http":
            return self.routing.route(scope["path"])(scope, receive, send)
        if scope["type"] == "lifespan":
            return self._lifespan(receive, send)
        return _nothing()

    def unready(self) -> list[str]:
        return [why for part in self.parts if part.unready is not None and (why := part.unready()) is not None]

    async def replace(self, parts: Sequence[PortPart]) -> None:
        """Serve ``parts`` from now on; the previous ones finish what they took, then stop."""
        lifespans = _Lifespans(parts)
        await lifespans.enter()
        previous, self._lifespans = self._lifespans, lifespans
        self.parts, self.routing = list(parts), _Routing.of(parts)
        task = asyncio.create_task(self._retire(previous))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, lifespans: _Lifespans) -> None:
        try:
            await asyncio.sleep(self.drain_seconds)
        finally:
            await lifespans.leave()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Enter every part's lifespan at start-up; at shutdown leave them, retired ones included."""
        await receive()
        try:
            await self._lifespans.enter()
        except Exception as exc:
            await send({"type": "lifespan.startup.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()
        retiring = list(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        await self._lifespans.leave()
        await send({"type": "lifespan.shutdown.complete"})


async def _enter(stack: contextlib.AsyncExitStack, parts: Sequence[PortPart]) -> None:
    for part in parts:
        if part.lifespan is not None:
            await stack.enter_async_context(part.lifespan())


def build_app(
    listener: Listener,
    executor: Executor,
    settings: Settings,
    control: RuntimeControl | None = None,
    store: StateStore | None = None,
) -> tuple[ASGIApp, PortApp]:
    """The app a server runs for one port, and the ``PortApp`` inside it that a reload replaces."""
    port_app = PortApp(mount_parts(listener, executor, settings, control), drain_seconds=settings.total_timeout + 1)
    # Rate limits count only calls from allowed origins; each port keeps its own buckets, in this
    # process or, with a store, in the fleet's (keyed by the port the file declares, issue 22).
    limited: ASGIApp = port_app
    if settings.rate_limit.requests and store is not None:
        port = listener.port - settings.port_offset
        limited = RateLimitLayer(port_app, SharedRateLimiter(settings.rate_limit, store, port))
    elif settings.rate_limit.requests:
        limited = RateLimitLayer(port_app, RateLimiter(settings.rate_limit))
    return OriginGuard(limited, OriginPolicy.for_listener(listener.host, settings)), port_app
