"""MCP resources and prompts as declared: read from the document and compiled once at load time.

A dynamic resource (``call`` + ``with``) is an ``Exposed`` like a tool, so the loader compiles its
plan with every other operation and the executor runs it: there is no second way of calling an
upstream. Its ``uri`` may be an RFC 6570 template (levels 1 and 2: ``{x}`` and ``{+x}``) whose
variables become the operation's inputs. A static resource serves the files of a ``location``
folder under ``<uri>/<relative path>``. A prompt's messages are ``{{arg}}`` templates, parsed here;
a file-based prompt (``location``) is read here too, so a missing file is a load error with its line.
Nothing here imports the ``mcp`` package: validating and listing never pay for it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ...records import dataclass
from ...spec.binds import file_location
from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath
from ...spec.expressions import Template
from ...spec.model import Exposed, Parameter

RESOURCE_KEY = "resource:"
"""Prefix of a dynamic resource's ``Exposed.key``; ':' never appears in a tool name."""
UNREADABLE = "'{}' is not a URI template this runtime reads: use {{name}} or {{+name}}"
VARIABLE = re.compile(r"\{([+]?)([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\}")
ROLES = ("user", "assistant")


class UriTemplateError(ValueError):
    pass


@dataclass(frozen=True)
class UriTemplate:
    """An RFC 6570 URI template (levels 1-2), matched in reverse to read a resource's variables."""

    source: str
    variables: tuple[str, ...]
    pattern: re.Pattern[str]

    @classmethod
    def compile(cls, source: str) -> UriTemplate:
        regex, names, position = ["^"], [], 0
        for match in VARIABLE.finditer(source):
            literal = source[position : match.start()]
            if "{" in literal or "}" in literal:
                raise UriTemplateError(UNREADABLE.format(source))
            regex.append(re.escape(literal))
            # Level 1 expansion percent-encodes '/', so a value is one segment; '+' (level 2) keeps it.
            regex.append("(.+?)" if match.group(1) else "([^/?#]+)")
            names.append(match.group(2))
            position = match.end()
        tail = source[position:]
        if "{" in tail or "}" in tail:
            raise UriTemplateError(UNREADABLE.format(source))
        if len(set(names)) != len(names):
            raise UriTemplateError(f"'{source}' names a variable twice")
        regex.append(re.escape(tail) + "$")
        return cls(source, tuple(names), re.compile("".join(regex), re.DOTALL))

    @property
    def is_template(self) -> bool:
        return bool(self.variables)

    def match(self, uri: str) -> dict[str, str] | None:
        found = self.pattern.match(uri)
        if found is None:
            return None
        return {name: unquote(value) for name, value in zip(self.variables, found.groups(), strict=True)}


@dataclass(frozen=True)
class McpResource:
    """One ``resources[]`` entry: dynamic (``exposed`` set) or static (``folder`` set)."""

    name: str
    title: str | None
    description: str | None
    mime_type: str | None
    uri: UriTemplate
    exposed: Exposed | None
    folder: Path | None
    at: DocPath


@dataclass(frozen=True)
class PromptArgument:
    name: str
    title: str | None
    description: str | None
    required: bool


@dataclass(frozen=True)
class PromptMessage:
    role: str
    content: Template


@dataclass(frozen=True)
class McpPrompt:
    name: str
    title: str | None
    description: str | None
    arguments: tuple[PromptArgument, ...]
    messages: tuple[PromptMessage, ...]
    at: DocPath


def parse_resources(
    builder: ModelBuilder, node: dict[str, Any], at: DocPath, namespace: str, roots: tuple[str, ...]
) -> list[McpResource]:
    resources: list[McpResource] = []
    names: set[str] = set()
    for key, item, r_at in builder.entries(node, "resources", at):
        item = builder.mapping(item, r_at, "an MCP resource")
        name = builder.entry_name(key, item, r_at) or ""
        uri_text = builder.text(item, "uri", r_at, required=True) or ""
        if name in names:
            builder.error(r_at + ("name",), f"duplicate resource name '{name}' in MCP adapter '{namespace}'")
        names.add(name)
        try:
            uri = UriTemplate.compile(uri_text)
        except UriTemplateError as exc:
            builder.error(r_at + ("uri",), str(exc))
            continue
        exposed, folder = None, None
        if "location" in item:
            folder = _static_folder(builder, item, r_at, uri)
            if folder is None:
                continue
        else:
            # Template variables are the inputs a read supplies; `with` refers to them as {{x}} or mcp.x,
            # and without `with` they fill the consumed parameters of their name (as the engine does).
            inputs = tuple(Parameter(v, "query", "string", None, True, at=r_at + ("uri",)) for v in uri.variables)
            declared = {**item, "inputParameters": []}
            exposed = builder.exposed(
                declared, r_at, namespace=namespace, kind="mcp", key=RESOURCE_KEY + name, name=name,
                reference_roots=roots, inherited=inputs, path_parameters=uri.variables,
            )  # fmt: skip
            if exposed is None:
                continue
        resources.append(
            McpResource(
                name,
                builder.text(item, "display", r_at),
                builder.text(item, "description", r_at),
                builder.text(item, "mimeType", r_at),
                uri,
                exposed,
                folder,
                r_at,
            )
        )
    return resources


