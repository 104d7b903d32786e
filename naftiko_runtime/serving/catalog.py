"""``naftiko routes``: every route and tool of every adapter, with the consumed operations it calls;
``naftiko openapi``: the OpenAPI document each REST port serves at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from ..adapters.base import Mounted
from ..adapters.registry import KINDS
from ..adapters.rest.kind import RestKind
from ..core.mcp_upstream import McpToolStep
from ..core.plans import OperationPlan
from .listeners import ListenerSet


def _calls(plan: OperationPlan) -> str:
    calls = []
    for call in plan.calls:
        path = "".join(p if isinstance(p, str) else "{" + p.text + "}" for p in call.path_parts)
        calls.append(f"{call.label}  {call.method} {call.base_uri.rstrip('/')}{path}")
    # D113: a tool of an upstream MCP server, with the server's URL.
    calls += [f"{step.label}  MCP tool at {step.server.url}" for step in plan.steps if isinstance(step, McpToolStep)]
    return "; ".join(calls)


def route_rows(listeners: ListenerSet) -> list[str]:
    rows: list[tuple[str, ...]] = [("ADDRESS", "ADAPTER", "ROUTE OR TOOL(REQUIRED ARGUMENTS)", "CALLS")]
    placed: list[tuple[str, Mounted]] = [
        (f"{listener.host}:{port}", mounted)
        for port, listener in sorted(listeners.listeners.items())
        for each in listener.mounted.values()
        for mounted in each
    ]
    placed += [("stdio", mounted) for mounted in listeners.portless]
    for address, mounted in placed:
        for row in KINDS[mounted.adapter.kind].describe(mounted):
            rows.append((address, row.adapter, row.entry, _calls(row.plan)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip() for row in rows]


def openapi_documents(listeners: ListenerSet) -> dict[int, dict[str, Any]]:
    """By port, the document of every port that serves REST adapters."""
    return {
        port: RestKind().openapi(listener.mounted["rest"])
        for port, listener in sorted(listeners.listeners.items())
        if listener.mounted.get("rest")
    }
