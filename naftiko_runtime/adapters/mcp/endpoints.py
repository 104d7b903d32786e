"""The MCP adapter's ``mcp`` package side: tools over Streamable HTTP and stdio (D28, D60-D64).

Each endpoint (the merged ``/mcp`` of a port, and ``/mcp/<namespace>`` per adapter) is one
low-level ``mcp`` ``Server`` whose tool list is built once from the plans. A call runs through
``tools.run_tool``, as on the short path: nothing about calling an upstream lives here. Over HTTP
this module is imported by ``front`` in the background (D152); it and the modules only it imports
(``confirm``, ``contents``, ``tasks``) are the adapter's only ones that import the package.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, get_args

import mcp_types as types
from mcp.server.caching import CacheableMethod, CacheHint
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.types import Receive, Scope, Send

from ...core.execution import Executor
from ...records import dataclass
from ...settings import McpPolicy
from ...version import __version__
from ..base import Mounted
from .confirm import confirmation_gate
from .contents import Prompts, Resources, Served
from .icons import IconSpec
from .model import CacheHints, McpAdapter, tools_of
from .paging import BadCursor, page
from .resources import McpPrompt
from .schemas import MCP_PATH, adapter_path, tool_annotations
from .tasks import TASKS_EXTENSION, TaskHandle, TaskRequestParams, TaskStore, wants_task
from .tools import ToolSpec, adapter_tools, run_tool

log = logging.getLogger("naftiko.mcp")
MERGED_NAME = "naftiko"


def _icons(specs: Sequence[IconSpec]) -> list[types.Icon] | None:
    return [
        types.Icon(src=i.src, mime_type=i.mime_type, sizes=list(i.sizes or ()) or None, theme=i.theme) for i in specs
    ] or None


def _definition(tool: ToolSpec) -> types.Tool:
    hints = tool_annotations(tool.plan)
    exposed = tool.plan.exposed
    return types.Tool(
        name=tool.name,
        title=exposed.label,
        description=exposed.description or exposed.label or exposed.name,
        input_schema=tool.input_schema,
        output_schema=tool.output_schema,
        annotations=types.ToolAnnotations.model_validate({_snake(k): v for k, v in hints.items()}) if hints else None,
        icons=_icons(tool.icons),
    )


def server_icons(mounted: Sequence[Mounted]) -> list[types.Icon] | None:
    """The first file's ``info`` icons: a merged endpoint is one server, with one set of icons."""
    return next(
        (_icons(m.adapter.icons) for m in mounted if isinstance(m.adapter, McpAdapter) and m.adapter.icons), None
    )


@dataclass(frozen=True)
class Extras:
    """An endpoint's resources and prompts (D61: advertised only when some adapter declares them)."""

    resources: tuple[Served, ...] = ()
    prompts: tuple[McpPrompt, ...] = ()

    @classmethod
    def of(cls, mounted: Sequence[Mounted]) -> Extras:
        resources: list[Served] = []
        prompts: list[McpPrompt] = []
        for each in mounted:
            adapter = each.adapter
            if isinstance(adapter, McpAdapter):
                for resource in adapter.resources:
                    plan = each.plan(resource.exposed) if resource.exposed is not None else None
                    resources.append(Served(resource, plan))
                prompts += adapter.prompts
        return cls(tuple(resources), tuple(prompts))


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


