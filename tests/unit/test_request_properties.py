"""Issue 2, acceptance 5: whatever the `with` map, path and values, the upstream request the
runtime builds decodes back to exactly the values given (D14-D17, D20, D21)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from naftiko_runtime.core.problems import Problem
from naftiko_runtime.core.requests import build_outgoing
from naftiko_runtime.serving.loading import load_source
from naftiko_runtime.settings import Settings
from naftiko_runtime.spec.source import SourceDocument

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
LOCATIONS = ("path", "query", "header", "body")


@st.composite
def operations(draw):
    """A consumed operation with 1-6 parameters, each fed by `with` from a REST input or a literal."""
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique_by=lambda n: n.replace("_", "-")))
    parameters = []
    for name in names:
        location = draw(st.sampled_from(LOCATIONS))
        source = draw(st.sampled_from(("input", "literal", "template")))
        strategy = HEADER_TEXT if location == "header" else TEXT
        value = draw(strategy.filter(lambda v: v not in (".", "..")))
        parameters.append((name, location, source, value))
    return parameters


def compile_plan(parameters):
    consumed_path = "/base" + "".join("/{" + n + "}" for n, loc, *_ in parameters if loc == "path")
    with_map, inputs = {}, {}
    for name, _, source, value in parameters:
        if source == "input":
            with_map[name] = f"rest.in_{name}"
            inputs[f"in_{name}"] = value
        elif source == "literal":
            with_map[name] = value
        else:
            with_map[name] = f"{{{{in_{name}}}}}"
            inputs[f"in_{name}"] = value
    document = {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": "generated", "description": "generated"},
        "capability": {
            "consumes": [
                {
                    "type": "http",
                    "namespace": "api",
                    "baseUri": "http://upstream.test/v2",
                    "resources": [
                        {
                            "name": "r",
                            "path": consumed_path,
                            "operations": [
                                {
                                    "name": "op",
                                    "method": "POST",
                                    "inputParameters": [
                                        {"name": n, "in": loc, "type": "string"} for n, loc, *_ in parameters
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "namespace": "api-rest",
                    "port": 8080,
                    "resources": [
                        {
                            "path": "/x",
                            "operations": [
                                {
                                    "method": "POST",
                                    "call": "api.op",
                                    "with": with_map,
                                    "inputParameters": [
                                        {"name": f"in_{n}", "in": "query", "type": "string", "description": "d"}
                                        for n, *_ in parameters
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    }
    # The values are the subject, not YAML's escaping rules: hand the decoded document over directly.
    source = SourceDocument(Path("generated.yml"), json.dumps(document), document)
    report = load_source(source, Settings(), environ={})
    assert report.ok, [str(d) for d in report.diagnostics]
    [plans] = report.loaded.plans.values()
    [plan] = plans.values()
    return plan, inputs


def request_for(plan, inputs):
    """The upstream request of the plan's one step, as the executor builds it."""
    return build_outgoing(plan.steps[0].call, inputs, plan.lookup(inputs)).to_httpx()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations())
def test_upstream_request_decodes_back_to_the_values_given(parameters):
    plan, inputs = compile_plan(parameters)
    request = request_for(plan, inputs)
    raw_path = request.url.raw_path.decode().partition("?")[0]
    segments = raw_path.split("/")[3:]
    expected_path = [v for _, loc, _, v in parameters if loc == "path"]
    assert [unquote(s) for s in segments] == expected_path, "D15: each value is exactly one segment"
    assert parse_qsl(request.url.query.decode(), keep_blank_values=True) == [
        (n, v) for n, loc, _, v in parameters if loc == "query"
    ]
    for name, location, _, value in parameters:
        if location == "header":
            assert request.headers[name] == value
    body = {n: v for n, loc, _, v in parameters if loc == "body"}
    assert (json.loads(request.content) if request.content else {}) == body


@settings(max_examples=100, deadline=None)
@given(HEADER_TEXT, st.sampled_from(["\r", "\n", "\r\n", "\0"]), HEADER_TEXT)
def test_header_values_with_line_breaks_are_refused(before, breaker, after):
    """D14: a header value carrying CR, LF or NUL is refused, never sent."""
    plan, _ = compile_plan([("token", "header", "input", "x")])
    with pytest.raises(Problem) as raised:
        request_for(plan, {"in_token": before + breaker + after})
    assert raised.value.status == 400


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(NAMES, st.one_of(TEXT, st.lists(TEXT, min_size=1, max_size=3)), min_size=1, max_size=4))
def test_objects_in_query_are_deep_objects(value):
    """D16: an object goes as name[key]=value, a list value as repeated name[key]."""
    plan, _ = compile_plan([("params", "query", "input", "x")])
    request = request_for(plan, {"in_params": value})
    expected = [(f"params[{k}]", item) for k, v in value.items() for item in (v if isinstance(v, list) else [v])]
    assert parse_qsl(request.url.query.decode(), keep_blank_values=True) == expected