def _static_folder(builder: ModelBuilder, item: dict[str, Any], at: DocPath, uri: UriTemplate) -> Path | None:
    if uri.is_template:
        builder.error(
            at + ("uri",),
            f"a static resource's uri is the prefix of its files (<uri>/<path>), not a template: '{uri.source}'",
        )
        return None
    location = builder.text(item, "location", at) or ""
    folder = file_location(location, builder.file.resolve().parent)
    if folder is None or "\0" in location or not folder.is_dir():
        builder.error(at + ("location",), f"static resource location '{location}' is not a folder (a file:/// URI)")
        return None
    return folder.resolve()


def parse_prompts(builder: ModelBuilder, node: dict[str, Any], at: DocPath, namespace: str) -> list[McpPrompt]:
    prompts: list[McpPrompt] = []
    names: set[str] = set()
    for key, item, p_at in builder.entries(node, "prompts", at):
        item = builder.mapping(item, p_at, "an MCP prompt")
        name = builder.entry_name(key, item, p_at) or ""
        if name in names:
            builder.error(p_at + ("name",), f"duplicate prompt name '{name}' in MCP adapter '{namespace}'")
        names.add(name)
        arguments = []
        for arg_name, arg, a_at in builder.entries(item, "arguments", p_at):
            arg = builder.mapping(arg, a_at, "a prompt argument")
            required = arg.get("required", True)
            arguments.append(
                PromptArgument(
                    builder.entry_name(arg_name, arg, a_at) or "",
                    builder.text(arg, "display", a_at),
                    builder.text(arg, "description", a_at),
                    required if isinstance(required, bool) else True,
                )
            )
        if "messages" in item:
            builder.error(p_at + ("messages",), "a prompt's messages are written under 'template' (spec: McpPrompt)")
        messages = _messages(builder, item, p_at)
        if messages is None:
            continue
        declared = {a.name for a in arguments}
        for message, m_at in messages:
            for reference in message.content.references:
                if reference.namespace is not None or reference.name not in declared:
                    builder.warning(
                        m_at, f"'{{{{{reference.text}}}}}' names no argument of prompt '{name}'; it stays as written"
                    )
        prompts.append(
            McpPrompt(
                name,
                builder.text(item, "display", p_at),
                builder.text(item, "description", p_at),
                tuple(arguments),
                tuple(m for m, _ in messages),
                p_at,
            )
        )
    return prompts


def _messages(builder: ModelBuilder, item: dict[str, Any], at: DocPath) -> list[tuple[PromptMessage, DocPath]] | None:
    """The inline ``template`` messages, or a file-based prompt read now as one user message."""
    if "location" in item:
        location = builder.text(item, "location", at) or ""
        path = file_location(location, builder.file.resolve().parent)
        try:
            text = path.read_text(encoding="utf-8") if path else None
        except (OSError, ValueError) as exc:
            builder.error(at + ("location",), f"cannot read prompt file '{location}': {exc.__class__.__name__}")
            return None
        if text is None:
            builder.error(at + ("location",), f"prompt location '{location}' is not a file:/// URI")
            return None
        return [(PromptMessage("user", Template.parse(text)), at + ("location",))]
    messages = []
    for message, m_at in builder.items(item, "template", at):
        message = builder.mapping(message, m_at, "a prompt message")
        role = builder.text(message, "role", m_at, required=True) or "user"
        if role not in ROLES:
            builder.error(m_at + ("role",), f"prompt message role must be user or assistant, got '{role}'")
        content = builder.text(message, "content", m_at, required=True) or ""
        messages.append((PromptMessage(role, Template.parse(content)), m_at + ("content",)))
    if not messages and "messages" not in item:
        builder.error(at, "a prompt needs 'template' (messages) or 'location' (a file)")
    return messages
