"""Fast in-process tests of the pieces under the servers: the route table, templates, output
compilation, codecs, the plan compiler, and one whole REST request through ``httpx.ASGITransport``
(the gateway's port app in front, an in-process upstream app behind, no socket opened).

The loopback tests elsewhere prove the same behaviour through real servers; these pin each
piece's contract where a failure points straight at the broken module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from naftiko_runtime import Settings
from naftiko_runtime.adapters.rest.routing import MethodNotAllowed, PathTemplateError, RouteTable, split_template
from naftiko_runtime.core.bodies import UnknownBodyType, compile_body
from naftiko_runtime.core.codecs import DECODERS, DecodeError
from naftiko_runtime.core.execution import Executor
from naftiko_runtime.core.outputs import compile_outputs, compile_path
from naftiko_runtime.core.problems import InputProblem, Problem
from naftiko_runtime.core.upstream import UpstreamClients
from naftiko_runtime.serving.loading import load_source
from naftiko_runtime.serving.ports import build_app
from naftiko_runtime.spec.expressions import InputReference, Literal, Reference, Template, with_source
from naftiko_runtime.spec.model import OutputParameter
from naftiko_runtime.spec.source import parse_text

# -- route table (D32a) -------------------------------------------------------------------------


def test_literal_segment_beats_placeholder_whatever_the_order():
    table: RouteTable[str] = RouteTable()
    table.add("GET", "/syncs/{id}", "by-id")
    table.add("GET", "/syncs/schedules", "schedules")
    matched = table.match("GET", "/syncs/schedules")
    assert matched is not None and not isinstance(matched, MethodNotAllowed)
    assert matched.target == "schedules"
    other = table.match("GET", "/syncs/abc")
    assert other is not None and not isinstance(other, MethodNotAllowed)
    assert (other.target, other.params) == ("by-id", {"id": "abc"})


def test_encoded_slash_stays_inside_one_segment_and_head_falls_back_to_get():
    table: RouteTable[str] = RouteTable()
    table.add("GET", "/items/{id}", "item")
    matched = table.match("HEAD", "/items/a%2Fb")
    assert matched is not None and not isinstance(matched, MethodNotAllowed)
    assert matched.params == {"id": "a/b"}
    assert table.match("GET", "/items/a/b") is None


def test_other_method_is_405_with_what_the_path_allows():
    table: RouteTable[str] = RouteTable()
    table.add("GET", "/items", "list")
    table.add("POST", "/items", "create")
    assert table.match("DELETE", "/items") == MethodNotAllowed(("GET", "POST"))


def test_placeholder_must_be_a_whole_segment():
    assert split_template("/a/{{id}}/b") == (("a", None, "b"), (None, "id", None))
    with pytest.raises(PathTemplateError):
        split_template("/a/x{id}")


# -- templates and with sources (D11, D12, D20) ----------------------------------------------


def test_template_of_one_reference_keeps_the_value_type_and_absence():
    template = Template.parse("{{count}}")
    assert template.render(lambda r: (True, 3)) == (True, 3)
    assert template.render(lambda r: (False, None)) == (False, None)


def test_template_with_text_renders_json_for_non_strings_and_skips_absent_values():
    template = Template.parse("n={{n}}, tags={{tags}}, missing={{x}}")
    values = {"n": 2, "tags": ["a", "b"]}
    assert template.render(lambda r: (r.name in values, values.get(r.name))) == (True, 'n=2, tags=["a","b"], missing=')
    assert template.references == (Reference(None, "n"), Reference(None, "tags"), Reference(None, "x"))


def test_with_sources_are_classified_once():
    roots = ("api-rest", "rest")
    assert with_source("rest.id", roots) == InputReference("id")
    assert with_source("api-rest.X-Version", roots) == InputReference("X-Version")
    assert with_source("tools.id", roots) == Literal("tools.id")
    assert with_source(5, roots) == Literal(5)
    assert isinstance(with_source("Bearer {{TOKEN}}", roots), Template)


# -- outputs (D40-D44) ------------------------------------------------------------------------


def test_jsonpath_single_multi_and_missing_matches():
    document = {"data": [{"id": 1}, {"id": 2}], "meta": {"next": None}}
    assert compile_path("$.data[1].id")(document) == 2
    assert compile_path("$.data[*].id")(document) == [1, 2]
    assert compile_path("$.nothing.here")(document) is None
    assert compile_path("$.")(document) is document


def test_output_object_maps_properties_against_its_node_and_converts_static_values():
    output = OutputParameter(
        "object",
        mapping="$.data",
        properties={
            "first": OutputParameter("number", mapping="$[0].id"),
            "kind": OutputParameter("number", value="42"),
        },
    )
    mapper, findings = compile_outputs((output,))
    assert findings == [] and not mapper.passthrough
    assert mapper.apply({"data": [{"id": 7}]}, lambda r: (False, None)) == {"first": 7, "kind": 42}


def test_whole_response_mapping_is_a_passthrough_and_bad_jsonpath_is_a_finding():
    mapper, _ = compile_outputs((OutputParameter("object", mapping="$."),))
    assert mapper.passthrough
    _, findings = compile_outputs((OutputParameter("string", mapping="$.[[["),))
    assert findings and "invalid JSONPath" in findings[0].message


# -- codecs and bodies ---------------------------------------------------------------------------


def test_body_templates_are_compiled_once_and_encoded_by_their_type():
    body = compile_body({"type": "formUrlEncoded", "data": {"q": "{{term}}", "page": "2"}})
    assert body.encode(lambda r: (True, "a b&c")) == (b"q=a+b%26c&page=2", "application/x-www-form-urlencoded")
    json_body = compile_body({"type": "json", "data": {"ids": "{{ids}}", "fixed": True}})
    assert json_body.encode(lambda r: (True, [1, 2])) == (b'{"ids":[1,2],"fixed":true}', "application/json")
    with pytest.raises(UnknownBodyType, match="protobufBody"):
        compile_body({"type": "protobufBody", "data": []})


def test_json_decoder_refuses_what_is_not_json():
    decoder = DECODERS["json"].decoder()
    assert decoder.decode(b'{"a":1}') == {"a": 1}
    with pytest.raises(DecodeError):
        decoder.decode(b"<html>")


def test_problem_document_lists_input_problems_with_the_status_phrase():
    problem = Problem(400, "invalid input", errors=[InputProblem("id", "path", "required")])
    assert problem.document("/x") == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "invalid input",
        "instance": "/x",
        "errors": [{"name": "id", "in": "path", "problem": "required"}],
    }


# -- the plan compiler (D20-D29) ------------------------------------------------------------------

CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {label: Units, description: in-process tests}
capability:
  consumes:
    - type: http
      namespace: api
      baseUri: http://upstream.invalid/v1
      authentication: {type: bearer, token: "{{TOKEN}}"}
      resources:
        - name: items
          path: /items/{item_id}
          operations:
            - name: get
              method: GET
              inputParameters:
                - {name: item_id, in: path, type: string, required: true}
                - {name: limit, in: query, type: integer}
                - {name: Authorization, in: header, type: string}
  exposes:
    - type: rest
      namespace: api-rest
      port: 8080
      resources:
        - path: /items/{item-id}
          operations:
            - method: GET
              call: api.get
              with: {item_id: rest.item_id, limit: rest.limit, Authorization: rest.Authorization}
              outputParameters:
                - {type: object, mapping: "$.item"}
    - type: mcp
      namespace: api-mcp
      port: 9090
      tools:
        - name: get-item
          description: One item.
          call: api.get
          with: {item_id: tools.item_id, limit: tools.limit}
binds:
  - namespace: env
    keys: {TOKEN: UNITS_TOKEN}
"""


