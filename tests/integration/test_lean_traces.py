"""The runtime's own OTLP export (issue 22, D135, D136): a real ``naftiko serve`` with
``exporters.otlp`` sends its spans to a real HTTP endpoint (the recording upstream), read back with
the generated ``opentelemetry.proto`` classes. The spans continue the caller's trace, the upstream
call's span is the request span's child and names itself in the ``traceparent`` the upstream got,
a caller's "not sampled" is obeyed, the OTLP exporter's headers and compression variables still
apply, and the queue drops and counts rather than growing or blocking."""

from __future__ import annotations

import asyncio
import gzip
import logging
import ssl
import time
from types import SimpleNamespace

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from support import Canned, RecordingUpstream, needs_extra, served
from test_control import CAPABILITY
from test_engine_dashboards import answer
from test_upstream_mtls import Authority

from naftiko_runtime.adapters.control.model import Observability
from naftiko_runtime.serving import otlp_wire
from naftiko_runtime.serving.request_records import Record
from naftiko_runtime.serving.span_export import SpanExport
from naftiko_runtime.serving.telemetry import Telemetry

pytestmark = needs_extra("otlp")

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def _attributes(span: Span) -> dict[str, object]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}


def _exported(upstream) -> list[tuple[dict[str, object], Span]]:
    found = []
    for request in upstream.requests:
        if request.path == "/v1/traces":
            assert request.method == "POST" and request.headers["content-type"] == "application/x-protobuf"
            assert request.headers["x-collector-key"] == "k,1" and request.headers["content-encoding"] == "gzip"
            body = gzip.decompress(request.body)
            for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
                resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    assert scope_spans.scope.name == "naftiko"
                    found += [(resource, span) for span in scope_spans.spans]
    return found


def test_spans_continue_the_callers_trace_and_reach_the_collector(tmp_path, upstream):
    path = tmp_path / "lean.yml"
    text = CAPABILITY.format(upstream=upstream.url, path="/a", management="{}")
    path.write_text(text + f'    observability: {{exporters: {{otlp: {{endpoint: "{upstream.url}/v1/traces"}}}}}}\n')
    environ = {
        "OTEL_SERVICE_NAME": "gateway-under-test",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-collector-key=k%2C1",  # as the SDK's exporter read them
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    }
    with served(tmp_path, upstream.url, env=environ, files=[path], ports=(8080, 7070)) as gateway:
        caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "tracestate": "vendor=x1"}
        caller["baggage"] = "tenant=acme"
        began = time.time_ns()
        assert httpx.get(gateway.url(8080) + "/a", headers=caller, timeout=10).status_code == 200
        sent = upstream.last.headers
        upstream.reset(lambda request: Canned(503, b"{}") if request.path == "/a" else Canned(200, b""))
        assert httpx.get(gateway.url(8080) + "/a", timeout=10).status_code == 503
        unsampled = {"traceparent": f"00-{'1' * 32}-{CALLER_SPAN}-00"}
        assert httpx.get(gateway.url(8080) + "/a", headers=unsampled, timeout=10).status_code == 503
        assert upstream.last.headers["traceparent"].startswith(f"00-{'1' * 32}-")
        assert upstream.last.headers["traceparent"].endswith("-00") and "baggage" not in upstream.last.headers
        answered = time.time_ns()
        metrics = httpx.get(gateway.url(7070) + "/metrics", timeout=10).text
        assert 'naftiko_trace_spans_dropped_total{reason="queue_full"} 0.0' in metrics
        assert gateway.stop() == 0
    exported = _exported(upstream)
    assert len(exported) == 4, "two traced requests of two spans each; the unsampled one sends none"
    assert all(resource["service.name"] == "gateway-under-test" for resource, _ in exported)
    spans = [span for _, span in exported]
    by_trace: dict[bytes, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    continued = {span.name: span for span in by_trace.pop(bytes.fromhex(CALLER_TRACE))}
    server, client = continued["rest GET /a"], continued["upstream api.get"]
    assert server.kind == Span.SPAN_KIND_SERVER and client.kind == Span.SPAN_KIND_CLIENT
    assert server.parent_span_id == bytes.fromhex(CALLER_SPAN) and server.flags == 0x300
    assert client.parent_span_id == server.span_id and client.flags == 0x100
    assert server.trace_state == client.trace_state == "vendor=x1"
    assert sent["traceparent"] == f"00-{CALLER_TRACE}-{client.span_id.hex()}-01"
    assert sent["tracestate"] == "vendor=x1" and sent["baggage"] == "tenant=acme"
    assert _attributes(server) == {
        "naftiko.adapter.type": "rest",
        "naftiko.operation.id": "GET /a",
        "naftiko.namespace": "api-rest",
        "http.response.status_code": 200,
    }
    assert _attributes(client) == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "naftiko.namespace": "api",
        "http.response.status_code": 200,
    }
    assert server.start_time_unix_nano <= client.start_time_unix_nano <= client.end_time_unix_nano
    assert client.end_time_unix_nano <= server.end_time_unix_nano
    # read from the monotonic clock and written on the wall clock's scale (D156)
    assert all(began <= span.start_time_unix_nano <= span.end_time_unix_nano <= answered for span in spans)
    assert server.status == client.status == Status()
    ((_, failed),) = by_trace.items()
    failed_server = next(span for span in failed if span.kind == Span.SPAN_KIND_SERVER)
    assert failed_server.parent_span_id == b"" and failed_server.flags == 0x100
    assert all(span.status.code == Status.STATUS_CODE_ERROR for span in failed)
    assert all(_attributes(span)["http.response.status_code"] == 503 for span in failed)


