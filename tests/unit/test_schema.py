"""Tests of ``naftiko_runtime.spec.schema``: the hand-written model of the alpha2 schema (CONTRACT D2/D3).

The official JSON Schema (``shared/spec``) is only read here, as an oracle: our verdict (findings
or none) must agree with ``jsonschema.Draft202012Validator`` on the reference corpus, on hand-written
fixtures and on seeded mutations of real documents, once the D2/D3 dialect a document uses has been
rewritten into plain alpha2 (``to_official``). Every remaining difference is listed in
``DIALECT_CASES`` with the decision that explains it.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import SHARED

from naftiko_runtime.spec.schema import ShapeFinding, check_shape

POLYTOMIC = sorted((SHARED / "capabilities").glob("*.yaml"))
needs_shared = pytest.mark.skipif(not (SHARED / "spec").is_dir(), reason="shared reference folder absent")


def load_all(path: Path) -> list:
    """The documents of a file, with the C parser: the corpus is read at collection, by every xdist
    worker, and the pure parser took 5x longer for the same documents."""
    from ruamel.yaml import YAML

    return [d for d in YAML(typ="safe", pure=False).load_all(path.read_text(encoding="utf-8"))]


def corpus() -> list[tuple[str, dict]]:
    if not SHARED.is_dir():
        return []
    files = sorted((SHARED / "reference" / "src").rglob("*.y*ml"))
    return [
        (f"{f.relative_to(SHARED)}#{i}", d)
        for f in files
        for i, d in enumerate(load_all(f))
        if isinstance(d, dict) and "naftiko" in d
    ]


@pytest.fixture(scope="module")
def official():
    jsonschema = pytest.importorskip("jsonschema")
    if not (SHARED / "spec").is_dir():
        pytest.skip("shared reference folder absent")
    schema = json.loads((SHARED / "spec" / "naftiko-schema-alpha2.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


# ------------------------------------------------------------------------------------------------
# The D2/D3 dialect, rewritten into plain alpha2 (only where the dialect is used correctly)

PARAM_TYPES = {"string", "number", "integer", "boolean", "array", "object"}


def to_official(doc: object) -> object:
    """Rewrite the dialect extensions of CONTRACT D2/D3 that ``doc`` uses into official alpha2."""
    doc = copy.deepcopy(doc)

    def walk(node: object, path: tuple) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, path + (i,))
            return
        if not isinstance(node, dict):
            return
        holder = path[-2] if len(path) >= 2 else None
        if path == () and (node.get("naftiko") in ("1.0.0-alpha1", "0.5") or node.get("naftiko") == 0.5):
            node["naftiko"] = "1.0.0-alpha2"  # D2
        if path == ("info",):
            if isinstance(node.get("title"), str):  # D3: title is a synonym of label
                title = node.pop("title")
                node.setdefault("label", title)
            for key in ("created", "modified"):  # D1: an unquoted YAML date
                if isinstance(node.get(key), datetime.date):
                    node[key] = node[key].isoformat()
        if holder == "inputParameters" and ("consumes" in path):  # D3: documented consumed inputs
            for key, ok in (
                ("type", lambda v: v in PARAM_TYPES),
                ("description", lambda v: isinstance(v, str)),
                ("required", lambda v: isinstance(v, bool)),
            ):
                if key in node and isinstance(node[key], (str, bool)) and ok(node[key]):
                    del node[key]
        if (
            "outputParameters" in path
            and node.get("type") == "object"
            and "properties" not in node
            and ("mapping" in node or "value" in node)
            and "consumes" not in path
        ):
            node["properties"] = {}  # D3/D40: pass-through object output
        if (
            len(path) == 3
            and path[:2] == ("capability", "exposes")
            and node.get("type") == "rest"
            and isinstance(node.get("description"), str)
        ):
            del node["description"]  # D3: description on a REST adapter
        if holder in ("resources", "operations") and isinstance(node.get("name"), str):
            node["name"] = node["name"].replace("_", "-")  # D3: '_' in resource and operation names
        if isinstance(node.get("call"), str) and "." in node["call"]:
            ns, _, op = node["call"].partition(".")
            node["call"] = f"{ns}.{op.replace('_', '-')}"
        if isinstance(node.get("with"), dict):  # D3/D20: literal with values of any JSON type
            for key, value in node["with"].items():
                if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                    node["with"][key] = "literal"
        for key, value in node.items():
            walk(value, path + (key,))

    walk(doc, ())
    return doc


# ------------------------------------------------------------------------------------------------
# (a) The Polytomic files: the reason the dialect exists


@needs_shared
@pytest.mark.parametrize("path", POLYTOMIC, ids=lambda p: p.name)
def test_polytomic_files_have_no_findings_D3(path):
    (doc,) = load_all(path)
    assert check_shape(doc) == []


@needs_shared
@pytest.mark.parametrize("path", POLYTOMIC, ids=lambda p: p.name)
def test_polytomic_files_differ_from_alpha2_only_by_the_D3_dialect(path, official):
    """The official schema rejects them; rewriting only the D3 extensions makes them valid."""
    (doc,) = load_all(path)
    assert not official.is_valid(doc)
    assert list(official.iter_errors(to_official(doc))) == []


# ------------------------------------------------------------------------------------------------
# (b) Differential tests against the official schema

CORPUS = corpus()


@needs_shared
@pytest.mark.parametrize("name,doc", CORPUS, ids=[n for n, _ in CORPUS])
def test_reference_corpus_verdict_agrees_with_official_schema(name, doc, official):
    assert (check_shape(doc) == []) == official.is_valid(doc), [f.message for f in check_shape(doc)]


def base() -> dict:
    return {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": "Demo", "description": "A demo capability."},
        "capability": {
            "consumes": [
                {
                    "type": "http",
                    "namespace": "api",
                    "baseUri": "https://api.example.com/v1",
                    "resources": [
                        {"name": "items", "path": "/items", "operations": [{"name": "list", "method": "GET"}]}
                    ],
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "port": 8080,
                    "namespace": "demo",
                    "resources": [{"path": "/items", "operations": [{"method": "GET", "call": "api.list"}]}],
                }
            ],
        },
    }


def edit(*changes):
    """A fixture: ``base()`` with ``(dotted.path, value)`` set, or deleted when value is ``DEL``."""
    doc = base()
    for dotted, value in changes:
        *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
        node = doc
        for p in parents:
            node = node[p]
        if value is DEL:
            del node[last]
        else:
            node[last] = copy.deepcopy(value)
    return doc


DEL = object()
EX = "capability.exposes.0"
OP = "capability.exposes.0.resources.0.operations.0"
COP = "capability.consumes.0.resources.0.operations.0"
MCP = {
    "type": "mcp",
    "namespace": "tools",
    "port": 9090,
    "tools": [{"name": "list-items", "description": "List items.", "call": "api.list"}],
}
STEPS = [
    {"type": "call", "name": "fetch", "call": "api.list"},
    {
        "type": "lookup",
        "name": "pick",
        "index": "fetch",
        "match": "id",
        "lookupValue": "$.id",
        "outputParameters": ["name"],
    },
]

# (id, document, expected substring of our first finding, or None when the document is valid)
FIXTURES = [
    ("minimal-valid", edit(), None),
    ("mcp-http-valid", edit((EX, MCP)), None),
    ("mcp-stdio-valid", edit((EX, {k: v for k, v in MCP.items() if k != "port"} | {"transport": "stdio"})), None),
    ("mcp-stdio-with-port", edit((EX, {**MCP, "transport": "stdio"})), "'port' is not allowed"),
    ("mcp-http-without-port", edit((EX, {k: v for k, v in MCP.items() if k != "port"})), "missing required key 'port'"),
    ("operation-without-method", edit((OP + ".method", DEL)), "missing required key 'method'"),
    ("port-not-integer", edit((EX + ".port", "abc")), "'port' must be an integer between 1 and 65535, got 'abc'"),
    ("port-out-of-range", edit((EX + ".port", 70000)), "between 1 and 65535"),
    ("port-boolean", edit((EX + ".port", True)), "got true"),
    ("unknown-key-did-you-mean", edit((EX + ".prot", 8081)), "did you mean 'port'?"),
    ("bad-method-enum", edit((OP + ".method", "FETCH")), "must be one of GET, POST"),
    ("bad-namespace-pattern", edit((EX + ".namespace", "my ns")), "'namespace' must match"),
    ("bad-baseuri", edit(("capability.consumes.0.baseUri", "ftp://x.org")), "'baseUri' must match"),
    ("info-without-description", edit(("info.description", DEL)), "missing required key 'description'"),
    ("unknown-adapter-type", edit((EX + ".type", "grpc")), "unsupported adapter type 'grpc'"),
    ("bearer-auth-valid", edit(("capability.consumes.0.authentication", {"type": "bearer", "token": "{{T}}"})), None),
    (
        "unknown-auth-type",
        edit(("capability.consumes.0.authentication", {"type": "oauth1"})),
        "unsupported authentication type",
    ),
    (
        "basic-auth-with-token",
        edit(("capability.consumes.0.authentication", {"type": "basic", "token": "x"})),
        "unknown key 'token'",
    ),
    ("tags-not-a-list", edit(("info.tags", "a,b")), "'tags' must be a list"),
    ("bad-created-date", edit(("info.created", "2024-13-01")), "YYYY-MM-DD"),
    ("capability-and-root-consumes", edit(("consumes", base()["capability"]["consumes"])), "not both"),
    ("empty-capability", edit(("capability", {})), "needs 'exposes' or 'consumes'"),
    (
        "tool-without-description",
        edit((EX, MCP), (EX + ".tools.0.description", DEL)),
        "missing required key 'description'",
    ),
    ("tool-without-mode", edit((EX, MCP), (EX + ".tools.0.call", DEL)), "needs one of 'call', 'steps'"),
    (
        "mock-tool-valid",
        edit(
            (EX, MCP),
            (EX + ".tools.0.call", DEL),
            (EX + ".tools.0.outputParameters", [{"name": "n", "type": "string", "value": "x"}]),
        ),
        None,
    ),
    (
        "orchestrated-operation-valid",
        edit(
            (OP + ".call", DEL),
            (OP + ".name", "pick"),
            (OP + ".steps", STEPS),
            (OP + ".mappings", [{"targetName": "n", "value": "$.pick.name"}]),
            (OP + ".outputParameters", [{"name": "n", "type": "string"}]),
        ),
        None,
    ),
    (
        "unknown-step-type",
        edit((OP + ".name", "x"), (OP + ".steps", [{"type": "loop", "name": "a"}])),
        "unsupported step type 'loop'",
    ),
    ("json-body-valid", edit((COP + ".body", {"type": "json", "data": {"a": 1}})), None),
    ("raw-body-valid", edit((COP + ".body", '{"a": "{{x}}"}')), None),
    ("bad-body-type", edit((COP + ".body", {"type": "yaml", "data": "a"})), "unsupported request body type"),
    (
        "control-valid",
        edit(
            (
                EX,
                {
                    "type": "control",
                    "port": 9000,
                    "management": {"health": True, "logs": True},
                    "observability": {"traces": {"sampling": 0.5, "propagation": "w3c"}},
                },
            )
        ),
        None,
    ),
    (
        "trace-sampling-above-1",
        edit((EX, {"type": "control", "port": 9000, "observability": {"traces": {"sampling": 2}}})),
        "between 0 and 1",
    ),
    (
        "skill-tool-from-and-instruction",
        edit(
            (
                EX,
                {
                    "type": "skill",
                    "port": 7000,
                    "namespace": "s",
                    "skills": [
                        {
                            "name": "s",
                            "description": "d",
                            "tools": [
                                {
                                    "name": "t",
                                    "description": "d",
                                    "instruction": "i",
                                    "from": {"sourceNamespace": "a", "action": "b"},
                                }
                            ],
                        }
                    ],
                },
            )
        ),
        "has both 'from' and 'instruction'",
    ),
    (
        "bind-key-lowercase",
        edit(("binds", [{"namespace": "env", "keys": {"api_key": "API_KEY"}}])),
        "SCREAMING_SNAKE_CASE",
    ),
    (
        "static-mcp-resource-with-call",
        edit(
            (
                EX,
                {
                    **MCP,
                    "resources": [
                        {
                            "name": "r",
                            "label": "R",
                            "uri": "data://r",
                            "description": "d",
                            "location": "file:///tmp",
                            "call": "api.list",
                        }
                    ],
                },
            )
        ),
        "'location' is not allowed",
    ),
    (
        "prompt-template-and-location",
        edit(
            (
                EX,
                {
                    **MCP,
                    "prompts": [
                        {
                            "name": "p",
                            "label": "P",
                            "description": "d",
                            "location": "file:///p",
                            "template": [{"role": "user", "content": "hi"}],
                        }
                    ],
                },
            )
        ),
        "has both 'template' and 'location'",
    ),
    (
        "forward-resource-valid",
        edit((EX + ".resources.0", {"path": "/proxy", "forward": {"targetNamespace": "api"}})),
        None,
    ),
    ("resource-without-operations", edit((EX + ".resources.0.operations", DEL)), "needs 'operations' or 'forward'"),
    (
        "aggregate-ref-tool-valid",
        edit(
            (
                "capability.aggregates",
                [
                    {
                        "label": "A",
                        "namespace": "agg",
                        "functions": [{"name": "list", "description": "d", "call": "api.list"}],
                    }
                ],
            ),
            (EX, {**MCP, "tools": [{"ref": "agg.list"}]}),
        ),
        None,
    ),
    (
        "output-mapping-and-value",
        edit((OP + ".outputParameters", [{"type": "string", "mapping": "$.a", "value": "b"}])),
        "has both 'mapping' and 'value'",
    ),
    (
        "mapped-output-with-name",
        edit((OP + ".outputParameters", [{"name": "a", "type": "string", "mapping": "$.a"}])),
        "unknown key 'name'",
    ),
    ("shared-consumer-file-valid", {"naftiko": "1.0.0-alpha2", "consumes": base()["capability"]["consumes"]}, None),
    ("with-number-valid", edit((OP + ".with", {"limit": 10, "q": "{{x}}"})), None),
    ("unsupported-version", edit(("naftiko", "2.0")), "unsupported naftiko version '2.0'"),
    ("document-is-a-list", [1, 2], "must be an object"),
    ("document-is-null", None, "must be an object"),
]


@needs_shared
@pytest.mark.parametrize("name,doc,expected", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_fixture_verdict_agrees_with_official_schema(name, doc, expected, official):
    findings = check_shape(doc)
    assert (findings == []) == official.is_valid(doc), [f.message for f in findings]
    assert (findings == []) == (expected is None)
    if expected is not None:
        assert any(expected in f.message for f in findings), [f.message for f in findings]


# Where we knowingly differ from the official schema: (id, document, reason). All are valid for us.
DIALECT_CASES = [
    ("D2-version-alpha1", edit(("naftiko", "1.0.0-alpha1")), "D2: alpha1 documents are read"),
    ("D2-version-0.5-float", edit(("naftiko", 0.5)), "D2: 0.5 documents are read (unquoted YAML 0.5)"),
    (
        "D3-consumed-input-documented",
        edit(
            (
                COP + ".inputParameters",
                [{"name": "id", "in": "query", "type": "string", "description": "Id.", "required": True}],
            )
        ),
        "D3: consumed inputParameters may carry type, description, required",
    ),
    ("D3-info-title", edit(("info", {"title": "Demo", "description": "d"})), "D3: info.title synonym of label"),
    (
        "D3-object-output-passthrough",
        edit((OP + ".outputParameters", [{"type": "object", "mapping": "$."}])),
        "D3/D40: object output with mapping and no properties",
    ),
    ("D3-rest-adapter-description", edit((EX + ".description", "REST surface.")), "D3: description on REST adapter"),
    (
        "D3-underscore-names",
        edit(
            (COP + ".name", "list_all"),
            ("capability.consumes.0.resources.0.name", "all_items"),
            (OP + ".name", "list_all"),
            (OP + ".call", "api.list_all"),
        ),
        "D3: '_' in resource, operation and parameter names",
    ),
    (
        "D3-with-literals",
        edit((OP + ".with", {"a": True, "b": None, "c": {"x": 1}, "d": [1]})),
        "D3/D20: with values of any JSON type",
    ),
    (
        "D1-unquoted-yaml-date",
        edit(("info.created", datetime.date(2026, 5, 19))),
        "D1: a YAML loader makes datetime.date of an unquoted date",
    ),
]


@needs_shared
@pytest.mark.parametrize("name,doc,reason", DIALECT_CASES, ids=[c[0] for c in DIALECT_CASES])
def test_dialect_extensions_are_accepted_where_official_schema_refuses_D2_D3(name, doc, reason, official):
    assert check_shape(doc) == [], reason
    assert not official.is_valid(doc), f"no longer a difference: {reason}"
    assert official.is_valid(to_official(doc)), "to_official() must undo exactly this extension"


def test_pattern_end_anchor_follows_ecma_not_python():
    """Python's ``$`` matches before a final newline (so jsonschema accepts 'demo\\n'); ECMA's does not."""
    assert any("'namespace' must match" in f.message for f in check_shape(edit((EX + ".namespace", "demo\n"))))


def nodes(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from nodes(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from nodes(v, path + (i,))


def at(doc, path):
    for p in path:
        doc = doc[p]
    return doc


TYPE_VALUES = [
    "rest",
    "mcp",
    "skill",
    "control",
    "http",
    "string",
    "number",
    "boolean",
    "object",
    "array",
    "call",
    "lookup",
    "script",
    "json",
    "text",
    "bearer",
    "apikey",
    "basic",
    "oauth2",
]


def mutate(doc, rng: random.Random, donors: list) -> object | None:
    """One random structural edit: delete or add a key, change a type, graft a key from another document."""
    m = copy.deepcopy(doc)
    path, node = rng.choice(list(nodes(m)))
    kind = rng.choice(["del", "add", "set", "set", "graft", "graft", "retype"])
    if kind == "del" and isinstance(node, dict) and node:
        del node[rng.choice(list(node))]
    elif kind == "add" and isinstance(node, dict):
        node["zzz"] = 1
    elif kind == "graft" and isinstance(node, dict):
        source = rng.choice([n for _, n in nodes(rng.choice(donors)) if isinstance(n, dict) and n])
        key = rng.choice(list(source))
        node[key] = copy.deepcopy(source[key])
    elif kind == "retype" and isinstance(node, dict) and "type" in node:
        node["type"] = rng.choice(TYPE_VALUES)
    elif kind == "set" and path:
        at(m, path[:-1])[path[-1]] = rng.choice([[1], "x y", 7, {}, None, True, "-"])
    else:
        return None
    return m


@needs_shared
def test_mutated_corpus_verdicts_agree_with_official_schema_modulo_D2_D3(official):
    """Seeded mutations of every real document: same verdict as the official schema on ``to_official``."""
    docs = [d for _, d in CORPUS] + [load_all(p)[0] for p in POLYTOMIC]
    rng = random.Random(20260519)
    disagreements, tried = [], 0
    for doc in docs:
        for _ in range(14):
            m = mutate(doc, rng, docs)
            if m is None:
                continue
            tried += 1
            ours = [f.message for f in check_shape(m)]
            if (ours == []) != official.is_valid(to_official(m)):
                disagreements.append(ours[:2] or "no finding")
    assert tried > 300
    assert disagreements == []


# ------------------------------------------------------------------------------------------------
# (c) Properties: never raises, every finding points into the document

KEYS = sorted(
    {k for _, d in CORPUS for _, n in nodes(d) if isinstance(n, dict) for k in n if isinstance(k, str)}
    | {"naftiko", "capability", "exposes", "consumes", "type", "port", "tools", "outputParameters"}
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.sampled_from(TYPE_VALUES)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=40,
)


def resolves(doc, path) -> bool:
    """A finding's path names an existing node (a missing key is reported at its existing parent)."""
    node = doc
    for p in path:
        if isinstance(node, dict) and p in node:
            node = node[p]
        elif isinstance(node, list) and isinstance(p, int) and 0 <= p < len(node):
            node = node[p]
        else:
            return False
    return True


