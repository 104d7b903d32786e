"""The step kinds of the specification, registered like any plugin's."""

from __future__ import annotations

from .call import CallKind
from .kind import register_consumed_call_kind, register_step_kind
from .lookup import LookupKind
from .mcp_tool import McpToolKind
from .script import ScriptKind

for _kind in (CallKind(), LookupKind(), ScriptKind()):
    register_step_kind(_kind)
register_consumed_call_kind(McpToolKind())
