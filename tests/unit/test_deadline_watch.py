"""D166: the total deadlines of one loop's exchanges are enforced by one timer (``DeadlineWatch``),
and each still behaves as ``asyncio.timeout_at``: the block is left as ``TimeoutError`` at its
deadline, whatever other deadlines run beside it, shorter or longer, and a block left in time is
never cancelled afterwards."""

from __future__ import annotations

import asyncio

import pytest

from naftiko_runtime.core.deadlines import Deadline, DeadlineWatch


async def _sleep_within(watch: DeadlineWatch, seconds: float, sleep: float) -> str:
    loop = asyncio.get_running_loop()
    try:
        with Deadline(watch, loop.time() + seconds):
            await asyncio.sleep(sleep)
    except TimeoutError:
        return "timed out"
    return "done"


async def test_each_deadline_is_kept_whatever_runs_beside_it() -> None:
    watch = DeadlineWatch(asyncio.get_running_loop())
    outcomes = await asyncio.gather(
        _sleep_within(watch, 5.0, 0.01),  # arms the timer far away
        _sleep_within(watch, 0.05, 1.0),  # a shorter deadline moves it earlier
        _sleep_within(watch, 0.2, 0.05),  # done in time: never cancelled
        _sleep_within(watch, 0.15, 1.0),  # reached at a later firing
    )
    assert outcomes == ["done", "timed out", "done", "timed out"]
    assert watch.running == {}, "every deadline left the watch"


async def test_many_deadlines_share_one_timer() -> None:
    loop = asyncio.get_running_loop()
    watch = DeadlineWatch(loop)
    assert await _sleep_within(watch, 30.0, 0) == "done"
    first = watch.due
    for _ in range(49):
        assert await _sleep_within(watch, 30.0, 0) == "done"
    assert watch.due == first, "armed once, for the first deadline, and not moved later"
    assert watch.running == {}


async def test_a_cancellation_that_is_not_the_deadline_s_stays_a_cancellation() -> None:
    watch = DeadlineWatch(asyncio.get_running_loop())
    task = asyncio.create_task(_sleep_within(watch, 5.0, 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert watch.running == {}
