"""Shape validation of an Ikanos 1.0.0-beta4/beta5 document, without shipping the official schema.

A hand-written model of ``ikanos-schema.json`` (beta4; beta5 is identical but the version), built
from the combinators of ``shapes`` like ``schema`` models alpha2, and sharing its unchanged parts
(authentication, request bodies, control adapters). What differs from alpha2: the root key
``ikanos``; maps keyed by name where alpha2 has lists of objects with a ``name``; ``display`` for
``label``; ``tags``; import entries (``from``/``import``/``as``) in every section; aggregate
``flows``; step mappings' ``target``; and the new keys of this version (``tunnel``,
``maxBinarySize``, ``outputMediaType``, ``responses``, ``ttlMs``, ...).

No dialect extension is accepted here: for these documents the official schema is the contract,
so its verdict and ours agree (but for the runtime's own extension keys, ``extensions``, which the
builder always warns about, so that --strict refuses them)
(``tests/unit/test_dialect_properties.py`` checks it against the official file), and ``dialects``
makes every violation an error (D72). The deliberate
differences are those of ``schema``: ``format: uri`` is not asserted, ``$`` in a pattern is
ECMA-262's, and an unquoted YAML date is a date.
"""

from __future__ import annotations

from typing import Any

from .extensions import OAUTH2_CLIENT_CREDENTIALS
from .schema import (
    ADDRESS,
    ANY,
    AUTH,
    BODY,
    BOOL,
    DATE,
    EXTENDED,
    FILE_URI,
    KEBAB,
    LANGUAGE,
    MANAGEMENT,
    METHOD,
    OBSERVABILITY,
    OUT_TYPE,
    PARAM_TYPE,
    PORT,
    STR,
    Findings,
    _mcp_transport,
)
from .shapes import (
    Alt,
    Arr,
    Check,
    Context,
    Kinds,
    Map,
    Num,
    Obj,
    Open,
    Path,
    Ref,
    Shape,
    ShapeFinding,
    Str,
    Switch,
    exactly_one,
    show,
    some_of,
    where_text,
)

VERSIONS = ("1.0.0-beta4", "1.0.0-beta5")
SECTIONS = ("consumes", "exposes", "aggregates", "binds")
"""The root sections a standalone shared file may hold, one of them only."""

NAME_KEYS = Str(r"^[a-zA-Z0-9-]+$", "letters, digits and '-'")
PARAMETER_KEYS = Str(r"^[a-zA-Z0-9-_*]+$", "letters, digits, '-', '_' and '*'")
CALL = Str(r"^[a-zA-Z0-9-]+\.[a-zA-Z0-9-]+$", "namespace.operation")
WITH = Map(Kinds(("string", "number")))
TAGS = Arr(STR)
MEDIA_TYPE = (
    r"^[a-zA-Z0-9!#$&^_.+-]+\/[a-zA-Z0-9!#$&^_.+-]+(?:\s*;\s*[a-zA-Z0-9!#$&^_.+-]+="
    r"(?:[a-zA-Z0-9!#$&^_.+-]+|\"[^\"]*\"))*$"
)
BINARY_SIZE = Str(r"^\d+(\.\d+)?(B|KiB|MiB|GiB)$", "a size such as 512KiB or 5MiB")


def named(values: Shape, keys: Str = NAME_KEYS) -> Map:
    """A map keyed by name: what alpha2 writes as a list of objects with a ``name``."""
    return Map(values, keys, min_items=1)


def _version(v: object, path: Path) -> Findings:
    if v not in VERSIONS:
        yield path, f"unsupported ikanos version {show(v)}; supported: {', '.join(VERSIONS)}"


def _root_form(v: Any, path: Path) -> Findings:
    """Exactly one of: a capability, or one shared section (consumes, exposes, aggregates, binds)."""
    if "capability" in v:
        return
    present = [k for k in SECTIONS if k in v]
    if not present:
        yield (
            path,
            "missing required key 'capability' (or one root section for a shared file: " + ", ".join(SECTIONS) + ")",
        )
    elif len(present) > 1:
        yield path, f"a shared file holds one section only, this one has {', '.join(present)}"


