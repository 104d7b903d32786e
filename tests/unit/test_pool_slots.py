"""D166: the pool's bound (``pooled.Slots``, on ``turns.Turns`` as the bulkhead is) is a count and
a queue of waiters. A free slot is taken without awaiting; a freed one goes to the first waiter; a
wait past the pool timeout is ``httpx.PoolTimeout``; a slot handed to a waiter that timed out or was
cancelled meanwhile is passed on. Whatever the order of takes, waits, cancellations and releases,
no slot is lost or made."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from naftiko_runtime.core.pooled import Slots


async def test_a_free_slot_is_taken_at_once_and_a_freed_one_goes_to_the_first_waiter() -> None:
    slots = Slots(1)
    assert slots.take()
    assert not slots.take()
    order: list[str] = []

    async def wait(name: str) -> None:
        await slots.acquire(5)
        order.append(name)

    first = asyncio.create_task(wait("first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(wait("second"))
    await asyncio.sleep(0)
    slots.release()
    await first
    assert order == ["first"] and not second.done()
    assert not slots.take(), "a slot freed while someone waits is not free to a newcomer"
    slots.release()
    await second
    slots.release()
    assert slots.take()


async def test_a_wait_past_the_pool_timeout_is_a_pool_timeout_and_leaves_no_waiter_behind() -> None:
    slots = Slots(1)
    assert slots.take()
    with pytest.raises(httpx.PoolTimeout, match="all 1 connections"):
        await slots.acquire(0.01)
    slots.release()
    assert slots.take(), "the timed-out waiter must not hold the queue"


async def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    slots = Slots(1)
    assert slots.take()
    late = asyncio.create_task(slots.acquire(5))
    await asyncio.sleep(0)
    nxt = asyncio.create_task(slots.acquire(5))
    await asyncio.sleep(0)
    slots.release()  # handed to ``late``...
    late.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await late
    await asyncio.wait_for(nxt, 1)  # the slot went on to the next waiter
    slots.release()
    assert slots.take() and not slots.take()


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 3), steps=st.lists(st.sampled_from(["wait", "cancel", "release", "tick"]), max_size=30))
def test_no_order_of_waits_cancellations_and_releases_loses_or_makes_a_slot(size: int, steps: list[str]) -> None:
    async def run() -> None:
        slots = Slots(size)
        held = 0
        waiting: list[asyncio.Task[None]] = []
        for step in steps:
            if step == "wait":
                if slots.take():
                    held += 1
                else:
                    waiting.append(asyncio.create_task(slots.acquire(None)))
            elif step == "cancel" and waiting:
                waiting.pop(0).cancel()
            elif step == "release" and held:
                held -= 1
                slots.release()
            await asyncio.sleep(0)
            for task in [task for task in waiting if task.done()]:
                waiting.remove(task)
                if not task.cancelled():
                    held += 1
        for task in waiting:
            task.cancel()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        held += sum(result is None for result in results)
        assert held <= size
        for _ in range(held):
            slots.release()
        assert [slots.take() for _ in range(size + 1)] == [True] * size + [False]

    asyncio.run(run())
