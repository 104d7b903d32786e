"""Serving MCP resources and prompts: ``resources/list``, ``resources/templates/list``,
``resources/read``, ``prompts/list`` and ``prompts/get`` for one endpoint.

Listings are built once at start-up, except a static folder's files, walked at each listing so
that the files an agent sees are the files it can read. A dynamic read checks the URI's variables
against the plan's inputs, then hands them to ``Executor.execute`` exactly as a tool call does.
A static read accepts only plain path segments and a file that, once symlinks are resolved, is
still inside its folder.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import mcp_types as types
from mcp.shared.exceptions import MCPError

from ...core.execution import Executor
from ...core.inputs import check_inputs
from ...core.plans import OperationPlan
from ...core.problems import Problem
from ...records import dataclass
from ...spec.expressions import TEMPLATE_REFERENCE, render_scalar
from .resources import McpPrompt, McpResource, PromptMessage

log = logging.getLogger("naftiko.mcp")
RESOURCE_NOT_FOUND = -32002
"""The MCP specification's error code for a URI no resource answers."""
SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
MAX_LISTED_FILES = 1000


@dataclass(frozen=True)
class Served:
    """A resource as served: a dynamic one carries its compiled plan."""

    resource: McpResource
    plan: OperationPlan | None


def _mime(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or ("text/markdown" if path.suffix == ".md" else "application/octet-stream")


class Resources:
    def __init__(self, served: Sequence[Served], executor: Executor, max_size: int):
        self.served = list(served)
        self.executor = executor
        self.max_size = max_size
        self.fixed = [
            types.Resource(
                name=s.resource.name,
                title=s.resource.title,
                uri=s.resource.uri.source,
                description=s.resource.description,
                mime_type=s.resource.mime_type,
            )
            for s in self.served
            if s.plan is not None and not s.resource.uri.is_template
        ]
        self.templates = types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    name=s.resource.name,
                    title=s.resource.title,
                    uri_template=s.resource.uri.source,
                    description=s.resource.description,
                    mime_type=s.resource.mime_type,
                )
                for s in self.served
                if s.resource.uri.is_template
            ]
        )

    async def list_resources(self, context: Any, params: Any) -> types.ListResourcesResult:
        listed = list(self.fixed)
        for s in self.served:
            if s.resource.folder is not None:
                listed += self._files(s.resource, s.resource.folder)
        return types.ListResourcesResult(resources=listed)

    def _files(self, resource: McpResource, folder: Path) -> list[types.Resource]:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.resolve().is_relative_to(folder))
        files = files[:MAX_LISTED_FILES]
        return [
            types.Resource(
                name=resource.name,
                title=resource.title,
                uri=f"{resource.uri.source}/{path.relative_to(folder).as_posix()}",
                description=resource.description,
                mime_type=resource.mime_type or _mime(path),
            )
            for path in files
        ]

    async def list_templates(self, context: Any, params: Any) -> types.ListResourceTemplatesResult:
        return self.templates

    async def read(self, context: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = params.uri
        for s in self.served:
            resource = s.resource
            if resource.folder is not None:
                prefix = resource.uri.source + "/"
                if uri.startswith(prefix):
                    return self._read_file(resource, resource.folder, uri, uri[len(prefix) :])
                continue
            values = resource.uri.match(uri)
            if values is not None and s.plan is not None:
                return await self._read_dynamic(resource, s.plan, uri, values)
        raise MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})

    def _read_file(self, resource: McpResource, folder: Path, uri: str, relative: str) -> types.ReadResourceResult:
        if not all(SAFE_SEGMENT.match(s) and s not in (".", "..") for s in relative.split("/")):
            raise MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
        target = (folder / relative).resolve()
        if not target.is_relative_to(folder) or not target.is_file():
            raise MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
        if target.stat().st_size > self.max_size:
            raise MCPError(types.INTERNAL_ERROR, f"{uri} is larger than {self.max_size} bytes")
        data = target.read_bytes()
        mime = resource.mime_type or _mime(target)
        try:
            contents: types.TextResourceContents | types.BlobResourceContents = types.TextResourceContents(
                uri=uri, mime_type=mime, text=data.decode("utf-8")
            )
        except UnicodeDecodeError:
            contents = types.BlobResourceContents(uri=uri, mime_type=mime, blob=base64.b64encode(data).decode())
        return types.ReadResourceResult(contents=[contents])

    async def _read_dynamic(
        self, resource: McpResource, plan: OperationPlan, uri: str, values: dict[str, str]
    ) -> types.ReadResourceResult:
        inputs, problems = check_inputs(plan.inputs, {k: (v, False) for k, v in values.items()})
        if problems:
            listed = "; ".join(f"{p.name}: {p.problem}" for p in problems)
            raise MCPError(types.INVALID_PARAMS, f"Invalid resource URI {uri}: {listed}")
        try:
            reply = await self.executor.execute(plan, inputs)
        except Problem as problem:
            message = f"Error {problem.status} ({problem.title}): {problem.detail}"
            raise MCPError(types.INTERNAL_ERROR, message) from None
        except Exception:
            log.exception("internal error reading resource %s", resource.name)
            raise MCPError(types.INTERNAL_ERROR, "Internal error in the gateway; see its log.") from None
        if not reply.ok:
            # The executor has already redacted the gateway's secrets from the upstream body (D55).
            raise MCPError(types.INTERNAL_ERROR, f"Upstream answered HTTP {reply.status}: {reply.text()}")
        mime = resource.mime_type or (reply.content_type or "application/json").split(";")[0].strip()
        if reply.stream is not None:
            # outputRawFormat binary: the bytes as a base64 blob (beta4 `binary: true` resources).
            try:
                data = b"".join([chunk async for chunk in reply.stream])
            except Problem as problem:
                message = f"Error {problem.status} ({problem.title}): {problem.detail}"
                raise MCPError(types.INTERNAL_ERROR, message) from None
            finally:
                await reply.stream.aclose()
            blob = types.BlobResourceContents(uri=uri, mime_type=mime, blob=base64.b64encode(data).decode())
            return types.ReadResourceResult(contents=[blob])
        contents = types.TextResourceContents(uri=uri, mime_type=mime, text=reply.text())
        return types.ReadResourceResult(contents=[contents])


