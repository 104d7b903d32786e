"""Fetched OAuth2 tokens shared by a fleet (``--state``; issue 22, item 1): one token request serves
every instance.

An instance that needs a token reads the store first; if none is there, one instance takes a short
lock (``claim``: SET NX PX) and asks the token endpoint, and the others wait for what it stores.
A token is stored sealed with AES-GCM under a key derived by HKDF from the grant's client secret:
only instances that know the secret can read it, and whoever reads the store sees no token (nor a
name that repeats the client id). The store key is bound into the seal (associated data), so a
value copied under another grant's key does not open. A token is never logged.

The store down, or a stored value that does not open, and the instance fetches its own token as a
single process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..records import dataclass
from .credentials import TokenGrant
from .state import StateStore, StoreDown

log = logging.getLogger("naftiko.state")
SALT = b"naftiko-runtime shared token v1"
NONCE_BYTES = 12
LOCK_SECONDS = 10.0
"""How long one instance may hold the fetch lock: past it, another instance fetches."""
POLL_SECONDS = 0.05
"""How often a waiting instance looks for the token being fetched elsewhere."""
LONGEST_KEPT = 3600.0
"""Seconds a token without ``expires_in`` stays in the store."""


@dataclass(frozen=True)
class Seal:
    """The store key and the AES-GCM key of one grant, both derived from its client secret."""

    name: str
    key: bytes

    @classmethod
    def of(cls, grant: TokenGrant) -> Seal:
        secret = "\0".join(grant.secrets).encode()
        context = "\0".join([grant.token_url, *(f"{k}={v}" for k, v in grant.form if v not in grant.secrets)])

        def derive(purpose: str, length: int) -> bytes:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=SALT, info=f"{purpose}\0{context}".encode())
            return hkdf.derive(secret)

        return cls("token:" + derive("store key", 16).hex(), derive("aes-256-gcm", 32))

    def seal(self, token: str, expires_at: float) -> bytes:
        """``token`` and its expiry (seconds since the epoch), encrypted and authenticated."""
        nonce = os.urandom(NONCE_BYTES)
        plain = orjson.dumps({"access_token": token, "expires_at": expires_at})
        return nonce + AESGCM(self.key).encrypt(nonce, plain, self.name.encode())

    def open(self, sealed: bytes) -> tuple[str, float] | None:
        """The token and its expiry, or ``None`` if ``sealed`` was not sealed by this grant's key
        under this name (tampered, another secret, another key)."""
        try:
            plain = AESGCM(self.key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self.name.encode())
            document = orjson.loads(plain)
        except (InvalidTag, ValueError):
            return None
        token, expires_at = document.get("access_token"), document.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires_at, int | float):
            return None
        return token, float(expires_at)


Fetch = Callable[[], Awaitable[tuple[str, float]]]
"""Asks the token endpoint: the token and how many seconds it may be used."""


class SharedTokens:
    def __init__(self, store: StateStore):
        self.store = store
        self._seals: dict[TokenGrant, Seal] = {}

    def _seal(self, grant: TokenGrant) -> Seal:
        seal = self._seals.get(grant)
        if seal is None:
            seal = self._seals[grant] = Seal.of(grant)
        return seal

    async def obtain(self, grant: TokenGrant, fetch: Fetch, refused: tuple[str, ...]) -> tuple[str, float]:
        """A token for ``grant`` and its usable seconds: the fleet's, or fetched for the fleet.
        A token in ``refused`` (an upstream answered 401 to it) is fetched anew."""
        seal = self._seal(grant)
        try:
            stored = await self._stored(seal, refused)
            deadline = time.monotonic() + LOCK_SECONDS
            while stored is None and time.monotonic() < deadline:
                if await self.store.claim(seal.name + ":lock", LOCK_SECONDS):
                    return await self._fetch_for_fleet(seal, fetch)
                await asyncio.sleep(POLL_SECONDS)
                stored = await self._stored(seal, refused)
            if stored is not None:
                return stored
        except StoreDown:
            pass
        return await fetch()

    async def _stored(self, seal: Seal, refused: tuple[str, ...]) -> tuple[str, float] | None:
        sealed = await self.store.get(seal.name)
        opened = None if sealed is None else seal.open(sealed)
        if sealed is not None and opened is None:
            log.warning("a stored token of %s did not decrypt (another client secret?); fetching one", seal.name)
        if opened is None or opened[0] in refused:
            return None
        token, expires_at = opened
        usable = expires_at - time.time()
        return (token, usable) if usable > 0 else None

    async def _fetch_for_fleet(self, seal: Seal, fetch: Fetch) -> tuple[str, float]:
        try:
            token, usable = await fetch()
            kept = min(usable, LONGEST_KEPT)
            if kept > 0:
                with contextlib.suppress(StoreDown):
                    await self.store.put(seal.name, seal.seal(token, time.time() + kept), kept)
            return token, usable
        finally:
            with contextlib.suppress(StoreDown):
                await self.store.release(seal.name + ":lock")
