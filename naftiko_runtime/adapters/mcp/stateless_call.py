"""A short path for the commonest MCP request: a stateless, JSON-answered ``tools/call`` (D141).

In stateless mode the ``mcp`` package serves every POST by building a transport, a pair of memory
streams, a task in the manager's task group, a JSON-RPC dispatcher and a connection, then routes
the one request through them and tears everything down again: most of a tool call's CPU when the
upstream is fast. A ``tools/call`` at a handshake-era protocol version (or none) needs none of it:
this module reads the POST, validates it with the package's own models and version surface, runs
``ToolEndpoint.call_tool`` and writes the package's own JSON-RPC envelope, so the answer is the
one the package's path would give.

Everything else goes the package's way untouched: other methods, batches, notifications, the
2026-07-28 era (``Mcp-Protocol-Version`` outside the handshake versions), bodies the package would
refuse (bad JSON, bad envelope, bad params, an unknown tool), bodies over the size limit, and
headers the package would answer with 400/406. The body read here is replayed to it as received.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pydantic_core
from mcp.server.streamable_http import check_accept_headers
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp_types import (
    DEFAULT_NEGOTIATED_VERSION,
    INTERNAL_ERROR,
    CallToolRequestParams,
    CallToolResult,
    ErrorData,
    JSONRPCError,
    JSONRPCRequest,
    TextContent,
    jsonrpc_message_adapter,
)
from mcp_types import methods as surfaces
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send


class ToolEndpoint(Protocol):
    """What the short path needs of ``endpoints.ToolEndpoint`` (which imports this module): its
    tools by name and its ``call_tool``."""

    @property
    def tools(self) -> Mapping[str, object]: ...

    async def call_tool(self, context: Any, params: CallToolRequestParams) -> Any: ...


log = logging.getLogger("naftiko.mcp")

METHOD = "tools/call"
PROTOCOL_HEADER = MCP_PROTOCOL_VERSION_HEADER.lower().encode("latin-1")
JSON_HEADERS = [(b"content-type", b"application/json")]
TEXT_RESULT_FIELDS = {"content", "structured_content", "is_error"}


@dataclass(frozen=True)
class CallContext:
    """What ``ToolEndpoint.call_tool`` reads of a request's context at a handshake-era version:
    the version alone (no task handles and no elicitation exist before 2026-07-28)."""

    protocol_version: str


@dataclass(frozen=True)
class Taken:
    """A POST this module answers: its id, version and typed params."""

    request: JSONRPCRequest
    version: str
    params: CallToolRequestParams


VERDICTS_KEPT = 64
"""Accept headers whose verdict is remembered: a client sends the same one on every call."""
_accepts_json: dict[bytes, bool] = {}


def _json_accepted(accept: bytes) -> bool:
    """The package's own Accept rule (wildcards included), remembered per header value."""
    verdict = _accepts_json.get(accept)
    if verdict is None:
        verdict = check_accept_headers(Request({"type": "http", "headers": [(b"accept", accept)]}))[0]
        if len(_accepts_json) < VERDICTS_KEPT:
            _accepts_json[accept] = verdict
    return verdict


def _version_if_fit(scope: Scope, max_body: int) -> str | None:
    """The request's protocol version when its headers are ones the package accepts without a
    word (JSON in, JSON accepted, a body in bounds) at a handshake-era version; else ``None``.
    Of a repeated header the first counts, as in the package (starlette's ``Headers.get``)."""
    seen: dict[bytes, bytes] = {}
    for key, value in scope["headers"]:
        seen.setdefault(key, value)
    if seen.get(b"content-type", b"").split(b";")[0].strip() != b"application/json":
        return None
    if not _json_accepted(seen.get(b"accept", b"")):
        return None
    length = seen.get(b"content-length")
    if length is not None and not (length.isdigit() and int(length) <= max_body):
        return None
    raw = seen.get(PROTOCOL_HEADER)
    if raw is None:
        return DEFAULT_NEGOTIATED_VERSION
    version = raw.decode("latin-1")
    return version if version in HANDSHAKE_PROTOCOL_VERSIONS else None


async def _read_body(receive: Receive, max_body: int) -> tuple[bytes, bool]:
    """The body read so far and whether the request's body ended there; reading stops once past
    ``max_body`` (the package answers 413) or at a disconnect."""
    chunks: list[bytes] = []
    size = 0
    while size <= max_body:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
    return b"".join(chunks), False


