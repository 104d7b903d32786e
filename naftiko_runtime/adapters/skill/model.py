"""The ``skill`` adapter as declared: skills with their Agent Skills frontmatter and tools.

A tool is either derived ``from`` a sibling REST operation or MCP tool (resolved by the kind's
``check`` once every adapter of the file is built) or an ``instruction`` file, read here at load
time: relative to the skill's ``location`` folder when it has one, else to the capability file.
A missing file, or one outside that folder, is an error at the ``instruction`` line.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from ...records import dataclass
from ...spec.binds import file_location
from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.model import ExposedAdapter

MAX_INSTRUCTION = 1 << 20
"""An instruction file is read into memory at load time: a bigger one is a mistake."""
FRONTMATTER_FLAGS = ("user-invocable", "disable-model-invocation")
FRONTMATTER_TEXTS = ("license", "compatibility", "allowed-tools", "argument-hint")


@dataclass(frozen=True)
class Source:
    """``from``: the sibling adapter's namespace and the operation or tool name in it."""

    namespace: str
    action: str
    at: DocPath


@dataclass(frozen=True)
class SkillTool:
    name: str
    description: str | None
    source: Source | None
    instruction: str | None
    """The instruction file's path as written (how agents fetch it under ``contents/``)."""
    text: str | None
    """The instruction file's content, read at load time."""
    at: DocPath


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    frontmatter: dict[str, Any]
    """The Agent Skills fields declared besides name and description, in the spec's names."""
    folder: Path | None
    tools: tuple[SkillTool, ...]
    at: DocPath


@dataclass(frozen=True)
class SkillAdapter(ExposedAdapter):
    skills: tuple[Skill, ...] = field(default=())


def parse_skill(builder: ModelBuilder, key: str | None, node: Any, at: DocPath, base: Path) -> Skill | None:
    node = builder.mapping(node, at, "a skill")
    name = builder.entry_name(key, node, at)
    description = builder.text(node, "description", at, required=True)
    if not name or description is None:
        return None
    frontmatter: dict[str, Any] = {}
    for key in FRONTMATTER_TEXTS:
        if (value := builder.text(node, key, at)) is not None:
            frontmatter[key] = value
    for key in FRONTMATTER_FLAGS:
        if isinstance(node.get(key), bool):
            frontmatter[key] = node[key]
    metadata = builder.mapping(node.get("metadata"), at + ("metadata",), "'metadata'")
    if metadata:
        frontmatter["metadata"] = {str(k): str(v) for k, v in metadata.items()}
    folder = None
    if "location" in node:
        location = builder.text(node, "location", at) or ""
        folder = file_location(location, base)
        if folder is None or "\0" in location or not folder.is_dir():
            builder.error(at + ("location",), f"skill location '{location}' is not a folder (a file:/// URI)")
            folder = None
        else:
            folder = folder.resolve()
    parsed = (_tool(builder, key, item, t_at, folder, base) for key, item, t_at in builder.entries(node, "tools", at))
    tools = [tool for tool in parsed if tool is not None]
    names = [tool.name for tool in tools]
    for tool in tools:
        if names.count(tool.name) > 1:
            builder.error(tool.at + ("name",), f"tool '{tool.name}' is declared twice in skill '{name}'")
    return Skill(name, description, frontmatter, folder, tuple(tools), at)


def _tool(
    builder: ModelBuilder, key: str | None, node: Any, at: DocPath, folder: Path | None, base: Path
) -> SkillTool | None:
    node = builder.mapping(node, at, "a skill tool")
    name = builder.entry_name(key, node, at)
    if not name:
        return None
    description = builder.text(node, "description", at)
    if ("from" in node) == ("instruction" in node):
        builder.error(at, f"skill tool '{name}' needs exactly one of 'from' (a sibling adapter) and 'instruction'")
        return None
    if "from" in node:
        source = builder.mapping(node["from"], at + ("from",), "'from'")
        namespace = builder.text(source, "sourceNamespace", at + ("from",), required=True)
        action = builder.text(source, "action", at + ("from",), required=True)
        if not namespace or not action:
            return None
        return SkillTool(name, description, Source(namespace, action, at + ("from",)), None, None, at)
    instruction = builder.text(node, "instruction", at) or ""
    text = _read_instruction(builder, instruction, folder or base, at + ("instruction",))
    return SkillTool(name, description, None, instruction, text, at) if text is not None else None


def _read_instruction(builder: ModelBuilder, relative: str, base: Path, at: DocPath) -> str | None:
    root = base.resolve()
    try:
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            builder.error(at, f"instruction file '{relative}' is outside {root}")
            return None
        if path.stat().st_size > MAX_INSTRUCTION:
            builder.error(at, f"instruction file '{relative}' is larger than {MAX_INSTRUCTION} bytes")
            return None
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        builder.error(at, f"instruction file '{relative}' not found in {root}")
    except (OSError, ValueError) as exc:
        builder.error(at, f"cannot read instruction file '{relative}': {exc.__class__.__name__}")
    return None