SHAPE = otlp_wire.span_shape("upstream api.get", otlp_wire.CLIENT, {})


def _record(i: int) -> Record:
    """An upstream call's record alone, as ``Telemetry`` leaves it when the call ends."""
    record = Record()
    record.route, record.callee = None, SimpleNamespace(shape=SHAPE)  # type: ignore[assignment]
    record.hexids, record.parent, record.remote, record.state = f"{i + 1:032x}{i + 1:016x}", "", False, ""
    record.up_started, record.up_ended, record.up_status, record.spans = 0, 1, 200, 1
    return record


def _ended(export: SpanExport, i: int) -> None:
    export.take([_record(i)], 1)


async def test_a_full_queue_drops_and_counts_and_a_refusing_collector_is_logged_once(upstream, caplog):
    upstream.reset(lambda request: Canned(500, b""))
    export = SpanExport(upstream.url + "/v1/traces", otlp_wire.envelope({}, "naftiko"), queue=3, batch=2, delay=60)
    with caplog.at_level(logging.WARNING, logger="naftiko.traces"):
        _ended(export, 0)  # one below a batch: no export starts
        export.pending.append((export.envelope.spans([_record(1)], 0), 1))  # no export started: the queue fills
        export.queued += 1
        export._sending = asyncio.get_running_loop().create_future()  # as if an export ran: none starts
        for i in range(2, 6):
            _ended(export, i)
        assert len(export.pending) == 3 and export.dropped == {"queue_full": 3, "export_failed": 0}
        export._sending = None
        await export.aclose()
    assert export.dropped == {"queue_full": 3, "export_failed": 3} and export.exported == 0
    posts = [request for request in upstream.requests if request.path == "/v1/traces"]
    assert len(posts) == 2, "a batch of two, then the one left"
    assert len([r for r in caplog.records if "failed (status 500)" in r.getMessage()]) == 1


async def test_a_full_batch_is_sent_alone_and_the_rest_waits_for_the_delay(upstream):
    """A full batch starts an export of full batches only (D157): the span after them waits for the
    next batch or the delay (here: the stop), rather than going in an export of its own."""
    export = SpanExport(upstream.url + "/v1/traces", otlp_wire.envelope({}, "naftiko"), batch=2, delay=60)
    for i in range(5):
        _ended(export, i)
    deadline = time.monotonic() + 10
    while export.exported < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # time enough for an export of the fifth span, were it sent
    assert export.exported == 4 and len(export.pending) == 1
    await export.aclose()
    posts = [request for request in upstream.requests if request.path == "/v1/traces"]
    batches = [ExportTraceServiceRequest.FromString(post.body).resource_spans[0] for post in posts]
    sizes = [len(batch.scope_spans[0].spans) for batch in batches]
    assert sizes == [2, 2, 1] and export.exported == 5


