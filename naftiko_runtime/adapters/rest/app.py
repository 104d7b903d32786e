"""The REST adapter: an ASGI app over one port's route table, thin over the execution core.

Request -> route (D32a) -> inputs (D27) -> ``Executor.execute`` -> response (D50-D53). It speaks
raw ASGI rather than building Starlette ``Request`` objects: every SDK call pays this path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.types import Receive, Scope, Send

from ...core.execution import Executor, Reply
from ...core.problems import Problem
from ..asgi import content_length, read_body, send_response
from .docs import Page
from .endpoints import RestEndpoint
from .forward import ForwardRoute, forward
from .routing import MethodNotAllowed, RouteTable

log = logging.getLogger("naftiko.rest")


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            media = value.partition(b";")[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


def failed(exc: Exception, method: str, shown_path: str) -> Reply | None:
    """The answer to a request whose handling raised ``exc``: its problem document, a 500 for the
    unexpected (logged), nothing for a caller gone; shared by the ASGI and fast paths (D160)."""
    if isinstance(exc, Problem):
        return Reply(exc.status, exc.body(shown_path), "application/problem+json", tuple(exc.headers.items()), None)
    if isinstance(exc, ConnectionAbortedError):
        return None
    log.exception("internal error on %s %s", method, shown_path)
    return failed(Problem(500, "internal error in the gateway; see its log"), method, shown_path)


class RestApp:
    def __init__(
        self,
        routes: RouteTable[RestEndpoint],
        executor: Executor,
        max_body: int,
        forwards: tuple[ForwardRoute, ...] = (),
        pages: Mapping[str, Page] | None = None,
    ):
        self.routes = routes
        self.executor = executor
        self.max_body = max_body
        self.forwards = forwards
        """Longest prefix first; consulted only when no operation takes the request (D82)."""
        self.pages = pages or {}
        """Built-in pages (``/openapi.json``, ``/docs``), answered where no declared route matches."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").partition("?")[0]
        try:
            reply = await self._handle(scope, receive, method, path)
        except Exception as exc:
            failure = failed(exc, method, scope["path"])
            if failure is not None:
                await send_response(send, failure.status, failure.body, failure.content_type, failure.headers)
            return
        if reply.stream is not None:
            await self._send_stream(send, reply, head=method == "HEAD")
            return
        await send_response(send, reply.status, reply.body, reply.content_type, reply.headers, head=method == "HEAD")

    def fast_target(self, method: str, path: str) -> tuple[RestEndpoint, dict[str, str]] | None:
        """The operation that answers ``method`` on the raw ``path`` with a whole (not streamed)
        body, and its path parameters; ``None`` for anything else (a 404, a 405, a forward, a
        page, a binary answer), which the ASGI path answers (D160)."""
        matched = self.routes.match(method, path)
        if matched is None or isinstance(matched, MethodNotAllowed) or matched.target.streams:
            return None
        return matched.target, matched.params

    @staticmethod
    async def _send_stream(send: Send, reply: Reply, *, head: bool) -> None:
        """A binary answer, passed on chunk by chunk as the upstream sends it (never held whole).
        Once the head is sent a failure can no longer become a problem document: the response is
        cut short instead (no final empty chunk), which a client sees as an incomplete body."""
        assert reply.stream is not None
        headers = [(b"content-type", (reply.content_type or "application/octet-stream").encode("latin-1"))]
        headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers)
        try:
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            if not head:
                async for chunk in reply.stream:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except Problem as problem:
            log.warning("binary answer cut short: %s", problem.detail)
            raise ConnectionAbortedError(problem.detail) from problem
        finally:
            await reply.stream.aclose()

    async def _handle(self, scope: Scope, receive: Receive, method: str, path: str) -> Reply:
        matched = self.routes.match(method, path)
        if (matched is None or isinstance(matched, MethodNotAllowed)) and self.forwards:
            for route in self.forwards:
                rest = route.rest(path)
                if rest is not None:
                    headers = scope["headers"]
                    body = await read_body(receive, self.max_body, content_length(headers))
                    query = scope.get("query_string", b"")
                    return await forward(route, rest, method, query, headers, body, self.executor)
        if matched is None:
            page = self.pages.get(path) if method in ("GET", "HEAD") else None
            if page is not None:
                return Reply(200, page.body(), page.content_type, (), None)
            raise Problem(404, f"no operation is exposed at {scope['path']}")
        if isinstance(matched, MethodNotAllowed):
            raise Problem(
                405,
                f"{method} is not allowed on {scope['path']}; allowed: {', '.join(matched.allowed)}",
                headers={"Allow": ", ".join(matched.allowed)},
            )
        endpoint = matched.target
        headers = scope["headers"]
        declared = content_length(headers)
        # A request that declares no body is not waited for: no coroutine to make and await (D159).
        body = await read_body(receive, self.max_body, declared) if declared != 0 else b""
        if body and not _is_json(headers):
            # A page on any origin may send a text/plain or form body without a preflight: only a
            # JSON content type proves the caller is not a browser's "simple" request (issue 10).
            raise Problem(
                415,
                "a request body must be JSON, sent with Content-Type: application/json",
                headers={"Accept": "application/json"},
            )
        inputs = endpoint.inputs(matched.params, scope.get("query_string", b""), headers, body)
        return await self.executor.execute(endpoint.plan, inputs, keep_value=False)
