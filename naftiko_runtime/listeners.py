"""Serving several files at once: adapters grouped by port, conflicts found (CONTRACT D30-D34).

All files are loaded before any port is bound (D30). Each port becomes a ``Listener`` holding
one REST route table and the MCP adapters that share it (D31). A file whose routes or tools
collide with an earlier file's gets errors naming both places (D32); with ``--keep-going`` it
is left out and the others are served (D32b).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .diagnostics import Diagnostic, DocPath, Finding
from .loader import FileReport, LoadedCapability
from .model import Exposed, McpAdapter
from .plans import CallPlan
from .rest_inputs import RestEndpoint
from .routing import RouteTable, split_template
from .settings import DEFAULT_HOST, Settings
from .source import SourceDocument

MCP_PATH = "/mcp"


@dataclass
class McpMount:
    """One MCP adapter served on a listener: alone at ``/mcp/<namespace>``, merged at ``/mcp``."""

    loaded: LoadedCapability
    adapter: McpAdapter

    @property
    def tools(self) -> list[tuple[Exposed, CallPlan]]:
        return [(tool, self.loaded.plan(tool)) for tool in self.adapter.tools]


@dataclass
class Listener:
    host: str
    port: int
    routes: RouteTable[RestEndpoint] = field(default_factory=RouteTable)
    mcp: list[McpMount] = field(default_factory=list)
    where: dict[tuple, "Place"] = field(default_factory=dict)
    """Where each route shape, tool name or MCP namespace was declared, for conflict messages."""

    @property
    def plans(self) -> list[CallPlan]:
        return [endpoint.plan for endpoint in self.routes.targets()] + [p for m in self.mcp for _, p in m.tools]


@dataclass(frozen=True)
class Place:
    """A declaration's file and document path; its line is looked up only if a message needs it,
    since that takes a second, position-keeping parse of the file."""

    source: SourceDocument
    at: DocPath

    def __str__(self) -> str:
        line, column = self.source.position(self.at)
        return f"{self.source.name}:{line}:{column}"


def _address(adapter_address: str | None, settings: Settings) -> str:
    return settings.host or adapter_address or DEFAULT_HOST


class ListenerSet:
    """Accumulates files into listeners, one file at a time, refusing a file that conflicts."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.listeners: dict[int, Listener] = {}
        self.stdio: list[McpMount] = []

    def add(self, report: FileReport) -> list[Diagnostic]:
        """Adds a loaded file, or returns its conflict errors (naming both places) and adds nothing."""
        loaded = report.loaded
        assert loaded is not None
        claims = list(self._claims(loaded))
        places: dict[tuple, Place] = {}
        problems: list[Finding] = []
        for port, address, key, finding in claims:
            listener = self.listeners.get(port)
            earlier = (listener.where.get(key) if listener else None) or places.get((port, key))
            if earlier:
                problems.append(Finding.error(finding.at, f"{finding.message} conflicts with {earlier} (D32)"))
            elif listener and _address(address, self.settings) != listener.host:
                problems.append(Finding.error(finding.at, f"port {port} is already bound on {listener.host}; "
                                                          f"this adapter asks for {_address(address, self.settings)}"))
            places.setdefault((port, key), Place(loaded.source, finding.at))
        problems += self._mcp_path_collisions(claims)
        if problems:
            return sorted({loaded.source.diagnostic(f) for f in problems}, key=lambda d: (d.line, d.column))
        self._commit(loaded)
        for (port, key), place in places.items():
            self.listeners[port].where.setdefault(key, place)
        return []

    def _mcp_path_collisions(self, claims: list) -> list[Finding]:
        """D32: a REST route under ``/mcp`` on a port that serves MCP, whichever file came first."""
        def under_mcp(key: tuple) -> bool:
            return key[0] == "route" and key[2][:1] == (MCP_PATH.strip("/"),)
        new_mcp = {port: finding for port, _, key, finding in claims if key[0] == "mcp"}
        mcp_ports = set(new_mcp) | {port for port, listener in self.listeners.items() if listener.mcp}
        problems = [Finding.error(finding.at, f"{finding.message} collides with the MCP endpoint {MCP_PATH} (D32)")
                    for port, _, key, finding in claims if under_mcp(key) and port in mcp_ports]
        for port, finding in new_mcp.items():
            listener = self.listeners.get(port)
            for key, place in (listener.where.items() if listener else ()):
                if under_mcp(key):
                    problems.append(Finding.error(finding.at, f"the MCP endpoint {MCP_PATH} on port {port} collides "
                                                              f"with the REST route at {place} (D32)"))
        return problems

    def _claims(self, loaded: LoadedCapability):
        """What a file wants on each port: route shapes, MCP namespaces and tool names."""
        offset = self.settings.port_offset
        for adapter in loaded.capability.rest_adapters:
            for operation in adapter.operations:
                shape = split_template(operation.path)[0]
                yield (adapter.port + offset, adapter.address, ("route", operation.method, shape),
                       Finding.error(operation.at, f"{operation.method} {operation.path} on port {adapter.port + offset}"))
        for adapter in loaded.capability.mcp_adapters:
            if adapter.transport == "stdio" or adapter.port is None:
                continue
            port = adapter.port + offset
            yield (port, adapter.address, ("mcp", adapter.namespace),
                   Finding.error(adapter.at, f"MCP adapter '{adapter.namespace}' on port {port}"))
            for tool in adapter.tools:
                yield (port, adapter.address, ("tool", tool.name),
                       Finding.error(tool.at, f"tool '{tool.name}' on the MCP endpoint of port {port}"))

    def _commit(self, loaded: LoadedCapability) -> None:
        for adapter in loaded.capability.rest_adapters:
            listener = self._listener(adapter.port, adapter.address)
            for operation in adapter.operations:
                listener.routes.add(operation.method, operation.path, RestEndpoint.compile(loaded.plan(operation)))
        for adapter in loaded.capability.mcp_adapters:
            mount = McpMount(loaded, adapter)
            if adapter.transport == "stdio" or adapter.port is None:
                self.stdio.append(mount)
            else:
                self._listener(adapter.port, adapter.address).mcp.append(mount)

    def _listener(self, port: int, address: str | None) -> Listener:
        port += self.settings.port_offset
        if port not in self.listeners:
            self.listeners[port] = Listener(_address(address, self.settings), port)
        return self.listeners[port]
