"""What every adapter kind provides: the ``AdapterKind`` protocol and the values it trades in.

An adapter kind (``rest``, ``mcp``, ...) is one module or folder under ``adapters/`` and one entry
in ``adapters.registry``. It knows four things about its ``exposes`` entries: how to read them into
the model (``parse``), what they need exclusively on a port (``claims``: route shapes, endpoint
paths, tool names — the serving layer finds conflicts between files from these alone, D32), how
to serve them on a port (``mount``: an ASGI handler over the shared executor), and how to list them
for ``naftiko routes`` (``describe``). Nothing outside its folder knows what a kind does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import field
from typing import Any, Protocol, runtime_checkable

from starlette.types import ASGIApp

from ..core.execution import Executor
from ..core.plans import OperationPlan
from ..core.scripts import ScriptGovernance
from ..records import dataclass
from ..settings import Settings
from ..spec.binds import BindValues
from ..spec.builder import ModelBuilder
from ..spec.diagnostics import DocPath, Finding
from ..spec.model import Capability, Exposed, ExposedAdapter
from ..spec.shape_kinds import ShapeFragment
from ..spec.shapes import Shape
from .auth.gates import Gate


@dataclass(frozen=True)
class Claim:
    """Something an adapter needs exclusively on its port.

    ``key`` conflicts with the same key from any adapter on the port (same file or not). A claim
    with ``route`` (a REST path shape, placeholders as ``None``) also conflicts with any claimed
    ``prefix`` on the port that the route falls under: a REST route at ``/mcp/x`` would be
    unreachable behind the MCP endpoint.
    """

    key: tuple[object, ...]
    at: DocPath
    label: str
    """How a conflict message names the claim: ``GET /syncs on port 8080``."""
    route: tuple[str | None, ...] | None = None
    prefix: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Mounted:
    """One adapter as served, with the plans of its operations (looked up by ``Exposed.key``)."""

    adapter: ExposedAdapter
    plans: Mapping[str, OperationPlan]
    siblings: Mapping[str, Mounted] = field(default_factory=dict)
    """Every adapter of the same file by namespace (itself included, their own ``siblings``
    empty): what a kind that describes other adapters (skill ``from``) reads, never imports."""
    gate: Gate | None = None
    """What a caller must present (D90), compiled from ``adapter.authentication``; ``None``: open."""
    binds: BindValues = field(default_factory=BindValues)
    """The file's bind variables (D10-D13), for a kind that renders its own secrets at load (a
    webhook's signing secret) rather than leaving them in a plan."""
    capability: Capability | None = None
    """The file it comes from: its ``info`` for a kind that publishes it (an A2A card), its name
    for telemetry (``capability_name``)."""
    scripting: ScriptGovernance | None = None
    """For a control adapter: its file's scripting governance (``/scripting``), when declared."""

    @property
    def capability_name(self) -> str:
        """The served file's ``info`` label, else its file name: the engine's ``naftiko_capability``
        label of ``naftiko_capability_active``."""
        capability = self.capability
        return (capability.label or capability.file.stem) if capability else ""

    def plan(self, exposed: Exposed) -> OperationPlan:
        return self.plans[exposed.key]

    @property
    def operations(self) -> list[tuple[Exposed, OperationPlan]]:
        return [(exposed, self.plans[exposed.key]) for exposed in self.adapter.operations]


class RuntimeControl(Protocol):
    """What the serving layer lets a management adapter (``control``) see and do."""

    def ready(self) -> tuple[bool, str]:
        """Whether to route traffic here, and why not (D92)."""

    def info(self) -> dict[str, Any]:
        """The served files, adapters and ports (no secrets)."""

    async def reload(self) -> tuple[bool, list[str]]:
        """Reload the served files in place; whether it did, and the diagnostics."""

    async def validate(self) -> tuple[bool, list[str]]:
        """Load the served files again without serving them."""

    def metrics(self) -> tuple[bytes, str] | None:
        """The Prometheus exposition and its content type; ``None`` when metrics are off."""


@dataclass(frozen=True)
class MountContext:
    """What a kind's handler gets from the server: the shared executor, the settings and, for the
    management plane, the runtime's controls."""

    executor: Executor
    settings: Settings
    control: RuntimeControl | None = None


@dataclass(frozen=True)
class PortPart:
    """A kind's handler on one port: the paths it owns and, if it needs one, a lifespan.

    ``prefixes`` are paths owned whole and below (``/mcp`` owns ``/mcp`` and ``/mcp/...``); a part
    with no prefixes takes every request no other part owns (REST).
    """

    app: ASGIApp
    prefixes: tuple[str, ...] = ()
    lifespan: Callable[[], AbstractAsyncContextManager[None]] | None = None
    unready: Callable[[], str | None] | None = None
    """Why the part cannot answer every request yet, though its port serves (readiness says it,
    D92), ``None`` once it can: the MCP front while the ``mcp`` package loads (D152)."""


@dataclass(frozen=True)
class RouteRow:
    """One line of ``naftiko routes``: the adapter, what a caller uses, and the plan it runs."""

    adapter: str
    entry: str
    plan: OperationPlan


class AdapterKind(Protocol):
    type: str
    """The spec's ``exposes[].type`` this kind serves."""
    features: frozenset[str]
    """Conformance features this kind implements (``serving.features``)."""
    reference_roots: tuple[str, ...]
    """The roots a ``with`` reference may use in this kind besides the namespace (D20)."""

    @property
    def shape(self) -> Shape | ShapeFragment | None:
        """The shape of its ``exposes`` entry for the dialects' shape checks: one ``Shape`` for
        every dialect, or a fragment of the dialect's ``Profile`` (a kind with named collections);
        ``None`` when the dialects' own schemas hold it (the specification's kinds)."""

    port_alone: bool
    """Its adapters share their port with no other kind's (the management plane, ``control``)."""

    def parse(self, builder: ModelBuilder, node: dict[str, object], at: DocPath) -> ExposedAdapter | None: ...

    def claims(self, adapter: ExposedAdapter, port: int) -> Iterable[Claim]: ...

    def mount(self, mounted: Sequence[Mounted], context: MountContext) -> PortPart: ...

    def describe(self, mounted: Mounted) -> Iterable[RouteRow]: ...


@runtime_checkable
class SiblingChecking(Protocol):
    """A kind whose adapters need the whole file to be checked (skill ``from`` and A2A sources name
    sibling adapters; a webhook's secret renders from the file's binds): checked by the loader once
    every adapter and plan of the file is built, problems positioned."""

    def check(self, mounted: Mounted) -> Iterable[Finding]: ...


@runtime_checkable
class OpenApiDescribing(Protocol):
    """A kind whose adapters on a port are described by one OpenAPI document (``naftiko openapi``)."""

    def openapi(self, mounted: Sequence[Mounted]) -> dict[str, Any]: ...


@runtime_checkable
class StdioServing(Protocol):
    """A kind that can also serve its adapters over stdin/stdout (MCP, D64)."""

    async def serve_stdio(self, mounted: Sequence[Mounted], context: MountContext) -> int: ...
