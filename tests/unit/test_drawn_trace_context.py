"""Where lean tracing puts a traced call's trace context (D186): the request's ``drawn`` lines
when nothing of the same name was given and nothing follows it; else, as before (D176), ``Drawn``
values in its headers, a given one replaced where it stands, a trace state after it. A simple
plan's call, started by the executor in its own frame, gets the same (D188)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from naftiko_runtime.adapters.control.model import Observability
from naftiko_runtime.core.plans import OperationPlan, UpstreamCall
from naftiko_runtime.core.requests import Drawn, Outgoing
from naftiko_runtime.serving.request_records import Record
from naftiko_runtime.serving.telemetry import Telemetry

URL = "http://upstream.test/v1/items"
PLAN = SimpleNamespace(
    exposed=SimpleNamespace(namespace="shop-rest", key="GET /items", adapter_kind="rest"),
    orchestrated=False,
    paging=None,
)
CALL = SimpleNamespace(namespace="shop", operation="list-items", base_uri="http://upstream.test/v1", label="shop.list")


def _opened(w3c: bool, headers: dict[str, str], state: str = "") -> tuple[Record, Outgoing]:
    """A root request's record, and its first call's request once ``open_client`` saw it."""
    observability = Observability(otlp_endpoint="http://127.0.0.1:9/v1/traces", propagation="w3c" if w3c else "b3")
    telemetry = Telemetry(observability)
    assert telemetry.lean is not None  # its export sends nothing: no record is handed over, no loop runs
    record = telemetry.request(cast(OperationPlan, PLAN))
    record.state = state
    request = Outgoing("GET", URL, headers, None)
    telemetry.lean.open_client(record, request, None)
    return record, request


def test_w3c_context_is_drawn_lines_when_nothing_of_its_name_was_given():
    record, request = _opened(True, {"X-Key": "a"})
    ids = record.hexids
    assert request.drawn == f"traceparent: 00-{ids[:32]}-{ids[48:]}-01\r\n" and len(ids) == 64
    assert request.headers == {"X-Key": "a"}


def test_b3_context_is_drawn_lines_when_nothing_of_its_name_was_given():
    record, request = _opened(False, {"X-Key": "a"})
    ids = record.hexids
    assert request.drawn == f"x-b3-traceid: {ids[:32]}\r\nx-b3-spanid: {ids[48:]}\r\nx-b3-sampled: 1\r\n"
    assert request.headers == {"X-Key": "a"}


@pytest.mark.parametrize(("w3c", "name"), [(True, "traceparent"), (False, "x-b3-spanid")])
def test_a_given_header_of_the_same_name_is_replaced_where_it_stands(w3c, name):
    record, request = _opened(w3c, {name: "given", "X-Key": "a"})
    assert request.drawn == "" and list(request.headers)[0] == name
    assert type(request.headers[name]) is Drawn and request.headers[name] != "given"
    assert record.hexids[48:] in request.headers[name]


def test_a_trace_state_follows_the_traceparent_in_the_headers():
    _, request = _opened(True, {"X-Key": "a"}, state="vendor=1")
    assert request.drawn == "" and list(request.headers) == ["X-Key", "traceparent", "tracestate"]
    assert type(request.headers["traceparent"]) is Drawn and request.headers["tracestate"] == "vendor=1"


@pytest.fixture(params=["w3c", "b3"])
def traced(request):
    """A telemetry exporting its own spans (nothing is sent: no record is handed over)."""
    observability = Observability(metrics=True, otlp_endpoint="http://127.0.0.1:9/v1/traces", propagation=request.param)
    telemetry = Telemetry(observability)
    assert telemetry.lean is not None
    return telemetry


def _inline_call(telemetry: Telemetry, headers: dict[str, str]) -> tuple[Record, Outgoing]:
    """A root request's record and its one call's request, started as the executor starts a simple
    plan's call (``_Observed.call``, D188)."""
    record = telemetry.request(cast(OperationPlan, PLAN))
    request = Outgoing("GET", URL, headers, None)
    record.call(cast(UpstreamCall, CALL), request)
    assert record.spans == 2
    return record, request


def test_a_simple_plans_call_sends_the_context_lean_tracing_writes_for_a_first_call(traced):
    """The ``traceparent`` written with the ids (D188) is the one ``open_client`` writes (D186), B3's
    lines are ``open_client``'s own; a ``with:``-given header goes the checked way and is replaced."""
    record, request = _inline_call(traced, {"X-Key": "a"})
    ids = record.hexids
    if traced.lean.w3c:
        assert request.drawn == f"traceparent: 00-{ids[:32]}-{ids[48:]}-01\r\n"
    else:
        assert request.drawn == f"x-b3-traceid: {ids[:32]}\r\nx-b3-spanid: {ids[48:]}\r\nx-b3-sampled: 1\r\n"
    assert request.headers == {"X-Key": "a"}
    name = "traceparent" if traced.lean.w3c else "x-b3-spanid"
    record, request = _inline_call(traced, {name: "given", "X-Key": "a"})
    assert request.drawn == "" and list(request.headers)[0] == name
    assert type(request.headers[name]) is Drawn and record.hexids[48:] in request.headers[name]


def test_an_unsampled_simple_plans_call_sends_its_context_unsampled():
    """A root not sampled has no line written with its ids (D188): its call's context is written
    when the call starts, flagged unsampled, and the record has no span to export."""
    observability = Observability(metrics=True, otlp_endpoint="http://127.0.0.1:9/v1/traces", sampling=0.0)
    telemetry = Telemetry(observability)
    assert telemetry.lean is not None
    record = telemetry.request(cast(OperationPlan, PLAN))
    request = Outgoing("GET", URL, {"X-Key": "a"}, None)
    record.call(cast(UpstreamCall, CALL), request)
    ids = record.hexids
    assert record.drawn == "" and record.spans == 0
    assert request.drawn == f"traceparent: 00-{ids[:32]}-{ids[48:]}-00\r\n"
