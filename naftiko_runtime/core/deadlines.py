"""A deadline around the awaits of one upstream exchange: ``asyncio.timeout_at`` for a loop the
caller already holds, entered as a plain ``with``.

On Python 3.11 every ``asyncio.get_running_loop()`` is a ``getpid`` system call (the check that the
loop was not inherited through ``fork``), and ``timeout_at`` makes two on entry (``current_task()``
and ``reschedule``); on this VM they measured ~4% of a pass-through's CPU. ``Deadline`` takes the
loop once per request from its caller and otherwise behaves as ``asyncio.Timeout``: the task is
cancelled at ``when``, and that cancellation (and no other) leaves the block as ``TimeoutError``.
Entering and leaving need no await, so it is a synchronous context manager: two coroutine frames
fewer on every exchange than ``async with``.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Deadline:
    __slots__ = ("_cancelling", "_expired", "_handle", "_loop", "_task", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop, when: float):
        self._loop = loop
        self._when = when
        self._expired = False

    def __enter__(self) -> None:
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("a deadline must be entered inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._handle = self._loop.call_at(self._when, self._on_timeout)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._handle.cancel()
        if self._expired and self._task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
            raise TimeoutError from exc

    def _on_timeout(self) -> None:
        self._task.cancel()
        self._expired = True
