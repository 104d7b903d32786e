"""What the skill adapter serves, built once at start-up: the catalogue, each skill's detail
(the reference engine's JSON shape) and its ``SKILL.md`` (Agent Skills: YAML frontmatter, then
Markdown naming each tool and how to reach it).

A derived tool is described from its sibling adapter's model and plan: the MCP endpoint and tool
name, or the REST method and path, with the port as served and the inputs a caller gives
(credential headers the gateway fills are left out, D29).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML

from ...records import dataclass
from ...spec.model import Exposed
from ..base import Mounted
from .model import Skill, SkillTool, Source

SKILLS_PATH = "/skills"


def find_action(sibling: Mounted, action: str) -> Exposed | None:
    """An MCP tool by its name (its key), else a REST operation by its ``name``."""
    operations = sibling.adapter.operations
    return next((e for e in operations if e.key == action), None) or next(
        (e for e in operations if e.name == action and e.adapter_kind == "rest"), None
    )


def _invocation(source: Source, siblings: Mapping[str, Mounted], port_offset: int) -> dict[str, Any]:
    reference: dict[str, Any] = {"targetNamespace": source.namespace, "action": source.action}
    sibling = siblings[source.namespace]
    exposed = find_action(sibling, source.action)
    assert exposed is not None, "checked at load time"
    adapter = sibling.adapter
    reference["mode"] = adapter.kind
    if adapter.port is not None:
        reference["port"] = adapter.port + port_offset
    if adapter.kind == "mcp":
        reference["endpoint"] = f"/mcp/{adapter.namespace}" if adapter.port is not None else "stdio"
        reference["tool"] = exposed.name
    else:
        reference["method"] = exposed.method
        reference["path"] = exposed.path
    reference["inputs"] = [
        {"name": spec.name, "in": spec.location, "type": spec.type or "string", "required": spec.required}
        | ({"description": spec.description} if spec.description else {})
        for spec in sibling.plan(exposed).inputs
        if not spec.credential
    ]
    return reference


def _tool(tool: SkillTool, siblings: Mapping[str, Mounted], port_offset: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": tool.name, "description": tool.description}
    if tool.source is not None:
        entry["type"] = "derived"
        entry["invocationRef"] = _invocation(tool.source, siblings, port_offset)
    else:
        entry["type"] = "instruction"
        entry["instruction"] = tool.instruction
    return entry


def _frontmatter(skill: Skill) -> str:
    stream = io.StringIO()
    yaml = YAML()  # round-trip dumper: keys keep their order, name and description first
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.dump({"name": skill.name, "description": skill.description, **skill.frontmatter}, stream)
    return stream.getvalue()


def _markdown(skill: Skill, tools: list[dict[str, Any]]) -> str:
    lines = ["---", _frontmatter(skill).rstrip("\n"), "---", "", f"# {skill.name}", "", skill.description, ""]
    if tools:
        lines += ["## Tools", ""]
    for tool in tools:
        lines.append(f"### {tool['name']}")
        lines += ["", tool["description"] or "", ""]
        if tool["type"] == "instruction":
            lines += [f"Instructions: [{tool['instruction']}](contents/{tool['instruction']})", ""]
            continue
        ref = tool["invocationRef"]
        if ref["mode"] == "mcp":
            where = f"port {ref['port']}, endpoint `{ref['endpoint']}`" if "port" in ref else "stdio"
            lines.append(f"Call the MCP tool `{ref['tool']}` of `{ref['targetNamespace']}` ({where}).")
        else:
            lines.append(f"Call `{ref['method']} {ref['path']}` on port {ref['port']} (`{ref['targetNamespace']}`).")
        lines.append("")
        for arg in ref["inputs"]:
            required = "required" if arg["required"] else "optional"
            lines.append(f"- `{arg['name']}` ({arg['type']}, {arg['in']}, {required}): {arg.get('description', '')}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


@dataclass(frozen=True)
class SkillDocuments:
    skill: Skill
    detail: dict[str, Any]
    markdown: str
    files: dict[str, bytes]
    """Instruction files by their path under ``contents/``, as read at load time."""


def build(skill: Skill, siblings: Mapping[str, Mounted], port_offset: int) -> SkillDocuments:
    tools = [_tool(tool, siblings, port_offset) for tool in skill.tools]
    detail = {"name": skill.name, "description": skill.description, **skill.frontmatter, "tools": tools}
    files = {t.instruction: t.text.encode() for t in skill.tools if t.instruction and t.text is not None}
    return SkillDocuments(skill, detail, _markdown(skill, tools), files)


def catalogue_entry(documents: SkillDocuments) -> dict[str, Any]:
    skill = documents.skill
    entry: dict[str, Any] = {"name": skill.name, "description": skill.description}
    if "license" in skill.frontmatter:
        entry["license"] = skill.frontmatter["license"]
    entry["tools"] = [tool.name for tool in skill.tools]
    entry["document"] = f"{SKILLS_PATH}/{skill.name}/SKILL.md"
    return entry
