"""Sending upstream requests: one pooled client per consumed namespace, bounded in time and size
(CONTRACT D53, D54). Every way an exchange can fail becomes a ``Problem`` (502, 503 or 504), never a
500. The namespace's resilience policies (``resilience.Guard``) apply here and nowhere else, and so
does a namespace's fetched bearer token (``tokens``): every way a call reaches the upstream (an
operation, a binary stream, a REST forward) passes here.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import replace
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Protocol, TypeVar

import httpx

from ..records import dataclass
from ..settings import CachePolicy, Settings, Timeouts
from .cache import Served, SharedCache
from .client_tls import client_tls_context, shared_tls_context, tls_failure
from .credentials import TokenGrant
from .deadlines import Deadline, DeadlineWatch
from .mcp_upstream import McpSessions
from .plans import UpstreamCall
from .pooled import Opened, OpenedStream, PooledTransport
from .problems import Problem
from .requests import Outgoing
from .resilience import Breaker, Guard, Transient, may_retry
from .sharing import shared_state
from .state import StateStore
from .tokens import Token, TokenCache


class HeaderLookup(Protocol):
    """Case-insensitive header access: ``httpx.Headers`` or a pooled transport's (``pooled.AnswerHeaders``)."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: HeaderLookup
    items: tuple[tuple[str, str], ...]
    """Every header line as sent, names in the upstream's case."""
    body: bytes


@dataclass(frozen=True, slots=True)
class UpstreamStream:
    """An answer whose 2xx body is still arriving: ``chunks`` yields it (and closes the exchange
    when done or closed); a non-2xx answer has its whole ``body`` and no ``chunks``."""

    status: int
    headers: HeaderLookup
    items: tuple[tuple[str, str], ...]
    body: bytes
    chunks: AsyncGenerator[bytes, None] | None


class _Status(Protocol):
    @property
    def status(self) -> int: ...


Answered = TypeVar("Answered", bound=_Status)


class _Answer(Protocol):
    """An answer whose body is still to be read: a pooled transport's ``Opened`` or ``_HttpxAnswer``."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> HeaderLookup: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def read(self, limit: int) -> bytes | None:
        """The whole body, or ``None`` past ``limit`` bytes."""

    async def aclose(self) -> None: ...

    def header_items(self) -> tuple[tuple[str, str], ...]: ...


class _HttpxAnswer:
    """An ``httpx.Response`` (custom transport, digest auth or an encoded body) as an ``_Answer``;
    its ``aiter_bytes`` undoes any Content-Encoding, so the body limit counts decoded bytes."""

    def __init__(self, response: httpx.Response):
        self.response = response
        self.status = response.status_code
        self.headers: HeaderLookup = response.headers

    def chunks(self) -> AsyncIterator[bytes]:
        return self.response.aiter_bytes()

    async def read(self, limit: int) -> bytes | None:
        chunks, size = [], 0
        async for chunk in self.response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        await self.response.aclose()

    def header_items(self) -> tuple[tuple[str, str], ...]:
        return tuple(self.response.headers.multi_items())


def _no_cookies() -> CookieJar:
    """Upstream cookies must never leak from one caller to the next: the jar accepts nothing."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def _client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    """A client over ``transport`` that follows no redirect (a credential must not follow one),
    keeps no cookie and reads no proxy or certificate setting from the environment."""
    return httpx.AsyncClient(transport=transport, follow_redirects=False, cookies=_no_cookies(), trust_env=False)


def network_transport(settings: Settings, tls: ssl.SSLContext | None = None) -> httpx.AsyncBaseTransport:
    """The pooled transport of one namespace: the lean HTTP/1.1 client (``http1_transport``), over
    aiohttp (``aiohttp_transport``; both send URLs byte-exact), or httpx's own. Only the chosen one's
    module is imported (aiohttp costs ~0.15 s). ``tls``: the namespace's own context (a client
    certificate, a private CA; ``client_tls``), else the shared verifying one: the default transport
    asks for that one at its first TLS connection, so a gateway whose upstreams are all plain HTTP
    never loads the CA bundle."""
    size = settings.upstream_pool_size
    if settings.transport not in ("httpx", "aiohttp"):
        from .http1_transport import Http1Transport

        return Http1Transport(tls, size)
    context = tls or shared_tls_context()
    if settings.transport == "httpx":
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        return httpx.AsyncHTTPTransport(verify=context, limits=limits)
    from .aiohttp_transport import AiohttpTransport

    return AiohttpTransport(context, size)


def _is_timeout(exc: BaseException) -> bool:
    """A transport may map some connection errors to ``ConnectTimeout``: trust the root cause."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return True
        if cause.__cause__ is None:
            return isinstance(cause, httpx.TimeoutException)
        cause = cause.__cause__
    return False


