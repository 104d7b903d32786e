"""Issue 20, item 4: numbers are exact. An integer of any size, and a number a double cannot hold,
reach the upstream unchanged in its path, query, header and body, and come back unchanged from
its JSON reply through an output mapping: never a 500, never silently a float.

The oracle is independent of the gateway: the recording upstream checks the bytes it receives, and
every JSON document is read back with the standard library's exact parser (integers of any size,
numbers as ``Decimal``), never with the gateway's own decoder.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from support import Canned, Recorded, running_gateway

from naftiko_runtime.core.outputs import convert
from naftiko_runtime.spec.exactjson import dumps, loads

CAPABILITY = """\
naftiko: 1.0.0-alpha2
info: {label: Numbers, description: Exact numbers end to end.}
capability:
  consumes:
    - type: http
      namespace: numbers
      baseUri: http://upstream.invalid
      resources:
        - name: things
          path: /things/{id}
          operations:
            - name: put
              method: POST
              outputRawFormat: json
              inputParameters:
                - {name: id, in: path}
                - {name: limit, in: query}
                - {name: ratio, in: query}
                - {name: X-Count, in: header}
                - {name: body, in: body}
  exposes:
    - type: rest
      namespace: numbers-rest
      port: 8080
      resources:
        - path: /things/{id}
          operations:
            - method: POST
              call: numbers.put
              inputParameters:
                - {name: id, in: path, type: integer, description: An integer of any size.}
                - {name: limit, in: query, type: integer, description: An integer of any size.}
                - {name: ratio, in: query, type: number, description: Any number.}
                - {name: X-Count, in: header, type: integer, description: An integer of any size.}
                - {name: body, in: body, type: object, description: Numbers in JSON.}
              with: {id: rest.id, limit: rest.limit, ratio: rest.ratio, X-Count: rest.X-Count, body: rest.body}
              outputParameters: [{type: object, mapping: "$.received"}]
    - type: mcp
      namespace: numbers-mcp
      port: 9090
      tools:
        - name: put-thing
          description: Send numbers upstream.
          call: numbers.put
          inputParameters:
            - {name: id, type: integer, required: true, description: An integer of any size.}
            - {name: limit, type: integer, required: true, description: An integer of any size.}
            - {name: ratio, type: number, required: true, description: Any number.}
            - {name: count, type: integer, required: true, description: An integer of any size.}
            - {name: body, type: object, required: true, description: Numbers in JSON.}
          with: {id: tools.id, limit: tools.limit, ratio: tools.ratio, X-Count: tools.count, body: tools.body}
          outputParameters: [{type: object, mapping: "$.received"}]
