"""Issue 11, item 4: the beta4 dialect cross-checked against the official schema (CONTRACT D72).

Documents are generated from ``ikanos-schema.json`` itself (read from ../shared; the module is
skipped without it) by a small interpreter of the schema's keywords (``$ref``, ``oneOf``/``anyOf``,
objects, maps with ``propertyNames``, patterns through ``hypothesis.strategies.from_regex``),
then mutated (a key removed or added, a value of the wrong type). The official validator
(``jsonschema``, draft 2020-12) is the oracle:

- what it accepts, ``naftiko validate`` accepts, or refuses only with errors that name a feature
  this runtime does not implement ("not implemented") or a problem the schema cannot see
  (``SEMANTIC`` below: D4's unresolved calls, unknown ``{{VAR}}``, duplicate namespaces; an
  invalid JSONPath, regular expression or path template; D71's missing import file);
- what it rejects, ``naftiko validate`` rejects, with a position inside the file;
- never a traceback; our hand-written model (``schema`` with the ``IKANOS`` profile) gives the official verdict.

Bounded and reproducible: 100 derandomized examples per test, no shrinking, well under a minute;
``DIALECT_PROPERTY_EXAMPLES=2000`` explores at random instead. The counts are printed (``-s``).
"""

from __future__ import annotations

import copy
import functools
import io
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from support import ROOT, SHARED
from test_schema import to_official

from naftiko_runtime import Settings
from naftiko_runtime.serving.loading import load_source
from naftiko_runtime.spec.extensions import EXTENSION_KEYS
from naftiko_runtime.spec.profiles import IKANOS, PROFILES, Profile
from naftiko_runtime.spec.schema import check_shape as shape_findings
from naftiko_runtime.spec.schema import document_shape
from naftiko_runtime.spec.shape_parts import ItemsIfList
from naftiko_runtime.spec.shapes import Alt, Arr, Map, Obj, Ref, Shape, Switch
from naftiko_runtime.spec.source import parse_text

SCHEMA_FILE = SHARED / "spec" / "ikanos-1.0.0-beta4" / "schemas" / "ikanos-schema.json"
if not SCHEMA_FILE.is_file():
    pytest.skip("shared reference folder absent", allow_module_level=True)
jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SEMANTIC = re.compile(
    r"\bD4\)|names neither a bind variable|invalid JSONPath|invalid pattern|path template|placeholder|"
    r"import source file not found|cannot read bind file|MCP's limit|\(D71\)|names a variable that is not a bind|"
    # Semantics the features of issues 12 and 13 check beyond the schema: secrets that must be set
    # (D90), step order and references, files a step, skill or prompt reads, names a `from` uses.
    r"\(D8\d\)|\(D9[01]\)|\(D13, D90\)|URI template|earlier step|no step|FileNotFoundError|not found|"
    r"cannot read|does not exist|does not resolve|names no|unknown (adapter|action|namespace|flow|function)|"
    r"not a folder|not an HTTP field name|"
    # D117: a script step's language and location come from the step or the control adapter's
    # scripting governance, which the schema leaves optional on both.
    r"management\.scripting|"
    # The schema leaves an API key's `key` (its header or query name) optional; a served adapter
    # cannot check a key sent nowhere, so it is refused by name.
    r"apikey authentication needs 'key'"
)
"""Errors about what the schema cannot see: each is a decision of the contract, not a dialect gap."""
MAX_DEPTH = 7
COUNTS: Counter[str] = Counter()

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x2FF), max_size=8)


