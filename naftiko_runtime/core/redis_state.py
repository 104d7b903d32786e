"""``StateStore`` on Redis or Valkey (``--state redis://HOST:PORT/DB``; issue 22, item 1), through
redis-py's asyncio client, imported only when a store is configured.

Each operation is one round trip: the token bucket and the breaker transitions are Lua scripts run
by ``EVALSHA`` (redis-py's ``Script`` loads them again after a restart's ``NOSCRIPT``), so that
N instances read and write a bucket atomically and admit the configured rate fleet-wide. The
bucket uses the store's clock (``TIME``), so instances' clocks never disagree about a refill.

One retry (on a new connection: a pooled one may have died with a restarted store) and short
timeouts: a call waits at most twice ``TIMEOUT`` for the store, and after the first failure nobody
waits at all until ``watch`` sees it answer again (``StoreHealth``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .state import BreakerView, StoreHealth, Taken

TIMEOUT = 0.5
"""Seconds to connect to, or hear from, the store before it counts as down."""
WATCH_EVERY = 0.5
"""Seconds between pings while the store is down."""
PREFIX = "naftiko:"

BUCKET = """
-- KEYS[1]: the bucket. ARGV: rate (tokens a second), burst, now in microseconds ('' : the store's clock).
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]), tonumber(held[2])
if not tokens then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(now - at, 0) / 1000000 * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local kept = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', kept, 'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, kept}
"""
"""One call against a token bucket: ``state.refill``'s arithmetic, in the same order of floating
point operations (and ``%.17g`` round-trips a double), so both give the same tokens."""

OPEN = """
-- KEYS: generation, open, probe. ARGV[1]: milliseconds open.
local generation = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], generation, 'PX', ARGV[1])
redis.call('DEL', KEYS[3])
return generation
"""

CLOSE = """
-- KEYS: closed, probe. ARGV[1]: the generation a probe closed.
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('DEL', KEYS[2])
"""

T = TypeVar("T")


def shown(url: str) -> str:
    """``url`` without its user and password, for log lines and metrics."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def breaker_keys(namespace: str) -> tuple[str, str, str, str]:
    """Generation, open, closed and probe keys of a namespace, in one hash slot (``{...}``)."""
    slot = f"{PREFIX}{{breaker:{namespace}}}:"
    return slot + "generation", slot + "open", slot + "closed", slot + "probe"


class RedisStore:
    def __init__(self, url: str):
        self.health = StoreHealth(shown(url))
        self.redis: Redis = Redis.from_url(
            url,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        self._bucket = self.redis.register_script(BUCKET)
        self._open = self.redis.register_script(OPEN)
        self._close = self.redis.register_script(CLOSE)

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        self.health.check()
        try:
            return await operation()
        except (RedisError, OSError) as exc:
            raise self.health.failed(exc) from None

    async def take(self, key: str, rate: float, burst: float) -> Taken:
        return await self.take_at(key, rate, burst, "")

    async def take_at(self, key: str, rate: float, burst: float, now_us: int | str) -> Taken:
        """``take`` at a given time (microseconds) instead of the store's clock."""
        args: list[Any] = [repr(rate), repr(burst), now_us]
        allowed, tokens = await self._call(lambda: self._bucket(keys=[PREFIX + "rl:" + key], args=args))
        return Taken(bool(allowed), float(tokens))

    async def open_breaker(self, namespace: str, seconds: float) -> int:
        generation, opened, _, probe = breaker_keys(namespace)
        keys = [generation, opened, probe]
        return int(await self._call(lambda: self._open(keys=keys, args=[max(1, round(seconds * 1000))])))

    async def close_breaker(self, namespace: str, generation: int) -> None:
        _, _, closed, probe = breaker_keys(namespace)
        await self._call(lambda: self._close(keys=[closed, probe], args=[generation]))

    async def breakers(self, namespaces: Sequence[str]) -> dict[str, BreakerView]:
        async def read() -> list[Any]:
            pipeline = self.redis.pipeline(transaction=False)
            for namespace in namespaces:
                generation, opened, closed, _ = breaker_keys(namespace)
                pipeline.get(generation)
                pipeline.pttl(opened)
                pipeline.get(closed)
            return list(await pipeline.execute())

        values = await self._call(read)
        views = {}
        for index, namespace in enumerate(namespaces):
            generation, ttl, closed = values[3 * index : 3 * index + 3]
            views[namespace] = BreakerView(int(generation or 0), max(int(ttl), 0), int(closed or 0))
        return views

    async def claim_probe(self, namespace: str, seconds: float) -> bool:
        return await self._claim(breaker_keys(namespace)[3], seconds)

    async def claim(self, key: str, seconds: float) -> bool:
        return await self._claim(PREFIX + key, seconds)

    async def _claim(self, key: str, seconds: float) -> bool:
        milliseconds = max(1, round(seconds * 1000))
        return bool(await self._call(lambda: self.redis.set(key, b"1", nx=True, px=milliseconds)))

    async def release(self, key: str) -> None:
        await self.delete(key)

    async def get(self, key: str) -> bytes | None:
        value = await self._call(lambda: self.redis.get(PREFIX + key))
        return value.encode() if isinstance(value, str) else value

    async def put(self, key: str, value: bytes, seconds: float) -> None:
        await self._call(lambda: self.redis.set(PREFIX + key, value, px=max(1, round(seconds * 1000))))

    async def delete(self, key: str) -> None:
        await self._call(lambda: self.redis.delete(PREFIX + key))

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            if self.health.up:
                continue
            try:
                await self.redis.connection_pool.disconnect()  # connections to the store that went away
                await self.redis.ping()
            except (RedisError, OSError):
                continue
            self.health.recovered()

    async def aclose(self) -> None:
        await self.redis.aclose()
