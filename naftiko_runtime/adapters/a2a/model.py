"""The ``x-naftiko-a2a`` entry as modelled: the sibling MCP adapters whose tools are its skills,
named as a skill adapter's tool names its ``sourceNamespace`` (``from`` would read as an import, D71).

```yaml
- type: x-naftiko-a2a
  namespace: orders-agent
  port: 9330
  description: Answers questions about orders.   # else the capability's info.description
  sourceNamespaces: [orders-mcp]                   # the MCP adapters whose tools are the skills
```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...extras import A2A
from ...records import dataclass
from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.model import Exposed, ExposedAdapter
from ..base import Mounted
from ..mcp.model import McpAdapter
from .shape import SOURCES

CARD_PATH = "/.well-known/agent-card.json"
RPC_PATH = "/a2a"
SOURCE_KIND = "mcp"


@dataclass(frozen=True)
class A2aAdapter(ExposedAdapter):
    sources: tuple[str, ...] = ()
    """The namespaces of the sibling MCP adapters whose tools are the agent's skills."""
    sources_at: DocPath = ()


def _sources(mounted: Mounted) -> tuple[str, ...]:
    adapter = mounted.adapter
    return adapter.sources if isinstance(adapter, A2aAdapter) else ()


def skill_tools(mounted: Mounted) -> Iterator[tuple[Exposed, Mounted]]:
    """Every tool of the ``sourceNamespaces`` adapters, with the adapter that holds its plan."""
    for namespace in _sources(mounted):
        source = mounted.siblings.get(namespace)
        if source is not None and isinstance(source.adapter, McpAdapter):
            yield from ((tool, source) for tool in source.adapter.tools)


def parse_a2a(builder: ModelBuilder, node: dict[str, Any], at: DocPath, kind: str) -> A2aAdapter:
    namespace = builder.text(node, "namespace", at, required=True) or ""
    source = node.get(SOURCES)
    sources = [source] if isinstance(source, str) else builder.sequence(source, at + (SOURCES,), f"'{SOURCES}'")
    if not sources or not all(isinstance(each, str) for each in sources):
        builder.error(at + (SOURCES,) if SOURCES in node else at, f"'{SOURCES}' must list the MCP adapters to serve")
        sources = []
    missing = A2A.missing(f"the {kind} adapter")
    if missing is not None:  # refused now: the SDK is imported when serving starts
        builder.error(at + ("type",), missing)
    return A2aAdapter(
        kind,
        namespace,
        builder.port(node, at),
        builder.text(node, "address", at),
        builder.text(node, "description", at),
        (),
        at,
        sources=tuple(sources),
        sources_at=at + (SOURCES,),
    )
