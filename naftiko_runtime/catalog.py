"""``naftiko routes``: every REST route and MCP tool, with the consumed operation it calls."""

from __future__ import annotations

from .listeners import MCP_PATH, ListenerSet
from .plans import CallPlan
from .tool_schemas import tool_arguments


def _upstream(plan: CallPlan) -> str:
    route = plan.route
    path = "".join(p if isinstance(p, str) else "{" + p.name + "}" for p in route.path_parts)
    return f"{route.namespace}.{route.operation}  {route.method} {route.base_uri.rstrip('/')}{path}"


def route_rows(listeners: ListenerSet) -> list[str]:
    rows: list[tuple[str, ...]] = [("ADDRESS", "ADAPTER", "ROUTE OR TOOL(REQUIRED ARGUMENTS)", "CALLS")]
    for port in sorted(listeners.listeners):
        listener = listeners.listeners[port]
        address = f"{listener.host}:{port}"
        for endpoint in listener.routes.targets():
            exposed = endpoint.plan.exposed
            rows.append((address, "rest", f"{exposed.method} {exposed.path}", _upstream(endpoint.plan)))
        for mount in listener.mcp:
            for tool, plan in mount.tools:
                required = ", ".join(s.name for s in tool_arguments(plan) if s.required)
                rows.append((address, f"mcp {MCP_PATH}/{mount.adapter.namespace}", f"{tool.name}({required})",
                             _upstream(plan)))
    for mount in listeners.stdio:
        for tool, plan in mount.tools:
            required = ", ".join(s.name for s in tool_arguments(plan) if s.required)
            rows.append(("stdio", f"mcp {mount.adapter.namespace}", f"{tool.name}({required})", _upstream(plan)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip() for row in rows]
