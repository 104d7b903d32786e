"""The ids of deliveries already let in, so that a captured delivery replayed inside the timestamp
window runs nothing a second time.

Bounded twice: an id is forgotten once its window is over (a replay of it is then refused as
stale by the timestamp check), and the oldest ids go first past ``capacity``, so a flood of
distinct valid deliveries cannot grow memory without end.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_CAPACITY = 10_000


class SeenIds:
    def __init__(self, window: float, capacity: int = DEFAULT_CAPACITY):
        self.window = window
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()

    def claim(self, event_id: str, now: float) -> bool:
        """Whether ``event_id`` is new (now taken); ``False`` for a replay still in its window."""
        while self._seen and next(iter(self._seen.values())) < now - self.window:
            self._seen.popitem(last=False)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)

    def release(self, event_id: str) -> None:
        """Forget an id whose run failed, so that the sender's retry runs it."""
        self._seen.pop(event_id, None)
