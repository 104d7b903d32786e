"""Exposed rate limits per caller identity (issue 15): 429 beyond, ``RateLimit-*`` headers on every
answer (draft-ietf-httpapi-ratelimit-headers: ``RateLimit-Limit``, ``-Remaining``, ``-Reset``).

Each identity has a token bucket: ``requests`` per ``period`` seconds, holding at most ``burst``
tokens, so over a span T a caller gets at most ``burst + requests * T / period`` calls. A port's
limiter decides; two callers ask it, with one request's headers and client address:

- ``RateLimitLayer``, an ASGI layer in front of the port's adapters, so REST and MCP calls count
  alike and a refused call costs no routing, parsing or upstream work;
- the REST fast lane (``fast_path.FastLane``, D162), which answers plain REST calls without ASGI.

Both get the same verdict (``Verdict``: allowed, and the answer's headers) and refuse with the same
problem (``refusal``), so the two paths' answers are the same bytes.

With a shared state store (``--state``, issue 22) ``SharedRateLimiter`` keeps the buckets there
instead, so that N instances admit the configured rate together, not N times it; the in-process
limiter, the default, stays synchronous. The store down, calls are admitted (fail open, D98) and counted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..adapters.asgi import send_problem
from ..core.problems import Problem
from ..core.state import StateStore, StoreDown
from ..records import dataclass
from ..settings import RateLimit

MAX_IDENTITIES = 100_000
"""Buckets kept at most; beyond, full (idle) ones are dropped: a caller cycling identities cannot
grow the process without bound."""

RequestHeaders = Sequence[tuple[bytes, bytes]]
"""A request's headers as the HTTP guard reads them (the ASGI scope's ``headers`` is the same list)."""
Client = tuple[str, int] | None
"""The caller's address and port (the ASGI scope's ``client``), when known."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


