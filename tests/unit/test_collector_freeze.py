"""Issue 22 (D132): what survives a full collection is frozen, and a frozen cycle that became garbage
is still collected at the first full collection after the thaw period. In-process, no sockets; the
effect on callers' p99 beside 10,000 idle connections is a benchmark row (``benchmarks/idle_conns.py``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from naftiko_runtime.serving.collector import FreezeAfterFullCollections


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def _cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def policy() -> Iterator[tuple[FreezeAfterFullCollections, Clock]]:
    clock = Clock()
    installed = FreezeAfterFullCollections(thaw_every=60, clock=clock)
    gc.callbacks.append(installed)
    try:
        yield installed, clock
    finally:
        gc.callbacks.remove(installed)
        gc.unfreeze()
        gc.collect()


def test_what_survives_a_full_collection_is_frozen_and_younger_collections_leave_it(policy):
    head, _ = _cycle()
    gc.collect(2)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    younger = [_cycle() for _ in range(50)]  # tracked, in the young generation: a young freeze would take them
    gc.collect(0)
    gc.collect(1)
    # Not equal: frozen objects freed by reference counting meanwhile (another thread of an xdist
    # worker) lower the count; a freeze after a young collection would raise it by 100 or more.
    assert gc.get_freeze_count() < frozen + 100, "only a full collection freezes"
    assert head.other is not None and all(node.other is not None for node, _ in younger)


def test_a_frozen_cycle_turned_garbage_waits_for_the_thaw_then_is_collected(policy):
    _, clock = policy
    head, tail = _cycle()
    gc.collect(2)  # the cycle is frozen
    del head
    gc.collect(2)
    assert tail() is not None, "a frozen cycle is not walked before the thaw period"
    clock.now = 61
    gc.collect(2)
    assert tail() is None, "the full collection after the thaw period walked it"
    assert gc.get_freeze_count() > 0, "and froze what survived again"
