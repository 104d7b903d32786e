"""Resilience of one consumed namespace: bulkhead, circuit breaker and retries (issue 15, D91).

``UpstreamClients.send`` is the one place they apply, through ``Guard.run``, and only for a
namespace with a policy on: a namespace without one pays nothing. A bulkhead bounds the calls in
flight so that a hanging upstream holds its own turns, never another namespace's; a breaker stops
hammering an upstream that keeps failing; retries cover transient faults of calls that may be
repeated, within the total timeout.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

from ..settings import BreakerPolicy, BulkheadPolicy, UpstreamPolicy
from .problems import Problem
from .turns import Turns

log = logging.getLogger("naftiko.upstream")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
"""Upstream answers that say "try again": overloaded, restarting or behind a failing hop."""
FAILED_STATUSES = frozenset({500, 502, 503, 504})
"""Upstream answers that count against its breaker (a 4xx is the caller's fault, not the upstream's)."""


class Transient(Problem):
    """A fault worth another try (refused, reset, timed out): never one about what the upstream sent."""


class Answer(Protocol):
    """What a guarded attempt returns: an upstream answer's status and headers."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Headers: ...


class Headers(Protocol):
    def get(self, key: str, /) -> str | None: ...


A = TypeVar("A", bound=Answer)


def may_retry(method: str, header_names: Iterable[str]) -> bool:
    """Only a call the upstream may receive twice without harm is ever sent twice: an idempotent
    method, or one sent with an ``Idempotency-Key`` (looked for only when the method is not)."""
    return method in IDEMPOTENT_METHODS or any(name.lower() == "idempotency-key" for name in header_names)


def retry_after(value: str | None) -> float:
    """Seconds an upstream asked to wait (delta-seconds or an HTTP date); 0 when absent or unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return 0.0


class Bulkhead(Turns):
    """At most ``max_concurrent`` calls in flight; a call waits for a turn at most ``queue_timeout``.
    ``Turns``: taking a free turn is one comparison, with no coroutine; a finishing call hands its
    turn straight to the oldest waiter, so a new call cannot overtake one that waits."""

    __slots__ = ("namespace", "policy")

    def __init__(self, namespace: str, policy: BulkheadPolicy):
        super().__init__(policy.max_concurrent)
        self.namespace = namespace
        self.policy = policy

    async def acquire(self, deadline: float) -> None:
        """Wait for a turn, at most ``queue_timeout`` and never past ``deadline``; 503 after."""
        wait = max(min(self.policy.queue_timeout, deadline - asyncio.get_running_loop().time()), 0.0)
        try:
            await self.wait(wait)
        except TimeoutError:
            raise Problem(
                503,
                f"all {self.policy.max_concurrent} concurrent calls allowed to {self.namespace} are in "
                f"flight and none finished within {wait:g} s (bulkhead full)",
                headers={"Retry-After": "1"},
            ) from None


class Fleet(Protocol):
    """The breakers of the other instances (``--state``, issue 22; ``shared_breakers``): told when
    this one opens or closes, and asked before it probes, so that one instance probes for all."""

    def opened(self, breaker: Breaker) -> None: ...

    def closed(self, breaker: Breaker) -> None: ...

    def may_probe(self, breaker: Breaker) -> bool: ...


class Breaker:
    """Closed, open or half-open; every change is logged, and the control adapter's metrics read
    ``state`` and ``opened`` when scraped (nothing is counted per call for them). A closed breaker
    costs one comparison per call, with or without a fleet."""

    STATES = ("closed", "open", "half-open")

    def __init__(self, namespace: str, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic):
        self.namespace = namespace
        self.policy = policy
        self.clock = clock
        self.state = "closed"
        self.opened = 0
        """Times this circuit has opened since the runtime started."""
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._probing = 0
        self.fleet: Fleet | None = None
        """Set when the breaker follows a fleet's; ``None``: this process decides alone."""
        self.generation = 0
        """The fleet's count of openings this breaker follows (0: none yet)."""
        self.lease = False
        """Whether this instance holds the fleet's probe lease."""

    def admit(self) -> bool:
        """Whether a call may go now; raises the 503 an open breaker answers with. ``True`` marks a
        half-open probe, which must be ended with ``record`` or ``abandon``."""
        if self.state == "closed":
            return False
        now = self.clock()
        reopens = self._opened_at + self.policy.open_for
        if self.state == "open" and now >= reopens and (self.fleet is None or self.fleet.may_probe(self)):
            self._change("half-open", f"after {self.policy.open_for:g} s; probing")
        if self.state == "half-open" and self._probing < self.policy.probes:
            self._probing += 1
            return True
        wait = max(1, math.ceil(reopens - now))
        raise Problem(
            503,
            f"the circuit to {self.namespace} is {self.state} after {self.policy.failures} failures within "
            f"{self.policy.window:g} s; calls are refused without reaching it",
            headers={"Retry-After": str(wait)},
        )

    def record(self, failed: bool, probe: bool) -> None:
        if probe:
            self._probing -= 1
            if failed:
                self._open("the probe failed")
            elif self.state == "half-open":
                self._failures.clear()
                self._change("closed", "the probe succeeded")
                self.lease = False
                if self.fleet is not None:
                    self.fleet.closed(self)
            return
        if not failed or self.state != "closed":
            return
        now = self.clock()
        failures = self._failures
        failures.append(now)
        while failures and failures[0] <= now - self.policy.window:
            failures.popleft()
        if len(failures) >= self.policy.failures:
            self._open(f"{len(failures)} failures within {self.policy.window:g} s")

    def abandon(self) -> None:
        """A probe cancelled before its answer: another call may probe instead."""
        self._probing -= 1

    def follow_open(self, remaining: float) -> None:
        """Another instance opened the circuit, which stays open ``remaining`` seconds more."""
        if self.state != "open":
            self.opened += 1
            self._failures.clear()
            self._change("open", f"opened by another instance; refusing calls for {remaining:.3g} s")
        self._opened_at = self.clock() - self.policy.open_for + remaining
        self.lease = False

    def follow_close(self) -> None:
        """Another instance's probe succeeded."""
        self._failures.clear()
        self._change("closed", "another instance's probe succeeded")

    def open_ended(self) -> bool:
        """Open, and for long enough that a probe may go."""
        return self.state == "open" and self.clock() >= self._opened_at + self.policy.open_for

    def _open(self, why: str) -> None:
        self._opened_at = self.clock()
        self.opened += 1
        self._failures.clear()
        self._change("open", f"{why}; refusing calls for {self.policy.open_for:g} s")
        self.lease = False
        if self.fleet is not None:
            self.fleet.opened(self)

    def _change(self, state: str, why: str) -> None:
        log.warning("circuit breaker of %s: %s -> %s (%s)", self.namespace, self.state, state, why)
        self.state = state


