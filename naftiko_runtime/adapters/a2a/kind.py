"""The ``x-naftiko-a2a`` adapter kind: its model, its sibling check, its claims on a port, its
handler and its skills listing. Not in the official schema: the builder warns about the type, so
``--strict`` refuses the file (D108). The SDK is imported only when an agent is served."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath, Finding
from ...spec.model import ExposedAdapter
from ...spec.shape_kinds import ShapeFragment
from ..base import Claim, MountContext, Mounted, PortPart, RouteRow
from .model import CARD_PATH, RPC_PATH, SOURCE_KIND, A2aAdapter, parse_a2a, skill_tools
from .shape import a2a_shape


class A2aKind:
    type: str = "x-naftiko-a2a"
    features: frozenset[str] = frozenset({"x-naftiko-a2a"})
    reference_roots: tuple[str, ...] = ()
    shape: ShapeFragment = staticmethod(a2a_shape)
    port_alone: bool = False

    def parse(self, builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> ExposedAdapter | None:
        return parse_a2a(builder, node, at, self.type)

    def check(self, mounted: Mounted) -> Iterable[Finding]:
        """Every source names an MCP adapter of this file; skill names are unique across them."""
        agent = mounted.adapter
        assert isinstance(agent, A2aAdapter)
        known = sorted(ns for ns, m in mounted.siblings.items() if m.adapter.kind == SOURCE_KIND)
        for namespace in agent.sources:
            if namespace not in known:
                listed = ", ".join(known) or "none"
                yield Finding.error(
                    agent.sources_at, f"'{namespace}' is not an MCP adapter of this file (known: {listed})"
                )
        seen: set[str] = set()
        for tool, source in skill_tools(mounted):
            if tool.name in seen:
                message = f"skill '{tool.name}' of '{source.adapter.namespace}' is also another source's: rename one"
                yield Finding.error(agent.sources_at, message)
            seen.add(tool.name)

    def claims(self, adapter: ExposedAdapter, port: int) -> Iterable[Claim]:
        """One agent per port: its card's well-known path and its JSON-RPC endpoint, owned whole."""
        label = f"the A2A agent '{adapter.namespace}' on port {port}"
        yield Claim(("a2a-card",), adapter.at, f"{CARD_PATH} ({label})", prefix=tuple(CARD_PATH.strip("/").split("/")))
        yield Claim(("a2a-rpc",), adapter.at, f"{RPC_PATH} ({label})", prefix=(RPC_PATH.strip("/"),))

    def mount(self, mounted: Sequence[Mounted], context: MountContext) -> PortPart:
        from .app import agent_app

        return PortPart(agent_app(mounted[0], context), prefixes=(CARD_PATH, RPC_PATH))

    def describe(self, mounted: Mounted) -> Iterable[RouteRow]:
        for tool, source in skill_tools(mounted):
            yield RouteRow(f"a2a {RPC_PATH} ({mounted.adapter.namespace})", f"skill {tool.name}", source.plan(tool))
