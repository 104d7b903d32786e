"""The MCP adapter: tools over Streamable HTTP and stdio, thin over the execution core (D28, D60-D64).

Each endpoint (the merged ``/mcp`` of a port, and ``/mcp/<namespace>`` per adapter) is one
low-level ``mcp`` ``Server`` whose tool list is built once at start-up from the plans. A call
checks the arguments against the same ``InputSpec``s the REST adapter uses, then hands them to
``Executor.execute``: nothing about calling an upstream lives here.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import mcp_types as types
from mcp.server.caching import CacheableMethod, CacheHint
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.types import Receive, Scope, Send

from ...core.execution import Executor, Reply
from ...core.inputs import InputSpec, check_inputs
from ...core.plans import OperationPlan
from ...core.problems import Problem, encode_json
from ...settings import McpPolicy
from ...spec.model import Exposed
from ...version import __version__
from ..asgi import send_problem
from ..base import Mounted
from .confirm import confirmation_gate
from .contents import Prompts, Resources, Served
from .icons import IconSpec
from .model import CacheHints, McpAdapter, tools_of
from .paging import BadCursor, page
from .resources import McpPrompt
from .schemas import MCP_PATH, input_schema, output_schema, tool_annotations, tool_arguments
from .stateless_call import answer_or_pass
from .tasks import TASKS_EXTENSION, TaskHandle, TaskRequestParams, TaskStore, wants_task

log = logging.getLogger("naftiko.mcp")
MERGED_NAME = "naftiko"


@dataclass(frozen=True)
class Tool:
    """A tool as served: built once per adapter, shared by ``/mcp`` and ``/mcp/<namespace>``."""

    plan: OperationPlan
    definition: types.Tool
    input_schema: dict[str, Any]
    inputs: tuple[InputSpec, ...]
    """What a call checks: the arguments, and the inputs the capability fills itself (D25a)."""


def _icons(specs: Sequence[IconSpec]) -> list[types.Icon] | None:
    return [
        types.Icon(src=i.src, mime_type=i.mime_type, sizes=list(i.sizes or ()) or None, theme=i.theme) for i in specs
    ] or None


def _definition(exposed: Exposed, plan: OperationPlan, icons: Sequence[IconSpec]) -> Tool:
    schema = input_schema(plan)
    hints = tool_annotations(plan)
    definition = types.Tool(
        name=exposed.name,
        title=exposed.label,
        description=exposed.description or exposed.label or exposed.name,
        input_schema=schema,
        output_schema=output_schema(plan),
        annotations=types.ToolAnnotations.model_validate({_snake(k): v for k, v in hints.items()}) if hints else None,
        icons=_icons(icons),
    )
    valued = tuple(spec for spec in plan.inputs if spec.value is not None and not spec.credential)
    return Tool(plan, definition, schema, tuple(tool_arguments(plan)) + valued)


def adapter_tools(mounted: Mounted) -> list[Tool]:
    icons = mounted.adapter.tool_icons if isinstance(mounted.adapter, McpAdapter) else {}
    return [_definition(exposed, mounted.plan(exposed), icons.get(exposed.name, ())) for exposed in tools_of(mounted)]


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


def _text_result(text: str, *, is_error: bool, structured: dict[str, Any] | None = None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=structured, is_error=is_error
    )


async def _blob_result(reply: Reply, uri: str) -> types.CallToolResult:
    """A binary answer as the MCP spec carries bytes in a tool result: an embedded resource whose
    contents are a base64 ``blob`` with its ``mimeType``. The stream is already bounded by
    ``maxBinarySize``; it has to be whole before it can be encoded."""
    assert reply.stream is not None
    try:
        data = b"".join([chunk async for chunk in reply.stream])
    except Problem as problem:
        return _text_result(f"Error {problem.status} ({problem.title}): {problem.detail}", is_error=True)
    finally:
        await reply.stream.aclose()
    contents = types.BlobResourceContents(
        uri=uri, mime_type=reply.content_type or "application/octet-stream", blob=base64.b64encode(data).decode()
    )
    return types.CallToolResult(content=[types.EmbeddedResource(type="resource", resource=contents)], is_error=False)


class ToolEndpoint:
    """One MCP server over a set of tools: what a client connected to one URL sees."""

    def __init__(
        self,
        name: str,
        instructions: str | None,
        tools: list[Tool],
        executor: Executor,
        extras: Extras,
        max_size: int,
        policy: McpPolicy,
        icons: list[types.Icon] | None = None,
        cache: CacheHints | None = None,
    ):
        self.executor = executor
        self.policy = policy
        self.tools = {tool.definition.name: tool for tool in sorted(tools, key=lambda tool: tool.definition.name)}
        self.names = list(self.tools)
        self.definitions = [tool.definition for tool in self.tools.values()]
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
        if self.policy.confirm_destructive and tool.plan.exposed.hints.get("destructive"):
            refusal = confirmation_gate(context.protocol_version, params)
            if refusal is not None:
                return refusal
        if self.tasks is not None and wants_task(context):
            return self.tasks.start(lambda: self.run_tool(tool, params))
        return await self.run_tool(tool, params)

    async def run_tool(self, tool: Tool, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = params.arguments or {}
        raw = {name: (value, False) for name, value in arguments.items()}
        inputs, problems = check_inputs(tool.inputs, raw, arguments)
        if problems:
            listed = "; ".join(f"{p.name}: {p.problem}" for p in problems)
            return _text_result(f"Invalid arguments for tool {params.name}: {listed}", is_error=True)
        try:
            reply = await self.executor.execute(tool.plan, inputs)
        except Problem as problem:
            return _text_result(f"Error {problem.status} ({problem.title}): {problem.detail}", is_error=True)
        except Exception:
            log.exception("internal error in tool %s", params.name)
            return _text_result("Internal error in the gateway; see its log.", is_error=True)
        if not reply.ok:
            # The executor has already redacted the gateway's secrets from the upstream body (D55).
            step = f"Step '{reply.step}': " if reply.step else ""
            return _text_result(f"{step}Upstream answered HTTP {reply.status}: {reply.text()}", is_error=True)
        if reply.stream is not None:
            return await _blob_result(reply, f"naftiko://{tool.plan.exposed.namespace}/{params.name}")
        if not reply.body:
            # An empty answer (204) is no content, not the text "null"; a tool that advertises an
            # output schema still owes a structured result, and {} is the empty object (D63).
            structured: dict[str, Any] | None = {} if tool.definition.output_schema is not None else None
            return types.CallToolResult(content=[], structured_content=structured, is_error=False)
        value = reply.value
        try:
            text = encode_json(value, 502, f"the answer of tool {params.name}").decode()
        except Problem as problem:
            return _text_result(f"Error {problem.status} ({problem.title}): {problem.detail}", is_error=True)
        return _text_result(text, is_error=False, structured=value if isinstance(value, dict) else {"result": value})


NO_TRANSPORT_CHECKS = TransportSecuritySettings(enable_dns_rebinding_protection=False)
"""Host and Origin are checked for every path of the port, with the operator's settings, before a
request reaches an adapter (``serving.origins``); a second, differently configured check here
would refuse what the operator allowed."""


class _HttpEndpoint:
    """Streamable HTTP for one ``ToolEndpoint``: stateless, JSON responses (D60); a handshake-era
    ``tools/call`` takes the short path of ``stateless_call`` (D141)."""

    def __init__(self, endpoint: ToolEndpoint, max_body: int):
        self.endpoint = endpoint
        self.max_body = max_body
        self.manager = StreamableHTTPSessionManager(
            endpoint.server,
            json_response=True,
            stateless=True,
            max_request_body_size=max_body,
            security_settings=NO_TRANSPORT_CHECKS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            # Stateless mode keeps no session: a GET stream would never close and DELETE has nothing to end.
            body = (
                b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"use POST: this endpoint is stateless"}}'
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 405,
                    "headers": [
                        (b"allow", b"POST"),
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        rest: Receive | None = receive
        if self.endpoint.policy.short_path:
            rest = await answer_or_pass(scope, receive, send, self.endpoint, self.max_body)
        if rest is not None:
            await self.manager.handle_request(scope, rest, send)


def _instructions(mounted: Sequence[Mounted]) -> str | None:
    return "\n\n".join(m.adapter.description for m in mounted if m.adapter.description) or None


def merged_endpoint(
    mounted: Sequence[Mounted], tools: list[list[Tool]], executor: Executor, max_size: int, policy: McpPolicy
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
    """The MCP side of one port: ``/mcp`` (merged) and ``/mcp/<namespace>`` (each adapter), D31."""

    def __init__(self, mounted: Sequence[Mounted], executor: Executor, max_body: int, policy: McpPolicy):
        tools = [adapter_tools(each) for each in mounted]
        merged = merged_endpoint(mounted, tools, executor, max_body, policy)
        self.endpoints = {MCP_PATH: _HttpEndpoint(merged, max_body)}
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
            self.endpoints[f"{MCP_PATH}/{each.adapter.namespace}"] = _HttpEndpoint(single, max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get(scope["path"])
        if endpoint is None:
            await send_problem(
                send,
                Problem(404, f"no MCP endpoint at {scope['path']}; this port serves {', '.join(self.endpoints)}"),
                scope["path"],
            )
            return
        await endpoint(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for endpoint in self.endpoints.values():
                await stack.enter_async_context(endpoint.manager.run())
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