class Generator:
    """Documents an official schema describes, built by a small interpreter of its keywords."""

    def __init__(self, schema: dict[str, Any], every_key: bool = False):
        self.schema = schema
        self.every_key = every_key
        """Each optional key of an object is drawn on a coin toss (else: up to 3 of them)."""
        self.strategies: dict[tuple[str, int], st.SearchStrategy[Any]] = {}

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.schema["$defs"][node["$ref"].rsplit("/", 1)[1]] | {k: v for k, v in node.items() if k != "$ref"}
        return node

    def merged(self, node: dict[str, Any]) -> dict[str, Any]:
        """``allOf`` folded into one object schema (``properties`` and ``required`` united)."""
        node = self.resolve(node)
        if "allOf" not in node:
            return node
        out: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            part = self.merged(part)
            out["properties"] = {**out.get("properties", {}), **part.get("properties", {})}
            out["required"] = [*out.get("required", []), *part.get("required", [])]
            out.update({k: v for k, v in part.items() if k not in ("properties", "required")})
        return out

    def strategy(self, node: Any, depth: int = 0) -> st.SearchStrategy[Any]:
        """Values the schema ``node`` describes (mostly valid: the oracle filters the rest); built
        once per schema node and depth."""
        key = (json.dumps(node, sort_keys=True), min(depth, MAX_DEPTH + 1))
        if key not in self.strategies:
            self.strategies[key] = self._strategy(node, depth)
        return self.strategies[key]

    def _strategy(self, node: Any, depth: int) -> st.SearchStrategy[Any]:
        if node is True or node == {}:
            return TEXT
        node = self.merged(node)
        for key in ("oneOf", "anyOf"):
            if key in node:
                base = {k: v for k, v in node.items() if k != key}
                branches = [
                    self.merged(
                        {
                            **base,
                            **self.merged(b),
                            "properties": {**base.get("properties", {}), **self.merged(b).get("properties", {})},
                            "required": [*base.get("required", []), *self.merged(b).get("required", [])],
                        }
                    )
                    for b in node[key]
                ]
                if depth >= MAX_DEPTH:
                    branches = [b for b in branches if not self._recursive(b)] or branches[:1]
                return st.one_of([self.strategy(b, depth + 1) for b in branches])
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        kind = node.get("type")
        if isinstance(kind, list):
            return st.one_of([self.strategy({**node, "type": k}, depth) for k in kind])
        if kind == "string" or (kind is None and "pattern" in node):
            if "pattern" in node:
                return st.from_regex(node["pattern"], fullmatch=node["pattern"].endswith("$")).filter(
                    lambda s: len(s) < 40 and "\ud800" not in s
                )
            return TEXT
        if kind == "integer":
            return st.integers(node.get("minimum", -5), node.get("maximum", 70000))
        if kind == "number":
            return st.integers(0, 1) | st.floats(node.get("minimum", 0), node.get("maximum", 1))
        if kind == "boolean":
            return st.booleans()
        if kind == "array":
            items = node.get("items", True)
            low = node.get("minItems", 0)
            return st.lists(
                self.strategy(items, depth + 1), min_size=low, max_size=low + (0 if depth >= MAX_DEPTH else 2)
            )
        if kind == "object" or "properties" in node or "additionalProperties" in node:
            return self._object(node, depth)
        return TEXT | st.integers(0, 9)

    def _recursive(self, node: dict[str, Any]) -> bool:
        return "items" in node.get("required", []) or "properties" in node.get("required", [])

    def _object(self, node: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
        properties = {k: v for k, v in node.get("properties", {}).items() if v is not False}
        required = [k for k in dict.fromkeys(node.get("required", [])) if k in properties]
        optional = [k for k in properties if k not in required]
        extra = node.get("additionalProperties")
        names = node.get("propertyNames", {}).get("pattern") or self.resolve(node.get("propertyNames", {})).get(
            "pattern"
        )

        @functools.cache
        def child(key: str | None) -> st.SearchStrategy[Any]:
            """A property's strategy (``None``: the extra keys' one), looked up once per object
            schema, not at every draw: the lookup dumps the schema node to JSON for its key."""
            return self.strategy(extra if key is None else properties[key], depth + 1)

        @st.composite
        def build(draw: Any) -> dict[str, Any]:
            out = {k: draw(child(k)) for k in required}
            if depth < MAX_DEPTH:
                if self.every_key:
                    chosen = [key for key in optional if draw(st.booleans())]
                else:
                    chosen = draw(st.lists(st.sampled_from(optional), unique=True, max_size=3)) if optional else []
                for key in chosen:
                    out[key] = draw(child(key))
            if isinstance(extra, dict) and not properties:
                low = node.get("minProperties", 0)
                keys = (
                    st.from_regex(names, fullmatch=True)
                    if names
                    else st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True)
                )
                count = draw(st.integers(low, low + (0 if depth >= MAX_DEPTH else 2)))
                for key in draw(
                    st.lists(keys.filter(lambda s: len(s) < 20), min_size=count, max_size=count, unique=True)
                ):
                    out[key] = draw(child(None))
            return out

        return build()


