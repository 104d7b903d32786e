"""The hand-written OTLP protobuf (issue 22, D135) against the OpenTelemetry SDK exporter's own
encoding of the same spans: decoded with the generated ``opentelemetry.proto`` classes, the two
requests are equal message for message, whatever the ids, times, statuses, parents, trace states
and attribute values. A broken varint, field number, flag or length would make them differ."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from naftiko_runtime.serving import otlp_wire

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


def _ours(drawn: dict) -> otlp_wire.FinishedSpan:
    kind = otlp_wire.SERVER if drawn["server"] else otlp_wire.CLIENT
    return otlp_wire.FinishedSpan(
        otlp_wire.span_shape(drawn["name"], kind, drawn["static"]),
        drawn["trace_id"].to_bytes(16, "big"),
        drawn["span_id"].to_bytes(8, "big"),
        drawn["parent_id"].to_bytes(8, "big") if drawn["parent_id"] else b"",
        drawn["parent_remote"] and bool(drawn["parent_id"]),
        ",".join(f"{key}={value}" for key, value in drawn["state"]),
        drawn["start"],
        drawn["start"] + drawn["took"],
        drawn["status"],
    )


@settings(deadline=None)
@given(spans=st.lists(SPAN, min_size=1, max_size=4), resource=RESOURCE)
def test_the_request_decodes_to_what_the_sdk_exporter_sends(spans, resource):
    sdk_resource = Resource(resource)
    scope = InstrumentationScope("naftiko")
    expected = encode_spans([_sdk_span(drawn, sdk_resource, scope) for drawn in spans])
    ours = otlp_wire.envelope(resource, "naftiko").request(_ours(drawn) for drawn in spans)
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
    ours = otlp_wire.envelope(resource, "naftiko").request([_ours(drawn)])
    assert ExportTraceServiceRequest.FromString(ours) == expected