def load_units(environ: dict[str, str] | None = None, **settings: Any):
    source = parse_text(CAPABILITY, Path("units.yaml"))
    report = load_source(source, Settings(**settings), environ if environ is not None else {"UNITS_TOKEN": "tok-123"})
    assert report.ok, [str(d) for d in report.diagnostics]
    assert report.loaded is not None
    return report.loaded


def test_plan_infers_inputs_from_with_and_the_route():
    plan = load_units().plans["api-rest"]["GET /items/{item-id}"]
    inputs = {spec.name: spec for spec in plan.inputs}
    assert inputs["item_id"].location == "path" and inputs["item_id"].required
    assert inputs["limit"].location == "query" and inputs["limit"].type == "integer" and not inputs["limit"].required
    assert inputs["Authorization"].credential and not inputs["Authorization"].required  # D29
    [step] = plan.steps
    assert step.call.label == "api.get" and step.call.credentials.headers == (("Authorization", "Bearer tok-123"),)
    assert b"tok-123" in step.call.secret_forms  # D55: redacted from every reply


def test_one_consumed_operation_is_compiled_once_for_every_adapter_that_calls_it():
    loaded = load_units()
    rest_call = loaded.plans["api-rest"]["GET /items/{item-id}"].steps[0].call
    mcp_call = loaded.plans["api-mcp"]["get-item"].steps[0].call
    assert rest_call.body is mcp_call.body and rest_call.credentials is mcp_call.credentials
    assert rest_call.arguments != mcp_call.arguments  # each operation keeps its own `with`


