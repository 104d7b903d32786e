"""A shared HTTP cache for consumed GETs (RFC 9111), in memory, bounded in entries and bytes
(issue 21 item 3, D123).

Written here rather than taken from hishel 2.x: hishel's entry points wrap an httpx or requests
client, while the default upstream path (``http1_transport``) sends plain values without any
``httpx.Request``; its sans-IO core takes its own request and response models (one more copy per
call on the hot path) and its storages are SQLite or files, with no bound in bytes. What a gateway
needs of RFC 9111 is small: the storing rules of a *shared* cache (§3, §3.5), freshness (§4.2),
validation (§4.3) and invalidation by unsafe methods (§4.4). No heuristic freshness (§4.2.2): an
answer without an explicit lifetime is kept only to be revalidated, or for the ``ttl`` an operator
gave.

Nothing one caller's credentials fetched is served to another: the key holds a keyed digest
(HMAC-SHA256 with a per-process key, never the secret in clear) of every credential header sent
upstream.
"""

from __future__ import annotations

import calendar
import email.utils
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Protocol, TypeVar

from ..records import dataclass
from ..settings import CachePolicy
from .requests import Outgoing

CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"})
"""Headers that carry a caller's or the gateway's identity whatever the consumed auth block says."""
STORABLE_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
"""Heuristically cacheable by default (RFC 9110 §15.1); nothing else is stored."""
CONDITIONAL_HEADERS = frozenset({"if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "range"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNCOPIED_ON_304 = frozenset({"content-length", "content-encoding", "transfer-encoding", "content-type"})


class Answer(Protocol):
    """What the cache needs of an upstream answer (``upstream.UpstreamResponse``)."""

    @property
    def status(self) -> int: ...
    @property
    def items(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def body(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class StoredHeaders:
    """A stored answer's headers, looked up case-insensitively (the last line of a name wins)."""

    by_name: Mapping[str, str]

    @classmethod
    def of(cls, items: Iterable[tuple[str, str]]) -> StoredHeaders:
        return cls({name.lower(): value for name, value in items})

    def get(self, key: str, /) -> str | None:
        return self.by_name.get(key.lower())


@dataclass(frozen=True, slots=True)
class Served:
    """An answer given from the cache (``upstream.UpstreamResponse``'s fields)."""

    status: int
    headers: StoredHeaders
    items: tuple[tuple[str, str], ...]
    body: bytes


def directives(value: str | None) -> dict[str, str]:
    """``Cache-Control`` as ``{directive: argument}`` (RFC 9111 §5.2), names lower-cased."""
    found: dict[str, str] = {}
    for part in (value or "").split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            found.setdefault(name.strip().lower(), argument.strip().strip('"'))
    return found


def _seconds(value: str | None) -> float | None:
    return float(value) if value is not None and value.isdigit() else None


def _date(value: str | None) -> float | None:
    parsed = email.utils.parsedate_tz(value) if value else None
    return float(calendar.timegm(parsed[:9]) - (parsed[9] or 0)) if parsed else None


@dataclass(slots=True)
class Entry:
    status: int
    items: tuple[tuple[str, str], ...]
    body: bytes
    stored_at: float
    """``time.time()`` when the answer (or its last 304) arrived."""
    lifetime: float
    vary: tuple[tuple[str, str | None], ...]
    """The request's values of the headers the answer varies on."""
    url: str

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(name) + len(value) for name, value in self.items) + len(self.url)

    def headers(self) -> StoredHeaders:
        return StoredHeaders.of(self.items)

    def age(self, now: float) -> float:
        """RFC 9111 §4.2.3, simplified for a cache next to its origin: resident time plus ``Age``."""
        return max(0.0, now - self.stored_at) + (_seconds(self.headers().get("age")) or 0.0)

    def fresh(self, now: float) -> bool:
        control = directives(self.headers().get("cache-control"))
        return "no-cache" not in control and self.age(now) < self.lifetime

    def served(self, now: float) -> Served:
        items = (*((n, v) for n, v in self.items if n.lower() != "age"), ("Age", str(int(self.age(now)))))
        return Served(self.status, StoredHeaders.of(items), items, self.body)


@dataclass
class CacheCounts:
    """What ``/metrics`` shows: ``hits`` answered from memory, ``revalidated`` by a 304, ``misses``
    sent upstream, ``stored`` answers kept, ``evicted`` to stay within the bounds."""

    hits: int = 0
    revalidated: int = 0
    misses: int = 0
    stored: int = 0
    evicted: int = 0


Key = tuple[str, str, str, str]
"""Namespace, URL, credentials' digest, the rule's ``vary`` values."""
Fetched = TypeVar("Fetched", bound=Answer)


class SharedCache:
    """One process's cache for every namespace that asks for one, bounded by ``max_entries`` and
    ``max_bytes`` (least recently used first out)."""

    def __init__(self, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.time):
        self.max_entries, self.max_bytes, self.clock = max_entries, max_bytes, clock
        self.counts = CacheCounts()
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._bytes = 0
        self._digest_key = os.urandom(32)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    def credentials_digest(self, headers: Mapping[str, str], credential_names: frozenset[str]) -> str:
        """A keyed digest of every credential value sent, or "" when none is: two callers share an
        entry only if they sent the same credentials."""
        sent = sorted(
            (name.lower(), value)
            for name, value in headers.items()
            if name.lower() in CREDENTIAL_HEADERS or name.lower() in credential_names
        )
        if not sent:
            return ""
        text = "\n".join(f"{name}:{value}" for name, value in sent).encode()
        return hmac.new(self._digest_key, text, hashlib.sha256).hexdigest()

    async def send(
        self,
        namespace: str,
        request: Outgoing,
        policy: CachePolicy,
        credential_names: frozenset[str],
        fetch: Callable[[Outgoing], Awaitable[Fetched]],
    ) -> Fetched | Served:
        """``request`` answered from the cache when a fresh entry allows it, revalidated when a stale
        one has a validator, else sent; the answer is stored when RFC 9111 allows a shared cache to."""
        if request.method in UNSAFE_METHODS:
            answer = await fetch(request)
            if answer.status < 400:
                self._invalidate(request.url)
            return answer
        lowered = {name.lower(): value for name, value in request.headers.items()}

        asked = directives(lowered.get("cache-control"))
        if request.method != "GET" or "no-store" in asked or CONDITIONAL_HEADERS & lowered.keys():
            return await fetch(request)  # the caller's own conditional request is theirs to make
        ruled = "\n".join(f"{name}:{lowered.get(name, '')}" for name in policy.vary)
        key = (namespace, request.url, self.credentials_digest(request.headers, credential_names), ruled)
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and entry.vary != _vary_values(entry.headers(), lowered):
            entry = None
        if entry is not None and entry.fresh(now) and "no-cache" not in asked:
            self._entries.move_to_end(key)
            self.counts.hits += 1
            return entry.served(now)
        answer = await fetch(_conditional(request, entry) if entry is not None else request)
        if entry is not None and answer.status == 304:
            self.counts.revalidated += 1
            merged = _refreshed(entry.items, answer.items)
            refreshed = replace(entry, items=merged, stored_at=self.clock())
            refreshed.lifetime = _lifetime(refreshed.headers(), policy)
            self._put(key, refreshed)
            return refreshed.served(self.clock())
        self.counts.misses += 1
        self._store(key, request, lowered, answer, policy)
        return answer

    def _store(
        self,
        key: Key,
        request: Outgoing,
        lowered: Mapping[str, str],
        answer: Answer,
        policy: CachePolicy,
    ) -> None:
        headers = StoredHeaders.of(answer.items)
        if not storable(answer.status, headers, "authorization" in lowered, policy):
            self._drop(key)
            return
        vary = _vary_values(headers, lowered)
        lifetime = _lifetime(headers, policy)
        self._put(key, Entry(answer.status, answer.items, answer.body, self.clock(), lifetime, vary, request.url))

    def _put(self, key: Key, entry: Entry) -> None:
        self._drop(key)
        if entry.size > self.max_bytes:
            return
        self._entries[key] = entry
        self._bytes += entry.size
        self.counts.stored += 1
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
            self.counts.evicted += 1

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    def _invalidate(self, url: str) -> None:
        """RFC 9111 §4.4: a successful unsafe request makes every stored answer for its URL stale."""
        for key in [key for key, entry in self._entries.items() if entry.url == url]:
            self._drop(key)


def storable(status: int, headers: StoredHeaders, authorized: bool, policy: CachePolicy) -> bool:
    """RFC 9111 §3 for a shared cache: never ``no-store`` or ``private`` nor ``Vary: *``; a request
    that carried ``Authorization`` only if the answer says a shared cache may keep it (§3.5); and
    only an answer with a lifetime or a validator (nothing is kept that could never be served)."""
    control = directives(headers.get("cache-control"))
    if status not in STORABLE_STATUSES or "no-store" in control or "private" in control:
        return False
    if (headers.get("vary") or "").strip() == "*":
        return False
    if authorized and not {"public", "s-maxage", "must-revalidate"} & control.keys():
        return False
    validator = headers.get("etag") is not None or headers.get("last-modified") is not None
    return validator or _lifetime(headers, policy) > 0


def _lifetime(headers: StoredHeaders, policy: CachePolicy) -> float:
    """Freshness lifetime (§4.2.1): ``s-maxage``, then ``max-age``, then ``Expires`` - ``Date``,
    then the operator's ``ttl``; else 0 (kept only to revalidate)."""
    control = directives(headers.get("cache-control"))
    for name in ("s-maxage", "max-age"):
        if name in control:
            return _seconds(control[name]) or 0.0
    expires = headers.get("expires")
    if expires is not None:
        until, date = _date(expires), _date(headers.get("date"))
        return max(0.0, until - (date if date is not None else time.time())) if until is not None else 0.0
    return policy.ttl or 0.0


def _vary_values(headers: StoredHeaders, request: Mapping[str, str]) -> tuple[tuple[str, str | None], ...]:
    """The request's values of the headers the answer varies on (§4.1): one variant is kept per
    key, the latest (the rule's ``vary`` is in the key itself, so its variants live side by side)."""
    names = sorted({name.strip().lower() for name in (headers.get("vary") or "").split(",") if name.strip()})
    return tuple((name, request.get(name)) for name in names)


def _conditional(request: Outgoing, entry: Entry) -> Outgoing:
    """The request made conditional on the stored answer's validators (§4.3.1)."""
    stored = entry.headers()
    added = {}
    if (etag := stored.get("etag")) is not None:
        added["If-None-Match"] = etag
    if (modified := stored.get("last-modified")) is not None:
        added["If-Modified-Since"] = modified
    return replace(request, headers={**request.headers, **added}) if added else request


def _refreshed(stored: tuple[tuple[str, str], ...], fresh: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The stored headers updated by a 304's (§4.3.4), the body's own description kept."""
    updated = {name.lower() for name, _ in fresh if name.lower() not in UNCOPIED_ON_304}
    kept = tuple((name, value) for name, value in stored if name.lower() not in updated)
    return kept + tuple((name, value) for name, value in fresh if name.lower() in updated)
