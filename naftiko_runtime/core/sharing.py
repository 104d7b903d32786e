"""Choosing the shared state at start-up (issue 22, D98): the store ``--state`` names, and the ways
the breakers and the token caches reach it. Their modules, redis-py and ``cryptography`` among
their imports, load only when a store is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .state import StateStore

if TYPE_CHECKING:
    from .shared_breakers import SharedBreakers
    from .shared_tokens import SharedTokens


def open_store(url: str) -> StateStore:
    """The store ``url`` names (``Settings.state``)."""
    from .redis_state import RedisStore

    return RedisStore(url)


def shared_state(store: StateStore) -> tuple[SharedBreakers, SharedTokens]:
    """The breakers' and the token caches' ways to ``store``."""
    from .shared_breakers import SharedBreakers
    from .shared_tokens import SharedTokens

    return SharedBreakers(store), SharedTokens(store)
