"""OpenTelemetry traces (issue 13, item 5): with a control adapter and a tracer provider installed
by the embedding program (here the SDK's in-memory exporter), each exposed request is a server span
continuing the caller's W3C trace, each upstream call a client span under it, and the upstream
receives a ``traceparent`` naming that client span."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from support import running_gateway
from test_control import CAPABILITY

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """The SDK's in-memory exporter behind a provider installed for this module only.

    The OpenTelemetry API lets a process set its global provider once. The next test file on this
    worker (``--dist loadfile``) must find none, or every ``Telemetry`` it builds takes the SDK's
    way instead of the lean export (tests/unit/test_drawn_trace_context.py failed so in CI). So the
    teardown puts the API's globals back as OpenTelemetry's own test utilities do
    (``opentelemetry.test.globals_test.reset_trace_globals``)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:
        pytest.skip("another tracer provider was installed in this process first")
    yield exporter
    provider.shutdown()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


def test_spans_per_request_and_upstream_call_with_traceparent(tmp_path, upstream, spans):
    path = tmp_path / "traced.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url, path="/a", management="{}"))
    with running_gateway([path]) as gateway:
        caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
        assert httpx.get(gateway.url(8080) + "/a", headers=caller).status_code == 200
    finished = {span.name: span for span in spans.get_finished_spans()}
    server, client = finished["rest GET /a"], finished["upstream api.get"]
    assert server.kind is trace.SpanKind.SERVER and client.kind is trace.SpanKind.CLIENT
    assert format(server.context.trace_id, "032x") == CALLER_TRACE
    assert server.parent is not None and format(server.parent.span_id, "016x") == CALLER_SPAN
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    sent = upstream.last.headers["traceparent"]
    assert sent == f"00-{CALLER_TRACE}-{format(client.context.span_id, '016x')}-01"
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200


def test_otlp_exporter_sends_the_spans_when_configured(tmp_path, upstream):
    """``observability.exporters.otlp`` in a real ``naftiko serve``: the spans reach the endpoint
    (here the recording upstream) as OTLP/HTTP protobuf, at the latest when the process stops."""
    import signal

    from test_serve_process import start, wait_listening

    path = tmp_path / "exported.yml"
    text = CAPABILITY.format(upstream=upstream.url, path="/a", management="{}")
    path.write_text(text + f'    observability: {{exporters: {{otlp: {{endpoint: "{upstream.url}/v1/traces"}}}}}}\n')
    process, offset = start(str(path))
    try:
        wait_listening(process, 8080 + offset)
        assert httpx.get(f"http://127.0.0.1:{8080 + offset}/a", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    exported = [r for r in upstream.requests if r.path == "/v1/traces"]
    assert exported and exported[0].method == "POST"
    assert exported[0].headers["content-type"] == "application/x-protobuf"
    assert b"upstream api.get" in b"".join(r.body for r in exported)
