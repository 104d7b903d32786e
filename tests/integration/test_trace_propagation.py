"""The caller's trace context continued upstream (issue 20, item 6), as the reference engine does:
with a control adapter and no span recorded anywhere (no exporter), a REST request's or an MCP
tool call's W3C ``traceparent`` reaches the upstream with the same trace id and a span of this
runtime as parent; ``tracestate`` and ``baggage`` go on; ``traces.propagation: b3`` reads the
single ``b3`` header or the ``X-B3-*`` headers and writes the ``X-B3-*`` ones (the engine's
``b3multi``); ``observability.enabled: false`` relays nothing, as the engine's no-op telemetry."""

from __future__ import annotations

import re

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client
from support import Recorded, needs_extra, running_gateway

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Traced, description: REST and MCP over one upstream, with a control port.}}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: {upstream}
    resources: [{{name: a, path: /a, operations: [{{name: get, method: GET}}]}}]
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources: [{{path: /a, operations: [{{method: GET, call: api.get}}]}}]
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools: [{{name: get-a, description: The a resource., call: api.get}}]
  - type: control
    port: 7070
{observability}"""


def served(tmp_path, upstream, observability: str = ""):
    path = tmp_path / "traced.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url, observability=observability))
    return running_gateway([path])


def assert_continued(sent: str, flags: str = "01") -> str:
    """``sent`` names the caller's trace, a new parent span (ours), and the caller's flags."""
    match = re.fullmatch(rf"00-{TRACE}-([0-9a-f]{{16}})-{flags}", sent)
    assert match, f"traceparent {sent!r} does not continue trace {TRACE}"
    assert match.group(1) not in (SPAN, "0" * 16), "the parent must be a span of this runtime, not the caller's"
    return match.group(1)


def fast_answers(gateway) -> int:
    """Requests the gateway's REST fast path (D160) answered, over every port."""
    lanes = (server.config.http_protocol_class.fast for server in gateway.runtime.servers)
    return sum(lane.taken for lane in lanes if lane is not None)


def test_rest_traceparent_tracestate_and_baggage_continue_upstream(tmp_path, upstream):
    caller = {"traceparent": f"00-{TRACE}-{SPAN}-01", "tracestate": "vendor=abc", "baggage": "tenant=acme"}
    with served(tmp_path, upstream) as gateway:
        assert httpx.get(gateway.url(8080) + "/a", headers=caller).status_code == 200
        first = assert_continued(upstream.last.headers["traceparent"])
        assert upstream.last.headers["tracestate"] == "vendor=abc"
        assert upstream.last.headers["baggage"] == "tenant=acme"
        unsampled = {"traceparent": f"00-{TRACE}-{SPAN}-00"}
        assert httpx.get(gateway.url(8080) + "/a", headers=unsampled).status_code == 200
        second = assert_continued(upstream.last.headers["traceparent"], flags="00")
        assert first != second, "each exposed request is its own span"
        # D163: a request bringing a context ran in it on the REST fast path, as one without does.
        assert fast_answers(gateway) == 2
        assert httpx.get(gateway.url(8080) + "/a").status_code == 200
        assert fast_answers(gateway) == 3
        if gateway.runtime.telemetry is not None and gateway.runtime.telemetry.tracer is None:
            assert "traceparent" not in upstream.last.headers, "no caller context, nothing recorded: nothing sent"


OTLP = '    observability: {{exporters: {{otlp: {{endpoint: "{url}/v1/traces"}}}}}}\n'
"""The runtime's own span export, to the recording upstream: the spans a request made, read back."""