class ItemsIfList(Shape):
    """``{items: X}`` without ``type: array``: only a list's items are constrained."""

    def __init__(self, items: Shape):
        self.items = items

    def check(self, v: object, path: Path, ctx: Context) -> None:
        if isinstance(v, list):
            Arr(self.items).check(v, path, ctx)


# -- output parameters -------------------------------------------------------------------------

MAPPED_BASE = {"type": ANY, "mapping": STR, "const": Kinds(Kinds().kinds[:-1]), "value": STR}
MAPPED_SCALAR = Obj("mapped output parameter", MAPPED_BASE, rules=(exactly_one("mapping", "value"),))
ORCH_SCALAR = Obj("orchestrated output parameter", {"type": ANY})
RECURSIVE: dict[str, Shape] = {}
RECURSIVE.update(
    {
        "mapped": Switch(
            "type",
            {
                "string": MAPPED_SCALAR,
                "number": MAPPED_SCALAR,
                "boolean": MAPPED_SCALAR,
                "object": Obj(
                    "object output parameter",
                    {**MAPPED_BASE, "properties": Map(Ref("mapped", RECURSIVE))},
                    ("properties",),
                ),
                "array": Obj("array output parameter", {**MAPPED_BASE, "items": Ref("mapped", RECURSIVE)}, ("items",)),
            },
            "output parameter",
        ),
        "orchestrated": Switch(
            "type",
            {
                "string": ORCH_SCALAR,
                "number": ORCH_SCALAR,
                "boolean": ORCH_SCALAR,
                "array": Obj(
                    "orchestrated array output",
                    {"type": ANY, "items": Map(Ref("orchestrated", RECURSIVE), min_items=1)},
                    ("items",),
                ),
                "object": Obj(
                    "orchestrated object output",
                    {"type": ANY, "properties": Map(Ref("orchestrated", RECURSIVE))},
                    ("properties",),
                ),
            },
            "output parameter",
        ),
    }
)
MAPPED_OUTS = Arr(Ref("mapped", RECURSIVE))
ORCH_OUTS = Map(Ref("orchestrated", RECURSIVE))
MOCK_OUTS = Map(
    Obj("mock output parameter", {"type": Str(enum=("string", "number", "boolean")), "value": STR}, ("type", "value")),
    min_items=1,
)

# -- steps ---------------------------------------------------------------------------------------

STEP = Switch(
    "type",
    {
        "call": Obj("call step", {"type": ANY, "call": CALL, "with": WITH}, ("type", "call")),
        "lookup": Obj(
            "lookup step",
            {"type": ANY, "index": KEBAB, "match": KEBAB, "lookupValue": STR, "outputParameters": Arr(STR, 1)},
            ("type", "index", "match", "lookupValue", "outputParameters"),
        ),
        "script": Obj(
            "script step",
            {
                "type": ANY,
                "language": LANGUAGE,
                "location": FILE_URI,
                "file": Str(min_len=1),
                "dependencies": Arr(Str(min_len=1), 1),
                "with": WITH,
            },
            ("type", "file"),
        ),
    },
    "step",
)
STEPS = named(STEP)
MAPPINGS = Arr(
    Obj(
        "step output mapping",
        {"target": Str(r"^[a-zA-Z0-9-_.]+$", "letters, digits, '-', '_', '.'"), "value": STR},
        ("target", "value"),
    )
)

# -- parameters ----------------------------------------------------------------------------------

CONSUMED_INPUT = Obj(
    "consumed input parameter",
    {"in": Str(enum=("query", "header", "path", "cookie", "body", "environment")), "value": STR},
    ("in",),
)
EXPOSED_INPUT = Obj(
    "exposed input parameter",
    {
        "in": Str(enum=("query", "header", "path", "cookie", "body")),
        "type": PARAM_TYPE,
        "description": STR,
        "pattern": STR,
        "value": STR,
    },
    ("in", "type", "description"),
)
TOOL_INPUT = Obj(
    "tool input parameter", {"type": PARAM_TYPE, "description": STR, "required": BOOL}, ("type", "description")
)
CONSUMED_INPUTS = Map(CONSUMED_INPUT, PARAMETER_KEYS)
EXPOSED_INPUTS = Map(EXPOSED_INPUT, PARAMETER_KEYS)
TOOL_INPUTS = Map(TOOL_INPUT, PARAMETER_KEYS)