class Guard:
    """The policies of one namespace around its attempts."""

    def __init__(self, namespace: str, policy: UpstreamPolicy):
        self.namespace = namespace
        self.policy = policy
        self.bulkhead = Bulkhead(namespace, policy.bulkhead) if policy.bulkhead.max_concurrent else None
        self.breaker = Breaker(namespace, policy.breaker) if policy.breaker.failures else None

    def _backoff(self, tries: int) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^(tries-1)))."""
        retry = self.policy.retry
        return random.uniform(0.0, min(retry.max_backoff, retry.backoff * 2 ** (tries - 1)))

    async def run(self, attempt: Callable[[], Awaitable[A]], retryable: bool, deadline: float, operation: str) -> A:
        most = self.policy.retry.attempts if retryable else 1
        tries = 0
        while True:
            tries += 1
            try:
                answer = await self._once(attempt, deadline)
            except Transient:
                if tries >= most:
                    raise
                delay = self._backoff(tries)
                if asyncio.get_running_loop().time() + delay >= deadline:
                    raise
            else:
                if answer.status not in RETRIED_STATUSES or tries >= most:
                    return answer
                delay = max(self._backoff(tries), retry_after(answer.headers.get("retry-after")))
                if asyncio.get_running_loop().time() + delay >= deadline:
                    return answer  # the upstream's own answer, Retry-After included, is the best reply
            log.info("retrying %s.%s (try %d of %d) in %.3f s", self.namespace, operation, tries + 1, most, delay)
            await asyncio.sleep(delay)

    async def _once(self, attempt: Callable[[], Awaitable[A]], deadline: float) -> A:
        """One attempt under the breaker and the bulkhead. A closed breaker is one comparison here,
        and hears of a call only when it failed; a free bulkhead is one call (issue 22)."""
        breaker, bulkhead = self.breaker, self.bulkhead
        probe = breaker is not None and breaker.state != "closed" and breaker.admit()
        verdict: bool | None = None
        try:
            if bulkhead is not None and not bulkhead.take():
                await bulkhead.acquire(deadline)
            try:
                answer = await attempt()
            except Problem as problem:
                verdict = problem.status in FAILED_STATUSES
                raise
            finally:
                if bulkhead is not None:
                    bulkhead.release()
            verdict = answer.status in FAILED_STATUSES
            return answer
        finally:
            if probe:
                assert breaker is not None
                if verdict is None:
                    breaker.abandon()
                else:
                    breaker.record(verdict, probe)
            elif verdict and breaker is not None:
                breaker.record(True, False)
