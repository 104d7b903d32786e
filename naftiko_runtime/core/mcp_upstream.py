"""Calling a tool of an upstream MCP server (a consumed ``type: mcp`` namespace, D113).

A step ``call: <namespace>.<tool>`` (``stepkinds.mcp_tool``) sends its ``with`` values as the
tool's arguments through the ``mcp`` package's own client over Streamable HTTP: no protocol is
written here. One client per namespace is connected on the first call and kept (``McpSessions``),
so a tool call costs one exchange, not a new handshake; ``aclose`` at shutdown closes them all.
The ``mcp`` package is imported only when a capability consumes an MCP server.

What a step's result is: the tool's ``structuredContent`` when it gives one, else its text (parsed
as JSON when it is JSON), else its contents as MCP describes them. A tool answering ``isError``
fails the step (D80) with a 502 problem carrying the tool's text, the gateway's secrets redacted;
an upstream that cannot be reached is a 502 naming the namespace and its URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..records import dataclass
from .client_tls import shared_tls_context
from .credentials import Credentials
from .problems import Problem

if TYPE_CHECKING:
    import mcp_types
    from mcp import Client


@dataclass(frozen=True)
class McpServer:
    """A consumed MCP server: where it is and what the gateway presents to it."""

    namespace: str
    url: str
    credentials: Credentials

    @property
    def secret_forms(self) -> tuple[bytes, ...]:
        return tuple(secret.encode() for secret in self.credentials.secrets if secret)


@dataclass
class _Session:
    """A connected client, owned by a task of its own: the ``mcp`` client lives in an anyio task
    group, which must be entered and left by the same task, while calls come from any request."""

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    client: Client | None = None
    failure: BaseException | None = None
    owner: asyncio.Task[None] | None = None


class McpSessions:
    """The pooled clients of every consumed MCP namespace, connected lazily, closed at shutdown."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._sessions: dict[McpServer, _Session] = {}
        """By server (namespace, URL and credentials): a reload that changes any gets a new client."""
        self._lock = asyncio.Lock()

    async def call(
        self, server: McpServer, step: str, tool: str, arguments: dict[str, Any]
    ) -> mcp_types.CallToolResult:
        """Step ``step``'s call of ``tool`` on ``server``; a refusal or a failure is a 502 naming it."""
        from mcp.shared.exceptions import MCPError

        client = await self._client(server)
        try:
            return await client.call_tool(tool, arguments)
        except MCPError as exc:
            label = f"{server.namespace}.{tool}"
            raise Problem(502, f"step '{step}': upstream MCP tool {label} refused the call: {exc}") from exc
        except Exception as exc:
            await self._drop(server)
            raise Problem(
                502, f"step '{step}': upstream MCP server '{server.namespace}' failed: {type(exc).__name__}"
            ) from exc

    async def _client(self, server: McpServer) -> Client:
        async with self._lock:
            session = self._sessions.get(server)
            if session is None or session.failure is not None:
                session = self._sessions[server] = _Session()
                session.owner = asyncio.create_task(self._own(server, session))
        await session.ready.wait()
        if session.client is None:
            await self._drop(server)
            reason = _reason(session.failure)
            raise Problem(502, f"upstream MCP server '{server.namespace}' at {server.url} is unreachable: {reason}")
        return session.client

    async def _own(self, server: McpServer, session: _Session) -> None:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        try:
            headers = dict(server.credentials.headers)
            # The shared context: a client's own would load the CA bundle again (~30 ms) per session.
            verify = shared_tls_context()
            async with httpx2.AsyncClient(headers=headers, timeout=self.timeout, verify=verify) as http:
                transport = streamable_http_client(server.url, http_client=http)
                async with Client(transport, read_timeout_seconds=self.timeout, cache=None) as client:
                    session.client = client
                    session.ready.set()
                    await session.closing.wait()
        except BaseException as exc:  # every failure to connect becomes the callers' 502
            session.failure = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            session.client = None
            session.ready.set()

    async def _drop(self, server: McpServer) -> None:
        session = self._sessions.pop(server, None)
        if session is not None and session.owner is not None:
            session.closing.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(session.owner), self.timeout)

    async def aclose(self) -> None:
        for server in list(self._sessions):
            await self._drop(server)


def _reason(failure: BaseException | None) -> str:
    """The innermost cause, without a traceback (anyio wraps it in exception groups)."""
    while isinstance(failure, BaseExceptionGroup) and failure.exceptions:
        failure = failure.exceptions[0]
    return f"{type(failure).__name__}: {failure}" if failure is not None else "no answer"


def tool_value(result: mcp_types.CallToolResult) -> Any:
    """A successful tool result as a step's value (structured, else text or JSON, else contents)."""
    if result.structured_content is not None:
        return result.structured_content
    texts = [getattr(item, "text", None) for item in result.content]
    if texts and all(isinstance(text, str) for text in texts):
        text = "".join(str(t) for t in texts)
        try:
            return json.loads(text)
        except ValueError:
            return text
    return [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in result.content]
