"""What an MCP client is told about a tool, derived from its plan (CONTRACT D28, D29, D62).

Kept apart from the MCP adapter so that ``naftiko routes`` can show tool arguments without
importing the ``mcp`` package.
"""

from __future__ import annotations

from typing import Any

from ...core.inputs import JSON_INPUT_TYPES, InputSpec
from ...core.plans import OperationPlan
from ...spec.model import OutputParameter

MCP_PATH = "/mcp"
"""Where a port serves its merged MCP endpoint; each adapter alone is at ``/mcp/<namespace>`` (D60)."""


def adapter_path(namespace: str) -> str:
    """Where a port serves one MCP adapter alone."""
    return f"{MCP_PATH}/{namespace}"


HINTS = {
    "readOnly": "readOnlyHint",
    "destructive": "destructiveHint",
    "idempotent": "idempotentHint",
    "openWorld": "openWorldHint",
}


def tool_arguments(plan: OperationPlan) -> list[InputSpec]:
    """D29: the inputs an agent gives; credential headers are the gateway's business, and an
    input with a ``value`` is filled by the capability (D25a)."""
    return [spec for spec in plan.inputs if not spec.credential and spec.value is None]


def _property(spec: InputSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if spec.type in JSON_INPUT_TYPES:
        schema["type"] = spec.type
    if spec.type == "array":
        schema["items"] = {}
    if spec.description:
        schema["description"] = spec.description
    if spec.pattern is not None and spec.type in (None, "string"):
        schema["pattern"] = spec.pattern.pattern
    return schema


def input_schema(plan: OperationPlan) -> dict[str, Any]:
    arguments = tool_arguments(plan)
    schema: dict[str, Any] = {"type": "object", "properties": {spec.name: _property(spec) for spec in arguments}}
    required = [spec.name for spec in arguments if spec.required]
    if required:
        schema["required"] = required
    return schema


def _output_node(output: OutputParameter) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": output.type} if output.type in JSON_INPUT_TYPES else {}
    if output.properties is not None:
        schema["properties"] = {name: _output_node(child) for name, child in output.properties.items()}
    if output.items is not None:
        schema["items"] = {} if _passes_through(output.items) else _output_node(output.items)
    return schema


def _passes_through(output: OutputParameter) -> bool:
    """D40: ``{type: T, mapping: "$."}`` items are each element as it is, whatever its JSON type."""
    return (output.mapping or "").strip() in ("$", "$.") and not output.properties and output.items is None


def output_schema(plan: OperationPlan) -> dict[str, Any] | None:
    """D62: advertised only when the tool's result is a JSON object with a known shape."""
    outputs = plan.exposed.outputs
    if not outputs:
        return None
    if len(outputs) == 1 and not outputs[0].name:
        if outputs[0].type != "object":
            return None
        return _output_node(outputs[0]) if outputs[0].properties else {"type": "object"}
    return {"type": "object", "properties": {o.name or f"output{i}": _output_node(o) for i, o in enumerate(outputs)}}


def tool_annotations(plan: OperationPlan) -> dict[str, bool | str]:
    """D62: ``hints`` as MCP annotations, and the tool's ``label`` (``display``) as their ``title``."""
    annotations: dict[str, bool | str] = {
        HINTS[key]: value for key, value in plan.exposed.hints.items() if key in HINTS
    }
    if plan.exposed.label:
        annotations["title"] = plan.exposed.label
    return annotations
