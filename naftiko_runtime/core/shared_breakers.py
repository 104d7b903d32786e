"""Circuit breakers a fleet shares (``--state``; issue 22, item 1): a circuit one instance opens is
open on every instance within ``POLL_SECONDS`` (plus a round trip), and after the open period one
instance probes the upstream for all.

Each ``Breaker`` still decides on its own calls, synchronously: a closed one costs a comparison, as
without a store. What it learns or tells goes through this module, off the call path:

- opening (its own failures, or a failed probe) is written to the store at once, as a new
  *generation* with a time-to-live of the open period (``StateStore.open_breaker``);
- every ``POLL_SECONDS`` one round trip reads the store's view of every breaker: an instance sees a
  generation newer than its own, still open, and opens for what remains of it;
- when the open period is over, an instance asks for the probe lease (SET NX PX): the winner goes
  half-open and probes; the others keep refusing until the winner's success is in the store (a
  closed generation: they close) or its failure (a new generation: they open again). A lease
  outlives a prober that dies mid-probe by at most the open period.

The store down, each breaker decides alone, exactly as in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine

from .resilience import Breaker
from .state import BreakerView, StateStore, StoreDown

log = logging.getLogger("naftiko.state")
POLL_SECONDS = 0.25


class SharedBreakers:
    """The ``resilience.Fleet`` of one runtime's breakers."""

    def __init__(self, store: StateStore):
        self.store = store
        self.breakers: dict[str, Breaker] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def follow(self, breaker: Breaker) -> None:
        breaker.fleet = self
        self.breakers[breaker.namespace] = breaker

    def opened(self, breaker: Breaker) -> None:
        breaker.generation = 0  # not the fleet's until the store numbers it: no stale close applies
        self._spawn(self._announce_open(breaker))

    def closed(self, breaker: Breaker) -> None:
        self._spawn(self._announce_closed(breaker, breaker.generation))

    def may_probe(self, breaker: Breaker) -> bool:
        return breaker.lease or not self.store.health.up

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce_open(self, breaker: Breaker) -> None:
        with contextlib.suppress(StoreDown):
            generation = await self.store.open_breaker(breaker.namespace, breaker.policy.open_for)
            breaker.generation = max(breaker.generation, generation)

    async def _announce_closed(self, breaker: Breaker, generation: int) -> None:
        with contextlib.suppress(StoreDown):
            await self.store.close_breaker(breaker.namespace, generation)

    async def run(self) -> None:
        """Until cancelled: follow the fleet's breakers."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if self.breakers:
                with contextlib.suppress(StoreDown):
                    await self.sync()

    async def sync(self) -> None:
        """One look at the store: open, close or claim the probe lease where the fleet says so."""
        views = await self.store.breakers(list(self.breakers))
        for namespace, view in views.items():
            await self._follow(self.breakers[namespace], view)

    async def _follow(self, breaker: Breaker, view: BreakerView) -> None:
        if view.open_ms > 0 and view.generation > breaker.generation:
            breaker.generation = view.generation
            breaker.follow_open(view.open_ms / 1000)
        elif breaker.open_ended() and not breaker.lease:
            if 0 < breaker.generation <= view.closed:
                breaker.follow_close()
            elif view.open_ms == 0 and await self.store.claim_probe(breaker.namespace, breaker.policy.open_for):
                breaker.lease = True

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
