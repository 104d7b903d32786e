"""The MCP adapter as modelled: its tools, resources and prompts (kept apart from ``kind`` and
``endpoints`` so that both read it without importing each other)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from ...records import dataclass
from ...spec.model import Exposed, ExposedAdapter
from ..base import Mounted
from .icons import IconSpec
from .resources import RESOURCE_KEY, McpPrompt, McpResource

CACHE_SCOPES = ("public", "private")


@dataclass(frozen=True)
class CacheHints:
    """``ttlMs`` and ``cacheScope`` of an MCP adapter: MCP 2026-07-28's freshness hints (SEP-2549)
    on the results of its cacheable methods (``tools/list``, ``resources/list``,
    ``resources/templates/list``, ``resources/read``, ``prompts/list``, ``server/discover``).
    Absent ``ttlMs`` is 0 (stale at once), absent ``cacheScope`` private: MCP's own defaults."""

    ttl_ms: int = 0
    scope: str = "private"

    @staticmethod
    def merged(hints: Sequence[CacheHints | None]) -> CacheHints | None:
        """One hint for adapters served together (``/mcp``, D31): the shortest life and the
        narrowest scope, none when no adapter gives one."""
        given = [hint or CacheHints() for hint in hints]
        if all(hint is None for hint in hints):
            return None
        public = all(hint.scope == "public" for hint in given)
        return CacheHints(min(hint.ttl_ms for hint in given), "public" if public else "private")


@dataclass(frozen=True)
class McpAdapter(ExposedAdapter):
    """``operations`` holds the tools then the dynamic resources, so that the loader compiles a
    plan for each; ``tools`` is the first part."""

    transport: str = "http"
    resources: tuple[McpResource, ...] = ()
    prompts: tuple[McpPrompt, ...] = ()
    icons: tuple[IconSpec, ...] = ()
    """The server's icons, from the file's ``info`` (``x-naftiko-icons``, D111)."""
    tool_icons: dict[str, tuple[IconSpec, ...]] = field(default_factory=dict)
    """Each tool's own icons by tool name (``x-naftiko-icons`` on the tool)."""
    cache: CacheHints | None = None
    """``ttlMs``/``cacheScope`` (issue 20); ``None`` when the adapter sets neither."""

    @property
    def tools(self) -> tuple[Exposed, ...]:
        return tuple(op for op in self.operations if not op.key.startswith(RESOURCE_KEY))


def tools_of(mounted: Mounted) -> list[Exposed]:
    adapter = mounted.adapter
    return list(adapter.tools) if isinstance(adapter, McpAdapter) else list(adapter.operations)