DOCUMENTS = Generator(SCHEMA).strategy(SCHEMA)


def mutate(document: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """One edit somewhere in the document: a key dropped or added, a value retyped."""
    mutated = copy.deepcopy(document)
    containers = [(mutated, ())]
    stack = [mutated]
    while stack:
        node = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        for child in children:
            if isinstance(child, (dict, list)):
                containers.append((child, ()))
                stack.append(child)
    target, _ = data.draw(st.sampled_from(containers))
    kind = data.draw(st.sampled_from(["drop", "add", "retype", "retype"]))
    if isinstance(target, dict) and target and kind != "add":
        key = data.draw(st.sampled_from(sorted(target, key=str)))
        if kind == "drop":
            del target[key]
        else:
            target[key] = data.draw(st.sampled_from([7, "x y", True, None, [], {}, [1], {"z": 1}, -1.5]))
    elif isinstance(target, dict):
        target[data.draw(st.sampled_from(["zzz", "name", "label", "type", "call", "steps", "in"]))] = data.draw(
            st.sampled_from(["bogus", 3, {}, [], True])
        )
    elif isinstance(target, list) and target:
        target[data.draw(st.integers(0, len(target) - 1))] = data.draw(st.sampled_from(["x", 5, None, {"q": 1}]))
    else:
        target.append(data.draw(st.sampled_from(["x", 5, {}])))
    return mutated


def yaml_text(document: Any) -> str:
    """Block YAML, as a user writes it (and with YAML's own escapes for any character)."""
    stream = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(document, stream)
    return stream.getvalue()


def validate(document: Any) -> tuple[list[Any], int]:
    """What `naftiko validate` says of the document, and how many lines its file has."""
    text = yaml_text(document)
    report = load_source(parse_text(text, Path("generated.yaml")), Settings(), {})
    return report.diagnostics, text.count("\n") + 1


def check_shape(document: Any) -> list[Any]:
    return shape_findings(document, IKANOS)


def check(document: Any) -> None:
    valid = VALIDATOR.is_valid(document)
    assert (check_shape(document) == []) == valid, [f.message for f in check_shape(document)][:3]
    diagnostics, lines = validate(document)
    for diagnostic in diagnostics:
        assert 1 <= diagnostic.line <= lines and diagnostic.column >= 1, str(diagnostic)
    errors = [d.message for d in diagnostics if d.severity.value == "error"]
    if valid:
        unexplained = [m for m in errors if "not implemented" not in m and not SEMANTIC.search(m)]
        assert unexplained == [], unexplained
        COUNTS["accepted by the schema: served as is" if not errors else "accepted by the schema: refused by name"] += 1
    else:
        assert errors, "the official schema rejects this document; so must we"
        COUNTS["rejected by the schema: rejected with a position"] += 1


PROFILE = settings(
    max_examples=int(os.environ.get("DIALECT_PROPERTY_EXAMPLES", "100")),
    derandomize=not os.environ.get("DIALECT_PROPERTY_EXAMPLES"),
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its example at once
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROFILE
@given(DOCUMENTS)
def test_generated_documents_agree_with_the_official_schema(document):
    assume(VALIDATOR.is_valid(document))
    COUNTS["generated"] += 1
    check(document)


@PROFILE
@given(DOCUMENTS, st.data())
def test_mutated_documents_agree_with_the_official_schema(document, data):
    assume(VALIDATOR.is_valid(document))
    mutated = mutate(document, data)
    COUNTS["mutated"] += 1
    check(mutated)


@pytest.mark.parametrize("exposes", [True, 7, "x y", None])
def test_a_mistyped_exposes_is_refused_with_a_position(exposes):
    """Found by the mutated documents above: a root ``exposes`` that is neither a list nor a map
    (``true``) made the reading of the control adapter's scripting governance raise a TypeError."""
    check({"ikanos": "1.0.0-beta4", "exposes": exposes})


# -- every dialect against its official file (issue 19, item 2) -----------------------------------
# One shape table (``spec.schema``) serves alpha2, beta4 and beta5: each profile's verdict must be
# its official schema's, over every document there is and over documents generated from each file.
# alpha2 is compared once its D2/D3 dialect extensions are rewritten into plain alpha2
# (``test_schema.to_official``): the extensions are the only accepted difference (D3).

OFFICIAL_FILES = {
    "1.0.0-alpha2": SHARED / "spec" / "naftiko-schema-alpha2.json",
    "1.0.0-beta4": SCHEMA_FILE,
    "1.0.0-beta5": SCHEMA_FILE.with_name("ikanos-schema-1.0.0-beta5-main.json"),
}
OFFICIAL_SCHEMAS = {version: json.loads(path.read_text(encoding="utf-8")) for version, path in OFFICIAL_FILES.items()}
OFFICIAL = {version: jsonschema.Draft202012Validator(schema) for version, schema in OFFICIAL_SCHEMAS.items()}
REPOSITORY = ROOT
GENERATED = {
    version: Generator(schema, every_key=True).strategy(schema) for version, schema in OFFICIAL_SCHEMAS.items()
}
"""Documents of each official schema where every optional key of an object is drawn half the time:
a key one dialect's table forgets (``cacheScope``, ``tags``...) cannot stay unseen for long."""
GENERATED_SPARSE = {version: Generator(schema).strategy(schema) for version, schema in OFFICIAL_SCHEMAS.items()}
"""Documents of each official schema with up to 3 optional keys an object. Built once: a generator
made per example rebuilt (and hypothesis re-inspected the source of) every strategy each time."""


def official_verdict(document: dict[str, Any]) -> bool:
    if "ikanos" in document:
        return OFFICIAL.get(str(document["ikanos"]), OFFICIAL["1.0.0-beta4"]).is_valid(document)
    return OFFICIAL["1.0.0-alpha2"].is_valid(to_official(document))


def our_verdict(document: dict[str, Any]) -> list[str]:
    profile = PROFILES["ikanos" if "ikanos" in document else "naftiko"]
    return [f"{f.path}: {f.message}" for f in shape_findings(document, profile)]


def capability_texts(value: Any) -> list[str]:
    """The capability files a conformance case embeds (``capability``, ``capabilities``, ``files``)."""
    if isinstance(value, str):
        return [value] if re.match(r"\s*(naftiko|ikanos):", value) else []
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for child in children for text in capability_texts(child)]


@functools.cache
def every_document() -> list[tuple[str, dict[str, Any]]]:
    """Every capability document of the official folders, the reference corpus, the tutorials, the
    Polytomic files and this repository's conformance suite. Read when a test asks, never at
    collection (every xdist worker collects), with the C parser (the same documents as the pure
    one, 5x sooner)."""
    safe = YAML(typ="safe", pure=False)
    found: list[tuple[str, dict[str, Any]]] = []
    roots = [SHARED / "spec", SHARED / "reference", REPOSITORY / "capabilities", REPOSITORY / "conformance"]
    for path in sorted(p for root in roots for p in root.rglob("*.y*ml")):
        try:
            loaded = list(safe.load_all(path.read_text(encoding="utf-8")))
        except Exception:  # a YAML fixture of a parse-error test: nothing to compare
            continue
        texts = [(f"{path.name}#{i}", d) for i, d in enumerate(loaded)]
        if REPOSITORY / "conformance" / "cases" in path.parents:
            texts = []
            for i, text in enumerate(capability_texts(loaded)):
                try:
                    texts.append((f"{path.name}@{i}", safe.load(text)))
                except Exception:  # a case about malformed YAML
                    continue
        found += [(name, d) for name, d in texts if isinstance(d, dict) and ("naftiko" in d or "ikanos" in d)]
    return found


def test_every_document_is_judged_by_each_dialect_as_its_official_schema_does():
    documents = every_document()
    verdicts = [(name, official_verdict(document), our_verdict(document)) for name, document in documents]
    disagreements = [(name, official, ours[:2]) for name, official, ours in verdicts if official != (ours == [])]
    assert disagreements == []
    versions = Counter(str(d.get("ikanos", d.get("naftiko"))) for _, d in documents)
    assert len(documents) > 100 and {"1.0.0-alpha2", "1.0.0-beta4"} <= set(versions), versions


@PROFILE
@given(st.sampled_from(sorted(OFFICIAL)).flatmap(GENERATED_SPARSE.__getitem__))
def test_documents_generated_from_each_official_schema_get_its_verdict(document):
    assume(isinstance(document, dict) and official_verdict(document))
    assert our_verdict(document) == []
    COUNTS[f"generated {document.get('ikanos', document.get('naftiko'))}"] += 1


@PROFILE
@given(
    st.sampled_from(sorted(OFFICIAL)).flatmap(GENERATED.__getitem__),
    st.data(),
)
def test_mutated_documents_of_each_dialect_get_its_official_verdict(document, data):
    assume(isinstance(document, dict) and official_verdict(document))
    mutated = mutate(document, data)
    assume(isinstance(mutated, dict) and ("naftiko" in mutated or "ikanos" in mutated))
    assert official_verdict(mutated) == (our_verdict(mutated) == []), our_verdict(mutated)[:3]
    COUNTS[f"mutated {mutated.get('ikanos', mutated.get('naftiko'))}"] += 1


def keys_we_know(profile: Profile) -> set[str]:
    """Every key some object of the dialect's table (``spec.schema``) accepts, but this runtime's
    own extensions (D97): ``x-naftiko-*`` keys, and the shapes of ``x-naftiko-*`` step kinds (D120)."""
    seen: set[int] = set()
    keys: set[str] = set()
    stack: list[Shape] = [document_shape(profile)]
    while stack:
        shape = stack.pop()
        if id(shape) in seen:
            continue
        seen.add(id(shape))
        if isinstance(shape, Obj):
            keys |= {key for key in shape.props if not key.startswith(EXTENSION)}
            stack += [*shape.props.values(), *shape.rules]
        elif isinstance(shape, (Arr, ItemsIfList)):
            stack.append(shape.items)
        elif isinstance(shape, Map):
            stack.append(shape.values)
        elif isinstance(shape, Switch):
            cases = [case for kind, case in shape.cases.items() if not kind.startswith(EXTENSION)]
            stack += [*cases, *([shape.other] if shape.other else [])]
        elif isinstance(shape, Alt):
            stack += [branch for _, branch in shape.branches]
        elif isinstance(shape, Ref):
            stack.append(shape.table[shape.name])
    return keys


def keys_defined(schema: Any) -> set[str]:
    """Every key some object of an official schema lists in its ``properties``."""
    if isinstance(schema, list):
        return {key for item in schema for key in keys_defined(item)}
    if not isinstance(schema, dict):
        return set()
    properties = schema.get("properties")
    own = {k for k, v in properties.items() if v is not False} if isinstance(properties, dict) else set()
    return own | {key for value in schema.values() for key in keys_defined(value)}


EXTENSION = "x-naftiko-"
ALLOF_SLIPS = {"additionalProperties"}
"""Listed under ``properties`` in an ``allOf`` part of the output parameter definitions (a keyword
written as a key); the part beside it is closed, so the official schema refuses it as a key too."""


@pytest.mark.parametrize("version", sorted(OFFICIAL_SCHEMAS))
def test_every_key_of_each_official_schema_is_known_to_its_dialects_table(version):
    """Deterministic where generated documents are random: no key is forgotten or invented."""
    profile = PROFILES["naftiko" if "alpha" in version else "ikanos"]
    extensions = set(EXTENSION_KEYS) | ({"title"} if profile.extensions else set())  # D3
    assert keys_defined(OFFICIAL_SCHEMAS[version]) - ALLOF_SLIPS == keys_we_know(profile) - extensions


def test_counts(capsys):
    """The property tests above ran, and on both sides of the schema's verdict."""
    with capsys.disabled():
        print("\nproperty test counts:", dict(sorted(COUNTS.items())))
    assert COUNTS["generated"] >= 50 and COUNTS["mutated"] >= 50
    assert COUNTS["rejected by the schema: rejected with a position"] >= 20
    assert all(COUNTS[f"generated {version}"] >= 10 for version in OFFICIAL), COUNTS