def test_spans_that_cannot_be_encoded_are_counted_and_logged_once_and_the_hand_over_goes_on(upstream, caplog):
    """Encoding runs in the request that hands records over (D197): a record it cannot write (here
    one missing its clock readings) must not fail that request; its spans are counted failed and the
    reason logged once, and the next hand-over is sent."""
    export = SpanExport(upstream.url + "/v1/traces", otlp_wire.envelope({}, "naftiko"), delay=60)
    broken = _record(0)
    del broken.up_ended
    with caplog.at_level(logging.ERROR, logger="naftiko.traces"):
        export.take([broken], 1)
        export.take([broken], 1)
    assert export.dropped == {"queue_full": 0, "export_failed": 2} and export.queued == 0
    assert len([r for r in caplog.records if "could not be encoded" in r.getMessage()]) == 1
    _ended(export, 1)
    export._at_exit()
    assert export.exported == 1


def test_an_interpreter_exiting_with_the_runtime_running_sends_what_is_queued(upstream):
    """An embedding program that never stops the runtime: at exit the queue goes on a loop of its
    own (``atexit``, D197), where no serving loop runs any more."""
    export = SpanExport(upstream.url + "/v1/traces", otlp_wire.envelope({}, "naftiko"), delay=60)
    _ended(export, 0)  # below a batch: queued, no export started
    assert export.exported == 0 and export.queued == 1
    export._at_exit()
    assert export.exported == 1 and export.queued == 0
    assert [request.path for request in upstream.requests] == ["/v1/traces"]


async def test_the_delay_hands_over_what_the_loop_holds_and_sends_it(upstream):
    """Below a batch nothing is sent until the delay: then the loop's held records are handed over
    (``start``'s ``hand_over``) and everything queued goes in one export (D197: a timer on the loop).
    The collector answers after two more delays have passed, as on a slow machine: those find
    nothing held and nothing queued, and send nothing."""
    upstream.reset(lambda request: Canned(200, b"", delay=0.5))
    export = SpanExport(upstream.url + "/v1/traces", otlp_wire.envelope({}, "naftiko"), batch=100, delay=0.2)
    held = [_record(i) for i in range(3)]

    def hand_over() -> None:
        """As ``Telemetry``'s: the held records move to the export, once."""
        records, held[:] = held[:], []
        if records:
            export.take(records, len(records))

    export.start(hand_over)
    _ended(export, 9)
    deadline = time.monotonic() + 10
    while export.exported < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await export.aclose()
    posts = [request for request in upstream.requests if request.path == "/v1/traces"]
    assert export.exported == 4 and len(posts) == 1
    assert len(ExportTraceServiceRequest.FromString(posts[0].body).resource_spans[0].scope_spans[0].spans) == 4


