"""Running the listeners: one ASGI app per port, all in one event loop (CONTRACT D30-D34, D54).

Every port is bound before any server starts, so that a busy port fails the whole serve with
a clear message instead of serving half the files. SIGINT/SIGTERM stop every server at once:
uvicorn stops accepting, lets in-flight requests finish, then the upstream clients close. SIGHUP
reloads the served files: a valid new set replaces the old one without dropping a request; an
invalid one is logged and the old set keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from ..core.execution import Executor
from ..core.resilience import Breaker
from ..core.sharing import open_store
from ..core.upstream import UpstreamClients
from ..settings import Settings, is_loopback
from . import logs
from .collector import keep_held_objects_frozen
from .control import OFF, Controls, observability_of
from .fast_path import FastLane
from .http_guard import ConnectionGauge, GuardLimits, guarded_protocol, raise_open_file_limit
from .listeners import Listener, ListenerSet
from .load_cache import HELD
from .loading import Loaded
from .ports import PortApp, build_app, mount_parts
from .reloading import Watcher

if TYPE_CHECKING:
    from .telemetry import Telemetry

log = logging.getLogger("naftiko")
GRACEFUL_SHUTDOWN_SECONDS = 30
ENTRIES_AFTER_SECONDS = 1.0
"""How long after its ports serve a serve writes its load's held cache entries (D181): past the
first calls of whoever waited for them."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (several servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EarlyReload:
    """A SIGHUP that arrives before the event loop (or the parent of workers) takes the signal over:
    remembered, then acted on once it does. A worker whose start was still under way when a reload
    was asked would otherwise serve the old files until the next SIGHUP."""

    def __init__(self) -> None:
        self.pending = False

    def remember(self, signum: int, frame: Any) -> None:
        self.pending = True

    def take(self) -> bool:
        pending, self.pending = self.pending, False
        return pending


EARLY_RELOAD = EarlyReload()


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


def _config(app: Any, settings: Settings, gauge: ConnectionGauge, fast: FastLane | None) -> uvicorn.Config:
    """uvicorn behind the HTTP guard: bounded request heads, a head deadline, one connection cap for
    every port of the process, the REST fast path where the port allows it (D160); no WebSocket
    protocol (the guard refuses upgrades)."""
    return uvicorn.Config(
        app,
        interface="asgi3",  # said, not guessed: a layer may return its app's coroutine without being one
        loop="auto",
        http=guarded_protocol(GuardLimits.from_settings(settings), gauge, fast),
        ws="none",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
        proxy_headers=False,
    )


Reloader = Callable[[], Loaded]
"""Loads the served files again (``load(paths, settings)``), for SIGHUP and ``Runtime.reload``."""


