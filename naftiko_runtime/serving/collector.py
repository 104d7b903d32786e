"""Held connections out of the garbage collector's way (issue 22, D132).

Every open connection is about 32 objects the cyclic collector tracks (the protocol, httptools'
parser and its bound callbacks, the transport, flow control, the last request's cycle). A full
collection walks every tracked object while the event loop waits, so 10,000 idle keep-alive
connections made each one a pause of 100-200 ms on a shared machine, and the active callers' p99
rose 4x (``benchmarks/idle_conns.py``; with the collector off it did not move).

``FreezeAfterFullCollections`` moves what survives a full collection into the permanent
generation (``gc.freeze``), the pattern CPython documents for long-lived servers: the next full
collections walk only what came since. Objects there are still freed by reference counting; only
a cycle that becomes garbage after being frozen waits, until the first full collection after
``thaw_every`` seconds, which is given everything back (``gc.unfreeze``) and walks it all once.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

THAW_SECONDS = 600.0
"""How long a frozen cycle may wait to be collected: one full walk every ten minutes at most."""
OLDEST = 2


class FreezeAfterFullCollections:
    """A ``gc.callbacks`` entry: freeze after each full collection, thaw before one now and then."""

    def __init__(self, thaw_every: float = THAW_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.thaw_every = thaw_every
        self.clock = clock
        self.thawed_at = clock()

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != OLDEST:
            return
        if phase == "stop":
            gc.freeze()
            return
        now = self.clock()
        if now - self.thawed_at >= self.thaw_every:
            self.thawed_at = now
            gc.unfreeze()


def keep_held_objects_frozen() -> FreezeAfterFullCollections:
    """Install the policy for this process (``serve``'s workers call it once the files are loaded)."""
    policy = FreezeAfterFullCollections()
    gc.callbacks.append(policy)
    return policy
