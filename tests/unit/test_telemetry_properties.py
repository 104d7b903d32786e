"""Properties of the pure parts of issue 20's telemetry (in-process, no socket): a continued trace
context keeps the caller's trace id and flags under a new span of ours, for both propagation
formats, and merged MCP cache hints never promise more than any adapter served together."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace

from naftiko_runtime.adapters.mcp.model import CacheHints
from naftiko_runtime.serving.propagation import PROPAGATORS, continued

TRACE_IDS = st.integers(1, 2**128 - 1)
SPAN_IDS = st.integers(1, 2**64 - 1)


@given(trace_id=TRACE_IDS, span_id=SPAN_IDS, sampled=st.booleans())
def test_w3c_context_continues_under_a_new_span_with_the_callers_flags(trace_id, span_id, sampled):
    caller = {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"}
    carrier: dict[str, str] = {}
    PROPAGATORS["w3c"].inject(carrier, context=continued(PROPAGATORS["w3c"].extract(caller)))
    version, sent_trace, parent, flags = carrier["traceparent"].split("-")
    assert (version, sent_trace, flags) == ("00", f"{trace_id:032x}", caller["traceparent"][-2:])
    assert parent != f"{span_id:016x}" and int(parent, 16) != 0


@given(trace_id=TRACE_IDS, span_id=SPAN_IDS, single=st.booleans())
def test_b3_context_continues_as_multi_headers(trace_id, span_id, single):
    caller = (
        {"b3": f"{trace_id:032x}-{span_id:016x}-1"}
        if single
        else {"x-b3-traceid": f"{trace_id:032x}", "x-b3-spanid": f"{span_id:016x}", "x-b3-sampled": "1"}
    )
    carrier: dict[str, str] = {}
    PROPAGATORS["b3"].inject(carrier, context=continued(PROPAGATORS["b3"].extract(caller)))
    assert carrier["x-b3-traceid"] == f"{trace_id:032x}" and carrier["x-b3-sampled"] == "1"
    assert carrier["x-b3-spanid"] != f"{span_id:016x}"


def test_no_valid_caller_context_is_left_as_it_is():
    extracted = PROPAGATORS["w3c"].extract({"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"})
    assert continued(extracted) is extracted
    assert not trace.get_current_span(continued(extracted)).get_span_context().is_valid


HINTS = st.one_of(st.none(), st.builds(CacheHints, st.integers(0, 10**9), st.sampled_from(["public", "private"])))


@given(st.lists(HINTS, min_size=1, max_size=5))
def test_merged_hints_promise_no_more_than_any_adapter(hints):
    merged = CacheHints.merged(hints)
    if all(hint is None for hint in hints):
        assert merged is None
        return
    assert merged is not None
    assert all(merged.ttl_ms <= (hint.ttl_ms if hint else 0) for hint in hints)
    assert merged.ttl_ms in {hint.ttl_ms if hint else 0 for hint in hints}
    assert (merged.scope == "public") == all(hint is not None and hint.scope == "public" for hint in hints)