IMPORT = Obj("import entry", {"from": STR, "import": KEBAB, "as": KEBAB, "description": STR}, ("from", "import"))


def section(entry: Shape) -> Arr:
    """A section's list: inline entries, or import entries (``from``/``import``/``as``)."""
    return Arr(
        Alt(
            (("inline", entry), ("import", IMPORT)),
            lambda v: 1 if "type" not in v and ("from" in v or "import" in v) else 0,
            exclusive=True,
        ),
        1,
    )


# -- consumes ------------------------------------------------------------------------------------

CONSUMED_OP = Obj(
    "consumed operation",
    {
        "display": STR,
        "tags": TAGS,
        "description": STR,
        "method": METHOD,
        "inputParameters": CONSUMED_INPUTS,
        "outputRawFormat": Str(
            enum=("json", "xml", "avro", "protobuf", "csv", "tsv", "psv", "yaml", "html", "markdown", "binary")
        ),
        "outputMediaType": STR,
        "maxBinarySize": BINARY_SIZE,
        "outputSchema": STR,
        "outputParameters": Map(Obj("consumed output parameter", {"type": OUT_TYPE, "value": STR}, ("type", "value"))),
        "body": BODY,
    },
    ("method",),
)
CONSUMES_HTTP = Obj(
    "http consumes",
    {
        "namespace": KEBAB,
        "type": Str(const="http"),
        "description": STR,
        "baseUri": Str(r"^https?://[^/]+(/[^{]*)?$", "http(s)://host[/base-path]"),
        "inputParameters": CONSUMED_INPUTS,
        "authentication": AUTH,
        # A naftiko-runtime extension (``extensions``): let through here, checked and always warned
        # about by the builder, so that --strict still refuses it.
        OAUTH2_CLIENT_CREDENTIALS: ANY,
        "tunnel": Switch(
            "type",
            {
                "ziti": Obj(
                    "ziti tunnel",
                    {"type": ANY, "service": STR, "identity": STR, "fallback": Str(enum=("fail", "direct"))},
                    ("type", "service", "identity"),
                )
            },
            "tunnel",
        ),
        "resources": named(
            Obj(
                "consumed resource",
                {
                    "display": STR,
                    "tags": TAGS,
                    "description": STR,
                    "path": STR,
                    "inputParameters": CONSUMED_INPUTS,
                    "operations": named(CONSUMED_OP),
                },
                ("path", "operations"),
            )
        ),
    },
    ("namespace", "type", "baseUri"),
)
BINDING = Obj(
    "bind",
    {
        "namespace": KEBAB,
        "description": STR,
        "location": Str(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "a URI such as file:///..."),
        "keys": Map(EXTENDED, Str(r"^[A-Z][A-Z0-9_]*$", "SCREAMING_SNAKE_CASE")),
    },
    ("namespace", "keys"),
)

# -- exposes -------------------------------------------------------------------------------------


def _not_both_responses(v: Any, path: Path) -> Findings:
    if "responses" in v and "responseBinary" in v:
        yield path, f"{where_text(path)} has both 'responses' and 'responseBinary'; use one"


RESPONSES = Map(
    Obj(
        "response",
        {
            "description": STR,
            "content": Map(
                Obj("response content", {"binary": BOOL, "schema": Kinds(("object",))}),
                Str(MEDIA_TYPE, "type/subtype"),
                min_items=1,
            ),
        },
    ),
    Str(r"^[1-5][0-9X]{2}$", "a status such as 200 or 4XX"),
)
EXPOSED_OP = Obj(
    "exposed operation",
    {
        "display": STR,
        "tags": TAGS,
        "description": STR,
        "method": METHOD,
        "inputParameters": EXPOSED_INPUTS,
        "ref": CALL,
        "call": CALL,
        "with": WITH,
        "outputParameters": ANY,
        "steps": STEPS,
        "mappings": MAPPINGS,
        "responses": RESPONSES,
        "responseBinary": Obj(
            "binary response",
            {"status": Num(100, 599, integer=True), "mediaType": Str(MEDIA_TYPE, "type/subtype"), "description": STR},
            ("mediaType",),
        ),
    },
    ("method",),
    rules=(
        Check(_not_both_responses),
        Alt(
            (
                ("simple", Open(props={"outputParameters": ItemsIfList(Ref("mapped", RECURSIVE))})),
                ("orchestrated", Open(("steps",), {"outputParameters": ORCH_OUTS})),
                ("ref", Open(("ref",))),
            ),
            lambda v: 1 if "steps" in v else 0,
        ),
    ),
)
EXPOSED_RESOURCE = Obj(
    "exposed resource",
    {
        "display": STR,
        "tags": TAGS,
        "description": STR,
        "path": STR,
        "inputParameters": EXPOSED_INPUTS,
        "operations": named(EXPOSED_OP),
        "forward": Obj("forward", {"targetNamespace": KEBAB, "trustedHeaders": Arr(STR, 1)}, ("targetNamespace",)),
    },
    ("path",),
    rules=(some_of("operations", "forward"),),
)