class _Where:
    """Names the exchange in an error message; built into text only when an error is raised."""

    def __init__(self, call: UpstreamCall, request: Outgoing):
        self.call, self.request = call, request

    def __str__(self) -> str:
        return f"{self.call.label} ({self.call.method} {httpx.URL(self.request.url).path})"


class UpstreamClients:
    """One pooled ``httpx.AsyncClient`` per consumed namespace, made at its first call (D185)."""

    def __init__(
        self,
        settings: Settings,
        transport_factory: Callable[[Settings], httpx.AsyncBaseTransport] | None = None,
        on_secret: Callable[[str], None] | None = None,
        store: StateStore | None = None,
    ):
        """``transport_factory`` replaces the pooled network transport of every namespace: an
        embedding program (or a test) can route upstream calls through any httpx transport,
        ``httpx.ASGITransport`` over an in-process app included. ``on_secret`` is told every secret
        learnt while serving (a fetched token), so that logs can scrub it (D55). ``store``: the
        fleet's shared state (issue 22), which breakers and token caches then share through."""
        self.settings = settings
        self._transport_factory = transport_factory or network_transport
        self._own_transports = transport_factory is None
        self._on_secret = on_secret or (lambda secret: None)
        self._tokens: dict[TokenGrant, TokenCache] = {}
        shared = shared_state(store) if store is not None else None
        self.shared_breakers = shared[0] if shared else None
        self._shared_tokens = shared[1] if shared else None
        self._token_client: httpx.AsyncClient | None = None
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._transports: dict[str, httpx.AsyncBaseTransport] = {}
        self._guards: dict[str, Guard] = {}
        self._plain: dict[str, PooledTransport] = {}
        self._opened: set[str] = set()
        """The namespaces whose policies are set up; each one's client is in ``_clients`` once called."""
        self._timeouts: dict[tuple[str, str], tuple[Timeouts, dict[str, float | None]]] = {}
        self.mcp = McpSessions(settings.total_timeout)
        """The clients of consumed MCP servers (D113), connected on first use."""
        self.cache = SharedCache(settings.cache_entries, settings.cache_bytes)
        self._cache_rules: dict[tuple[str, str], CachePolicy] = {}
        """The shared answer cache of the namespaces whose policy turns it on (D123)."""
        self._deadlines: DeadlineWatch | None = None
        """The running exchanges' total deadlines, on the loop serving them (``_deadlines_on``)."""

    def _deadlines_on(self, loop: asyncio.AbstractEventLoop) -> DeadlineWatch:
        """The deadline watch of ``loop``: one timer for every exchange's total timeout (D166)."""
        watch = self._deadlines
        if watch is None or watch.loop is not loop:
            watch = self._deadlines = DeadlineWatch(loop)
        return watch

    def _timeouts_of(self, call: UpstreamCall) -> tuple[Timeouts, dict[str, float | None]]:
        """The call's timeouts and their httpx extension, worked out once per operation."""
        key = (call.namespace, call.operation)
        found = self._timeouts.get(key)
        if found is None:
            timeouts = self.settings.timeouts_for(*key)
            extension = {"connect": timeouts.connect, "read": timeouts.read, "write": timeouts.read}
            extension["pool"] = timeouts.connect  # a call waits for a pooled connection as for a new one
            found = self._timeouts[key] = (timeouts, extension)
        return found

    def open(self, namespaces: set[str]) -> None:
        """Each new namespace's policies now (its guard: breaker, bulkhead, rate limit), its pooled
        client at its first call (``_connect``), unless it has a TLS context of its own, read now
        so that a bad certificate fails the start: 1,000 files' clients made at start were ~3% of
        a warm start's CPU (D185)."""
        for namespace in sorted(namespaces - self._opened):
            self._opened.add(namespace)
            policy = self.settings.policy_for(namespace)
            if policy.guarded:
                guard = self._guards[namespace] = Guard(namespace, policy)
                if self.shared_breakers is not None and guard.breaker is not None:
                    self.shared_breakers.follow(guard.breaker)
            if policy.tls is not None and self._own_transports:
                self._client_of(namespace, network_transport(self.settings, client_tls_context(policy.tls)))

    def _connect(self, namespace: str) -> None:
        """The namespace's pooled client, at its first call (opened first if it never was)."""
        self.open({namespace})
        if namespace not in self._clients:
            self._client_of(namespace, self._transport_factory(self.settings))

    def _client_of(self, namespace: str, transport: httpx.AsyncBaseTransport) -> None:
        self._transports[namespace] = transport
        if isinstance(transport, PooledTransport):  # takes plain values (``_open``)
            self._plain[namespace] = transport
        self._clients[namespace] = _client(transport)

    def breakers(self) -> dict[str, Breaker]:
        """The circuit breaker of each opened namespace that has one, by namespace."""
        return {namespace: guard.breaker for namespace, guard in self._guards.items() if guard.breaker is not None}

    async def aclose(self) -> None:
        clients, self._clients, self._transports, self._plain = self._clients, {}, {}, {}
        self._opened = set()  # opened again, guards anew, as when every client was made at start
        if self._token_client is not None:
            clients["(token endpoints)"], self._token_client, self._tokens = self._token_client, None, {}
        for client in clients.values():
            await client.aclose()
        await self.mcp.aclose()

    def tokens(self, grant: TokenGrant) -> TokenCache:
        """The token cache of ``grant``; token endpoints share one client, opened when first needed."""
        cache = self._tokens.get(grant)
        if cache is None:
            if self._token_client is None:
                self._token_client = _client(self._transport_factory(self.settings))
            timeouts = self.settings.timeouts_for(grant.namespace, "")
            cache = TokenCache(grant, self._token_client, timeouts, self._on_secret, self._shared_tokens)
            self._tokens[grant] = cache
        return cache

    def secret_forms(self, call: UpstreamCall) -> tuple[bytes, ...]:
        """The call's secrets as they may appear in a reply: its plan's, and the tokens recently
        fetched for it (D56)."""
        grant = call.credentials.grant
        cache = self._tokens.get(grant) if grant is not None else None
        if cache is None or not cache.forms:
            return call.secret_forms
        return cache.forms_with(call.secret_forms)

    async def _authorized(
        self, call: UpstreamCall, request: Outgoing, exchange: Callable[[Outgoing], Awaitable[Answered]]
    ) -> Answered:
        """``exchange`` with the namespace's fetched token, applied last (D33); on a 401 the token
        is refreshed and the request sent once more; a second 401 passes back as any answer. This
        sits outside the retry policy: a 401 is not a transient fault, and each send retries alone."""
        grant = call.credentials.grant
        if grant is None:
            return await exchange(request)
        tokens = self.tokens(grant)
        token = await tokens.get()
        answer = await exchange(_bearer(request, token))
        if answer.status != 401:
            return answer
        tokens.invalidate(token)
        return await exchange(_bearer(request, await tokens.get()))

    async def _exchange_httpx(
        self, call: UpstreamCall, request: Outgoing, extension: dict[str, float | None]
    ) -> _Answer:
        """Send one request as an ``httpx.Request``, streaming the answer: where no pooled transport
        takes plain values (``_open``). A challenge-response scheme (digest) needs the client's
        auth flow; any other transport gets the request straight, without the client's auth,
        redirect and cookie machinery, which does nothing here (no redirects followed, no cookies
        kept) and measured ~20% of a pass-through.
        """
        namespace = call.namespace
        built = request.to_httpx()
        built.extensions["timeout"] = extension
        if call.credentials.challenge is not None:
            response = await self._clients[namespace].send(built, stream=True, auth=call.credentials.httpx_auth())
        else:
            response = await self._transports[namespace].handle_async_request(built)
            response.request = built
        return _HttpxAnswer(response)

    def _pool_exhausted(self, call: UpstreamCall, where: _Where, wait: float | None) -> Problem:
        """Every pooled connection busy is not a network fault: say so (issue 10, item 8)."""
        return Problem(
            503,
            f"upstream {where}: all {self.settings.upstream_pool_size} pooled connections to "
            f"{call.namespace} are busy and none came free within {wait or 0:g} s (pool exhausted)",
            headers={"Retry-After": "1"},
        )

    def _mapped_errors(self, call: UpstreamCall, where: _Where, timeouts: Timeouts) -> _MappedErrors:
        """Every way an exchange can fail, as the Problem a caller is given (D53, D54); a fault
        worth another try is ``Transient``, so that a retry policy can tell."""
        return _MappedErrors(self, call, where, timeouts)

    async def _open(
        self, call: UpstreamCall, request: Outgoing, limit: int, extension: dict[str, float | None]
    ) -> _Answer:
        """The answer's head, checked: a final status, and no declared length beyond ``limit``.
        ``extension``: the call's timeouts (``_timeouts_of``)."""
        namespace = call.namespace
        if namespace not in self._clients:
            self._connect(namespace)
        plain = self._plain.get(namespace)
        if plain is not None and call.credentials.challenge is None:
            # Over a pooled transport the request goes as plain values (no ``httpx.Request`` or
            # ``httpx.Response``; ~25% of a pass-through), awaited here: no frame between (D159).
            opened = await plain.open(
                request.method, request.url, request.headers, request.content, extension, None, request.drawn
            )
            answer = _answer_of(opened)
        else:
            answer = await self._exchange_httpx(call, request, extension)
        if not 200 <= answer.status <= 599:
            await answer.aclose()
            # 101 would turn the caller's connection over to the upstream; 600+ has no status line a
            # server can send (D53).
            where = _Where(call, request)
            raise Problem(502, f"upstream {where} answered status {answer.status}, which is not a final HTTP status")
        declared = answer.headers.get("content-length") or ""
        if declared.isdigit() and int(declared) > limit:
            await answer.aclose()
            raise Problem(
                502, f"upstream {_Where(call, request)} answered a {declared}-byte body; the limit is {limit}"
            )
        return answer

    def send(self, call: UpstreamCall, request: Outgoing) -> Awaitable[UpstreamResponse]:
        """One exchange (or several, under the namespace's policies), with its fetched token if any,
        through the shared cache when the namespace's policy turns it on (keyed on the credentials
        actually sent, the fetched token included). The exchange's own coroutine when nothing is
        added (D159)."""
        cached = self._cache_rule(call)
        caching = cached.enabled and call.credentials.challenge is None
        if call.credentials.grant is None:
            return self._cached(call, cached, request) if caching else self._send(call, request)
        send = functools.partial(self._cached, call, cached) if caching else functools.partial(self._send, call)
        return self._authorized(call, request, send)

    def _cache_rule(self, call: UpstreamCall) -> CachePolicy:
        """The operation's ``x-naftiko-cache`` over its namespace's policy, worked out once: its
        ``enabled`` and ``ttl`` win, the ``vary`` names add up (D123)."""
        key = (call.namespace, call.operation)
        rule = self._cache_rules.get(key)
        if rule is None:
            rule = namespace = self.settings.policy_for(call.namespace).cache
            if call.cache is not None:
                own = call.cache
                vary = tuple(dict.fromkeys((*namespace.vary, *own.vary)))
                rule = CachePolicy(own.enabled, own.ttl if own.ttl is not None else namespace.ttl, vary)
            self._cache_rules[key] = rule
        return rule

    async def _cached(self, call: UpstreamCall, policy: CachePolicy, request: Outgoing) -> UpstreamResponse:
        fetch = functools.partial(self._send, call)
        request = request.with_drawn_headers()  # the cache reads and adds headers
        answer = await self.cache.send(call.namespace, request, policy, call.credentials.header_names, fetch)
        if isinstance(answer, Served):
            return UpstreamResponse(answer.status, answer.headers, answer.items, answer.body)
        return answer

    def _send(self, call: UpstreamCall, request: Outgoing) -> Awaitable[UpstreamResponse]:
        """One exchange, or several under the namespace's policies, all within the total timeout."""
        timeouts, extension = self._timeouts_of(call)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeouts.total or 0.0)
        watch = self._deadlines_on(loop)
        guard = self._guards.get(call.namespace)
        if guard is None:
            return self._send_once(call, request, timeouts, extension, watch, deadline)
        attempt = functools.partial(self._send_once, call, request, timeouts, extension, watch, deadline)
        retryable = may_retry(call.method, request.headers)
        return guard.run(attempt, retryable, deadline, call.operation)

    async def _send_once(
        self,
        call: UpstreamCall,
        request: Outgoing,
        timeouts: Timeouts,
        extension: dict[str, float | None],
        watch: DeadlineWatch,
        deadline: float,
    ) -> UpstreamResponse:
        limit = self.settings.max_upstream_body
        try:  # ``_mapped_errors``, without its objects and calls on every exchange (D159)
            with Deadline(watch, deadline):
                answer = await self._open(call, request, limit, extension)
                try:
                    body = await answer.read(limit)
                finally:
                    await answer.aclose()
        except BaseException as exc:
            _raise_mapped(self, call, _Where(call, request), timeouts, exc)
            raise
        if body is None:
            raise _too_large(_Where(call, request), limit)
        return UpstreamResponse(answer.status, answer.headers, answer.header_items(), body)

    async def stream(self, call: UpstreamCall, request: Outgoing, limit: int) -> UpstreamStream:
        """Send a request whose 2xx answer is passed on as it arrives (``outputRawFormat: binary``):
        at most ``limit`` bytes, all within the total timeout. A non-2xx answer is read whole, within
        the usual limit, so that it passes back like any other (D51). Retries, breaker and bulkhead
        do not apply: a stream cannot be replayed, nor its turn held past the reply. A 401 is read
        whole too, so a refreshed token can still send it again."""
        return await self._authorized(call, request, functools.partial(self._stream, call, limit=limit))

    async def _stream(self, call: UpstreamCall, request: Outgoing, limit: int) -> UpstreamStream:
        where = _Where(call, request)
        timeouts, extension = self._timeouts_of(call)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeouts.total or 0.0)
        with self._mapped_errors(call, where, timeouts), Deadline(self._deadlines_on(loop), deadline):
            answer = await self._open(call, request, limit, extension)
            items = answer.header_items()
            if not 200 <= answer.status < 300:
                try:
                    body = b"".join([c async for c in _bounded(answer, where, self.settings.max_upstream_body)])
                finally:
                    await answer.aclose()
                return UpstreamStream(answer.status, answer.headers, items, body, None)
        chunks = self._chunks(call, answer, where, limit, timeouts, deadline)
        return UpstreamStream(answer.status, answer.headers, items, b"", chunks)

    async def _chunks(
        self, call: UpstreamCall, answer: _Answer, where: _Where, limit: int, timeouts: Timeouts, deadline: float
    ) -> AsyncGenerator[bytes, None]:
        watch = self._deadlines_on(asyncio.get_running_loop())
        try:
            with self._mapped_errors(call, where, timeouts):
                chunks = _bounded(answer, where, limit)
                while True:
                    with Deadline(watch, deadline):
                        chunk = await anext(chunks, None)
                    if chunk is None:
                        return
                    yield chunk
        finally:
            await answer.aclose()


