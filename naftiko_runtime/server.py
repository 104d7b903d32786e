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
from typing import Any, Iterator

import uvicorn
from starlette.applications import Starlette

from .execution import Executor
from .listeners import MCP_PATH, Listener
from .rest import RestApp
from .settings import Settings
from .upstream import UpstreamClients

log = logging.getLogger("naftiko")
GRACEFUL_SHUTDOWN_SECONDS = 30


class PortApp:
    """The ASGI app of one port: REST requests go straight to the route table; Starlette runs the
    lifespan and the MCP endpoints, so the REST hot path skips its router and middleware stack."""

    def __init__(self, rest: RestApp, app: Starlette, serves_mcp: bool):
        self.rest = rest
        self.app = app
        self.serves_mcp = serves_mcp

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not (self.serves_mcp and _is_mcp_path(scope["path"])):
            await self.rest(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _is_mcp_path(path: str) -> bool:
    return path == MCP_PATH or path.startswith(MCP_PATH + "/")


def build_app(listener: Listener, executor: Executor, settings: Settings) -> PortApp:
    """The MCP endpoints (if any) and the REST routes of one port."""
    rest = RestApp(listener.routes, executor, settings.max_request_body)
    if listener.mcp:
        from .mcp_adapter import (
            McpEndpoints,  # `import mcp` costs ~0.8 s: only ports serving MCP pay it
        )

        endpoints = McpEndpoints(listener.mcp, executor, settings.max_request_body, listener.host)
        app = Starlette(routes=endpoints.routes(), lifespan=endpoints.lifespan)
    else:
        app = Starlette()
    app.router.default = rest
    app.router.redirect_slashes = False
    return PortApp(rest, app, bool(listener.mcp))


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (several servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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
                raise OSError(f"cannot listen on {listener.host}:{listener.port}: {exc.strerror}") from exc
            sock.listen(2048)
            sock.set_inheritable(True)
            sockets.append(sock)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _config(app: Any, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(app, loop="auto", http="auto", lifespan="on", access_log=False, log_config=None,
                          timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, server_header=False,
                          proxy_headers=False)


class Runtime:
    """Every listener of one serve, in one event loop; ``stop`` may be called from any thread."""

    def __init__(self, listeners: list[Listener], settings: Settings, sockets: list[socket.socket] | None = None):
        self.listeners = listeners
        self.settings = settings
        self.sockets = sockets
        self.clients = UpstreamClients(settings)
        self.executor = Executor(self.clients)
        self.servers = [_Server(_config(build_app(listener, self.executor, settings), settings)) for listener in listeners]
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
        self.clients.open({plan.route.namespace for listener in self.listeners for plan in listener.plans})
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.add_signal_handler(sig, self._stop)
        for listener in self.listeners:
            log.info("listening on http://%s:%d: %s", listener.host, listener.port, _describe(listener))
        try:
            results = await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in zip(self.servers, sockets)),
                                           return_exceptions=True)
        finally:
            await self.clients.aclose()
            for sock in sockets:
                sock.close()
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            log.error("server stopped with an error: %r", failure)
        return 1 if failures or any(not s.started for s in self.servers) else 0


def _describe(listener: Listener) -> str:
    parts = []
    if listener.routes.targets():
        parts.append(f"REST ({len(listener.routes.targets())} routes)")
    if listener.mcp:
        parts.append(f"MCP at /mcp ({sum(len(m.adapter.tools) for m in listener.mcp)} tools)")
    return ", ".join(parts)


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


def run(listeners: list[Listener], settings: Settings, sockets: list[socket.socket], workers: int = 1) -> int:
    """Serve in this process, or fork ``workers`` processes that accept on the same sockets.

    The sockets are bound once, before forking, so the kernel spreads connections over the
    workers; the parent only forwards SIGINT/SIGTERM and reports the worst exit code.
    """
    if workers <= 1:
        return _run_one(listeners, settings, sockets)
    children: list[int] = []
    for _ in range(workers):
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
    log.info("serving with %d worker processes", workers)
    codes = []
    for child in children:
        _, status = os.waitpid(child, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    for sock in sockets:
        sock.close()
    return max((abs(code) for code in codes), default=0)
