"""A short path for the commonest MCP request: a stateless, JSON-answered ``tools/call`` (D141).

In stateless mode the ``mcp`` package serves every POST by building a transport, a pair of memory
streams, a task in the manager's task group, a JSON-RPC dispatcher and a connection, then routes
the one request through them and tears everything down again: most of a tool call's CPU when the
upstream is fast. A ``tools/call`` at a handshake-era protocol version (or none) needs none of it:
this module reads the POST, takes it only when it is plainly one the package would accept as it
stands, runs the tool (``tools.run_tool``) and writes the package's JSON-RPC envelope, so the answer
is the one the package's path would give (``tests/integration/test_mcp_short_path.py`` sends the
same requests both ways and compares the bytes).

It imports nothing of the ``mcp`` package (D152): the package's rules it follows (the Accept
check, the protocol versions, the envelope) are written here and held equal to the package's by
``tests/unit/test_mcp_tool_outcomes.py``. So a gateway answers tool calls while the package is
still loading in the background.

Everything else goes the package's way untouched: other methods, batches, notifications, the
2026-07-28 era (``Mcp-Protocol-Version`` outside the handshake versions), anything unusual in the
envelope or the params (``_meta``, an id that is not a plain integer or string), unknown tools,
destructive tools behind a confirmation (D112), bodies over the size limit, and headers the
package would answer with 400/406. The body read here is replayed to it as received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from pydantic_core import from_json, to_json
from starlette.types import Message, Receive, Scope, Send

from ...core.execution import Executor
from ...records import dataclass
from .tools import ToolOutcome, ToolSpec, run_tool

METHOD = "tools/call"
PROTOCOL_HEADER = b"mcp-protocol-version"
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""The protocol versions negotiated by ``initialize``: a tool result has the same form in each."""
UNSTATED_VERSION = "2025-03-26"
"""The version the package assumes when a request names none."""
JSON_HEADERS = [(b"content-type", b"application/json")]
ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
PARAM_KEYS = frozenset({"name", "arguments"})
LARGEST_ID = 2**63
"""Integer ids beyond a signed 64-bit value go the package's way."""


@dataclass(frozen=True)
class ToolSet:
    """The tools one MCP URL serves, as the short path needs them."""

    tools: Mapping[str, ToolSpec]
    executor: Executor
    confirm_destructive: bool


@dataclass(frozen=True)
class Taken:
    """A POST this module answers: its id, tool and arguments."""

    request_id: int | str
    tool: ToolSpec
    arguments: dict[str, Any]


VERDICTS_KEPT = 64
"""Accept headers whose verdict is remembered: a client sends the same one on every call."""
_accepts_json: dict[bytes, bool] = {}


def accepts_json(accept: bytes) -> bool:
    """The package's Accept rule for a JSON answer (RFC 7231 wildcards included)."""
    verdict = _accepts_json.get(accept)
    if verdict is None:
        types = {part.strip().split(";")[0].strip().lower() for part in accept.decode("latin-1").split(",")}
        verdict = bool(types & {"*/*", "application/json", "application/*"})
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
    if not accepts_json(seen.get(b"accept", b"")):
        return None
    length = seen.get(b"content-length")
    if length is not None and not (length.isdigit() and int(length) <= max_body):
        return None
    raw = seen.get(PROTOCOL_HEADER)
    if raw is None:
        return UNSTATED_VERSION
    version = raw.decode("latin-1")
    return version if version in HANDSHAKE_VERSIONS else None


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


def _plain_id(value: object) -> TypeGuard[int | str]:
    if isinstance(value, str):
        return True
    return type(value) is int and -LARGEST_ID < value < LARGEST_ID


def _take(body: bytes, tools: ToolSet) -> Taken | None:
    """The call when it is plainly one the package takes as it stands, else ``None``: a JSON-RPC
    2.0 request of ``tools/call`` with a string or integer id, and params of a known tool's
    ``name`` and an optional object of ``arguments``, nothing else."""
    try:
        raw = from_json(body)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("method") != METHOD or raw.keys() - ENVELOPE_KEYS:
        return None
    params, request_id = raw.get("params"), raw.get("id")
    if raw.get("jsonrpc") != "2.0" or not _plain_id(request_id) or not isinstance(params, dict):
        return None
    arguments = params.get("arguments")
    if params.keys() - PARAM_KEYS or not (arguments is None or isinstance(arguments, dict)):
        return None
    tool = tools.tools.get(params.get("name"))  # type: ignore[arg-type]
    if tool is None or (tools.confirm_destructive and tool.destructive):
        return None
    return Taken(request_id, tool, arguments or {})


async def _answer(taken: Taken, tools: ToolSet) -> bytes:
    """The JSON-RPC envelope the package's runner and dispatcher would write for this call."""
    try:
        outcome: ToolOutcome = await run_tool(taken.tool, taken.arguments, tools.executor)
        return to_json({"jsonrpc": "2.0", "id": taken.request_id, "result": outcome.wire})
    except Exception as exc:
        # The dispatcher's own catch-all (code 0, the exception's text); run_tool already turns
        # every failure of a call into an isError result, so this is a bug's last resort.
        return to_json({"jsonrpc": "2.0", "id": taken.request_id, "error": {"code": 0, "message": str(exc)}})


async def answer_or_pass(scope: Scope, receive: Receive, send: Send, tools: ToolSet, max_body: int) -> Receive | None:
    """Answer a stateless JSON ``tools/call`` and return ``None``; for anything else, return the
    ``receive`` to hand the package (the body replayed if it was read)."""
    if _version_if_fit(scope, max_body) is None:
        return receive
    body, ended = await _read_body(receive, max_body)
    taken = _take(body, tools) if ended and len(body) <= max_body else None
    if taken is None:
        return replaying(body, ended, receive)
    payload = await _answer(taken, tools)
    headers: Any = [*JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
    return None