# -- one REST request, in process -----------------------------------------------------------------


async def upstream_app(scope, receive, send):
    """Answers every request with what it received, under ``item``, and echoes the token back."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    item = {
        "method": scope["method"],
        "path": scope["raw_path"].decode(),
        "query": scope["query_string"].decode(),
        "authorization": headers.get("authorization"),
    }
    payload = json.dumps({"item": item}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"etag", b'"v1"')],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture
async def gateway():
    loaded = load_units()
    settings = Settings()
    from naftiko_runtime.serving.listeners import ListenerSet

    listeners = ListenerSet(settings)
    assert listeners.add(loaded.document, loaded.mounted()) == []
    clients = UpstreamClients(settings, transport_factory=lambda _: httpx.ASGITransport(upstream_app))
    app, _ = build_app(listeners.listeners[8080], Executor(clients), settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8080") as client:
        yield client
    await clients.aclose()


async def test_rest_request_goes_through_the_whole_path_in_process(gateway):
    response = await gateway.get("/items/a%2Fb", params={"limit": "5"}, headers={"Authorization": "Bearer caller"})
    assert response.status_code == 200 and response.headers["etag"] == '"v1"'
    received = response.json()
    assert received["path"] == "/v1/items/a%2Fb" and received["query"] == "limit=5"  # D15, D16
    assert received["authorization"] == "Bearer [redacted]"  # D33: gateway's key won; D56: never echoed


async def test_rest_problems_in_process(gateway):
    bad = await gateway.get("/items/x", params={"limit": "many"})
    assert bad.status_code == 400 and bad.json()["errors"] == [
        {"name": "limit", "in": "query", "problem": "expected an integer, got 'many'"}
    ]
    assert (await gateway.post("/items/x")).headers["allow"] == "GET"
    missing = await gateway.get("/nothing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


# -- the bulkhead's turns (issue 15) ---------------------------------------------------------------


async def test_bulkhead_turns_go_in_arrival_order_and_a_timed_out_wait_gives_nothing_away():
    import asyncio

    from naftiko_runtime.core.resilience import Bulkhead
    from naftiko_runtime.settings import BulkheadPolicy

    bulkhead = Bulkhead("ns", BulkheadPolicy(max_concurrent=1, queue_timeout=2.0))
    loop = asyncio.get_running_loop()
    assert bulkhead.take() and not bulkhead.take()
    order: list[str] = []

    async def call(name: str) -> None:
        await bulkhead.acquire(loop.time() + 5)
        order.append(name)

    first, second = asyncio.create_task(call("first")), asyncio.create_task(call("second"))
    await asyncio.sleep(0.01)
    with pytest.raises(Problem) as refused:  # queued behind two waiters, 0.1 s left to its deadline
        await bulkhead.acquire(loop.time() + 0.1)
    assert refused.value.status == 503 and "bulkhead full" in refused.value.detail
    bulkhead.release()
    await first
    assert order == ["first"] and not bulkhead.take()  # the turn was handed over, not freed
    bulkhead.release()
    await second
    bulkhead.release()
    assert bulkhead.take() and not bulkhead.take()  # one turn, back in the count


def test_positions_point_at_keys_and_items_of_the_written_file():
    """D1: a finding's path is placed on the key (or item) the file has, down to the deepest that
    exists; placed from the C parser's node tree (spec/source.py)."""
    text = "a: 1\nlist:\n  - name: x\n    deep:\n      200: ok\n  - plain\n"
    document = parse_text(text, Path("p.yaml"))
    assert document.position(("list",)) == (2, 1)
    assert document.position(("list", 0)) == (3, 5)
    assert document.position(("list", 0, "deep", "200")) == (5, 7)
    assert document.position(("list", 0, "deep", 200)) == (5, 7)
    assert document.position(("list", 1)) == (6, 5)
    assert document.position(("list", 0, "missing", "deeper")) == (3, 5)  # the deepest that exists
    assert document.position(("list", 9)) == (2, 1)
    assert document.position(()) == (1, 1)