def assert_well_formed(doc):
    findings = check_shape(doc)
    assert isinstance(findings, list)
    for f in findings:
        assert isinstance(f, ShapeFinding) and isinstance(f.message, str) and f.message
        assert resolves(doc, f.path), (f.path, f.message)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_value_never_raises_and_paths_resolve(value):
    assert_well_formed(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), JSON)
def test_mutations_of_a_valid_document_never_raise_and_paths_resolve(rng, replacement):
    doc = base()
    doc["capability"]["exposes"].append(copy.deepcopy(MCP))
    path, _ = rng.choice(list(nodes(doc)))
    if path:
        at(doc, path[:-1])[path[-1]] = replacement
    else:
        doc = replacement
    assert_well_formed(doc)


def test_cyclic_and_very_deep_data_never_raise():
    """A YAML alias can make a node contain itself; nesting is bounded by MAX_DEPTH."""
    loop: dict = {"type": "object", "mapping": "$."}
    loop["properties"] = {"a": loop, "b": loop}
    doc = base()
    doc["capability"]["exposes"][0]["resources"][0]["operations"][0]["outputParameters"] = [loop]
    assert any("contains itself" in f.message for f in check_shape(doc))
    deep: object = {"type": "object", "mapping": "$."}
    for _ in range(5000):
        deep = {"type": "object", "properties": {"x": deep}}
    doc["capability"]["exposes"][0]["resources"][0]["operations"][0]["outputParameters"] = [deep]
    assert any("nested deeper" in f.message for f in check_shape(doc))
    listy: list = []
    listy.append(listy)
    assert_well_formed({"naftiko": "1.0.0-alpha2", "capability": {"exposes": listy}})
