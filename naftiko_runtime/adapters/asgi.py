"""Raw ASGI helpers shared by the HTTP adapters: reading a bounded body, answering, problems.

The adapters speak raw ASGI rather than building Starlette ``Request``/``Response`` objects:
every call pays this path, and these few functions are all it needs.
"""

from __future__ import annotations

from starlette.types import Receive, Send

from ..core.problems import Problem

BODY_FOLLOWS = "naftiko.body_follows"
"""A key of an ``http.response.start`` message: its body message follows before the app awaits
anything else, so the server may hold the head for it without scheduling a flush (D159). A server
that does not know it ignores it, as ASGI servers ignore keys they do not know."""


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """The whole request body, or ``Problem(413)`` as soon as it passes ``limit``; a request that
    declares no body (``declared`` 0) is not waited for."""
    if declared == 0:
        return b""
    if declared is not None and declared > limit:
        raise Problem(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The declared body length: 0 for a request with neither ``Content-Length`` nor
    ``Transfer-Encoding`` (RFC 9112 section 6.3: it has no body), ``None`` when only the body's end
    tells (chunked)."""
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
        chunked = chunked or name == b"transfer-encoding"
    return None if chunked else 0


def response_headers(
    body: bytes, content_type: str | None, headers: tuple[tuple[str, str], ...]
) -> list[tuple[bytes, bytes]]:
    """A whole answer's headers as the app sends them: its length, its type (for a body), the rest;
    shared by ``send_response`` and the REST fast path (D160), whose answers must be the same bytes."""
    raw = [(b"content-length", str(len(body)).encode())]
    if content_type and body:
        raw.append((b"content-type", content_type.encode("latin-1")))
    raw.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers)
    return raw


async def send_response(
    send: Send,
    status: int,
    body: bytes,
    content_type: str | None,
    headers: tuple[tuple[str, str], ...] = (),
    head: bool = False,
) -> None:
    raw = response_headers(body, content_type, headers)
    await send({"type": "http.response.start", "status": status, "headers": raw, BODY_FOLLOWS: True})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_problem(send: Send, problem: Problem, instance: str | None = None) -> None:
    await send_response(
        send, problem.status, problem.body(instance), "application/problem+json", tuple(problem.headers.items())
    )