def test_b3_context_names_the_exported_client_span(tmp_path, upstream):
    path = tmp_path / "lean-b3.yml"
    text = CAPABILITY.format(upstream=upstream.url, path="/a", management="{}")
    otlp = f'exporters: {{otlp: {{endpoint: "{upstream.url}/v1/traces"}}}}'
    path.write_text(text + f"    observability: {{traces: {{propagation: b3}}, {otlp}}}\n")
    environ = {"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-collector-key=k%2C1", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
    with served(tmp_path, upstream.url, env=environ, files=[path], ports=(8080, 7070)) as gateway:
        caller = {"b3": f"{CALLER_TRACE}-{CALLER_SPAN}-1"}
        assert httpx.get(gateway.url(8080) + "/a", headers=caller, timeout=10).status_code == 200
        sent = upstream.last.headers
        assert gateway.stop() == 0
    client = next(span for _, span in _exported(upstream) if span.kind == Span.SPAN_KIND_CLIENT)
    assert (sent["x-b3-traceid"], sent["x-b3-sampled"]) == (CALLER_TRACE, "1")
    assert sent["x-b3-spanid"] == client.span_id.hex() and client.trace_id == bytes.fromhex(CALLER_TRACE)


def test_the_otlp_certificate_variables_reach_a_mutual_tls_collector(tmp_path):
    """The recording upstream behind TLS, requiring a client certificate of ``ca``, takes the
    export made with ``..._CERTIFICATE``, ``..._CLIENT_CERTIFICATE`` and ``..._CLIENT_KEY``; with
    the CA alone the handshake fails and the batch is counted as failed."""
    ca = Authority(tmp_path, "ca")
    client, served_as = ca.issue("gateway", server=False), ca.issue("collector", server=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(served_as.cert, served_as.key)
    context.load_verify_locations(ca.path)
    context.verify_mode = ssl.CERT_REQUIRED
    collector = RecordingUpstream()
    collector.server.socket = context.wrap_socket(collector.server.socket, server_side=True)
    url = f"https://localhost:{collector.server.server_address[1]}/v1/traces"
    trusted = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(ca.path)}
    mutual = {
        **trusted,
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": str(client.cert),
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": str(client.key),
    }
    with collector:
        for environ in (mutual, trusted):
            export = SpanExport(url, otlp_wire.envelope({}, "naftiko"), delay=60, environ=environ)
            _ended(export, 0)
            asyncio.run(export.aclose())
            sent = environ is mutual
            assert (export.exported, export.dropped["export_failed"]) == ((1, 0) if sent else (0, 1))
    assert [request.path for request in collector.requests] == ["/v1/traces"], "only the mutual-TLS export"


ORCHESTRATED = """
naftiko: 1.0.0-alpha2
info: {{label: Steps traced, description: An orchestrated operation exported over OTLP.}}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: {upstream}
    resources:
    - {{name: a, path: /a, operations: [{{name: get, method: GET}}]}}
    - {{name: crew, path: /crew, operations: [{{name: crew, method: GET}}]}}
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /joined
      operations:
      - method: GET
        steps:
        - {{name: crew, type: call, call: api.crew}}
        - {{name: a, type: call, call: api.get}}
        - {{name: first, type: lookup, index: crew, match: id, lookupValue: "1", outputParameters: [name]}}
        mappings: [{{targetName: name, value: $.first.name}}]
        outputParameters: [{{name: name, type: string}}]
  - type: control
    port: 7070
    observability: {{exporters: {{otlp: {{endpoint: "{upstream}/v1/traces"}}}}}}
"""


def test_an_orchestrated_plans_calls_are_children_of_its_request(tmp_path, upstream):
    """Each step's call is a record of its own, whose parent is found through ``tracing.CURRENT``
    (D175): the request's span, in its trace, with the span id the upstream was sent."""
    upstream.reset(answer)
    path = tmp_path / "steps.yml"
    path.write_text(ORCHESTRATED.format(upstream=upstream.url))
    environ = {"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-collector-key=k%2C1", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
    with served(tmp_path, upstream.url, env=environ, files=[path], ports=(8080, 7070)) as gateway:
        answered = httpx.get(gateway.url(8080) + "/joined", timeout=10)
        assert answered.status_code == 200 and answered.json() == {"name": "Ada"}
        sent = {request.path: request.headers["traceparent"] for request in upstream.requests}
        assert gateway.stop() == 0
    spans = {span.name: span for _, span in _exported(upstream)}
    assert set(spans) == {"rest GET /joined", "upstream api.crew", "upstream api.get"}
    server = spans.pop("rest GET /joined")
    assert server.parent_span_id == b"" and server.kind == Span.SPAN_KIND_SERVER
    for path, name in (("/crew", "upstream api.crew"), ("/a", "upstream api.get")):
        client = spans[name]
        assert client.trace_id == server.trace_id and client.parent_span_id == server.span_id
        assert sent[path] == f"00-{server.trace_id.hex()}-{client.span_id.hex()}-01"


async def test_the_delay_and_the_stop_hand_the_held_records_over_and_each_span_is_sent_once(upstream):
    """A route made on the loop starts the export's delay there (``Telemetry.loop_seen``, D197): a
    request held below a hand-over is sent when the delay passes, the next one at the stop; each
    span reaches the collector once, in two exports."""
    observed = Telemetry(Observability(metrics=True, otlp_endpoint=f"{upstream.url}/v1/traces"))
    if observed.lean is None:  # as test_tracing.py's, the other way round: the provider is global
        pytest.skip("an SDK tracer provider was installed in this process first: no lean tracing here")
    export = observed.lean.export
    export.delay = 0.1
    observed.loop_seen()
    exposed = SimpleNamespace(namespace="shop-rest", key="GET /orders", adapter_kind="rest")
    plan = SimpleNamespace(exposed=exposed, orchestrated=False, paging=None)
    observed.request(plan).finish(200)
    deadline = time.monotonic() + 10
    while export.exported < 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert export.exported == 1, "the delay handed the held record over and sent it"
    observed.request(plan).finish(503)
    await observed.aclose()
    assert (export.exported, export.dropped, export.queued) == (2, {"queue_full": 0, "export_failed": 0}, 0)
    sent = [ExportTraceServiceRequest.FromString(r.body) for r in upstream.requests if r.path == "/v1/traces"]
    spans = [span for s in sent for rs in s.resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert len(sent) == 2 and len(spans) == len({span.span_id for span in spans}) == 2
