"""Issue 10, item 4: the upstream receives exactly the declared path plus the percent-encoded value.

Before: on the default transport (httpx over httpx-aiohttp) the aiohttp/yarl URL layer un-escaped
``; = , : @ ! $ & ' ( ) *``, so a path value ``..;`` reached the upstream as ``/api/syncs/..;``
and ``x;v=1,w=2`` as is (Java upstreams read those as path parameters); with ``--transport httpx``
it stayed ``%3B``. Invalid UTF-8 in a REST value (``%ff``, ``%c0%ae``) became U+FFFD, so
different ids collided. Wanted (D15): every byte of the value percent-encoded except RFC 3986's
unreserved characters, on every transport, through REST and MCP alike.

The upstream here is a raw socket server that records the request-target bytes as they arrive.
"""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import pytest
from edge_support import MCP, MCP_HEADERS, REST, served
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from naftiko_runtime.settings import TRANSPORTS

SUB_DELIMS = "!$&'()*+,;="
GEN_DELIMS = ":/?#[]@"
ALL_BYTES = bytes(range(256))
PROPERTY = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# D15 refuses these (they would change the upstream path); "schedules" is a literal route of its own.
NOT_A_SEGMENT = {b"", b".", b"..", b"schedules"}


@pytest.fixture(scope="module", params=TRANSPORTS)
def gateway(request, tmp_path_factory, raw_upstream):
    with served(
        tmp_path_factory.mktemp(request.param), raw_upstream.url, "--transport", request.param
    ) as served_gateway:
        yield served_gateway


def expected_target(value: bytes) -> bytes:
    """The declared path, then each byte of the value percent-encoded unless unreserved."""
    return b"/api/syncs/" + quote_from_bytes(value, safe="").encode("ascii")


def _sent_target(raw_upstream) -> bytes:
    assert len(raw_upstream.seen) == 1, [s.target for s in raw_upstream.seen]
    return raw_upstream.seen[0].target


raw_values = st.one_of(
    st.binary(min_size=1, max_size=24),
    st.text(alphabet=SUB_DELIMS + GEN_DELIMS + "%.~-_aZ09", min_size=1, max_size=16).map(str.encode),
    st.lists(
        st.sampled_from([b"%ff", b"\xff", b"\xc0\xae", b"\xed\xa0\x80", b";", b"..;", b"=", b"\x00", b"%2F"]),
        min_size=1,
        max_size=5,
    ).map(b"".join),
).filter(lambda value: value not in NOT_A_SEGMENT)


@PROPERTY
@given(value=raw_values)
@example(value=ALL_BYTES)
@example(value=SUB_DELIMS.encode())
@example(value=b"..;")
@example(value=b"x;v=1,w=2")
@example(value=b"\xff")
@example(value=b"\xc0\xae")
def test_rest_path_values_reach_the_upstream_byte_exact(gateway, raw_upstream, http, value):
    """The caller sends the value percent-encoded (any bytes, invalid UTF-8 included)."""
    raw_upstream.reset()
    target = "/v1/api/syncs/" + quote_from_bytes(value, safe="")
    response = http.get(gateway.url(REST) + target)
    assert response.status_code == 200, (value, response.status_code, response.text[:200])
    assert _sent_target(raw_upstream) == expected_target(value)


def test_distinct_invalid_utf8_ids_stay_distinct(gateway, raw_upstream, http):
    """``%ff`` and ``%fe`` were both sent as ``%EF%BF%BD``: two ids, one upstream resource."""
    for encoded in ("%ff", "%fe", "%c0%ae"):
        assert http.get(gateway.url(REST) + "/v1/api/syncs/" + encoded).status_code == 200
    assert [s.target for s in raw_upstream.seen] == [b"/api/syncs/%FF", b"/api/syncs/%FE", b"/api/syncs/%C0%AE"]


text_values = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=16),
    st.text(alphabet=SUB_DELIMS + GEN_DELIMS + "%.~-_ aZ09\x00\x7f", min_size=1, max_size=16),
).filter(lambda value: value.encode() not in NOT_A_SEGMENT)


@PROPERTY
@given(value=text_values)
@example(value="".join(map(chr, range(1, 256))))
@example(value=SUB_DELIMS)
@example(value="..;")
@example(value="x;v=1,w=2")
@example(value="caf\u00e9/\U0001f600?#")
def test_mcp_path_arguments_reach_the_upstream_byte_exact(gateway, raw_upstream, http, value):
    """A tool argument's UTF-8 bytes, percent-encoded, whatever the characters."""
    raw_upstream.reset()
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "get-sync", "arguments": {"id": value}},
    }
    response = http.post(gateway.url(MCP) + "/mcp", json=message, headers=MCP_HEADERS)
    assert response.status_code == 200
    result = response.json()["result"]
    assert not result.get("isError"), (value, result)
    assert _sent_target(raw_upstream) == expected_target(value.encode("utf-8"))