"""

EDGES = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -882479421906516180992, 10**100, 0]
INTEGERS = st.one_of(st.sampled_from(EDGES), st.integers(), st.integers(min_value=-(10**80), max_value=10**80))
DOUBLES = st.floats(allow_nan=False, allow_infinity=False)
DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
"""Numbers no double holds: 40 significant digits, exponents beyond 308, ``-0.000``."""
NUMBERS = st.one_of(DOUBLES.map(repr), DECIMALS.map(str), INTEGERS.map(str))
"""A number as JSON (and a URL) writes it."""


def exact(text: bytes | str):
    """The oracle's JSON reading: integers of any size, every other number as its exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def same(a, b) -> bool:
    """Equal as JSON values: numbers by their exact value, whatever their spelling or Python type."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    numbers = (int, float, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return Decimal(repr(a) if isinstance(a, float) else a) == Decimal(repr(b) if isinstance(b, float) else b)
    return type(a) is type(b) and a == b


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INTEGERS | DOUBLES | DECIMALS | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=16,
)


@settings(max_examples=400)
@given(JSON_VALUES)
def test_exact_json_keeps_every_number(value):
    """In-process: what ``dumps`` writes, the standard library reads back to the same numbers, and so
    does ``loads`` (through orjson or the exact parser, whichever the text needs)."""
    text = dumps(value)
    assert same(exact(text), value)
    assert same(loads(text), value)
    assert same(loads(b" \n" + text + b"\t"), value)


@given(INTEGERS | DECIMALS)
def test_a_templated_output_number_keeps_its_value(number):
    """D43: an output value rendered from a template and declared a number is converted exactly."""
    assert same(convert(str(number), "number"), number)
    assert convert("nan", "number") == "nan", "not a JSON number: left as the text it is"


def reflect(request: Recorded) -> Canned:
    """The upstream answers with what it received, its numbers written back as the very texts it
    was sent: the gateway must decode them exactly to map them back out."""
    query = dict(request.query)
    body = request.body or b"null"
    limit, ratio, count = query["limit"], query["ratio"], request.headers["x-count"]
    segment = request.path.rsplit("/", 1)[1]
    document = f'{{"received":{{"id":{segment},"limit":{limit},"ratio":{ratio},"count":{count},"body":'
    return Canned(200, document.encode() + body + b"}}")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream):
    path = tmp_path_factory.mktemp("numbers") / "numbers.yaml"
    path.write_text(CAPABILITY, encoding="utf-8")
    with running_gateway([path], {}, base_uris={"numbers": upstream.url}) as served:
        yield served


def check_upstream(upstream, identifier: int, limit: int, ratio: str, count: int, body_text: str) -> None:
    received = upstream.last
    assert received.path == f"/things/{identifier}", "the path segment is the integer's text"
    query = dict(received.query)
    assert query["limit"] == str(limit)
    assert Decimal(query["ratio"]) == Decimal(ratio), "the number keeps its value"
    assert received.headers["x-count"] == str(count)
    assert same(exact(received.body), exact(body_text)), "the body's numbers keep their value"


def body_text(integer: int, number: str, nested: int) -> str:
    return f'{{"n":{integer},"x":{number},"list":[{nested},{number},{-nested}],"deep":{{"n":{nested}}}}}'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(identifier=INTEGERS, limit=INTEGERS, ratio=NUMBERS, count=INTEGERS, number=NUMBERS, nested=INTEGERS)
def test_rest_numbers_reach_the_upstream_and_come_back_exact(
    gateway, upstream, http, identifier, limit, ratio, count, number, nested
):
    upstream.reset(reflect)
    body = body_text(limit, number, nested)
    response = http.post(
        f"{gateway.url(8080)}/things/{identifier}?limit={limit}&ratio={quote(ratio)}",
        headers={"X-Count": str(count), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 200, response.text
    check_upstream(upstream, identifier, limit, ratio, count, body)
    expected = {"id": identifier, "limit": limit, "ratio": exact(ratio), "count": count, "body": exact(body)}
    assert same(exact(response.content), expected), "the mapped reply keeps every number's value"


async def call_tool(url: str, arguments: dict):
    async with Client(url + "/mcp") as client:
        return await client.call_tool("put-thing", arguments)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(identifier=INTEGERS, limit=INTEGERS, ratio=DOUBLES, count=INTEGERS, nested=INTEGERS)
def test_mcp_numbers_reach_the_upstream_and_come_back_exact(gateway, upstream, identifier, limit, ratio, count, nested):
    """MCP arguments are JSON decoded by the ``mcp`` package: integers of any size, doubles."""
    upstream.reset(reflect)
    body = {"n": limit, "x": ratio, "list": [nested, ratio, -nested], "deep": {"n": nested}}
    arguments = {"id": identifier, "limit": limit, "ratio": ratio, "count": count, "body": body}
    result = asyncio.run(call_tool(gateway.url(9090), arguments))
    assert result.is_error is False, result.content
    check_upstream(upstream, identifier, limit, repr(ratio), count, json.dumps(body))
    expected = {"id": identifier, "limit": limit, "ratio": ratio, "count": count, "body": body}
    assert same(exact(result.content[0].text), expected)
    assert same(result.structured_content, expected), "the structured result holds the same numbers"


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("limit=1.5&ratio=1", "limit"),
        ("limit=1e3&ratio=1", "limit"),
        ("limit=1&ratio=nan", "ratio"),
        ("limit=1&ratio=inf", "ratio"),
        ("limit=1&ratio=0x10", "ratio"),
        ("limit=1&ratio=1_000", "ratio"),
        ("limit=" + "9" * 5000 + "&ratio=1", "limit"),
    ],
)
def test_a_declared_type_is_checked_exactly(gateway, upstream, query, problem):
    """An integer is digits only, a number a finite decimal: anything else is a 400 naming the input."""
    response = httpx.post(f"{gateway.url(8080)}/things/1?{query}", headers={"X-Count": "1"}, json={"n": 1}, timeout=10)
    assert response.status_code == 400, response.text
    assert [e["name"] for e in response.json()["errors"]] == [problem]
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [({"limit": 1.5}, "limit"), ({"ratio": "1"}, "ratio"), ({"id": True}, "id")],
)
async def test_mcp_argument_types_are_checked_exactly(gateway, upstream, arguments, problem):
    base = {"id": 1, "limit": 2, "ratio": 0.5, "count": 3, "body": {}}
    async with Client(gateway.url(9090) + "/mcp") as client:
        result = await client.call_tool("put-thing", {**base, **arguments})
    assert result.is_error is True
    assert problem in result.content[0].text
    assert upstream.requests == []


def test_a_json_body_with_a_non_number_constant_is_refused(gateway, upstream):
    """The exact decoder (taken for long numbers) refuses what orjson refuses: NaN is not JSON."""
    body = '{"n": 12345678901234567890, "x": NaN}'
    response = httpx.post(
        f"{gateway.url(8080)}/things/1?limit=1&ratio=1",
        headers={"X-Count": "1", "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 400, response.text
    assert upstream.requests == []


def test_the_reported_request_is_answered(gateway, upstream):
    """The issue's example: a limit beyond 64 bits was a 500."""
    upstream.reset(reflect)
    response = httpx.post(
        f"{gateway.url(8080)}/things/7?limit=-882479421906516180992&ratio=0.1",
        headers={"X-Count": "18446744073709551616", "Content-Type": "application/json"},
        content=b'{"n": 123456789012345678901234567890}',
    )
    assert response.status_code == 200, response.text
    assert upstream.last.raw_query == "limit=-882479421906516180992&ratio=0.1"
    assert upstream.last.body == b'{"n":123456789012345678901234567890}'
    assert b'"limit":-882479421906516180992' in response.content


async def test_the_issue_s_polytomic_call_is_passed_on(polytomic, upstream):
    """The issue's finding on the Polytomic files: `limit` is a declared integer, on REST and MCP."""
    limit = -882479421906516180992
    response = httpx.get(f"{polytomic.url(8080)}/v1/api/syncs", params={"limit": str(limit)})
    assert response.status_code == 200, response.text
    assert ("limit", str(limit)) in upstream.last.query
    upstream.requests.clear()
    async with Client(polytomic.url(9090) + "/mcp") as client:
        result = await client.call_tool("list-syncs", {"limit": limit})
    assert result.is_error is False, result.content
    assert ("limit", str(limit)) in upstream.last.query