def _mode(v: dict[Any, Any], *keys: str) -> int | None:
    return next((i for i, k in enumerate(keys) if k and k in v), None)


TOOL = Obj(
    "MCP tool",
    {
        "display": STR,
        "tags": TAGS,
        "description": STR,
        "inputParameters": TOOL_INPUTS,
        "ref": CALL,
        "call": CALL,
        "with": WITH,
        "steps": STEPS,
        "mappings": MAPPINGS,
        "hints": Obj("tool hints", dict.fromkeys(("readOnly", "destructive", "idempotent", "openWorld"), BOOL)),
        "outputParameters": ANY,
    },
    rules=(
        Alt(
            (
                ("call", Open(("description", "call"), {"outputParameters": MAPPED_OUTS})),
                ("steps", Open(("description", "steps"), {"outputParameters": ORCH_OUTS})),
                ("ref", Open(("ref",))),
                ("mock", Open(("description", "outputParameters"), {"outputParameters": MOCK_OUTS})),
            ),
            lambda v: _mode(v, "call", "steps", "ref", "outputParameters"),
            "{where} needs one of 'call', 'steps', 'ref' or mock 'outputParameters'",
        ),
    ),
)
NOT_LOCATION = {"location": "a dynamic MCP resource ('call' or 'steps') has no static 'location'"}
MCP_RESOURCE = Obj(
    "MCP resource",
    {
        "display": STR,
        "uri": STR,
        "description": STR,
        "mimeType": Str(MEDIA_TYPE, "type/subtype[; param=value]"),
        "binary": BOOL,
        "call": CALL,
        "with": WITH,
        "steps": STEPS,
        "mappings": MAPPINGS,
        "outputParameters": Kinds(("array", "object")),
        "location": FILE_URI,
    },
    ("display", "uri", "description"),
    rules=(
        Alt(
            (
                ("call", Open(("call",), {"outputParameters": MAPPED_OUTS}, NOT_LOCATION)),
                ("steps", Open(("steps",), {"outputParameters": ORCH_OUTS}, NOT_LOCATION)),
                (
                    "static",
                    Open(("location",), forbid=dict.fromkeys(("call", "steps"), "a static MCP resource has no call")),
                ),
            ),
            lambda v: _mode(v, "call", "steps", "location"),
            "{where} needs 'call', 'steps' or a static 'location'",
            exclusive=True,
        ),
    ),
)
PROMPT = Obj(
    "MCP prompt",
    {
        "display": STR,
        "description": STR,
        "arguments": Map(
            Obj("prompt argument", {"display": STR, "description": STR, "required": BOOL}, ("description",)),
            PARAMETER_KEYS,
        ),
        "template": Arr(
            Obj("prompt message", {"role": Str(enum=("user", "assistant")), "content": STR}, ("role", "content")), 1
        ),
        "location": FILE_URI,
    },
    ("display", "description"),
    rules=(exactly_one("template", "location"),),
)
SKILL = Obj(
    "skill",
    {
        "description": Str(max_len=1024),
        "license": STR,
        "compatibility": Str(max_len=500),
        "metadata": Map(STR),
        "allowed-tools": Str(max_len=1024),
        "argument-hint": STR,
        "user-invocable": BOOL,
        "disable-model-invocation": BOOL,
        "location": FILE_URI,
        "tools": named(
            Obj(
                "skill tool",
                {
                    "description": STR,
                    "from": Obj(
                        "skill tool source", {"sourceNamespace": STR, "action": STR}, ("sourceNamespace", "action")
                    ),
                    "instruction": STR,
                },
                ("description",),
                rules=(exactly_one("from", "instruction"),),
            )
        ),
    },
    ("description",),
)