def replaying(body: bytes, ended: bool, receive: Receive) -> Receive:
    """``receive`` as it was before ``body`` was read from it."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": not ended}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _take(body: bytes, version: str, endpoint: ToolEndpoint) -> Taken | None:
    """The call if this module can answer it exactly as the package would, else ``None``."""
    try:
        raw = pydantic_core.from_json(body)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("method") != METHOD:
        return None
    try:
        request = jsonrpc_message_adapter.validate_python(raw, by_name=False)
        if not isinstance(request, JSONRPCRequest):
            return None
        surfaces.validate_client_request(METHOD, version, request.params)
        params = CallToolRequestParams.model_validate(request.params or {}, by_name=False)
    except (ValidationError, KeyError, ValueError):
        return None
    if params.name not in endpoint.tools:
        return None
    return Taken(request, version, params)


def _text_wire(text: str, is_error: bool, structured: Any, keeps_structured: bool) -> dict[str, Any]:
    """A text result as the package's version surfaces dump one: their fields in their order."""
    wire: dict[str, Any] = {"content": [{"text": text, "type": "text"}], "isError": is_error}
    if structured is not None and keeps_structured:
        wire["structuredContent"] = structured
    return wire


def _shaped(result: BaseModel, version: str) -> dict[str, Any]:
    """The package's wire form of a result: its runner's dump, then the version's surface."""
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return surfaces.serialize_server_result(METHOD, version, dumped)


@functools.cache
def _text_shape(version: str) -> bool | None:
    """Whether the package keeps ``structuredContent`` of a text result at ``version`` (``None``:
    it shapes one some other way, and every result takes its ``_shaped``). Learned once per
    version from the package itself, so that a text result's wire form can skip two pydantic
    passes (~100 us for the benchmark's 2 kB answer) and still be the package's to the byte."""
    samples = [
        CallToolResult(content=[TextContent(text="t")], structured_content=value, is_error=flag)
        for value, flag in (({"k": [1, None, "x", 1.5, {"n": True}]}, False), (None, True))
    ]
    for keeps in (True, False):
        direct = [_text_wire("t", r.is_error, r.structured_content, keeps) for r in samples]
        if all(to_json(mine) == to_json(_shaped(r, version)) for mine, r in zip(direct, samples, strict=True)):
            return keeps
    return None


def _wire(result: BaseModel, version: str) -> dict[str, Any]:
    """A result's wire form: built directly for what ``run_tool``'s text results set (the text,
    the structured value, the flag), else the package's own way."""
    keeps = _text_shape(version)
    if keeps is not None and type(result) is CallToolResult and result.model_fields_set == TEXT_RESULT_FIELDS:
        content = result.content
        if len(content) == 1 and type(content[0]) is TextContent and content[0].model_fields_set == {"text"}:
            return _text_wire(content[0].text, result.is_error, result.structured_content, keeps)
    return _shaped(result, version)


async def _answer(taken: Taken, endpoint: ToolEndpoint) -> bytes:
    """The JSON-RPC envelope the package's runner and dispatcher would write for this call."""
    request_id = taken.request.id
    try:
        result = await endpoint.call_tool(CallContext(taken.version), taken.params)
        return to_json({"jsonrpc": "2.0", "id": request_id, "result": _wire(result, taken.version)})
    except ValidationError:
        log.exception("tool %s returned an invalid result", taken.params.name)
        error = ErrorData(code=INTERNAL_ERROR, message="Handler returned an invalid result")
    except Exception as exc:
        # The dispatcher's own catch-all (code 0, the exception's text); run_tool already turns
        # every failure of a call into an isError result, so this is a bug's last resort.
        error = handler_exception_to_error_data(exc) or ErrorData(code=0, message=str(exc))
    envelope = JSONRPCError(jsonrpc="2.0", id=request_id, error=error)
    return envelope.model_dump_json(by_alias=True, exclude_unset=True).encode()


async def answer_or_pass(
    scope: Scope, receive: Receive, send: Send, endpoint: ToolEndpoint, max_body: int
) -> Receive | None:
    """Answer a stateless JSON ``tools/call`` and return ``None``; for anything else, return the
    ``receive`` to hand the package (the body replayed if it was read)."""
    version = _version_if_fit(scope, max_body)
    if version is None:
        return receive
    body, ended = await _read_body(receive, max_body)
    taken = _take(body, version, endpoint) if ended and len(body) <= max_body else None
    if taken is None:
        return replaying(body, ended, receive)
    payload = await _answer(taken, endpoint)
    headers: Any = [*JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
    return None
