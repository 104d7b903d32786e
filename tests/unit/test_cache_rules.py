"""RFC 9111 rules of the shared cache (D123), in-process: no socket, a fake clock, an upstream as a
function that counts what it is asked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from naftiko_runtime.core.cache import Served, SharedCache
from naftiko_runtime.core.requests import Outgoing
from naftiko_runtime.settings import CachePolicy

ON = CachePolicy(enabled=True)
URL = "http://upstream.test/items"


@dataclass(frozen=True)
class Answer:
    status: int
    items: tuple[tuple[str, str], ...]
    body: bytes


@dataclass
class Origin:
    """An upstream that answers ``headers`` and counts requests; ``body`` names the request's number."""

    headers: tuple[tuple[str, str], ...]
    sent: list[Outgoing] = field(default_factory=list)
    status: int = 200

    async def __call__(self, request: Outgoing) -> Answer:
        self.sent.append(request)
        return Answer(self.status, self.headers, f"answer {len(self.sent)}".encode())


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def get(headers: dict[str, str] | None = None, method: str = "GET", url: str = URL) -> Outgoing:
    return Outgoing(method, url, headers or {}, None)


def ask(cache: SharedCache, origin: Origin, request: Outgoing, policy: CachePolicy = ON) -> Answer | Served:
    return asyncio.run(cache.send("ns", request, policy, frozenset({"x-polytomic-key"}), origin))


def test_freshness_runs_out_and_age_is_told():
    clock = Clock()
    cache, origin = SharedCache(10, 1 << 20, clock), Origin((("Cache-Control", "max-age=10"),))
    ask(cache, origin, get())
    clock.now += 4
    served = ask(cache, origin, get())
    assert isinstance(served, Served) and served.headers.get("age") == "4" and served.body == b"answer 1"
    clock.now += 7
    assert ask(cache, origin, get()).body == b"answer 2"
    assert cache.counts.hits == 1 and cache.counts.misses == 2


def test_expires_counts_from_the_date_header():
    clock = Clock()
    headers = (("Date", "Sun, 06 Dec 2026 10:00:00 GMT"), ("Expires", "Sun, 06 Dec 2026 10:00:30 GMT"))
    cache, origin = SharedCache(10, 1 << 20, clock), Origin(headers)
    ask(cache, origin, get())
    clock.now += 29
    ask(cache, origin, get())
    clock.now += 2
    ask(cache, origin, get())
    assert len(origin.sent) == 2


def test_vary_serves_only_the_same_request_headers():
    cache, origin = SharedCache(10, 1 << 20), Origin((("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")))
    english, french = get({"Accept-Language": "en"}), get({"Accept-Language": "fr"})
    bodies = [ask(cache, origin, request).body for request in (english, english, french, french)]
    assert bodies == [b"answer 1", b"answer 1", b"answer 2", b"answer 2"]
    assert (
        ask(
            cache,
            Origin(
                (("Vary", "*"), ("Cache-Control", "max-age=60")),
            ),
            get(),
        ).status
        == 200
    )


def test_a_rules_vary_tells_answers_apart_the_upstream_does_not():
    cache, origin = SharedCache(10, 1 << 20), Origin((("Cache-Control", "max-age=60"),))
    policy = CachePolicy(enabled=True, vary=("x-tenant",))
    for tenant in ("a", "b", "a"):
        ask(cache, origin, get({"X-Tenant": tenant}), policy)
    assert len(origin.sent) == 2


def test_a_304_refreshes_the_stored_headers_and_lifetime():
    clock = Clock()
    cache = SharedCache(10, 1 << 20, clock)
    ask(cache, Origin((("Cache-Control", "max-age=1"), ("ETag", '"a"'), ("X-Version", "1"))), get())
    clock.now += 5
    refreshed = Origin((("Cache-Control", "max-age=100"), ("ETag", '"a"'), ("X-Version", "2")), status=304)
    served = ask(cache, refreshed, get())
    assert refreshed.sent[0].headers["If-None-Match"] == '"a"'
    assert served.status == 200 and served.body == b"answer 1" and served.headers.get("x-version") == "2"
    clock.now += 50
    assert ask(cache, refreshed, get()).body == b"answer 1" and len(refreshed.sent) == 1


def test_the_callers_own_conditional_or_no_store_request_passes_through():
    cache, origin = SharedCache(10, 1 << 20), Origin((("Cache-Control", "max-age=60"), ("ETag", '"a"')))
    ask(cache, origin, get())
    ask(cache, origin, get({"If-None-Match": '"a"'}))
    ask(cache, origin, get({"Cache-Control": "no-store"}))
    ask(cache, origin, get({"Cache-Control": "no-cache"}))
    assert len(origin.sent) == 4 and origin.sent[3].headers["If-None-Match"] == '"a"'


def test_head_and_other_methods_are_never_stored():
    cache, origin = SharedCache(10, 1 << 20), Origin((("Cache-Control", "max-age=60"),))
    for method in ("HEAD", "HEAD", "OPTIONS", "OPTIONS"):
        ask(cache, origin, get(method=method))
    assert len(origin.sent) == 4 and len(cache) == 0


def test_entries_and_bytes_are_bounded_least_recently_used_first():
    origin = Origin((("Cache-Control", "max-age=60"),))
    cache = SharedCache(2, 1 << 20)
    for path in ("a", "b", "a", "c"):
        ask(cache, origin, get(url=f"{URL}/{path}"))
    assert len(cache) == 2 and cache.counts.evicted == 1
    ask(cache, origin, get(url=f"{URL}/a"))
    assert len(origin.sent) == 3  # "a", used last before "c", is still there; "b" went
    small = SharedCache(100, 150)
    for path in "abcdef":
        ask(small, origin, get(url=f"{URL}/{path}"))
    assert len(small) < 6


credentials = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)


@given(first=credentials, second=credentials, header=st.sampled_from(["Authorization", "X-Polytomic-Key", "Cookie"]))
def test_an_answer_is_never_served_to_other_credentials(first, second, header):
    """Whatever two credentials are, the second caller gets the upstream's answer, not the first's,
    unless they sent the very same value; the key keeps a digest, not the value."""
    cache, origin = SharedCache(10, 1 << 20), Origin((("Cache-Control", "public, max-age=60"),))
    ask(cache, origin, get({header: first}))
    answer = ask(cache, origin, get({header: second}))
    assert (answer.body == b"answer 1") == (first == second)
    assert all(len(key[2]) == 64 and set(key[2]) <= set("0123456789abcdef") for key in cache._entries)
