"""A deadline around the awaits of one upstream exchange: ``asyncio.timeout_at`` for a loop the
caller already holds, entered as a plain ``with``, and one timer per loop for all of them.

On Python 3.11 every ``asyncio.get_running_loop()`` is a ``getpid`` system call (the check that the
loop was not inherited through ``fork``), and ``timeout_at`` makes two on entry (``current_task()``
and ``reschedule``); on this VM they measured ~4% of a pass-through's CPU. ``Deadline`` takes the
loop once per request from its caller and otherwise behaves as ``asyncio.Timeout``: the task is
cancelled at ``when``, and that cancellation (and no other) leaves the block as ``TimeoutError``.
Entering and leaving need no await, so it is a synchronous context manager: two coroutine frames
fewer on every exchange than ``async with``.

A timer made and cancelled per exchange was ~2% of a pass-through's instructions (D166): the
deadlines of one loop are watched by a ``DeadlineWatch`` instead, whose one timer is armed for the
earliest deadline it knows of. An exchange that ends leaves the watch (a dict entry) and leaves the
timer alone; when the timer fires, it cancels the tasks whose deadline has come and is armed again
for the earliest of those still running, if any. So a loop answering thousands of exchanges a
second, each done long before its deadline, has one timer firing once per timeout.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

TIMER_SLACK = 0.001
"""A deadline this close when the watch's timer fires is taken as reached: event-loop timers round
to milliseconds and may fire a little early."""


class DeadlineWatch:
    """The running deadlines of one event loop, and the one timer that enforces them."""

    __slots__ = ("_timer", "due", "loop", "running")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.running: dict[Deadline, None] = {}
        """Deadlines entered and not yet left, in entry order."""
        self._timer: asyncio.TimerHandle | None = None
        self.due = float("inf")
        """When the timer fires (infinity: no timer armed)."""

    def arm(self, when: float) -> None:
        """The timer fires at ``when``, earlier than it was armed for (or it was not armed)."""
        if self._timer is not None:
            self._timer.cancel()
        self.due = when
        self._timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer, self.due = None, float("inf")
        reached = self.loop.time() + TIMER_SLACK
        running = self.running
        for deadline in [deadline for deadline in running if deadline.when <= reached]:
            del running[deadline]
            deadline.expire()
        if running:
            self.arm(min(deadline.when for deadline in running))


class Deadline:
    __slots__ = ("_cancelling", "_expired", "_task", "_watch", "when")

    def __init__(self, watch: DeadlineWatch, when: float):
        self._watch = watch
        self.when = when
        self._expired = False

    def __enter__(self) -> None:
        watch = self._watch
        task = asyncio.current_task(watch.loop)
        if task is None:
            raise RuntimeError("a deadline must be entered inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        watch.running[self] = None
        if self.when < watch.due:  # earlier than the armed timer (a shorter timeout), or none armed
            watch.arm(self.when)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._watch.running.pop(self, None)
        if self._expired and self._task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
            raise TimeoutError from exc

    def expire(self) -> None:
        """The deadline has come: the task is cancelled, and leaves the block as ``TimeoutError``."""
        self._task.cancel()
        self._expired = True