ADAPTER = {"type": ANY, "address": ADDRESS, "port": PORT, "authentication": AUTH}
EXPOSES = Switch(
    "type",
    {
        "rest": Obj(
            "rest adapter",
            {**ADAPTER, "namespace": KEBAB, "maxBinarySize": BINARY_SIZE, "resources": named(EXPOSED_RESOURCE)},
            ("type", "port", "namespace"),
        ),
        "mcp": Obj(
            "mcp adapter",
            {
                **ADAPTER,
                "namespace": KEBAB,
                "transport": Str(enum=("http", "stdio")),
                "description": STR,
                "maxBinarySize": BINARY_SIZE,
                "ttlMs": Num(integer=True),
                "cacheScope": Str(enum=("public", "private")),
                "tools": named(TOOL),
                "resources": named(MCP_RESOURCE),
                "prompts": named(PROMPT),
            },
            ("type", "namespace", "tools"),
            rules=(Check(_mcp_transport),),
        ),
        "skill": Obj(
            "skill adapter",
            {**ADAPTER, "namespace": KEBAB, "description": STR, "skills": named(SKILL)},
            ("type", "port", "namespace", "skills"),
        ),
        "control": Obj(
            "control adapter", {**ADAPTER, "management": MANAGEMENT, "observability": OBSERVABILITY}, ("type", "port")
        ),
    },
    "adapter",
)

# -- aggregates, info, document ------------------------------------------------------------------

FLOW = Obj(
    "aggregate flow",
    {
        "description": STR,
        "tags": TAGS,
        "semantics": Obj("semantics", dict.fromkeys(("safe", "idempotent", "cacheable"), BOOL)),
        "outputMediaType": STR,
        "inputParameters": TOOL_INPUTS,
        "call": CALL,
        "with": WITH,
        "steps": STEPS,
        "mappings": MAPPINGS,
        "outputParameters": ANY,
    },
    ("description",),
    rules=(
        Alt(
            (
                ("call", Open(("call",), {"outputParameters": MAPPED_OUTS})),
                ("steps", Open(("steps",), {"outputParameters": ORCH_OUTS})),
                ("mock", Open(("outputParameters",), {"outputParameters": MOCK_OUTS})),
            ),
            lambda v: _mode(v, "call", "steps", "outputParameters"),
            "{where} needs one of 'call', 'steps' or mock 'outputParameters'",
        ),
    ),
)
AGGREGATE = Obj("aggregate", {"display": STR, "namespace": KEBAB, "flows": named(FLOW)}, ("display", "flows"))
INFO = Obj(
    "info",
    {
        "display": STR,
        "description": STR,
        "tags": TAGS,
        "created": DATE,
        "modified": DATE,
        "version": STR,
        "stakeholders": Arr(
            Obj(
                "stakeholder",
                {
                    "role": STR,
                    "fullName": STR,
                    "email": Str(r"^[a-zA-Z0-9._%+\-]+@[a-zA-Z0-9.\-]+\.[a-zA-Z]{2,}$", "an email address"),
                },
                ("role", "fullName"),
            )
        ),
    },
    ("display", "description"),
)
SECTION_SHAPES = {
    "consumes": section(CONSUMES_HTTP),
    "exposes": section(EXPOSES),
    "aggregates": section(AGGREGATE),
    "binds": section(BINDING),
}
CAPABILITY = Obj("capability", SECTION_SHAPES, rules=(some_of("exposes", "consumes"),))
DOCUMENT = Obj(
    "capability document",
    {"ikanos": Check(_version), "info": INFO, **SECTION_SHAPES, "capability": CAPABILITY},
    ("ikanos",),
    rules=(Check(_root_form),),
)


def check_shape(document: object) -> list[ShapeFinding]:
    """All violations of the beta4 schema. Never raises, whatever the data (see ``schema``)."""
    ctx = Context()
    try:
        DOCUMENT.check(document, (), ctx)
    except RecursionError:
        ctx.add((), "document nested too deeply to check")
    return ctx.findings
