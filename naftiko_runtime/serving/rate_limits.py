"""Exposed rate limits per caller identity (issue 15): 429 beyond, ``RateLimit-*`` headers on every
answer (draft-ietf-httpapi-ratelimit-headers: ``RateLimit-Limit``, ``-Remaining``, ``-Reset``).

An ASGI layer in front of a port's adapters, so REST and MCP calls count alike and a refused call
costs no routing, parsing or upstream work. Each identity has a token bucket: ``requests`` per
``period`` seconds, holding at most ``burst`` tokens, so over a span T a caller gets at most
``burst + requests * T / period`` calls.

With a shared state store (``--state``, issue 22) ``SharedRateLimitLayer`` keeps the buckets there
instead, so that N instances admit the configured rate together, not N times it; the in-process
layer, the default, stays synchronous. The store down, calls are admitted (fail open, D98) and counted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..adapters.asgi import send_problem
from ..core.problems import Problem
from ..core.state import StateStore, StoreDown
from ..settings import RateLimit

MAX_IDENTITIES = 100_000
"""Buckets kept at most; beyond, full (idle) ones are dropped: a caller cycling identities cannot
grow the process without bound."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return "client:" + client[0] if client else "client:?"


def _api_key(scope: Scope) -> str:
    key = _header(scope, b"authorization") or _header(scope, b"x-api-key")
    return "key:" + key.decode("latin-1") if key else _client(scope)


def _jwt_subject(scope: Scope) -> str:
    """The bearer token's ``sub``, read without verifying it: it only names whose bucket pays. A
    forged token buys its forger a bucket of its own, as a new API key or a new address would."""
    authorization = _header(scope, b"authorization") or b""
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
    return _client(scope)


Headers = tuple[tuple[bytes, bytes], ...]
"""An answer's ``RateLimit-*`` headers: limit, remaining, reset."""

_RESET_NOW = (b"ratelimit-reset", b"0")
"""``RateLimit-Reset`` while a token is left: a call may go now."""

IDENTITIES: dict[str, Callable[[Scope], str]] = {"api-key": _api_key, "jwt-subject": _jwt_subject, "client": _client}


class RateLimiter:
    """The buckets of one port."""

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

    def take(self, scope: Scope) -> tuple[bool, Headers]:
        """Whether the call may go, and the headers its answer carries."""
        now = self.clock()
        key = self.identity(scope)
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

    def _prune(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


class RateLimitLayer:
    """Wraps a port's app; HTTP calls pass through ``RateLimiter.take`` first."""

    def __init__(self, app: ASGIApp, policy: RateLimit):
        self.app = app
        self.limiter = RateLimiter(policy)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The inner app's own coroutine, or the refusal's: no coroutine of this layer per call."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        allowed, headers = self.limiter.take(scope)
        if not allowed:
            return self.refuse(headers, scope, send)
        return self.app(scope, receive, _adding(headers, send))

    async def refuse(self, headers: Headers, scope: Scope, send: Send) -> None:
        """The 429, with ``Retry-After`` and the ``RateLimit-*`` headers."""
        retry_after = headers[2][1].decode()
        policy = self.limiter.policy
        problem = Problem(
            429,
            f"more than {policy.requests} calls in {policy.period:g} s from this caller ({policy.identity}); "
            f"retry after {retry_after} s",
            headers={"Retry-After": retry_after, **{k.decode(): v.decode() for k, v in headers}},
        )
        await send_problem(send, problem, scope["path"])


def _adding(headers: Headers, send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *headers]  # our adapters' own message
        await send(message)

    return send_with_headers


class SharedRateLimitLayer(RateLimitLayer):
    """The buckets of a port in the fleet's store (issue 22), keyed by the port as the capability
    declares it (before ``--port-offset``) and a digest of the identity: an API key never reaches the
    store in clear. Store down: the call is admitted, counted in ``health.failed_open``."""

    def __init__(self, app: ASGIApp, policy: RateLimit, store: StateStore, port: int):
        super().__init__(app, policy)
        self.store = store
        self.prefix = f"{port}:"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limiter = self.limiter
        key = self.prefix + hashlib.blake2b(limiter.identity(scope).encode(), digest_size=16).hexdigest()
        try:
            taken = await self.store.take(key, limiter.rate, limiter.burst)
        except StoreDown:
            self.store.health.failed_open += 1
            await self.app(scope, receive, send)
            return
        headers = limiter.headers(taken.tokens)
        if not taken.allowed:
            await self.refuse(headers, scope, send)
            return
        await self.app(scope, receive, _adding(headers, send))