def _bearer(request: Outgoing, token: Token) -> Outgoing:
    """``request`` with the fetched token as its only ``Authorization`` (D33: whatever a caller sent),
    after its drawn trace context, as before D186."""
    given = request.with_drawn_headers().headers
    headers = {name: value for name, value in given.items() if name.lower() != "authorization"}
    headers["Authorization"] = token.header
    return replace(request, headers=headers, drawn="")


async def _bounded(answer: _Answer, where: _Where, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives, refused past ``limit`` bytes whatever its declared length."""
    size = 0
    async for chunk in answer.chunks():
        size += len(chunk)
        if size > limit:
            raise _too_large(where, limit)
        yield chunk


def _too_large(where: _Where, limit: int) -> Problem:
    return Problem(502, f"upstream {where} answered more than {limit} bytes")


class _MappedErrors:
    """``UpstreamClients._mapped_errors``: a plain context manager, entered once per exchange (a
    generator-based one cost ~2% of a pass-through)."""

    __slots__ = ("call", "clients", "timeouts", "where")

    def __init__(self, clients: UpstreamClients, call: UpstreamCall, where: _Where, timeouts: Timeouts):
        self.clients, self.call, self.where, self.timeouts = clients, call, where, timeouts

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, traceback: object) -> None:
        if exc is not None:
            _raise_mapped(self.clients, self.call, self.where, self.timeouts, exc)


def _raise_mapped(
    clients: UpstreamClients, call: UpstreamCall, where: _Where, timeouts: Timeouts, exc: BaseException
) -> None:
    """Raise the Problem ``exc`` is to a caller, from it; return when it is none of an exchange's faults."""
    if isinstance(exc, TimeoutError):
        raise Problem(504, f"upstream {where} did not answer within {timeouts.total or 0:g} s") from exc
    if isinstance(exc, httpx.HTTPError | ssl.SSLError) and (failed := tls_failure(exc)) is not None:
        raise Problem(502, f"upstream {where}: the TLS handshake failed ({failed})") from exc
    if isinstance(exc, httpx.HTTPError):
        if isinstance(exc, httpx.PoolTimeout):
            raise clients._pool_exhausted(call, where, timeouts.connect) from exc
        if _is_timeout(exc):
            raise Transient(504, f"upstream {where} timed out ({type(exc).__name__})") from exc
        raise Transient(502, f"upstream {where} could not be reached or broke off: {type(exc).__name__}") from exc
    if isinstance(exc, OSError):  # a socket error a transport let through unmapped: still the upstream's fault
        raise Transient(502, f"upstream {where} broke off: {type(exc).__name__}") from exc


def _answer_of(opened: Opened) -> _Answer:
    """A pooled transport's answer as it is (no wrapper, D166); a content-encoded one through
    httpx, which decodes it."""
    if opened.headers.get("content-encoding") is None:
        return opened
    return _HttpxAnswer(httpx.Response(opened.status, headers=opened.raw_headers, stream=OpenedStream(opened)))
