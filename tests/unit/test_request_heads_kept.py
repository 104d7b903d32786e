"""D159: an upstream transport keeps the request heads it wrote, by everything that makes a head
(method, URL, headers in order, body length), so a repeated request is not split, checked and
written again; a kept head is never the head of another request, and a refused one is never kept.
D167: headers new on every call (a trace context, an idempotency key) that end a request's headers
are added to the head kept without them, to the same bytes and with the same refusals."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from naftiko_runtime.core.http1_requests import PER_CALL, origin_of, request_head, split_url
from naftiko_runtime.core.http1_transport import HEADS_KEPT, Http1Transport
from naftiko_runtime.core.requests import Drawn

URL = "http://upstream.test:8080/v1/items?page=2"
NAMES = st.sampled_from(["User-Agent", "Accept", "X-Key", "Authorization", "traceparent", "Idempotency-Key"])
VALUES = st.text(alphabet="abcXYZ019 -/", max_size=12)
HEADERS = st.lists(st.tuples(NAMES, VALUES), max_size=4).map(tuple)
REQUESTS = st.tuples(
    st.sampled_from(["GET", "POST", "DELETE"]),
    st.sampled_from([URL, "http://upstream.test:8080/v1/items", "https://other.test/a%2Fb"]),
    HEADERS,
    st.sampled_from([0, 12, -1]),
)


def _fresh(method: str, url: str, pairs: tuple[tuple[str, str], ...], length: int) -> bytes:
    prefix, target = split_url(url)
    return request_head(method, target, origin_of(prefix), pairs, length)


@given(st.lists(REQUESTS, min_size=1, max_size=12))
def test_every_head_is_the_one_its_request_would_be_written_with(requests):
    transport = Http1Transport(None, 4)
    for _ in range(2):  # the second time round, every head comes from the kept ones
        for method, url, pairs, length in requests:
            written = transport._head(method, url, pairs, length)
            assert written[0] == _fresh(method, url, pairs, length)
            assert written[1] == split_url(url)[0]
    for _, _, kept, _ in transport._heads:
        assert not any(name.lower() in PER_CALL for name, _ in kept), "a per-call value was kept"


def test_a_traced_request_takes_the_head_kept_without_its_trace_context():
    transport = Http1Transport(None, 4)
    for i in range(HEADS_KEPT + 5):
        pairs = (("X-Key", "a"), ("traceparent", f"00-{i:032x}-{i:016x}-01"), ("tracestate", "k=v"))
        assert transport._head("GET", URL, pairs, 0)[0] == _fresh("GET", URL, pairs, 0)
    assert list(transport._heads) == [("GET", URL, (("X-Key", "a"),), 0)], "one head kept, hit on every call"


@pytest.mark.parametrize("value", ["00-ab\r\nHost: evil", "a\nb", "a\0b"], ids=["CRLF", "LF", "NUL"])
def test_a_per_call_header_that_would_split_the_request_is_refused(value):
    transport = Http1Transport(None, 4)
    transport._head("GET", URL, (("X-Key", "a"),), 0)
    with pytest.raises(httpx.LocalProtocolError, match="'traceparent' holds CR, LF or NUL"):
        transport._head("GET", URL, (("X-Key", "a"), ("traceparent", value)), 0)


def test_a_repeated_request_takes_the_kept_head_and_the_kept_heads_stay_bounded():
    transport = Http1Transport(None, 4)
    first = transport._write_head("GET", URL, (("X-Key", "a"),), 0)
    assert transport._heads[("GET", URL, (("X-Key", "a"),), 0)] is first
    for i in range(HEADS_KEPT + 10):
        transport._write_head("GET", f"{URL}&i={i}", (), 0)
    assert len(transport._heads) <= HEADS_KEPT


def test_a_refused_head_is_not_kept():
    transport = Http1Transport(None, 4)
    with pytest.raises(httpx.LocalProtocolError):
        transport._write_head("GET", URL, (("X-Key", "a\r\nHost: evil"),), 0)
    assert transport._heads == {}


TRACE_CONTEXTS = {
    "w3c": (("traceparent", "00-{i:032x}-{i:016x}-01"),),
    "b3": (("x-b3-traceid", "{i:032x}"), ("x-b3-spanid", "{i:016x}"), ("x-b3-sampled", "1")),
}


@pytest.mark.parametrize("propagation", TRACE_CONTEXTS)
def test_a_drawn_trace_context_is_spliced_into_the_kept_head_as_a_checked_one_is_written(propagation):
    """D176: the lines of ``Drawn`` values (what tracing writes) go between the kept head's two
    parts unchecked, to the bytes the checked way writes for the same values, in the same order."""
    drawn, given = Http1Transport(None, 4), Http1Transport(None, 4)
    for i in range(1, 6):
        context = tuple((name, value.format(i=i)) for name, value in TRACE_CONTEXTS[propagation])
        pairs = (("X-Key", "a"), *context)
        ours = drawn._head("GET", URL, (("X-Key", "a"), *((name, Drawn(value)) for name, value in context)), 0)
        assert ours[0] == given._head("GET", URL, pairs, 0)[0] == _fresh("GET", URL, pairs, 0)
    assert list(drawn._heads) == [("GET", URL, (("X-Key", "a"),), 0)], "one head kept, hit on every call"


@pytest.mark.parametrize("value", ["00-ab\r\nHost: evil", "a\nb", "a\0b"], ids=["CRLF", "LF", "NUL"])
def test_a_given_trace_context_is_checked_where_a_drawn_one_would_be_spliced(value):
    """A ``traceparent`` given as a plain value (``with:``) is refused as before once the head is
    kept, and so is any header before a drawn run: only ``Drawn`` values skip the checks."""
    transport = Http1Transport(None, 4)
    for kept in ((), (("X-Key", "a"),)):  # every head a value could be spliced into is kept
        transport._head("GET", URL, kept, 0)
    drawn = ("traceparent", Drawn(f"00-{1:032x}-{1:016x}-01"))
    with pytest.raises(httpx.LocalProtocolError, match="'traceparent' holds CR, LF or NUL"):
        transport._head("GET", URL, (("X-Key", "a"), ("traceparent", value)), 0)
    with pytest.raises(httpx.LocalProtocolError, match="'tracestate' holds CR, LF or NUL"):
        transport._head("GET", URL, (("X-Key", "a"), ("tracestate", value), drawn), 0)
    with pytest.raises(httpx.LocalProtocolError, match="'X-Key' holds CR, LF or NUL"):
        transport._head("GET", URL, (("X-Key", value), drawn), 0)
