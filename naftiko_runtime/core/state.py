"""State a fleet of instances shares (issue 22, item 1; CONTRACT D98): rate-limit buckets, circuit breakers and
fetched OAuth2 tokens, behind one interface, ``StateStore``.

Without ``--state`` no store exists and each process keeps its own state on its own fast paths (the
synchronous rate limiter, the local breaker, the local token cache): nothing here is on them.
``--state redis://HOST:PORT/DB`` chooses ``core/redis_state.RedisStore`` at start-up; ``LocalStore``
is the same contract in one process (several runtimes embedded in one program share it, and the
unit tests pin the contract on it).

Every store call may raise ``StoreDown``: the callers then fall back to what one process can do on
its own (rate limits fail open, breakers and tokens stay local), and ``StoreHealth`` says so once
per outage, not once per request.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from ..extras import STATE
from ..records import dataclass

log = logging.getLogger("naftiko.state")


class StoreDown(Exception):
    """The store did not answer (refused, reset, timed out, or known to be down)."""


@dataclass(frozen=True, slots=True)
class Taken:
    """A token bucket's verdict: whether the call may go, and the tokens left after it."""

    allowed: bool
    tokens: float


@dataclass(frozen=True, slots=True)
class BreakerView:
    """What the store says of one namespace's circuit: opened ``generation`` (0: never), open for
    ``open_ms`` more milliseconds (0: not open), and the last generation a probe ``closed``."""

    generation: int
    open_ms: int
    closed: int


def refill(tokens: float, elapsed: float, rate: float, burst: float) -> Taken:
    """One call against a token bucket holding ``tokens`` ``elapsed`` seconds ago: the arithmetic
    of ``RateLimiter.take`` and of the store's bucket script, written once as the reference."""
    tokens = min(burst, tokens + max(elapsed, 0.0) * rate)
    if tokens >= 1.0:
        return Taken(True, tokens - 1.0)
    return Taken(False, tokens)


class StateStore(Protocol):
    """The operations the three shared states need; each is one round trip to a remote store."""

    health: StoreHealth

    async def take(self, key: str, rate: float, burst: float) -> Taken:
        """One call against the bucket ``key`` (created full), atomically."""

    async def open_breaker(self, namespace: str, seconds: float) -> int:
        """Open the circuit of ``namespace`` for ``seconds`` on every instance; its generation."""

    async def close_breaker(self, namespace: str, generation: int) -> None:
        """A probe closed the circuit opened as ``generation``."""

    async def breakers(self, namespaces: Sequence[str]) -> dict[str, BreakerView]:
        """The circuits of ``namespaces`` as the store sees them."""

    async def claim_probe(self, namespace: str, seconds: float) -> bool:
        """Take the lease to probe ``namespace``'s upstream for ``seconds``, unless another holds it."""

    async def claim(self, key: str, seconds: float) -> bool:
        """Hold ``key`` for ``seconds`` unless someone holds it (a token fetch lock)."""

    async def release(self, key: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, seconds: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def watch(self) -> None:
        """Until cancelled: notice an outage's end (``health``) while callers skip the store."""

    async def aclose(self) -> None: ...


class StoreHealth:
    """Up or down, with one log line per change and counters for the control adapter's metrics.

    While down, callers skip the store (``check`` raises at once) instead of each waiting for a
    timeout; ``watch`` of the store brings it back up."""

    def __init__(self, name: str):
        self.name = name
        """Where the store is, without credentials: ``redis://host:port/db``."""
        self.up = True
        self.outages = 0
        self.failed_open = 0
        """Calls admitted without their rate limit because the store was down."""

    def check(self) -> None:
        if not self.up:
            raise StoreDown(self.name)

    def failed(self, error: BaseException) -> StoreDown:
        """Record an error; the ``StoreDown`` to raise in its place."""
        if self.up:
            self.up = False
            self.outages += 1
            log.error(
                "state store %s unreachable (%s): rate limits admit every call, breakers and tokens are "
                "per instance until it returns",
                self.name,
                type(error).__name__,
            )
        return StoreDown(self.name)

    def recovered(self) -> None:
        if not self.up:
            self.up = True
            log.warning("state store %s reachable again: rate limits, breakers and tokens are shared again", self.name)


@dataclass
class _Entry:
    value: bytes
    until: float


class LocalStore:
    """``StateStore`` in one process: the runtimes sharing one object share their state."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.health = StoreHealth("in-process")
        self._buckets: dict[str, tuple[float, float]] = {}
        self._entries: dict[str, _Entry] = {}
        self._generations: dict[str, int] = {}
        self._closed: dict[str, int] = {}

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.until <= self.clock():
            del self._entries[key]
            return None
        return entry

    async def take(self, key: str, rate: float, burst: float) -> Taken:
        now = self.clock()
        tokens, at = self._buckets.get(key, (burst, now))
        taken = refill(tokens, now - at, rate, burst)
        self._buckets[key] = (taken.tokens, now)
        return taken

    async def open_breaker(self, namespace: str, seconds: float) -> int:
        generation = self._generations[namespace] = self._generations.get(namespace, 0) + 1
        self._entries["breaker:" + namespace] = _Entry(b"%d" % generation, self.clock() + seconds)
        self._entries.pop("probe:" + namespace, None)
        return generation

    async def close_breaker(self, namespace: str, generation: int) -> None:
        self._closed[namespace] = max(self._closed.get(namespace, 0), generation)
        self._entries.pop("probe:" + namespace, None)

    async def breakers(self, namespaces: Sequence[str]) -> dict[str, BreakerView]:
        views = {}
        for namespace in namespaces:
            entry = self._live("breaker:" + namespace)
            open_ms = 0 if entry is None else math.ceil((entry.until - self.clock()) * 1000)
            generation = self._generations.get(namespace, 0)
            views[namespace] = BreakerView(generation, open_ms, self._closed.get(namespace, 0))
        return views

    async def claim_probe(self, namespace: str, seconds: float) -> bool:
        return await self.claim("probe:" + namespace, seconds)

    async def claim(self, key: str, seconds: float) -> bool:
        if self._live(key) is not None:
            return False
        self._entries[key] = _Entry(b"1", self.clock() + seconds)
        return True

    async def release(self, key: str) -> None:
        self._entries.pop(key, None)

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return None if entry is None else entry.value

    async def put(self, key: str, value: bytes, seconds: float) -> None:
        self._entries[key] = _Entry(value, self.clock() + seconds)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def watch(self) -> None:
        """Never down: nothing to watch."""

    async def aclose(self) -> None:
        """Nothing to close."""


def missing_client() -> str | None:
    """Why ``--state`` cannot work in this installation, if it cannot: redis-py is an extra."""
    return STATE.missing("--state")