class ToolEndpoint:
    """One MCP server over a set of tools: what a client connected to one URL sees."""

    def __init__(
        self,
        name: str,
        instructions: str | None,
        tools: list[ToolSpec],
        executor: Executor,
        extras: Extras,
        max_size: int,
        policy: McpPolicy,
        icons: list[types.Icon] | None = None,
        cache: CacheHints | None = None,
    ):
        self.executor = executor
        self.policy = policy
        self.tools = {tool.name: tool for tool in sorted(tools, key=lambda tool: tool.name)}
        self.names = list(self.tools)
        self.definitions = [_definition(tool) for tool in self.tools.values()]
        handlers: dict[str, Any] = {}
        if extras.resources:
            resources = Resources(extras.resources, executor, max_size)
            handlers.update(
                on_list_resources=resources.list_resources,
                on_list_resource_templates=resources.list_templates,
                on_read_resource=resources.read,
            )
        if extras.prompts:
            prompts = Prompts(extras.prompts)
            handlers.update(on_list_prompts=prompts.list_prompts, on_get_prompt=prompts.get)
        self.server = Server(
            name,
            version=__version__,
            instructions=instructions,
            icons=icons,
            on_list_tools=self.list_tools,
            # A task handle is an extension's result (resultType "task"), which the typed signature
            # does not list; the runner passes claimed results through at 2026-07-28 (D114).
            on_call_tool=self.call_tool,  # type: ignore[arg-type]
            get_tool_input_schema=self.input_schema,
            cache_hints=_hints(cache),
            **handlers,
        )
        # The default OpenTelemetry middleware costs 5-40% per message and exports nothing here.
        self.server.middleware = []
        self.tasks = TaskStore(policy.task_ttl) if policy.tasks else None
        if self.tasks is not None:
            self.server.extensions[TASKS_EXTENSION] = {}
            self.server.add_request_handler("tasks/get", TaskRequestParams, self.tasks.get)
            self.server.add_request_handler("tasks/cancel", TaskRequestParams, self.tasks.cancel)

    def input_schema(self, name: str) -> dict[str, Any] | None:
        tool = self.tools.get(name)
        return tool.input_schema if tool else None

    async def list_tools(self, context: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        """D110: by name, ``[mcp] page_size`` tools a page."""
        try:
            part, cursor = page(self.names, params.cursor if params else None, self.policy.page_size)
        except BadCursor as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from exc
        return types.ListToolsResult(tools=self.definitions[part], next_cursor=cursor)

    async def call_tool(
        self, context: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult | TaskHandle:
        tool = self.tools.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        if self.policy.confirm_destructive and tool.destructive:
            refusal = confirmation_gate(context.protocol_version, params)
            if refusal is not None:
                return refusal
        if self.tasks is not None and wants_task(context):
            return self.tasks.start(lambda: self.run_tool(tool, params))
        return await self.run_tool(tool, params)

    async def run_tool(self, tool: ToolSpec, params: types.CallToolRequestParams) -> types.CallToolResult:
        outcome = await run_tool(tool, params.arguments or {}, self.executor)
        return types.CallToolResult.model_validate(outcome.wire)


NO_TRANSPORT_CHECKS = TransportSecuritySettings(enable_dns_rebinding_protection=False)
"""Host and Origin are checked for every path of the port, with the operator's settings, before a
request reaches an adapter (``serving.origins``); a second, differently configured check here
would refuse what the operator allowed."""


def _manager(endpoint: ToolEndpoint, max_body: int) -> StreamableHTTPSessionManager:
    """Streamable HTTP for one ``ToolEndpoint``: stateless, JSON responses (D60)."""
    return StreamableHTTPSessionManager(
        endpoint.server,
        json_response=True,
        stateless=True,
        max_request_body_size=max_body,
        security_settings=NO_TRANSPORT_CHECKS,
    )


def _instructions(mounted: Sequence[Mounted]) -> str | None:
    return "\n\n".join(m.adapter.description for m in mounted if m.adapter.description) or None


def merged_endpoint(
    mounted: Sequence[Mounted], tools: Sequence[list[ToolSpec]], executor: Executor, max_size: int, policy: McpPolicy
) -> ToolEndpoint:
    """D31/D61: all tools, resources and prompts of the adapters on one port, named after the adapter when alone."""
    name = mounted[0].adapter.namespace if len(mounted) == 1 else MERGED_NAME
    every = [tool for each in tools for tool in each]
    extras = Extras.of(mounted)
    cache = CacheHints.merged([_cache(each) for each in mounted])
    icons = server_icons(mounted)
    return ToolEndpoint(name, _instructions(mounted), every, executor, extras, max_size, policy, icons, cache)


def _hints(cache: CacheHints | None) -> dict[CacheableMethod, CacheHint] | None:
    """The adapter's hints on every cacheable method's results (the ``mcp`` package fills them in
    on MCP 2026-07-28 connections; older protocol versions never see them)."""
    if cache is None:
        return None
    hint = CacheHint(cache.ttl_ms, "public" if cache.scope == "public" else "private")
    return {method: hint for method in get_args(CacheableMethod)}


def _cache(mounted: Mounted) -> CacheHints | None:
    return mounted.adapter.cache if isinstance(mounted.adapter, McpAdapter) else None


class McpEndpoints:
    """The ``mcp`` package's side of a port's MCP URLs, ``/mcp`` (merged) and ``/mcp/<namespace>``
    (each adapter), D31: built by ``front.McpFront`` once the package is loaded, it answers what
    the front leaves to the package."""

    def __init__(
        self,
        mounted: Sequence[Mounted],
        tools: Sequence[list[ToolSpec]],
        executor: Executor,
        max_body: int,
        policy: McpPolicy,
    ):
        merged = merged_endpoint(mounted, tools, executor, max_body, policy)
        self.managers = {MCP_PATH: _manager(merged, max_body)}
        for each, own in zip(mounted, tools, strict=True):
            single = ToolEndpoint(
                each.adapter.namespace,
                each.adapter.description,
                own,
                executor,
                Extras.of([each]),
                max_body,
                policy,
                server_icons([each]),
                _cache(each),
            )
            self.managers[adapter_path(each.adapter.namespace)] = _manager(single, max_body)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST to one of the front's URLs (the front has answered every other request)."""
        await self.managers[scope["path"]].handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for manager in self.managers.values():
                await stack.enter_async_context(manager.run())
            yield


async def serve_stdio(mounted: Sequence[Mounted], executor: Executor, max_size: int, policy: McpPolicy) -> int:
    """D64: the given MCP adapters' tools, resources and prompts over stdin/stdout; only protocol
    messages on stdout."""
    extras = Extras.of(mounted)
    for what, names in (
        ("tool names", [tool.name for each in mounted for tool in tools_of(each)]),
        ("resource URIs", [s.resource.uri.source for s in extras.resources]),
        ("prompt names", [p.name for p in extras.prompts]),
    ):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            log.error("%s used twice across files, cannot merge them over stdio: %s", what, ", ".join(duplicates))
            return 1
    endpoint = merged_endpoint(mounted, [adapter_tools(each) for each in mounted], executor, max_size, policy)
    async with stdio_server() as (read_stream, write_stream):
        await endpoint.server.run(read_stream, write_stream, endpoint.server.create_initialization_options())
    return 0
