"""``naftiko serve --stdio``: the adapters of every file over stdin/stdout, for desktop and IDE
clients that launch their servers (D64). Only kinds that can speak over stdio take part (MCP)."""

from __future__ import annotations

import logging

from ..adapters.base import MountContext, StdioServing
from ..adapters.registry import KINDS
from ..core.execution import Executor
from ..core.upstream import UpstreamClients
from ..settings import Settings
from . import logs
from .listeners import ListenerSet

log = logging.getLogger("naftiko")


async def serve_stdio(listeners: ListenerSet, settings: Settings) -> int:
    mounted = [m for m in listeners.every_mounted() if isinstance(KINDS[m.adapter.kind], StdioServing)]
    if not mounted:
        log.error("no adapter that can be served over stdio (MCP)")
        return 1
    kinds = {m.adapter.kind for m in mounted}
    if len(kinds) > 1:
        log.error("adapters of several kinds cannot share stdin/stdout: %s", ", ".join(sorted(kinds)))
        return 1
    kind = KINDS[kinds.pop()]
    assert isinstance(kind, StdioServing)
    clients = UpstreamClients(settings, on_secret=logs.SECRETS.learn)
    clients.open({call.namespace for m in mounted for _, plan in m.operations for call in plan.calls})
    try:
        return await kind.serve_stdio(mounted, MountContext(Executor(clients), settings))
    finally:
        await clients.aclose()
