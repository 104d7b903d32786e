"""Rows 3e-3g (issue 22): the same REST port as row 3 under other servers, measured in the same run.

    python benchmarks/edge_servers.py VARIANT FILE PORT

Before choosing how to make the edge faster, the issue asks for the candidates side by side:

- ``asyncio``: ``naftiko serve``'s own runtime (the HTTP guard over uvicorn's httptools protocol)
  on asyncio's event loop instead of uvloop's: what uvloop is worth;
- ``granian``: granian (a Rust HTTP server) serving the port's ASGI app on uvloop;
- ``rsgi``: granian's own interface, RSGI, with the thinnest adapter from RSGI to the port's ASGI
  app (one scope dict, the whole body read once, the answer written in one call): what a Rust
  edge could give at best without rewriting the adapters.

granian does not carry the edge's guarantees (bounded heads with 414/431 problems, the head
deadline, the connection cap, one Host): these rows measure speed only. Not part of the product;
granian is installed only for the benchmark (``pip install 'granian>=2.8,<2.9'``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROWS = (
    ("baseline", "3'. naftiko REST pass-through, the checkout in $NAFTIKO_BENCH_BASELINE (before)"),
    ("asyncio", "3e. naftiko REST pass-through on asyncio's loop (not uvloop)"),
    ("granian", "3f. the same app under granian (ASGI, uvloop)"),
    ("rsgi", "3g. the same app under granian's RSGI"),
)
"""Each row's key (for ``--only``) and label."""


def missing(key: str) -> str | None:
    """Why a row cannot run here, or ``None``."""
    if key == "baseline":
        return None if os.environ.get(BASELINE) else f"${BASELINE} is not set (a checkout to compare with)"
    if key != "asyncio" and importlib.util.find_spec("granian") is None:
        return "granian is not installed (pip install 'granian>=2.8,<2.9')"
    return None


class AsgiOverRsgi:
    """The port's ASGI app called from granian's RSGI: one request, one answer, no streaming, no
    lifespan (a REST port's handlers have none)."""

    def __init__(self, app: Any):
        self.app = app

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        path = scope.path
        asgi_scope = {
            "type": "http",
            "http_version": "1.1",
            "method": scope.method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode("latin-1"),
            "query_string": scope.query_string.encode("latin-1"),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in scope.headers.items()],
            "client": None,
            "server": None,
        }
        head: dict[str, Any] = {}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": await protocol(), "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                head.update(message)
                return
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in head["headers"]]
            protocol.response_bytes(head["status"], headers, message.get("body", b""))

        await self.app(asgi_scope, receive, send)


BASELINE = "NAFTIKO_BENCH_BASELINE"
"""A checkout (``git worktree add``, or ``git archive`` unpacked) whose ``naftiko serve`` row 3' runs."""


def render_cpu(rows: list[Any]) -> list[str]:
    """The server CPU per request of every row measured with it, beside row 2's (issue 22)."""
    measured = [row for row in rows if row.samples and row.samples[0].cpu_us is not None and row.key != "upstream"]
    if not measured:
        return []
    cpu = {row.key: statistics.median(s.cpu_us for s in row.samples) for row in measured}
    proxy = cpu.get("aiohttp")
    title = "| server CPU per request (user + system, every thread) | us | aiohttp proxy's / this |"
    out = ["", title, "|---|---:|---:|"]
    for row in measured:
        versus = f"{proxy / cpu[row.key]:.2f}x" if proxy else ""
        out.append(f"| {row.label} | {cpu[row.key]:.0f} | {versus} |")
    return out


def main(variant: str, file: Path, port: int) -> None:
    if variant == "baseline":
        sys.path.insert(0, os.environ[BASELINE])
        from naftiko_runtime.cli import main as cli

        sys.exit(cli(["serve", str(file), "--log-level", "WARNING"]))
    from naftiko_runtime import Settings, load
    from naftiko_runtime.core.execution import Executor
    from naftiko_runtime.core.upstream import UpstreamClients
    from naftiko_runtime.serving.ports import build_app
    from naftiko_runtime.serving.server import Runtime

    settings = Settings(log_level="WARNING")
    listener = load([file], settings).listeners.listeners[port]
    if variant == "asyncio":
        asyncio.run(Runtime([listener], settings).serve())
        return
    import uvloop
    from granian.constants import HTTPModes, Interfaces
    from granian.server.embed import Server

    clients = UpstreamClients(settings)
    clients.open({call.namespace for plan in listener.plans for call in plan.calls})
    app, _ = build_app(listener, Executor(clients), settings)
    server = Server(
        AsgiOverRsgi(app) if variant == "rsgi" else app,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.RSGI if variant == "rsgi" else Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        backlog=2048,
        log_enabled=False,
    )
    uvloop.run(server.serve())


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