def render_prompt(message: PromptMessage, given: Mapping[str, Any]) -> str:
    """The reference engine's rendering (``PromptHandler.substitute``): each ``{{arg}}`` of an
    argument the caller gave becomes its value, once (a value's own ``{{...}}`` is never expanded);
    any other placeholder, an optional argument left out included, stays as written."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return render_scalar(given[name]) if name in given else match.group(0)

    return TEMPLATE_REFERENCE.sub(value, message.content.source)


class Prompts:
    def __init__(self, prompts: Sequence[McpPrompt]):
        self.prompts = {p.name: p for p in prompts}
        self.listing = types.ListPromptsResult(
            prompts=[
                types.Prompt(
                    name=p.name,
                    title=p.title,
                    description=p.description,
                    arguments=[
                        types.PromptArgument(name=a.name, title=a.title, description=a.description, required=a.required)
                        for a in p.arguments
                    ],
                )
                for p in prompts
            ]
        )

    async def list_prompts(self, context: Any, params: Any) -> types.ListPromptsResult:
        return self.listing

    async def get(self, context: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        prompt = self.prompts.get(params.name)
        if prompt is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {params.name}")
        arguments = params.arguments or {}
        missing = [a.name for a in prompt.arguments if a.required and a.name not in arguments]
        if missing:
            listed = ", ".join(missing)
            raise MCPError(types.INVALID_PARAMS, f"Missing required arguments of prompt {prompt.name}: {listed}")
        given = {a.name: arguments[a.name] for a in prompt.arguments if a.name in arguments}
        messages = []
        for message in prompt.messages:
            role: Literal["user", "assistant"] = "assistant" if message.role == "assistant" else "user"
            text = types.TextContent(text=render_prompt(message, given))
            messages.append(types.PromptMessage(role=role, content=text))
        return types.GetPromptResult(description=prompt.description, messages=messages)
