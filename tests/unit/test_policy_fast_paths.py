"""The short ways through a rate limit and a circuit breaker that cannot act (issue 22, D150) give
what the long ways gave: the ``RateLimit-*`` headers reused while a bucket's count repeats equal
the ones written afresh, and a closed breaker that hears only of failures still opens on the
``failures``-th within its window and then refuses without calling the upstream."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from naftiko_runtime.core.problems import Problem
from naftiko_runtime.core.resilience import Guard
from naftiko_runtime.serving.rate_limits import RateLimiter
from naftiko_runtime.settings import BreakerPolicy, RateLimit, UpstreamPolicy

CLIENT = ("192.0.2.7", 4711)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@given(
    requests=st.integers(1, 6),
    period=st.sampled_from([0.5, 1.0, 10.0]),
    gaps=st.lists(st.sampled_from([0.0, 0.0, 0.01, 0.1, 0.3, 1.0, 5.0]), min_size=1, max_size=40),
)
def test_rate_limit_headers_are_the_buckets_own(requests, period, gaps):
    clock = Clock()
    limiter = RateLimiter(RateLimit(requests=requests, period=period, identity="client"), clock)
    rate, tokens, at = requests / period, float(requests), None
    for gap in gaps:
        clock.now += gap
        if at is not None:
            tokens = min(float(requests), tokens + (clock.now - at) * rate)
        at = clock.now
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        reset = math.ceil((1.0 - tokens) / rate) if tokens < 1.0 else 0
        expected = (
            (b"ratelimit-limit", str(requests).encode()),
            (b"ratelimit-remaining", str(int(tokens)).encode()),
            (b"ratelimit-reset", str(reset).encode()),
        )
        assert limiter.take([], CLIENT) == (allowed, expected)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]


def test_a_closed_breaker_opens_on_its_failures_and_then_refuses():
    guard = Guard("flaky", UpstreamPolicy(breaker=BreakerPolicy(failures=3, window=60.0, open_for=30.0)))
    assert guard.breaker is not None
    sent: list[int] = []

    async def calls(statuses: list[int]) -> list[int | str]:
        seen: list[int | str] = []
        for status in statuses:

            async def attempt(status: int = status) -> Answer:
                sent.append(status)
                return Answer(status, {})

            try:
                seen.append((await guard.run(attempt, False, math.inf, "get")).status)
            except Problem as refused:
                seen.append(f"refused {refused.status}")
        return seen

    # Successes in between do not close the count; the third failure opens the circuit.
    assert asyncio.run(calls([503, 200, 500, 200, 502])) == [503, 200, 500, 200, 502]
    assert guard.breaker.state == "open"
    assert asyncio.run(calls([200])) == ["refused 503"]
    assert sent == [503, 200, 500, 200, 502]  # the refused call never reached the upstream


@pytest.mark.parametrize("statuses", [[200] * 5, [404, 200, 429, 200]])
def test_a_closed_breaker_ignores_answers_that_are_not_failures(statuses):
    guard = Guard("steady", UpstreamPolicy(breaker=BreakerPolicy(failures=1)))

    async def calls() -> None:
        for status in statuses:

            async def attempt(status: int = status) -> Answer:
                return Answer(status, {})

            await guard.run(attempt, False, math.inf, "get")

    asyncio.run(calls())
    assert guard.breaker is not None and guard.breaker.state == "closed"
