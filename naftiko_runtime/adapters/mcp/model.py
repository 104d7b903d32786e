"""The MCP adapter as modelled: its tools, resources and prompts (kept apart from ``kind`` and
``endpoints`` so that both read it without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...spec.model import Exposed, ExposedAdapter
from ..base import Mounted
from .icons import IconSpec
from .resources import RESOURCE_KEY, McpPrompt, McpResource


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

    @property
    def tools(self) -> tuple[Exposed, ...]:
        return tuple(op for op in self.operations if not op.key.startswith(RESOURCE_KEY))


def tools_of(mounted: Mounted) -> list[Exposed]:
    adapter = mounted.adapter
    return list(adapter.tools) if isinstance(adapter, McpAdapter) else list(adapter.operations)
