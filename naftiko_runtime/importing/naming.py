"""Tool names of an imported capability, and their collisions (issue 20, item 3).

Per-area OpenAPI documents (Polytomic publishes one per API area) name their operations ``list``,
``get``, ``create``... in every document: imported as such, their tools collide on the MCP endpoint
they share, and the runtime refuses all but one file (CONTRACT D32). A tool is therefore named
``<prefix><operation>``: the operation from its ``operationId`` (the document's own identifier,
stable across versions), else from a short ``summary`` (a title such as "List Bulk Syncs"), else
from its method and path; the prefix defaults to the capability's namespace, which a user already
chooses per document, so that files imported from one API's documents can be served together.

Names stay what both the runtime's schema (kebab identifiers) and the MCP specification (1 to 128
characters of ``A-Z a-z 0-9 _ - .``) accept. Two operations that would share a name, in the file
being written or against capability files it will be served with, are reported before anything is
written, naming both operations: a name is never made unique silently (``-2`` would change with
the order of the document, and a client's saved tool calls with it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..records import dataclass
from ..spec.diagnostics import DocPath
from ..spec.source import SourceError, read_source

MCP_NAME_LENGTH = 128
"""The MCP specification's bound on a tool name (section "Tool names")."""
SHORT_SUMMARY_WORDS = 6
"""A summary of more words is a sentence, not a title: a method and path name the operation better."""
CAPABILITY_SUFFIXES = (".yml", ".yaml")


def kebab(text: str) -> str:
    """``getSourceFields``, ``get_source fields`` -> ``get-source-fields``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", text)
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()


def operation_name(operation_id: Any, summary: str, method: str, path: str) -> str:
    """The name of an operation (and, prefixed, of its tool): see the module's docstring."""
    if isinstance(operation_id, str) and kebab(operation_id):
        return kebab(operation_id)
    if summary and len(summary.split()) <= SHORT_SUMMARY_WORDS and kebab(summary):
        return kebab(summary)
    return kebab(f"{method}-{path}")


def describe(method: str, path: str, operation_id: Any) -> str:
    """How a message names an operation of the document: ``GET /syncs (operationId 'list')``."""
    named = f" (operationId {operation_id!r})" if isinstance(operation_id, str) and operation_id else ""
    return f"{method.upper()} {path}{named}"


@dataclass(frozen=True)
class Tool:
    """A tool name and what it stands for, in the file being written or in another one."""

    name: str
    operation: str
    """``GET /syncs (operationId 'list')`` for an imported operation; the ``call`` for another file's tool."""
    port: int | None
    where: str = ""
    """``file:line:column`` of another file's tool; empty for the file being written."""


class OperationNames:
    """The operation names claimed so far in one document, and the pairs that collided."""

    def __init__(self) -> None:
        self.claimed: dict[str, str] = {}
        self.collisions: list[tuple[str, str, str]] = []
        """``(name, first operation, second operation)``."""

    def claim(self, name: str, operation: str) -> str:
        first = self.claimed.setdefault(name, operation)
        if first != operation:
            self.collisions.append((name, first, operation))
        return name


def check_names(names: OperationNames, prefix: str) -> list[str]:
    """Every problem with the tool names ``prefix + operation``, one line each."""
    problems = [
        f"tool '{prefix}{name}': {first} and {second} both give this name (set distinct operationIds in the document)"
        for name, first, second in names.collisions
    ]
    problems += [
        f"tool '{prefix}{name}' of {operation}: {len(prefix + name)} characters, the MCP limit is {MCP_NAME_LENGTH} "
        "(choose a shorter --tool-prefix)"
        for name, operation in names.claimed.items()
        if len(prefix + name) > MCP_NAME_LENGTH
    ]
    return problems


# ------------------------------------------------------------------------------------------------
# Other capability files


class NotACapability(ValueError):
    """A named file that cannot be read as a capability; the message says why."""


def _entries(node: Any, at: DocPath) -> Iterator[tuple[str, Any, DocPath]]:
    """``(name, entry, where its name is)`` of a named collection at ``at``: an alpha2 list (the
    entry's ``name`` key) or a beta map (the key itself)."""
    if isinstance(node, list):
        for index, entry in enumerate(node):
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                yield entry["name"], entry, (*at, index, "name")
    elif isinstance(node, dict):
        for name, entry in node.items():
            if isinstance(name, str):
                yield name, entry, (*at, name)


def tools_of_file(path: Path) -> list[Tool]:
    """The MCP tools a capability file exposes, with their ports and positions.

    Read as the runtime reads capability files (``spec.source``: the C parser, positions composed
    by it on demand), not with the pure-Python round-trip loader: an import checks every file of
    its folder, and that loader made a folder of 21 files take seconds per import (D146).

    Raises ``NotACapability`` for a file that is not YAML or holds no ``capability``."""
    try:
        source = read_source(path)
    except SourceError as exc:
        raise NotACapability(f"{path}: cannot be read: {exc.diagnostic}") from exc
    document = source.data
    capability = document.get("capability") if isinstance(document, dict) else None
    if not isinstance(capability, dict):
        raise NotACapability(f"{path}: not a capability file (no 'capability')")
    tools = []
    exposes = capability.get("exposes")
    adapters = (
        [(("capability", "exposes", index), adapter) for index, adapter in enumerate(exposes)]
        if isinstance(exposes, list)
        else [(at, adapter) for _, adapter, at in _entries(exposes, ("capability", "exposes"))]
    )
    for adapter_at, adapter in adapters:
        if not isinstance(adapter, dict) or adapter.get("type") != "mcp":
            continue
        port = adapter.get("port") if isinstance(adapter.get("port"), int) else None
        for name, entry, at in _entries(adapter.get("tools"), (*adapter_at, "tools")):
            call = entry.get("call") if isinstance(entry, dict) else None
            operation = f"the tool calling {call}" if isinstance(call, str) else "a tool"
            line, column = source.position(at)
            tools.append(Tool(name, operation, port, f"{path}:{line}:{column}"))
    return tools


def neighbours(out: Path | None, named: Iterable[Path]) -> tuple[list[Tool], list[str]]:
    """The tools of the files the written one will be served with: the ``named`` ones (an unreadable
    one is a problem) and the capability files beside ``out`` (other YAML there is not ours to judge).
    Returns the tools and the problems."""
    tools: list[Tool] = []
    problems: list[str] = []
    for path in named:
        try:
            tools += tools_of_file(path)
        except NotACapability as exc:
            problems.append(str(exc))
    if out is not None and out.parent.is_dir():
        resolved = {p.resolve() for p in named} | {out.resolve()}
        for path in sorted(out.parent.iterdir()):
            if path.suffix in CAPABILITY_SUFFIXES and path.is_file() and path.resolve() not in resolved:
                try:
                    tools += tools_of_file(path)
                except NotACapability:
                    continue
    return tools, problems


def collisions(ours: Iterable[Tool], theirs: Iterable[Tool]) -> list[str]:
    """Each tool of ours whose name another file's tool already has on the same MCP port (D32)."""
    taken: dict[tuple[str, int | None], Tool] = {}
    for tool in theirs:
        taken.setdefault((tool.name, tool.port), tool)
    found = []
    for tool in ours:
        other = taken.get((tool.name, tool.port))
        if other is not None:
            found.append(
                f"tool '{tool.name}' of {tool.operation} is already defined at {other.where} "
                f"({other.operation}, MCP port {tool.port}): choose another --tool-prefix"
            )
    return found
