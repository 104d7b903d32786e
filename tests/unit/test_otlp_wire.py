"""The hand-written OTLP protobuf (issue 22, D135) against the OpenTelemetry SDK exporter's own
encoding of the same spans: decoded with the generated ``opentelemetry.proto`` classes, the two
requests are equal message for message, whatever the ids, times, statuses, parents, trace states
and attribute values. A broken varint, field number, flag or length would make them differ."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from naftiko_runtime.serving import otlp_wire
from naftiko_runtime.serving.request_records import Record

# The SDK exporter's encoder and the generated classes come with the ``otlp`` extra.
EXTRA = "the otlp extra: pip install 'naftiko-runtime[otlp]'"
encode_spans = pytest.importorskip("opentelemetry.exporter.otlp.proto.common.trace_encoder", reason=EXTRA).encode_spans
ExportTraceServiceRequest = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2", reason=EXTRA
).ExportTraceServiceRequest

TEXT = st.text(min_size=1, max_size=20)
STATE = st.lists(
    st.tuples(st.sampled_from(["vendor", "a1", "congo"]), st.sampled_from(["x1", "0", "t61rcWkgMzE"])),
    max_size=3,
    unique_by=lambda pair: pair[0],
)
SPAN = st.fixed_dictionaries(
    {
        "server": st.booleans(),
        "name": TEXT,
        "static": st.dictionaries(
            TEXT,
            st.one_of(TEXT, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.floats(allow_nan=False)),
            max_size=3,
        ),
        "trace_id": st.integers(1, 2**128 - 1),
        "span_id": st.integers(1, 2**64 - 1),
        "parent_id": st.one_of(st.just(0), st.integers(1, 2**64 - 1)),
        "parent_remote": st.booleans(),
        "state": STATE,
        "start": st.integers(0, 2**63),
        "took": st.integers(0, 10**12),
        "status": st.integers(100, 599),
    }
)
RESOURCE = st.dictionaries(TEXT, st.one_of(TEXT, st.integers(0, 2**40), st.booleans()), max_size=4)


def _sdk_span(drawn: dict, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    state = TraceState(drawn["state"])
    flags = TraceFlags(TraceFlags.SAMPLED)
    context = SpanContext(drawn["trace_id"], drawn["span_id"], False, flags, state)
    parent = None
    if drawn["parent_id"]:
        parent = SpanContext(drawn["trace_id"], drawn["parent_id"], drawn["parent_remote"], flags, state)
    attributes = {**drawn["static"], "http.response.status_code": drawn["status"]}
    return ReadableSpan(
        name=drawn["name"],
        context=context,
        parent=parent,
        resource=resource,
        attributes=attributes,
        kind=SpanKind.SERVER if drawn["server"] else SpanKind.CLIENT,
        instrumentation_scope=scope,
        status=Status(StatusCode.ERROR) if drawn["status"] >= 500 else Status(StatusCode.UNSET),
        start_time=drawn["start"],
        end_time=drawn["start"] + drawn["took"],
    )


def _exported(resource: dict, records: list[Record], anchor: int) -> bytes:
    """The export of ``records``: their spans written as the loop writes them at a hand-over, in a
    request as the export thread makes it (D197), here split in two to show the halves join."""
    envelope = otlp_wire.envelope(resource, "naftiko")
    cut = len(records) // 2
    return envelope.request([envelope.spans(records[:cut], anchor), envelope.spans(records[cut:], anchor)])


def _record(drawn: dict) -> Record:
    """``drawn`` as the record the runtime holds for it: a request's (server) or a call's alone."""
    kind = otlp_wire.SERVER if drawn["server"] else otlp_wire.CLIENT
    owner = SimpleNamespace(shape=otlp_wire.span_shape(drawn["name"], kind, drawn["static"]))
    record = Record()
    record.route, record.callee = (owner, None) if drawn["server"] else (None, owner)  # type: ignore[assignment]
    record.hexids = f"{drawn['trace_id']:032x}{drawn['span_id']:016x}"
    record.parent = f"{drawn['parent_id']:016x}" if drawn["parent_id"] else ""
    record.remote = drawn["parent_remote"] and bool(drawn["parent_id"])
    record.state = ",".join(f"{key}={value}" for key, value in drawn["state"])
    record.spans = 1
    ended = drawn["start"] + drawn["took"]
    if drawn["server"]:
        record.started, record.ended, record.status = drawn["start"], ended, drawn["status"]
    else:
        record.up_started, record.up_ended, record.up_status = drawn["start"], ended, drawn["status"]
    return record


@settings(deadline=None)
@given(spans=st.lists(SPAN, min_size=1, max_size=4), resource=RESOURCE)
def test_the_request_decodes_to_what_the_sdk_exporter_sends(spans, resource):
    sdk_resource = Resource(resource)
    scope = InstrumentationScope("naftiko")
    expected = encode_spans([_sdk_span(drawn, sdk_resource, scope) for drawn in spans])
    ours = _exported(resource, [_record(drawn) for drawn in spans], 0)
    assert ExportTraceServiceRequest.FromString(ours) == expected


@settings(deadline=None)
@given(server=SPAN, client=SPAN, anchor=st.integers(0, 2**40), resource=RESOURCE)
def test_a_request_and_its_call_in_one_record_decode_to_the_sdk_exporters_two_spans(server, client, anchor, resource):
    """A request's record with its call inline (D174) gives the request's span and, under it, the
    call's: same trace and state, the request's span as parent (not remote), each with its own
    shape, status and times, both moved to the wall clock's scale by the export's anchor."""
    server = {**server, "server": True}
    client = {
        **client,
        "server": False,
        "trace_id": server["trace_id"],
        "state": server["state"],
        "parent_id": server["span_id"],
        "parent_remote": False,
    }
    record = _record(server)
    call = _record(client)
    record.callee, record.spans = call.callee, 2
    record.hexids += f"{client['span_id']:016x}"
    record.ids = bytes.fromhex(record.hexids)  # as the loop keeps a root's drawn ids (D194)
    record.up_started, record.up_ended, record.up_status = call.up_started, call.up_ended, call.up_status
    scope = InstrumentationScope("naftiko")
    moved = [{**drawn, "start": drawn["start"] + anchor} for drawn in (server, client)]
    expected = encode_spans([_sdk_span(drawn, Resource(resource), scope) for drawn in moved])
    ours = _exported(resource, [record], anchor)
    assert ExportTraceServiceRequest.FromString(ours) == expected


@given(st.integers(0, 2**64 - 1))
def test_varint_reads_back(value):
    from google.protobuf.internal.decoder import _DecodeVarint  # type: ignore[attr-defined]

    encoded = otlp_wire.varint(value)
    assert _DecodeVarint(encoded, 0) == (value, len(encoded))


@settings(deadline=None, max_examples=25)
@given(span=SPAN, name=st.text(min_size=2048, max_size=2100), resource=RESOURCE)
def test_a_span_past_the_length_table_decodes_alike(span, name, resource):
    """A span of 2,048 bytes or more has its length written as it goes, not looked up (issue 22)."""
    drawn = {**span, "name": name}
    expected = encode_spans([_sdk_span(drawn, Resource(resource), InstrumentationScope("naftiko"))])
    ours = _exported(resource, [_record(drawn)], 0)
    assert ExportTraceServiceRequest.FromString(ours) == expected


OPERATIONS = [
    {"server": True, "name": "rest list-items", "static": {"naftiko.operation.id": "list-items"}},
    {"server": True, "name": "mcp find", "static": {"naftiko.operation.id": "find", "naftiko.namespace": "a"}},
    {"server": False, "name": "upstream items.list", "static": {"http.request.method": "GET"}},
    {"server": False, "name": "upstream items.find", "static": {"server.address": "b", "naftiko.namespace": "c"}},
]
KINDS = {True: otlp_wire.SERVER, False: otlp_wire.CLIENT}
OWNERS = [SimpleNamespace(shape=otlp_wire.span_shape(o["name"], KINDS[o["server"]], o["static"])) for o in OPERATIONS]
"""One shape per operation, shared by every record of it, as ``LeanTracing`` makes them."""
RECORDED = st.fixed_dictionaries(
    {
        "operation": st.sampled_from([0, 1]),
        "call": st.sampled_from([None, 2, 3]),
        "status": st.sampled_from([200, 404, 503]),
        "up_status": st.sampled_from([200, 503]),
        "ids": st.tuples(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1), st.integers(1, 2**64 - 1)),
        "parent_id": st.one_of(st.just(0), st.just(0), st.integers(1, 2**64 - 1)),
        "parent_remote": st.booleans(),
        "state": st.one_of(st.just([]), st.just([]), STATE),
        "start": st.integers(0, 2**62),
        "took": st.integers(0, 10**12),
        "up_took": st.integers(0, 10**12),
    }
)


def _recorded(drawn: dict) -> tuple[Record, list[dict]]:
    """A request's record (with its call when ``call`` is set) as the loop leaves it, the ids of a
    root kept as drawn; and the spans the SDK would have exported for it, as ``SPAN`` draws them."""
    trace_id, span_id, call_id = drawn["ids"]
    parent_id = drawn["parent_id"]
    record = Record()
    record.route, record.callee = OWNERS[drawn["operation"]], None  # type: ignore[assignment]
    record.hexids = f"{trace_id:032x}{span_id:016x}"
    record.parent = f"{parent_id:016x}" if parent_id else ""
    record.remote = drawn["parent_remote"] and bool(parent_id)
    record.state = ",".join(f"{key}={value}" for key, value in drawn["state"])
    record.started, record.ended, record.status = drawn["start"], drawn["start"] + drawn["took"], drawn["status"]
    common = {"trace_id": trace_id, "state": drawn["state"]}
    server = {**OPERATIONS[drawn["operation"]], **common, "span_id": span_id, "parent_id": parent_id}
    server |= {"parent_remote": record.remote, "start": drawn["start"], "took": drawn["took"]}
    server["status"] = drawn["status"]
    record.spans, spans = 1, [server]
    if drawn["call"] is not None:
        record.callee, record.spans = OWNERS[drawn["call"]], 2  # type: ignore[assignment]
        record.hexids += f"{call_id:016x}"
        started = record.ended + 1
        record.up_started, record.up_ended = started, started + drawn["up_took"]
        record.up_status = drawn["up_status"]
        client = {**OPERATIONS[drawn["call"]], **common, "span_id": call_id, "parent_id": span_id}
        client |= {"parent_remote": False, "start": started, "took": drawn["up_took"], "status": drawn["up_status"]}
        spans.append(client)
    if not parent_id:
        record.ids = bytes.fromhex(record.hexids)
    return record, spans


@settings(deadline=None)
@given(batch=st.lists(RECORDED, min_size=1, max_size=12), cut=st.integers(0, 12), anchor=st.integers(0, 2**62))
def test_a_batch_mixing_layouts_decodes_to_the_sdk_exporters_spans(batch, cut, anchor):
    """Records of two operations and two callees, with and without a call, a parent or a trace
    state, their statuses varying from one record to the next, in two groups: a root record
    packed in the layout of the one before it (D195) is right only when its shapes and statuses
    are the same; a layout kept too long would write another's name, attributes or status. The two
    groups are two hand-overs' bytes in one export (D197)."""
    records, spans = zip(*map(_recorded, batch), strict=True)
    scope = InstrumentationScope("naftiko")
    moved = [{**span, "start": span["start"] + anchor} for made in spans for span in made]
    expected = encode_spans([_sdk_span(span, Resource({}), scope) for span in moved])
    envelope = otlp_wire.envelope({}, "naftiko")
    ours = envelope.request([envelope.spans(records[:cut], anchor), envelope.spans(records[cut:], anchor)])
    assert ExportTraceServiceRequest.FromString(ours) == expected
