"""The MCP adapter as modelled: its tools, resources and prompts (kept apart from ``kind`` and
``endpoints`` so that both read it without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass

from ...spec.model import Exposed, ExposedAdapter
from ..base import Mounted
from .resources import RESOURCE_KEY, McpPrompt, McpResource


@dataclass(frozen=True)
class McpAdapter(ExposedAdapter):
    """``operations`` holds the tools then the dynamic resources, so that the loader compiles a
    plan for each; ``tools`` is the first part."""

    transport: str = "http"
    resources: tuple[McpResource, ...] = ()
    prompts: tuple[McpPrompt, ...] = ()
    ttl_ms: int | None = None
    """beta5 ``ttlMs``: how long (ms) clients may cache a response; 0: never (issue 19, item 4)."""
    cache_scope: str | None = None
    """beta5 ``cacheScope``: ``public`` (shared intermediaries may cache) or ``private``."""

    @property
    def tools(self) -> tuple[Exposed, ...]:
        return tuple(op for op in self.operations if not op.key.startswith(RESOURCE_KEY))


def tools_of(mounted: Mounted) -> list[Exposed]:
    adapter = mounted.adapter
    return list(adapter.tools) if isinstance(adapter, McpAdapter) else list(adapter.operations)
