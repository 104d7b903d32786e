"""The tools of an MCP endpoint and what running one gives, without the ``mcp`` package.

A tool is built from its plan alone (its schemas from ``schemas``), and a call's outcome is
written directly in the wire form of MCP's ``CallToolResult``. Both the short path of a
stateless ``tools/call`` (``stateless_call``, D141) and the package's own path (``endpoints``)
run tools through here, so the package (~1.2 s of imports) stays off the start-up's critical
path (D152) and a tool runs the same way whichever path took the call.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from ...core.execution import Executor, Reply
from ...core.inputs import InputSpec, check_inputs
from ...core.plans import OperationPlan
from ...core.problems import Problem, encode_json
from ...records import dataclass
from ..base import Mounted
from .icons import IconSpec
from .model import McpAdapter, tools_of
from .schemas import input_schema, output_schema, tool_arguments

log = logging.getLogger("naftiko.mcp")


@dataclass(frozen=True)
class ToolSpec:
    """A tool as served: built once per adapter, shared by ``/mcp`` and ``/mcp/<namespace>``.

    Its schemas are written on first use (``tools/list``, the package's side, a call's structured
    result): a port mounting 11,500 tools wrote them all before it could answer (D173)."""

    name: str
    plan: OperationPlan
    inputs: tuple[InputSpec, ...]
    """What a call checks: the arguments, and the inputs the capability fills itself (D25a)."""
    icons: tuple[IconSpec, ...] = ()

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        return input_schema(self.plan)

    @cached_property
    def output_schema(self) -> dict[str, Any] | None:
        return output_schema(self.plan)

    @property
    def destructive(self) -> bool:
        return bool(self.plan.exposed.hints.get("destructive"))


def tool_spec(plan: OperationPlan, icons: Sequence[IconSpec] = ()) -> ToolSpec:
    valued = tuple(spec for spec in plan.inputs if spec.value is not None and not spec.credential)
    return ToolSpec(plan.exposed.name, plan, tuple(tool_arguments(plan)) + valued, tuple(icons))


def adapter_tools(mounted: Mounted) -> list[ToolSpec]:
    icons = mounted.adapter.tool_icons if isinstance(mounted.adapter, McpAdapter) else {}
    return [tool_spec(mounted.plan(exposed), icons.get(exposed.name, ())) for exposed in tools_of(mounted)]


@dataclass(frozen=True)
class ToolOutcome:
    """A call's result as MCP's ``CallToolResult`` is written at the handshake-era protocol
    versions: its fields in the package's order (``tests/unit/test_mcp_tool_outcomes.py`` holds
    each form equal to the package's dump). The package's path validates it into the package's
    model, so that later protocol versions get the package's own shaping."""

    wire: dict[str, Any]


def text_outcome(text: str, *, is_error: bool, structured: Any = None) -> ToolOutcome:
    wire: dict[str, Any] = {"content": [{"text": text, "type": "text"}], "isError": is_error}
    if structured is not None:
        wire["structuredContent"] = structured
    return ToolOutcome(wire)


def error_outcome(text: str) -> ToolOutcome:
    return text_outcome(text, is_error=True)


def _problem_text(problem: Problem) -> str:
    return f"Error {problem.status} ({problem.title}): {problem.detail}"


async def _blob_outcome(reply: Reply, uri: str) -> ToolOutcome:
    """A binary answer as the MCP spec carries bytes in a tool result: an embedded resource whose
    contents are a base64 ``blob`` with its ``mimeType``. The stream is already bounded by
    ``maxBinarySize``; it has to be whole before it can be encoded."""
    assert reply.stream is not None
    try:
        data = b"".join([chunk async for chunk in reply.stream])
    except Problem as problem:
        return error_outcome(_problem_text(problem))
    finally:
        await reply.stream.aclose()
    contents = {
        "blob": base64.b64encode(data).decode(),
        "mimeType": reply.content_type or "application/octet-stream",
        "uri": uri,
    }
    return ToolOutcome({"content": [{"resource": contents, "type": "resource"}], "isError": False})


async def run_tool(tool: ToolSpec, arguments: dict[str, Any], executor: Executor) -> ToolOutcome:
    """Check the arguments against the same ``InputSpec``s the REST adapter uses, then hand them
    to ``Executor.execute``: nothing about calling an upstream lives here. Every failure is an
    ``isError`` result (MCP's tool errors), never an exception."""
    raw = {name: (value, False) for name, value in arguments.items()}
    inputs, problems = check_inputs(tool.inputs, raw, arguments)
    if problems:
        listed = "; ".join(f"{p.name}: {p.problem}" for p in problems)
        return error_outcome(f"Invalid arguments for tool {tool.name}: {listed}")
    try:
        reply = await executor.execute(tool.plan, inputs)
    except Problem as problem:
        return error_outcome(_problem_text(problem))
    except Exception:
        log.exception("internal error in tool %s", tool.name)
        return error_outcome("Internal error in the gateway; see its log.")
    if not reply.ok:
        # The executor has already redacted the gateway's secrets from the upstream body (D55).
        step = f"Step '{reply.step}': " if reply.step else ""
        return error_outcome(f"{step}Upstream answered HTTP {reply.status}: {reply.text()}")
    if reply.stream is not None:
        return await _blob_outcome(reply, f"naftiko://{tool.plan.exposed.namespace}/{tool.name}")
    if not reply.body:
        # An empty answer (204) is no content, not the text "null"; a tool that advertises an
        # output schema still owes a structured result, and {} is the empty object (D63).
        wire: dict[str, Any] = {"content": [], "isError": False}
        if tool.output_schema is not None:
            wire["structuredContent"] = {}
        return ToolOutcome(wire)
    value = reply.value
    try:
        text = encode_json(value, 502, f"the answer of tool {tool.name}").decode()
    except Problem as problem:
        return error_outcome(_problem_text(problem))
    return text_outcome(text, is_error=False, structured=value if isinstance(value, dict) else {"result": value})
