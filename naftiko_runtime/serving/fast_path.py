"""The REST fast path: a compiled REST route answered from the HTTP guard's parser callbacks, with
no ASGI scope, cycle or app stack (issue 22 item 2, D160).

On a pass-through, the ASGI path pays for things a plain REST call does not use: a scope dict per
request, uvicorn's request-response cycle with its event, the origin guard's and the port's layers,
two ASGI messages and their checks. ``FastLane`` takes a request only when none of that can change
its answer, and hands everything else to the ASGI path untouched:

- the port has nothing between the origin guard and the port's handlers but its rate limit, whose
  limiter the lane asks itself (D162: the same verdict and refusal as ``RateLimitLayer``'s), and
  uvicorn would not limit concurrency or prefix paths for it (``limit_concurrency``,
  ``root_path``); telemetry's layer around the port does nothing the lane does not: metrics and
  spans are the executor's on either path (D161), and a request that brings a caller's trace
  context is answered in it, by the same ``Telemetry.within`` (D163); an access log, when
  uvicorn's logger has a handler, gets uvicorn's line;
- the request has no body and no ``Content-Length``, ``Transfer-Encoding``, ``Expect`` or
  ``Origin`` (bodies, 100-continue and CORS stay on the ASGI path), and its ``Host`` is one the
  origin guard allows (a refusal is the guard's to write);
- its path belongs to no prefix-owned handler (MCP, control, metadata), the port's REST handler is
  a ``RestApp`` itself (an authentication gate wraps it otherwise), and a declared operation with a
  whole (not streamed) answer matches it (``RestApp.fast_target``: a 404, 405, forward or page goes
  the ASGI way);
- no answer is still being written on the connection (a pipelined request waits in uvicorn's
  pipeline, so answers keep their order).

The answer is computed by the same code as the ASGI path's (``RestEndpoint.inputs``, the
``Executor``, ``rest.app.failed``) and encoded by the same functions (``asgi.response_headers``,
``answer_cycle.encode_head``); tests/integration/test_fast_path.py holds the two paths' bytes equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from ..adapters.asgi import response_headers
from ..adapters.rest.app import RestApp, failed
from ..adapters.rest.endpoints import RestEndpoint
from ..core.execution import Reply
from .answer_cycle import COALESCED, encode_head
from .http_guard import GuardedHttpToolsProtocol
from .origins import OriginGuard
from .ports import PortApp
from .rate_limits import Headers, RateLimiter, RateLimitLayer

if TYPE_CHECKING:  # imported only with telemetry on: OpenTelemetry stays out of a plain start-up
    from .telemetry import Telemetry

NOT_FAST = frozenset({b"content-length", b"transfer-encoding", b"expect", b"origin"})
"""Request headers that send a request the ASGI way: a body, 100-continue, CORS and origin checks."""


class _NoEvent:
    """uvicorn's protocol sets its cycle's event when body bytes or a disconnect arrive; a fast
    answer reads no body and checks ``disconnected`` before it writes, so nothing waits on it."""

    @staticmethod
    def set() -> None:
        return None


NO_EVENT = _NoEvent()


class FastCycle:
    """What uvicorn's protocol and the guard read of a request's cycle (``response_complete``,
    ``keep_alive``, ``disconnected``, ``more_body``, ``message_event``) for a fast answer, and the
    request's own head (``headers``, ``http_version``): the protocol's are the next request's once
    a pipelined one behind it has been parsed, before this answer's task runs."""

    __slots__ = ("headers", "http_version", "keep_alive", "disconnected", "more_body", "response_complete")
    message_event = NO_EVENT

    def __init__(self, headers: list[tuple[bytes, bytes]], http_version: str, keep_alive: bool) -> None:
        self.headers = headers
        self.http_version = http_version
        self.keep_alive = keep_alive
        self.disconnected = False
        self.more_body = True
        self.response_complete = False


