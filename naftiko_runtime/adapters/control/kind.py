"""The ``control`` adapter kind: its model, its claims (it owns its port's management paths), its
handler and its routes listing. It exposes no operation: nothing of it calls upstream."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.model import ExposedAdapter
from ...spec.shapes import Shape
from ..base import Claim, MountContext, Mounted, PortPart, RouteRow
from .app import PREFIXES, ControlApp
from .model import ControlAdapter, parse_management, parse_observability


class ControlKind:
    type: str = "control"
    features: frozenset[str] = frozenset({"control", "observability"})
    reference_roots: tuple[str, ...] = ()
    shape: Shape | None = None
    """Its ``exposes`` shape is in each dialect's schema (``spec.shape_adapters``, one table for every dialect)."""
    port_alone: bool = True
    """The management plane is never reachable through a business port, nor the reverse."""

    def parse(self, builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> ExposedAdapter | None:
        return ControlAdapter(
            self.type,
            "control",
            builder.port(node, at),
            builder.text(node, "address", at),
            None,
            (),
            at,
            management=parse_management(builder, node.get("management"), at + ("management",)),
            observability=parse_observability(builder, node.get("observability"), at + ("observability",)),
        )

    def claims(self, adapter: ExposedAdapter, port: int) -> Iterable[Claim]:
        """One control adapter per port; its paths are owned whole (no REST route beneath them)."""
        yield Claim(
            ("control",),
            adapter.at,
            f"the control adapter on port {port}",
            prefix=(PREFIXES[0].strip("/"),),
        )
        for prefix in PREFIXES[1:]:
            yield Claim(("control", prefix), adapter.at, f"{prefix} on port {port}", prefix=(prefix.strip("/"),))

    def mount(self, mounted: Sequence[Mounted], context: MountContext) -> PortPart:
        adapter = mounted[0].adapter
        assert isinstance(adapter, ControlAdapter)
        return PortPart(ControlApp(adapter.management, context.control, mounted[0].scripting), prefixes=PREFIXES)

    def describe(self, mounted: Mounted) -> Iterable[RouteRow]:
        return ()
