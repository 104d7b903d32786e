"""Running the listeners: one ASGI app per port, all in one event loop (CONTRACT D30-D34, D54).

Every port is bound before any server starts, so that a busy port fails the whole serve with
a clear message instead of serving half the files. SIGINT/SIGTERM stop every server at once:
uvicorn stops accepting, lets in-flight requests finish, then the upstream clients close.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.asgi import send_problem
from ..adapters.base import MountContext, PortPart
from ..adapters.registry import KINDS
from ..core.execution import Executor
from ..core.problems import Problem
from ..core.upstream import UpstreamClients
from ..settings import Settings, is_loopback
from .listeners import Listener, ListenerSet
from .origins import OriginGuard, OriginPolicy

log = logging.getLogger("naftiko")
GRACEFUL_SHUTDOWN_SECONDS = 30


async def _no_route(scope: Scope, receive: Receive, send: Send) -> None:
    await send_problem(send, Problem(404, f"nothing is exposed at {scope['path']}"), scope["path"])


class PortApp:
    """The ASGI app of one port: each request goes to the kind that owns its path (a prefix such
    as ``/mcp``), else to the kind that takes the rest (REST). No router or middleware stack sits
    in front: the REST hot path is one prefix check away from its route table."""

    def __init__(self, parts: list[PortPart]):
        self.parts = parts
        self.owned = tuple((prefix, part.app) for part in parts for prefix in part.prefixes)
        self.default: ASGIApp = next((part.app for part in parts if not part.prefixes), _no_route)

    def route(self, path: str) -> ASGIApp:
        for prefix, app in self.owned:
            if path == prefix or path.startswith(prefix + "/"):
                return app
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.route(scope["path"])(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            # No adapter speaks WebSocket: refuse the handshake (the server answers 403), never a 500.
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Enter every part's lifespan (the MCP session managers) at start-up, leave them at shutdown."""
        await receive()
        async with contextlib.AsyncExitStack() as stack:
            try:
                for part in self.parts:
                    if part.lifespan is not None:
                        await stack.enter_async_context(part.lifespan())
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()
        await send({"type": "lifespan.shutdown.complete"})


def build_app(listener: Listener, executor: Executor, settings: Settings) -> ASGIApp:
    """Every kind's handler for its adapters on one port, behind the port's browser checks."""
    context = MountContext(executor, settings)
    parts = [KINDS[kind].mount(mounted, context) for kind, mounted in listener.mounted.items()]
    return OriginGuard(PortApp(parts), OriginPolicy.for_listener(listener.host, settings))


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (several servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class PortUnavailable(OSError):
    """A port could not be bound; nothing is served (D5)."""


def bind_sockets(listeners: list[Listener]) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    try:
        for listener in listeners:
            family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((listener.host, listener.port))
            except OSError as exc:
                sock.close()
                raise PortUnavailable(f"cannot listen on {listener.host}:{listener.port}: {exc.strerror}") from exc
            sock.listen(2048)
            sock.set_inheritable(True)
            sockets.append(sock)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _config(app: Any, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop="auto",
        http="auto",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
        proxy_headers=False,
    )


class Runtime:
    """Every listener of one serve, in one event loop; ``stop`` may be called from any thread."""

    def __init__(self, listeners: list[Listener], settings: Settings, sockets: list[socket.socket] | None = None):
        self.listeners = listeners
        self.settings = settings
        self.sockets = sockets
        self.clients = UpstreamClients(settings)
        self.executor = Executor(self.clients)
        self.servers = [
            _Server(_config(build_app(listener, self.executor, settings), settings)) for listener in listeners
        ]
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def started(self) -> bool:
        return bool(self.servers) and all(server.started for server in self.servers)

    def _stop(self) -> None:
        for server in self.servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop)

    async def serve(self) -> int:
        """Serve until stopped (SIGINT/SIGTERM in the main thread); returns the exit code."""
        self._loop = asyncio.get_running_loop()
        sockets = self.sockets if self.sockets is not None else bind_sockets(self.listeners)
        self.clients.open(
            {step.call.namespace for listener in self.listeners for plan in listener.plans for step in plan.steps}
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.add_signal_handler(sig, self._stop)
        for listener in self.listeners:
            log.info("listening on http://%s:%d: %s", listener.host, listener.port, listener.described())
        try:
            results = await asyncio.gather(
                *(server.serve(sockets=[sock]) for server, sock in zip(self.servers, sockets, strict=True)),
                return_exceptions=True,
            )
        finally:
            await self.clients.aclose()
            for sock in sockets:
                sock.close()
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            log.error("server stopped with an error: %r", failure)
        return 1 if failures or any(not s.started for s in self.servers) else 0


def warn_exposed(listeners: list[Listener]) -> None:
    """D34: exposing beyond loopback is deliberate, and it is said out loud. Exposed adapters have no
    authentication yet, so whoever reaches the port calls every operation with the gateway's keys."""
    for listener in listeners:
        if not is_loopback(listener.host):
            log.warning(
                "listening on %s:%d, which is not a loopback address, and no adapter on it has exposed "
                "authentication: anyone who can reach this port can call every operation with the "
                "credentials this gateway holds (D34)",
                listener.host,
                listener.port,
            )


def serve(listeners: ListenerSet, settings: Settings) -> int:
    """Bind every port (all or none: ``PortUnavailable`` names the busy one), then serve until
    SIGINT/SIGTERM; returns the exit code."""
    bound = list(listeners.listeners.values())
    sockets = bind_sockets(bound)
    warn_exposed(bound)
    return run(bound, settings, sockets)


def _run_one(listeners: list[Listener], settings: Settings, sockets: list[socket.socket]) -> int:
    """One worker: ``Runtime.serve`` on uvloop when installed (about 4x asyncio's throughput here)."""
    # Everything loaded so far lives as long as the process: move it out of the collector's
    # sight, or every full collection walks the whole route table (132 ms at 10,000 routes).
    gc.collect()
    gc.freeze()
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(Runtime(listeners, settings, sockets).serve())


def run(listeners: list[Listener], settings: Settings, sockets: list[socket.socket]) -> int:
    """Serve in this process, or fork ``workers`` processes that accept on the same sockets.

    The sockets are bound once, before forking, so the kernel spreads connections over the
    workers; the parent only forwards SIGINT/SIGTERM and reports the worst exit code.
    """
    if settings.workers <= 1:
        return _run_one(listeners, settings, sockets)
    children: list[int] = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os._exit(_run_one(listeners, settings, sockets))
        children.append(pid)

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    log.info("serving with %d worker processes", settings.workers)
    codes = []
    for child in children:
        _, status = os.waitpid(child, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    for sock in sockets:
        sock.close()
    return max((abs(code) for code in codes), default=0)
