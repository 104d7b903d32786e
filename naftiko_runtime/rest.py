"""The REST adapter: an ASGI app over one port's route table, thin over the execution core.

Request -> route (D32a) -> inputs (D27) -> ``Executor.execute`` -> response (D50-D53). It speaks
raw ASGI rather than building Starlette ``Request`` objects: every SDK call pays this path.
"""

from __future__ import annotations

import logging
from typing import Any

from .execution import Executor, Reply
from .problems import Problem
from .rest_inputs import RestEndpoint
from .routing import MethodNotAllowed, RouteTable

log = logging.getLogger("naftiko.rest")

Scope = dict[str, Any]


async def read_body(receive: Any, limit: int, declared: int | None) -> bytes:
    """The whole request body, or ``Problem(413)`` as soon as it passes ``limit``."""
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


async def send_response(send: Any, status: int, body: bytes, content_type: str | None,
                        headers: tuple[tuple[str, str], ...] = (), head: bool = False) -> None:
    raw = [(b"content-length", str(len(body)).encode())]
    if content_type and body:
        raw.append((b"content-type", content_type.encode("latin-1")))
    raw.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_problem(send: Any, problem: Problem, instance: str | None = None) -> None:
    await send_response(send, problem.status, problem.body(instance), "application/problem+json",
                        tuple(problem.headers.items()))


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class RestApp:
    def __init__(self, routes: RouteTable[RestEndpoint], executor: Executor, max_body: int):
        self.routes = routes
        self.executor = executor
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        method: str = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").partition("?")[0]
        try:
            reply = await self._handle(scope, receive, method, path)
        except Problem as problem:
            await send_problem(send, problem, scope["path"])
            return
        except ConnectionAbortedError:
            return
        except Exception:
            log.exception("internal error on %s %s", method, scope["path"])
            await send_problem(send, Problem(500, "internal error in the gateway; see its log"), scope["path"])
            return
        await send_response(send, reply.status, reply.body, reply.content_type, reply.headers, head=method == "HEAD")

    async def _handle(self, scope: Scope, receive: Any, method: str, path: str) -> Reply:
        matched = self.routes.match(method, path)
        if matched is None:
            raise Problem(404, f"no operation is exposed at {scope['path']}")
        if isinstance(matched, MethodNotAllowed):
            raise Problem(405, f"{method} is not allowed on {scope['path']}; allowed: {', '.join(matched.allowed)}",
                          headers={"Allow": ", ".join(matched.allowed)})
        endpoint = matched.target
        headers = scope["headers"]
        body = await read_body(receive, self.max_body, _content_length(headers))
        inputs = endpoint.inputs(matched.params, scope.get("query_string", b""), headers, body)
        return await self.executor.execute(endpoint.plan, inputs)