def _traced(requests: list[Recorded], sent: dict[str, str]) -> dict[str, object]:
    """What a traced call left: its server and client spans (posted as OTLP/HTTP protobuf when the
    gateway stopped) and the context the upstream got, with the runtime's fresh span ids named by
    their role, so that two calls' records compare equal when they continue the trace alike."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = {}
    for request in requests:
        if request.path == "/v1/traces":
            for resource_spans in ExportTraceServiceRequest.FromString(request.body).resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    spans.update((span.name, span) for span in scope_spans.spans)
    server, client = spans.pop("rest GET /a"), spans.pop("upstream api.get")
    assert not spans, f"spans of no request: {list(spans)}"
    roles = {server.span_id.hex(): "<server>", client.span_id.hex(): "<client>"}
    return {
        "server": (server.trace_id.hex(), roles.get(server.parent_span_id.hex(), server.parent_span_id.hex())),
        "server state": (server.trace_state, server.flags, server.kind, str(server.attributes)),
        "client": (client.trace_id.hex(), roles.get(client.parent_span_id.hex()), client.trace_state, client.flags),
        "sent": re.sub("[0-9a-f]{16}(?=-0[01]$)", lambda m: roles.get(m.group(), m.group()), sent["traceparent"]),
        "sent state": (sent.get("tracestate"), sent.get("baggage")),
    }


@needs_extra("otlp")
def test_a_fast_call_with_a_trace_context_is_traced_as_on_the_asgi_path(tmp_path, upstream):
    """D163: the REST fast path takes a request that brings a caller's context and answers it in
    that context, handed over by the same ``Telemetry.within`` as the ASGI path's: the server span's
    parent, the client span's, the upstream's ``traceparent``, ``tracestate`` and ``baggage`` are
    those the ASGI path gives (the fresh span ids aside)."""
    caller = {"traceparent": f"00-{TRACE}-{SPAN}-01", "tracestate": "vendor=abc", "baggage": "tenant=acme"}
    records = []
    for fast in (True, False):
        start = len(upstream.requests)
        with served(tmp_path, upstream, OTLP.format(url=upstream.url)) as gateway:
            telemetry = gateway.runtime.telemetry
            if telemetry is None or telemetry.lean is None:
                pytest.skip("a tracer provider is installed in this process: the spans are its own")
            if not fast:
                for server in gateway.runtime.servers:  # the port's switch, read per connection
                    server.config.http_protocol_class.fast = None
            assert httpx.get(gateway.url(8080) + "/a", headers=caller).status_code == 200
            assert fast_answers(gateway) == (1 if fast else 0)
            sent = dict(upstream.last.headers)
        records.append(_traced(upstream.requests[start:], sent))
    assert records[0] == records[1]
    assert records[0]["server"] == (TRACE, SPAN) and records[0]["client"][:2] == (TRACE, "<server>")
    assert records[0]["sent"] == f"00-{TRACE}-<client>-01"
    assert records[0]["sent state"] == ("vendor=abc", "tenant=acme")


async def test_mcp_tool_call_continues_the_callers_trace(tmp_path, upstream):
    with served(tmp_path, upstream) as gateway:
        headers = {"traceparent": f"00-{TRACE}-{SPAN}-01"}
        transport = streamable_http_client(
            gateway.url(9090) + "/mcp", http_client=create_mcp_http_client(headers=headers)
        )
        async with Client(transport) as client:
            assert not (await client.call_tool("get-a", {})).is_error
    calls = [r for r in upstream.requests if r.path == "/a"]
    assert len(calls) == 1
    assert_continued(calls[0].headers["traceparent"])


@pytest.mark.parametrize(
    "caller",
    [
        {"b3": f"{TRACE}-{SPAN}-1"},
        {"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN, "X-B3-Sampled": "1"},
    ],
    ids=["single", "multi"],
)
def test_b3_propagation_reads_single_or_multi_and_writes_multi(tmp_path, upstream, caller):
    with served(tmp_path, upstream, "    observability: {traces: {propagation: b3}}\n") as gateway:
        assert httpx.get(gateway.url(8080) + "/a", headers=caller).status_code == 200
    sent = upstream.last.headers
    assert sent["x-b3-traceid"] == TRACE and sent["x-b3-sampled"] == "1"
    assert re.fullmatch("[0-9a-f]{16}", sent["x-b3-spanid"]) and sent["x-b3-spanid"] != SPAN
    assert "traceparent" not in sent and "b3" not in sent


def test_b3_propagation_ignores_a_w3c_caller(tmp_path, upstream):
    """The configured format is the one read: a ``traceparent`` under ``b3`` starts no relay."""
    with served(tmp_path, upstream, "    observability: {traces: {propagation: b3}}\n") as gateway:
        if gateway.runtime.telemetry is None or gateway.runtime.telemetry.tracer is not None:
            pytest.skip("a tracer provider is installed in this process: every request starts a trace")
        assert httpx.get(gateway.url(8080) + "/a", headers={"traceparent": f"00-{TRACE}-{SPAN}-01"}).status_code == 200
    assert not {"x-b3-traceid", "traceparent"} & set(upstream.last.headers)


def test_observability_disabled_relays_nothing(tmp_path, upstream):
    with served(tmp_path, upstream, "    observability: {enabled: false}\n") as gateway:
        assert httpx.get(gateway.url(8080) + "/a", headers={"traceparent": f"00-{TRACE}-{SPAN}-01"}).status_code == 200
    assert "traceparent" not in upstream.last.headers
