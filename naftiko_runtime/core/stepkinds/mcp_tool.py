"""A ``call`` to a tool of a consumed ``type: mcp`` namespace (D113): ``call: <namespace>.<tool>``.

The step's spec is the ``call`` kind's; what differs is the consumed side, so this kind is
registered by the consumed entry's ``type`` (``register_consumed_call_kind``) and the compiler
hands it every call into such a namespace, in a step or in simple mode. Each ``with`` entry is an
argument of the tool; an input it reads is inferred untyped, as the tool's schema is the
upstream's to check. At request time the step asks the executor's pooled MCP clients
(``core.mcp_upstream.McpSessions``) for the call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from ...records import dataclass
from ...spec.diagnostics import DocPath
from ...spec.expressions import InputReference, WithSource, resolve
from ...spec.extensions import MCP_CONSUMES
from ...spec.model import Consumes
from ..mcp_upstream import McpServer, McpSessions, tool_value
from ..problems import Problem
from ..redaction import redact_bytes
from ..steps import StepRun, StepValue
from .kind import StepCompiling

log = logging.getLogger("naftiko_runtime.mcp_upstream")


@dataclass(frozen=True)
class McpToolStep:
    """One step that calls a tool of an upstream MCP server."""

    name: str
    server: McpServer
    tool: str
    arguments: tuple[tuple[str, WithSource | StepValue], ...]
    concurrent: ClassVar[bool] = False

    @property
    def label(self) -> str:
        return f"{self.server.namespace}.{self.tool}"

    @property
    def route_call(self) -> str:
        """What ``naftiko routes`` lists as the step's call: the tool and its server's URL."""
        return f"{self.label}  MCP tool at {self.server.url}"

    def values(self, run: StepRun) -> dict[str, Any]:
        """The tool's arguments: each ``with`` entry that has a value (an absent input is not sent, D17)."""
        arguments: dict[str, Any] = {}
        for key, source in self.arguments:
            if isinstance(source, StepValue):
                arguments[key] = source.extract(run.results)
                continue
            present, value = resolve(source, run.lookup, run.inputs)
            if present:
                arguments[key] = value
        return arguments

    async def run(self, run: StepRun) -> Any:
        """The tool's value; a tool error is a 502 problem naming the step (D80)."""
        sessions: McpSessions = run.clients.mcp
        result = await sessions.call(self.server, self.name, self.tool, self.values(run))
        log.info("step %s: MCP tool %s -> %s", self.name, self.label, "error" if result.is_error else "ok")
        if not result.is_error:
            return tool_value(result)
        text = " ".join(str(getattr(item, "text", "")) for item in result.content).strip() or "no detail"
        forms = self.server.secret_forms
        if forms:
            text = redact_bytes(text.encode(), forms).decode()
        raise Problem(502, f"step '{self.name}': upstream MCP tool {self.label} answered an error: {text}")


class McpToolKind:
    """Calls into a consumed ``type: mcp`` namespace."""

    type = MCP_CONSUMES

    def compile(
        self, name: str, consumes: Consumes, target: str, with_: Mapping[str, Any], at: DocPath, context: StepCompiling
    ) -> McpToolStep | None:
        server = context.consumed.mcp_server(consumes)
        if server is None or not target:
            return None
        arguments = tuple((key, context.source(value)) for key, value in with_.items())
        for _, source in arguments:
            if isinstance(source, InputReference):
                context.infer(source.name)
        return McpToolStep(name, server, target, arguments)
