"""The runtime as a ``control`` adapter sees it (``adapters.base.RuntimeControl``): readiness,
what is served, validate and reload of the served files, and the metrics exposition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..adapters.control.model import ControlAdapter, Observability
from ..version import __version__
from .listeners import Listener
from .loading import Loaded

if TYPE_CHECKING:  # OpenTelemetry and prometheus_client load only where something is observed
    from .telemetry import Telemetry


class Served(Protocol):
    """What of ``server.Runtime`` the controls read (a protocol: the server imports this module)."""

    listeners: list[Listener]
    reloader: Callable[[], Loaded] | None
    last_reload: list[str]

    @property
    def started(self) -> bool: ...

    @property
    def reloading(self) -> bool: ...

    def unready(self) -> list[str]: ...

    async def reload(self) -> bool: ...


OFF = Observability(enabled=False)
"""No metrics and no traces: what a runtime without a control adapter observes."""


def observability_of(listeners: list[Listener]) -> Observability | None:
    """The first control adapter's observability, ``None`` without a control adapter (no cost)."""
    for listener in listeners:
        for mounted in (each for kind in listener.mounted.values() for each in kind):
            if isinstance(mounted.adapter, ControlAdapter):
                return mounted.adapter.observability
    return None


class Controls:
    def __init__(self, runtime: Served, telemetry: Telemetry | None):
        self.runtime = runtime
        self.telemetry = telemetry

    def ready(self) -> tuple[bool, str]:
        """D92: not while loading or reloading, nor while every call to some namespace fails;
        D152: nor while a port still loads a part of itself (the ``mcp`` package)."""
        if not self.runtime.started:
            return False, "loading"
        if self.runtime.reloading:
            return False, "reloading"
        if unready := self.runtime.unready():
            return False, "; ".join(unready)
        failing = sorted(ns for ns, bad in (self.telemetry.failing if self.telemetry else {}).items() if bad)
        if failing:
            return False, f"the upstream of {', '.join(failing)} is failing"
        return True, ""

    def info(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "ports": [
                {
                    "host": listener.host,
                    "port": listener.port,
                    "adapters": [
                        {"type": kind, "namespace": m.adapter.namespace, "operations": len(m.adapter.operations)}
                        for kind, mounted in listener.mounted.items()
                        for m in mounted
                    ],
                }
                for listener in self.runtime.listeners
            ],
        }

    async def reload(self) -> tuple[bool, list[str]]:
        reloaded = await self.runtime.reload()
        return reloaded, self.runtime.last_reload

    async def validate(self) -> tuple[bool, list[str]]:
        if self.runtime.reloader is None:
            return False, ["this runtime was not given its files"]
        loaded = await asyncio.to_thread(self.runtime.reloader)
        return not loaded.rejected, [str(d) for d in loaded.diagnostics]

    def metrics(self) -> tuple[bytes, str] | None:
        return None if self.telemetry is None else self.telemetry.exposition()