class FastLane:
    """The fast path of one port (module doc)."""

    def __init__(
        self,
        guard: OriginGuard,
        port: PortApp,
        limiter: RateLimiter | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.guard = guard
        self.port = port
        self.limiter = limiter
        """The port's rate limiter, asked for every request the lane takes (D162)."""
        self.telemetry = telemetry
        context_headers = telemetry.context_headers if telemetry is not None else frozenset()
        self.watched = NOT_FAST | context_headers
        """The request headers ``take`` looks twice at: ``NOT_FAST``, and those of a caller's trace
        context when telemetry relays one, whose request is answered in that context (D163)."""
        self.taken = 0
        """Requests answered here: the tests' proof that plain calls do go fast."""

    @classmethod
    def of(cls, app: Any, telemetry: Telemetry | None = None) -> FastLane | None:
        """The lane for the app a port serves, or ``None`` when a layer the lane does not know sits
        between its origin guard and its handlers. A rate limit it knows: its limiter is asked by the
        lane as by the layer (D162). ``app`` is the port's app before ``telemetry.continuing`` wraps
        it: that layer only runs a request that brings a trace context in it, as the lane does (D163)."""
        if not isinstance(app, OriginGuard):
            return None
        layer = app.app
        limiter = layer.limiter if isinstance(layer, RateLimitLayer) else None
        inner = layer.app if isinstance(layer, RateLimitLayer) else layer
        if isinstance(inner, PortApp):
            return cls(app, inner, limiter, telemetry)
        return None

    def take(self, protocol: GuardedHttpToolsProtocol, method: str, raw_path: bytes, query: bytes) -> bool:
        """Answer the request whose head ``protocol`` has just read, if it may go fast."""
        host = None
        traced = False
        watched = self.watched
        for name, value in protocol.headers:
            if name == b"host":
                host = value
            elif name in watched:
                if name in NOT_FAST:
                    return False
                traced = True
        if host is not None and not self.guard.allows_host(host):
            return False
        if not raw_path.isascii() or b"%" in raw_path:
            return False  # the ASGI path refuses or decodes it (prefixes, problems); rare on an API call
        path = raw_path.decode("ascii")
        routing = self.port.routing
        if routing.owned and routing.route(path) is not routing.default:
            return False
        app = routing.default
        if type(app) is not RestApp:
            return False
        target = app.fast_target(method, path)
        if target is None:
            return False
        parser = protocol.parser
        version = parser.get_http_version()
        cycle = FastCycle(protocol.headers, version, version != "1.0" and parser.should_keep_alive())
        protocol.cycle = cycle  # type: ignore[assignment]
        answer = (protocol, cycle, app, *target, method, path, query, self.limiter)
        telemetry = self.telemetry
        if traced and telemetry is not None and (carrier := telemetry.caller_context(cycle.headers)):
            # Answered in the caller's trace context, handed over as continuing does (D163).
            task = protocol.loop.create_task(telemetry.within(carrier, _answer, *answer))
        else:
            task = protocol.loop.create_task(_answer(*answer))
        task.add_done_callback(protocol.tasks.discard)
        protocol.tasks.add(task)
        self.taken += 1
        return True


async def _answer(
    protocol: GuardedHttpToolsProtocol,
    cycle: FastCycle,
    app: RestApp,
    endpoint: RestEndpoint,
    params: dict[str, str],
    method: str,
    shown: str,
    query: bytes,
    limiter: RateLimiter | None,
) -> None:
    """One fast answer: the ASGI path's rate limit, ``RestApp`` call and ``AnswerCycle`` writes,
    in one frame. A call the limiter refuses gets the layer's problem; one it admits gets its
    ``RateLimit-*`` headers after the answer's own, where the layer adds them."""
    reply: Reply | None
    limits: Headers = ()
    try:
        if limiter is not None:
            allowed, limits = await limiter.verdict(cycle.headers, protocol.client)
            if not allowed:
                refusal = limiter.refusal(limits)
                limits = ()  # the refusal carries them itself, as the layer's does
                raise refusal
        inputs = endpoint.inputs(params, query, cycle.headers, b"")
        reply = await app.executor.execute(endpoint.plan, inputs, keep_value=False)
    except Exception as exc:
        reply = failed(exc, method, shown)
    if reply is None:
        return
    if protocol.flow.write_paused and not cycle.disconnected:
        await protocol.flow.drain()
    if cycle.disconnected:
        return
    headers = protocol.server_state.default_headers + response_headers(reply.body, reply.content_type, reply.headers)
    headers.extend(limits)
    transport = protocol.transport
    try:
        head, keep_alive, _, _ = encode_head(reply.status, headers, cycle.keep_alive, method)
    except RuntimeError as exc:
        protocol.logger.error("Exception in ASGI application\n", exc_info=exc)
        transport.close()
        return
    if protocol.access_log:
        _log_access(protocol, cycle, method, shown, query, reply.status)
    body = b"" if method == "HEAD" else reply.body
    if len(body) <= COALESCED:
        transport.write(head + body)
    else:
        transport.write(head)
        transport.write(body)
    cycle.response_complete = True
    if not keep_alive:
        transport.close()
    protocol.on_response_complete()


def _log_access(
    protocol: GuardedHttpToolsProtocol, cycle: FastCycle, method: str, path: str, query: bytes, status: int
) -> None:
    """uvicorn's access line, from what a scope would have held."""
    scope: Any = {"client": protocol.client, "raw_path": path.encode(), "path": path, "query_string": query}
    protocol.access_logger.info(
        '%s - "%s %s HTTP/%s" %d',
        get_client_addr(scope),
        method,
        get_path_with_query_string(scope),
        cycle.http_version,
        status,
    )
