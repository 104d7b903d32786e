"""The step kinds of the specification, registered like any plugin's, and this runtime's
extension kinds (issue 21, D120: spelled ``x-naftiko-...``, always warned about)."""

from __future__ import annotations

from .call import CallKind
from .conditional import ConditionalKind
from .foreach import ForEachKind
from .kind import register_consumed_call_kind, register_step_kind
from .lookup import LookupKind
from .mcp_tool import McpToolKind
from .parallel import ParallelKind
from .script import ScriptKind

for _kind in (CallKind(), LookupKind(), ScriptKind(), ConditionalKind(), ForEachKind(), ParallelKind()):
    register_step_kind(_kind)
register_consumed_call_kind(McpToolKind())