class Runtime:
    """Every listener of one serve, in one event loop; ``stop`` may be called from any thread."""

    def __init__(
        self,
        listeners: list[Listener],
        settings: Settings,
        sockets: list[socket.socket] | None = None,
        reloader: Reloader | None = None,
        watched: Sequence[Path] = (),
    ):
        self.listeners = listeners
        self.settings = settings
        self.sockets = sockets
        self.reloader = reloader
        self.watched = watched
        """Files and folders whose changes reload this runtime (``--watch``); none when empty."""
        self.store = open_store(settings.state) if settings.state else None
        """The fleet's shared state (``--state``, issue 22), chosen once here; ``None``: this process alone."""
        self.clients = UpstreamClients(settings, on_secret=logs.SECRETS.learn, store=self.store)
        self.telemetry = _telemetry(listeners, settings, self.clients.breakers, self.capabilities)
        if self.store is not None and self.telemetry is not None and self.telemetry.metrics is not None:
            from .state_metrics import StoreCollector

            self.telemetry.metrics.registry.register(StoreCollector(self.store.health))
        if self.telemetry is not None and self.telemetry.metrics is not None:
            from .metrics import CacheCollector

            self.telemetry.metrics.registry.register(CacheCollector(self.clients.cache))
        self.executor = Executor(self.clients, self.telemetry)
        self.controls = Controls(self, self.telemetry)
        self.last_reload: list[str] = []
        """The diagnostics of the last reload, for the control adapter's answer."""
        apps = [build_app(listener, self.executor, settings, self.controls, self.store) for listener in listeners]
        self.ports: dict[int, PortApp] = {
            listener.port: port_app for listener, (_, port_app) in zip(listeners, apps, strict=True)
        }
        gauge = ConnectionGauge()
        telemetry = self.telemetry
        continuing = telemetry.continuing if telemetry else (lambda app: app)
        self.servers = [
            _Server(_config(continuing(app), settings, gauge, FastLane.of(app, telemetry))) for app, _ in apps
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reloading = asyncio.Lock()

    def capabilities(self) -> list[str]:
        """The capabilities served now (``naftiko_capability_active``)."""
        return [m.capability_name for listener in self.listeners for each in listener.mounted.values() for m in each]

    @property
    def reloading(self) -> bool:
        return self._reloading.locked()

    @property
    def started(self) -> bool:
        return bool(self.servers) and all(server.started for server in self.servers)

    def unready(self) -> list[str]:
        """Why some port cannot answer every request yet though it serves (D152)."""
        return sorted({why for port_app in self.ports.values() for why in port_app.unready()})

    def _stop(self) -> None:
        for server in self.servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop)

    def _open_clients(self, listeners: list[Listener]) -> None:
        self.clients.open({call.namespace for listener in listeners for plan in listener.plans for call in plan.calls})

    async def reload(self) -> bool:
        """Load the files again and serve them in place of the current ones; whether it did.

        The new set must be valid (or ``--keep-going``) and keep the same ports on the same
        addresses: sockets are bound once, before serving (and before forking workers).
        """
        if self.reloader is None:
            log.warning("reload asked, but this runtime was not given its files; nothing changed")
            return False
        async with self._reloading:
            loaded = await asyncio.to_thread(self.reloader)
            self.last_reload = [str(d) for d in loaded.diagnostics]
            for diagnostic in loaded.diagnostics:
                log.warning("reload: %s", diagnostic)
            if loaded.rejected and not self.settings.keep_going:
                log.error(
                    "reload refused: %d of %d files invalid; still serving the previous files",
                    len(loaded.rejected),
                    len(loaded.reports),
                )
                return False
            listeners = loaded.listeners.listeners
            before = {(listener.host, listener.port) for listener in self.listeners}
            after = {(listener.host, listener.port) for listener in listeners.values()}
            if before != after:
                log.error(
                    "reload refused: it would change the ports served (%s -> %s); restart to change them",
                    sorted(before),
                    sorted(after),
                )
                return False
            logs.SECRETS.add(loaded.secrets)
            self._open_clients(list(listeners.values()))
            for port, port_app in self.ports.items():
                await port_app.replace(mount_parts(listeners[port], self.executor, self.settings, self.controls))
            self.listeners = [listeners[listener.port] for listener in self.listeners]
            log.info("reloaded %d files", len(loaded.reports) - len(loaded.rejected))
            return True

    def _reload_in_background(self) -> None:
        task = asyncio.ensure_future(self.reload())
        task.add_done_callback(_log_failure)

    def request_reload(self) -> None:
        """Reload soon, from any thread (the ``--watch`` thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._reload_in_background)

    def _share_state(self) -> list[asyncio.Task[None]]:
        """With a store: watch it through outages, and keep the breakers in step with the fleet's."""
        if self.store is None:
            return []
        log.info("sharing rate limits, circuit breakers and tokens through %s", self.store.health.name)
        tasks = [asyncio.ensure_future(self.store.watch())]
        if self.clients.shared_breakers is not None:
            tasks.append(asyncio.ensure_future(self.clients.shared_breakers.run()))
        return tasks

    async def serve(self) -> int:
        """Serve until stopped (SIGINT/SIGTERM in the main thread); returns the exit code."""
        self._loop = asyncio.get_running_loop()
        sockets = self.sockets if self.sockets is not None else bind_sockets(self.listeners)
        self._open_clients(self.listeners)
        for sig, handler in (
            (signal.SIGINT, self._stop),
            (signal.SIGTERM, self._stop),
            (signal.SIGHUP, self._reload_in_background),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.add_signal_handler(sig, handler)
        if EARLY_RELOAD.take():
            self._reload_in_background()
        for listener in self.listeners:
            log.info("listening on http://%s:%d: %s", listener.host, listener.port, listener.described())
        watcher = Watcher(self.watched, self.request_reload, self.settings) if self.watched else None
        if watcher is not None:
            watcher.start()
        sharing = self._share_state()
        writing = asyncio.ensure_future(_write_held_entries())
        try:
            results = await asyncio.gather(
                *(server.serve(sockets=[sock]) for server, sock in zip(self.servers, sockets, strict=True)),
                return_exceptions=True,
            )
        finally:
            if watcher is not None:
                watcher.stop()
            for task in (*sharing, writing):
                task.cancel()
            await asyncio.gather(*sharing, writing, return_exceptions=True)
            await self.clients.aclose()
            if self.store is not None:
                await self.store.aclose()
            if self.telemetry is not None:
                await self.telemetry.aclose()  # the spans still held or queued go out (D136)
            for sock in sockets:
                sock.close()
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            log.error("server stopped with an error: %r", failure)
        return 1 if failures or any(not s.started for s in self.servers) else 0


def _telemetry(
    listeners: list[Listener],
    settings: Settings,
    breakers: Callable[[], Mapping[str, Breaker]],
    capabilities: Callable[[], list[str]],
) -> Telemetry | None:
    """Metrics, traces and the JSON request log, or ``None`` when none is asked for: then
    OpenTelemetry and prometheus_client (~35 ms of start-up) are never imported."""
    observability, request_log = observability_of(listeners), settings.log_format == "json"
    if observability is None and not request_log:
        return None
    from .telemetry import Telemetry

    return Telemetry(observability or OFF, request_log, breakers, capabilities)


async def _write_held_entries() -> None:
    """The load cache entries this process's load held (D181), written by a thread a moment after
    the ports serve; a stop before then leaves them to ``naftiko serve`` as it returns."""
    await asyncio.sleep(ENTRIES_AFTER_SECONDS)
    if HELD.pending:
        await asyncio.to_thread(HELD.write)


def _log_failure(task: asyncio.Future[bool]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reload failed: %r", task.exception())


def warn_exposed(listeners: list[Listener]) -> None:
    """D34: exposing beyond loopback is deliberate, and it is said out loud when an adapter on the
    port has no exposed authentication: whoever reaches it calls its operations with the gateway's keys."""
    for listener in listeners:
        open_adapters = [m for mounted in listener.mounted.values() for m in mounted if m.gate is None]
        if not is_loopback(listener.host) and open_adapters:
            log.warning(
                "listening on %s:%d, which is not a loopback address, and no adapter on it has exposed "
                "authentication: anyone who can reach this port can call every operation with the "
                "credentials this gateway holds (D34)",
                listener.host,
                listener.port,
            )


def serve(
    listeners: ListenerSet, settings: Settings, reloader: Reloader | None = None, watched: Sequence[Path] = ()
) -> int:
    """Bind every port (all or none: ``PortUnavailable`` names the busy one), then serve until
    SIGINT/SIGTERM; SIGHUP, and a change to ``watched`` files, reload through ``reloader``.
    Returns the exit code."""
    # Until the event loop takes SIGHUP over, it must not end the process (its default action),
    # nor be lost: a reload asked while a worker starts is made once it serves.
    signal.signal(signal.SIGHUP, EARLY_RELOAD.remember)
    raise_open_file_limit()
    bound = list(listeners.listeners.values())
    sockets = bind_sockets(bound)
    warn_exposed(bound)
    return run(bound, settings, sockets, reloader, watched)


def _run_one(
    listeners: list[Listener],
    settings: Settings,
    sockets: list[socket.socket],
    reloader: Reloader | None,
    watched: Sequence[Path] = (),
) -> int:
    """One worker: ``Runtime.serve`` on uvloop when installed (about 4x asyncio's throughput here)."""
    # Everything loaded so far lives as long as the process: move it out of the collector's
    # sight, or every full collection walks the whole route table (132 ms at 10,000 routes).
    # No collection first: a load leaves next to no cyclic garbage (5 objects for 200 files), and
    # walking the loaded heap for it cost ~0.24 s of CPU at 200 files (D139).
    gc.freeze()
    keep_held_objects_frozen()
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(Runtime(listeners, settings, sockets, reloader, watched).serve())


def run(
    listeners: list[Listener],
    settings: Settings,
    sockets: list[socket.socket],
    reloader: Reloader | None = None,
    watched: Sequence[Path] = (),
) -> int:
    """Serve in this process, or fork ``workers`` processes that accept on the same sockets.

    The sockets are bound once, before forking, so the kernel spreads connections over the
    workers; the parent only forwards signals (SIGINT/SIGTERM as SIGTERM, SIGHUP as itself, so
    that each worker reloads) and reports the worst exit code. With ``watched``, the parent
    watches and sends each worker SIGHUP, so that one watcher serves them all.
    """
    if settings.workers <= 1:
        return _run_one(listeners, settings, sockets, reloader, watched)
    HELD.write()  # by the parent, once, rather than by each worker (D181)
    children: list[int] = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os._exit(_run_one(listeners, settings, sockets, reloader))
        children.append(pid)

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGHUP if signum == signal.SIGHUP else signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    if EARLY_RELOAD.take():
        forward(signal.SIGHUP, None)
    log.info("serving with %d worker processes", settings.workers)
    if watched:
        # Started after the forks: a thread does not survive fork().
        Watcher(watched, lambda: forward(signal.SIGHUP, None), settings).start()
    codes = []
    for child in children:
        _, status = os.waitpid(child, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    for sock in sockets:
        sock.close()
    return max((abs(code) for code in codes), default=0)
