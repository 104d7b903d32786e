"""Sending upstream requests: one pooled client per consumed namespace, bounded in time and size
(CONTRACT D53, D54). Every way an exchange can fail becomes a ``Problem`` (502 or 504), never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from ..settings import Settings
from .plans import UpstreamCall
from .problems import Problem


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: httpx.Headers
    body: bytes


@dataclass(frozen=True)
class UpstreamStream:
    """An answer whose 2xx body is still arriving: ``chunks`` yields it (and closes the exchange
    when done or closed); a non-2xx answer has its whole ``body`` and no ``chunks``."""

    status: int
    headers: httpx.Headers
    body: bytes
    chunks: AsyncGenerator[bytes, None] | None


def _no_cookies() -> CookieJar:
    """Upstream cookies must never leak from one caller to the next: the jar accepts nothing."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every upstream: building one loads the CA bundle (~20 ms), which
    per namespace made a 1,000-file serve spend 70% of its start-up here."""
    return httpx.create_ssl_context()


def network_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """The pooled transport of one namespace: over aiohttp (the default; URLs sent byte-exact, see
    ``aiohttp_transport``) or httpx's own."""
    if settings.transport == "httpx":
        size = settings.upstream_pool_size
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        return httpx.AsyncHTTPTransport(verify=_tls_context(), limits=limits)
    from .aiohttp_transport import AiohttpTransport

    return AiohttpTransport(_tls_context(), settings.upstream_pool_size)


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

    def __init__(self, call: UpstreamCall, request: httpx.Request):
        self.call, self.request = call, request

    def __str__(self) -> str:
        return f"{self.call.label} ({self.call.method} {self.request.url.path})"


class UpstreamClients:
    """One pooled ``httpx.AsyncClient`` per consumed namespace, opened in the app's lifespan."""

    def __init__(
        self, settings: Settings, transport_factory: Callable[[Settings], httpx.AsyncBaseTransport] | None = None
    ):
        """``transport_factory`` replaces the pooled network transport of every namespace: an
        embedding program (or a test) can route upstream calls through any httpx transport,
        ``httpx.ASGITransport`` over an in-process app included."""
        self.settings = settings
        self._transport_factory = transport_factory or network_transport
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._transports: dict[str, httpx.AsyncBaseTransport] = {}
        self._timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        )
        self._timeout_extension = self._timeout.as_dict()

    def open(self, namespaces: set[str]) -> None:
        for namespace in sorted(namespaces - set(self._clients)):
            transport = self._transport_factory(self.settings)
            self._transports[namespace] = transport
            self._clients[namespace] = httpx.AsyncClient(
                transport=transport,
                timeout=self._timeout,
                follow_redirects=False,
                cookies=_no_cookies(),
                trust_env=False,
            )

    async def aclose(self) -> None:
        clients, self._clients, self._transports = self._clients, {}, {}
        for client in clients.values():
            await client.aclose()

    async def _exchange(self, call: UpstreamCall, request: httpx.Request) -> httpx.Response:
        """Send one request, streaming the answer.

        Digest needs the client's challenge-response flow. Every other call goes straight to the
        pooled transport: the client's auth, redirect and cookie machinery does nothing for it
        (no redirects are followed, no cookies kept) and measured ~20% of a pass-through.
        """
        namespace = call.namespace
        if namespace not in self._clients:
            self.open({namespace})
        if call.credentials.digest:
            return await self._clients[namespace].send(request, stream=True, auth=call.credentials.httpx_auth())
        request.extensions["timeout"] = self._timeout_extension
        response = await self._transports[namespace].handle_async_request(request)
        response.request = request
        return response

    def _pool_exhausted(self, call: UpstreamCall, where: _Where) -> Problem:
        """Every pooled connection busy is not a network fault: say so (issue 10, item 8)."""
        return Problem(
            503,
            f"upstream {where}: all {self.settings.upstream_pool_size} pooled connections to "
            f"{call.namespace} are busy and none came free within {self.settings.connect_timeout:g} s "
            "(pool exhausted)",
            headers={"Retry-After": "1"},
        )

    @contextlib.contextmanager
    def _mapped_errors(self, call: UpstreamCall, where: _Where) -> Iterator[None]:
        """Every way an exchange can fail, as the Problem a caller is given (D53, D54)."""
        try:
            yield
        except TimeoutError as exc:
            raise Problem(504, f"upstream {where} did not answer within {self.settings.total_timeout:g} s") from exc
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.PoolTimeout):
                raise self._pool_exhausted(call, where) from exc
            if _is_timeout(exc):
                raise Problem(504, f"upstream {where} timed out ({type(exc).__name__})") from exc
            raise Problem(502, f"upstream {where} could not be reached or broke off: {type(exc).__name__}") from exc
        except OSError as exc:  # a socket error a transport let through unmapped: still the upstream's fault
            raise Problem(502, f"upstream {where} broke off: {type(exc).__name__}") from exc

    async def _open(self, call: UpstreamCall, request: httpx.Request, where: _Where, limit: int) -> httpx.Response:
        """The answer's head, checked: a final status, and no declared length beyond ``limit``."""
        response = await self._exchange(call, request)
        if not 200 <= response.status_code <= 599:
            await response.aclose()
            # 101 would turn the caller's connection over to the upstream; 600+ has no status line a
            # server can send (D53).
            raise Problem(
                502, f"upstream {where} answered status {response.status_code}, which is not a final HTTP status"
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await response.aclose()
            raise Problem(502, f"upstream {where} answered a {declared}-byte body; the limit is {limit}")
        return response

    async def send(self, call: UpstreamCall, request: httpx.Request) -> UpstreamResponse:
        where = _Where(call, request)
        limit = self.settings.max_upstream_body
        with self._mapped_errors(call, where):
            async with asyncio.timeout(self.settings.total_timeout):
                response = await self._open(call, request, where, limit)
                try:
                    chunks = [chunk async for chunk in _bounded(response, where, limit)]
                finally:
                    await response.aclose()
        return UpstreamResponse(response.status_code, response.headers, b"".join(chunks))

    async def stream(self, call: UpstreamCall, request: httpx.Request, limit: int) -> UpstreamStream:
        """Send a request whose 2xx answer is passed on as it arrives (``outputRawFormat: binary``):
        at most ``limit`` bytes, all within the total timeout. A non-2xx answer is read whole, within
        the usual limit, so that it passes back like any other (D51)."""
        where = _Where(call, request)
        deadline = asyncio.get_running_loop().time() + self.settings.total_timeout
        with self._mapped_errors(call, where):
            async with asyncio.timeout_at(deadline):
                response = await self._open(call, request, where, limit)
                if not 200 <= response.status_code < 300:
                    try:
                        body = b"".join([c async for c in _bounded(response, where, self.settings.max_upstream_body)])
                    finally:
                        await response.aclose()
                    return UpstreamStream(response.status_code, response.headers, body, None)
        return UpstreamStream(
            response.status_code, response.headers, b"", self._chunks(call, response, where, limit, deadline)
        )

    async def _chunks(
        self, call: UpstreamCall, response: httpx.Response, where: _Where, limit: int, deadline: float
    ) -> AsyncGenerator[bytes, None]:
        try:
            with self._mapped_errors(call, where):
                chunks = _bounded(response, where, limit)
                while True:
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks, None)
                    if chunk is None:
                        return
                    yield chunk
        finally:
            await response.aclose()


async def _bounded(response: httpx.Response, where: _Where, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives, refused past ``limit`` bytes whatever its declared length."""
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise Problem(502, f"upstream {where} answered more than {limit} bytes")
        yield chunk
