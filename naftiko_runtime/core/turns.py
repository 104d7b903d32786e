"""Turns: at most ``size`` holders at a time, as a count and a queue of waiters (D166). The pool's
slots (``pooled.Slots``) and a namespace's bulkhead (``resilience.Bulkhead``) are both this.

Not an ``asyncio.Semaphore``: a free turn is taken by ``take``, a plain call, where the semaphore's
``locked``, ``acquire`` and ``release`` were Python frames and a coroutine on every exchange (and
``locked`` looks at each waiter). A freed turn goes straight to the oldest waiter, so turns are
taken in arrival order and a newcomer cannot overtake one that waits; one handed to a waiter that
has meanwhile timed out or been cancelled is passed on, and a waiter that gives up leaves the
queue, so that no turn is ever lost or made.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Turns:
    __slots__ = ("_free", "_waiting", "size")

    def __init__(self, size: int):
        self.size = size
        self._free = size
        self._waiting: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """A free turn, taken now if no one waits for one before this caller."""
        if self._free and not self._waiting:
            self._free -= 1
            return True
        return False

    async def wait(self, timeout: float | None) -> None:
        """A turn, waited for at most ``timeout`` seconds (``None``: without end); ``TimeoutError``
        past it."""
        if self.take():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over as this wait ended: pass it on
            elif waiter in self._waiting:  # else ``release`` has already dropped it, cancelled
                waiter.cancel()
                self._waiting.remove(waiter)
            raise

    def release(self) -> None:
        """A turn ends: it goes to the oldest waiter still waiting, else back to the count."""
        waiting = self._waiting
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