def _header(headers: RequestHeaders, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return bytes(value)
    return None


def _client(headers: RequestHeaders, client: Client) -> str:
    return "client:" + client[0] if client else "client:?"


def _api_key(headers: RequestHeaders, client: Client) -> str:
    key = _header(headers, b"authorization") or _header(headers, b"x-api-key")
    return "key:" + key.decode("latin-1") if key else _client(headers, client)


def _jwt_subject(headers: RequestHeaders, client: Client) -> str:
    """The bearer token's ``sub``, read without verifying it: it only names whose bucket pays. A
    forged token buys its forger a bucket of its own, as a new API key or a new address would."""
    authorization = _header(headers, b"authorization") or b""
    scheme, _, token = authorization.partition(b" ")
    if scheme.lower() == b"bearer" and token.count(b".") == 2:
        payload = token.split(b".")[1]
        try:
            claims = orjson.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        except (binascii.Error, ValueError):
            claims = None
        subject = claims.get("sub") if isinstance(claims, dict) else None
        if isinstance(subject, str):
            return "sub:" + subject
    return _client(headers, client)


Headers = tuple[tuple[bytes, bytes], ...]
"""An answer's ``RateLimit-*`` headers: limit, remaining, reset."""

Verdict = tuple[bool, Headers]
"""Whether a call may go, and the headers its answer carries (none when the store was down)."""

FAILED_OPEN: Verdict = (True, ())
"""The shared store did not answer: the call goes, with no ``RateLimit-*`` headers (D98)."""

_RESET_NOW = (b"ratelimit-reset", b"0")
"""``RateLimit-Reset`` while a token is left: a call may go now."""

IDENTITIES: dict[str, Callable[[RequestHeaders, Client], str]] = {
    "api-key": _api_key,
    "jwt-subject": _jwt_subject,
    "client": _client,
}
"""By ``identity``: who pays for a call, from its headers and address; one function for both paths."""


class RateLimiter:
    """The buckets of one port, in this process."""

    shared = False
    """Whether a verdict needs the store (``SharedRateLimiter``): only ``verdict`` gives it then."""

    def __init__(self, policy: RateLimit, clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self.clock = clock
        self.burst = float(policy.burst or policy.requests)
        self.rate = policy.requests / policy.period
        self.identity = IDENTITIES[policy.identity]
        self._buckets: dict[str, _Bucket] = {}
        self._limit = (b"ratelimit-limit", str(policy.requests).encode())
        self._answered: tuple[int, Headers] = (-1, ())
        """The headers of the last answer with a token left, and that count: consecutive answers
        mostly share them (a bucket kept full by its refill), and formatting them took a tenth of
        this layer's cost (issue 22)."""

    def take(self, headers: RequestHeaders, client: Client) -> Verdict:
        """One call against the caller's bucket in this process, decided at once."""
        now = self.clock()
        key = self.identity(headers, client)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_IDENTITIES:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
            tokens = self.burst
        else:
            tokens = bucket.tokens + (now - bucket.at) * self.rate
            if tokens > self.burst:
                tokens = self.burst
            bucket.at = now
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        bucket.tokens = tokens
        return allowed, self.headers(tokens)

    async def verdict(self, headers: RequestHeaders, client: Client) -> Verdict:
        """One call against the caller's bucket, wherever the port keeps its buckets."""
        return self.take(headers, client)

    def headers(self, tokens: float) -> Headers:
        """The ``RateLimit-*`` headers of an answer, ``tokens`` left in its bucket."""
        count = int(tokens)
        if tokens < 1.0:
            reset = math.ceil((1.0 - tokens) / self.rate)
            return (self._limit, (b"ratelimit-remaining", b"%d" % count), (b"ratelimit-reset", b"%d" % reset))
        answered = self._answered
        if answered[0] != count:
            answered = self._answered = (count, (self._limit, (b"ratelimit-remaining", b"%d" % count), _RESET_NOW))
        return answered[1]

    def refusal(self, headers: Headers) -> Problem:
        """The 429 of a refused call, with ``Retry-After`` and the ``RateLimit-*`` ``headers``."""
        retry_after = headers[2][1].decode()
        policy = self.policy
        return Problem(
            429,
            f"more than {policy.requests} calls in {policy.period:g} s from this caller ({policy.identity}); "
            f"retry after {retry_after} s",
            headers={"Retry-After": retry_after, **{k.decode(): v.decode() for k, v in headers}},
        )

    def _prune(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


class SharedRateLimiter(RateLimiter):
    """The buckets of a port in the fleet's store (issue 22), keyed by the port as the capability
    declares it (before ``--port-offset``) and a digest of the identity: an API key never reaches the
    store in clear. Store down: the call is admitted, counted in ``health.failed_open``."""

    shared = True

    def __init__(self, policy: RateLimit, store: StateStore, port: int):
        super().__init__(policy)
        self.store = store
        self.prefix = f"{port}:"

    async def verdict(self, headers: RequestHeaders, client: Client) -> Verdict:
        key = self.prefix + hashlib.blake2b(self.identity(headers, client).encode(), digest_size=16).hexdigest()
        try:
            taken = await self.store.take(key, self.rate, self.burst)
        except StoreDown:
            self.store.health.failed_open += 1
            return FAILED_OPEN
        return taken.allowed, self.headers(taken.tokens)


class RateLimitLayer:
    """Wraps a port's app; HTTP calls pass through its limiter first."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter):
        self.app = app
        self.limiter = limiter

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The inner app's own coroutine, or the refusal's: with the in-process limiter, no
        coroutine of this layer per call."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        if self.limiter.shared:
            return self._asking(scope, receive, send)
        return self._answer(self.limiter.take(scope["headers"], scope.get("client")), scope, receive, send)

    async def _asking(self, scope: Scope, receive: Receive, send: Send) -> None:
        verdict = await self.limiter.verdict(scope["headers"], scope.get("client"))
        await self._answer(verdict, scope, receive, send)

    def _answer(self, verdict: Verdict, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        allowed, headers = verdict
        if not allowed:
            return send_problem(send, self.limiter.refusal(headers), scope["path"])
        return self.app(scope, receive, _adding(headers, send) if headers else send)


def _adding(headers: Headers, send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *headers]  # our adapters' own message
        await send(message)

    return send_with_headers
