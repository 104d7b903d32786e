"""The ``mcp`` adapter kind: its model, its claims on a port, its handler and its tools listing.

The ``mcp`` package is imported only when an MCP adapter is actually served (``import mcp`` costs
more than a second), and then off the start-up's critical path (``front``, D152): parsing,
validating and listing never pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.model import ExposedAdapter
from ...spec.shapes import Shape
from ..base import Claim, MountContext, Mounted, PortPart, RouteRow
from .icons import IconSpec, parse_icons
from .model import CACHE_SCOPES, CacheHints, McpAdapter
from .resources import parse_prompts, parse_resources
from .schemas import MCP_PATH, tool_arguments

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TRANSPORTS = ("http", "stdio")


class McpKind:
    type: str = "mcp"
    features: frozenset[str] = frozenset({"mcp", "mcp.stdio", "mcp.resources", "mcp.prompts"})
    reference_roots: tuple[str, ...] = ("tools", "mcp")
    shape: Shape | None = None
    """Its ``exposes`` shape is in each dialect's schema (``spec.shape_adapters``, one table for every dialect)."""
    port_alone: bool = False

    def parse(self, builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> ExposedAdapter | None:
        namespace = builder.text(node, "namespace", at, required=True) or ""
        transport = builder.text(node, "transport", at) or "http"
        if transport not in TRANSPORTS:
            builder.error(at + ("transport",), f"unknown MCP transport '{transport}': expected http or stdio")
        port = builder.port(node, at) if transport == "http" else None
        tools = []
        tool_icons: dict[str, tuple[IconSpec, ...]] = {}
        for key, tool, t_at in builder.entries(node, "tools", at):
            tool = builder.mapping(tool, t_at, "a tool")
            # A tool with `ref` may leave its name to the aggregate function (spec: Aggregates).
            name = builder.entry_name(key, tool, t_at, required="ref" not in tool) or builder.ref_name(tool) or ""
            if icons := parse_icons(builder, tool, t_at):
                tool_icons[name] = icons
            if not TOOL_NAME.match(name):
                builder.error(
                    t_at + ("name",),
                    f"tool name '{name[:80]}' must be 1 to 64 letters, digits, '_', '-' or '.' (MCP's limit)",
                )
            exposed = builder.exposed(
                tool,
                t_at,
                namespace=namespace,
                kind=self.type,
                key=name,
                name=name,
                reference_roots=self.reference_roots,
                tool=True,
            )
            if exposed:
                tools.append(exposed)
        resources = parse_resources(builder, node, at, namespace, self.reference_roots)
        dynamic = [r.exposed for r in resources if r.exposed is not None]
        return McpAdapter(
            self.type,
            namespace,
            port,
            builder.text(node, "address", at),
            builder.text(node, "description", at),
            (*tools, *dynamic),
            at,
            transport,
            tuple(resources),
            tuple(parse_prompts(builder, node, at, namespace)),
            parse_icons(builder, builder.info, ("info",), warn=False),
            tool_icons,
            cache_hints(builder, node, at),
        )

    def claims(self, adapter: ExposedAdapter, port: int) -> Iterable[Claim]:
        """D32: the namespace's endpoint and every tool name once per port; ``/mcp`` owned whole."""
        yield Claim(
            ("mcp", adapter.namespace),
            adapter.at,
            f"the MCP endpoint {MCP_PATH} (adapter '{adapter.namespace}' on port {port})",
            prefix=(MCP_PATH.strip("/"),),
        )
        if not isinstance(adapter, McpAdapter):
            return
        for tool in adapter.tools:
            yield Claim(("tool", tool.name), tool.at, f"tool '{tool.name}' on the MCP endpoint of port {port}")
        for resource in adapter.resources:
            yield Claim(
                ("resource", resource.uri.source),
                resource.at,
                f"resource '{resource.uri.source}' on the MCP endpoint of port {port}",
            )
        for prompt in adapter.prompts:
            label = f"prompt '{prompt.name}' on the MCP endpoint of port {port}"
            yield Claim(("prompt", prompt.name), prompt.at, label)

    def mount(self, mounted: Sequence[Mounted], context: MountContext) -> PortPart:
        from .front import McpFront

        front = McpFront(mounted, context.executor, context.settings.max_request_body, context.settings.mcp)
        return PortPart(front, prefixes=(MCP_PATH,), lifespan=front.lifespan, unready=front.unready)

    def describe(self, mounted: Mounted) -> Iterable[RouteRow]:
        namespace = mounted.adapter.namespace
        adapter = f"mcp {MCP_PATH}/{namespace}" if mounted.adapter.port is not None else f"mcp {namespace}"
        resources = mounted.adapter.resources if isinstance(mounted.adapter, McpAdapter) else ()
        uris = {r.exposed.key: r.uri.source for r in resources if r.exposed is not None}
        for exposed, plan in mounted.operations:
            if exposed.key in uris:
                yield RouteRow(adapter, f"resource {uris[exposed.key]}", plan)
                continue
            required = ", ".join(spec.name for spec in tool_arguments(plan) if spec.required)
            yield RouteRow(adapter, f"{exposed.name}({required})", plan)

    async def serve_stdio(self, mounted: Sequence[Mounted], context: MountContext) -> int:
        from .endpoints import serve_stdio

        settings = context.settings
        return await serve_stdio(mounted, context.executor, settings.max_request_body, settings.mcp)


def cache_hints(builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> CacheHints | None:
    """beta5's ``ttlMs`` (milliseconds, >= 0) and ``cacheScope`` (public, private)."""
    if "ttlMs" not in node and "cacheScope" not in node:
        return None
    ttl, scope = node.get("ttlMs", 0), node.get("cacheScope", "private")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        builder.error(at + ("ttlMs",), f"'ttlMs' must be an integer number of milliseconds >= 0, not {ttl!r}")
        ttl = 0
    if scope not in CACHE_SCOPES:
        builder.error(at + ("cacheScope",), f"'cacheScope' must be public or private, not {scope!r}")
        scope = "private"
    return CacheHints(ttl, str(scope))
