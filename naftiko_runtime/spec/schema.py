"""Shape validation of a whole capability document, without shipping the official schema.

The project must not copy ``naftiko-schema-alpha2.json``, so this module is a hand-written model of
it: a declarative table of the alpha2 object shapes, built from the combinators of ``shapes``.
``check_shape`` walks PLAIN decoded data (what a YAML safe loader returns) and reports every
violation, not only the first, each with the location of the offending value and a message that names the field.

Why combinators rather than a generic JSON Schema interpreter: messages. ``oneOf``/``anyOf`` errors
of a generic validator say "not valid under any of the given schemas"; here each discrimination
(exposes by ``type``, tools by mode, ...) picks the alternative the author evidently meant and
reports what is wrong with it. ``Alt`` still evaluates every branch, so the verdict (valid or not)
agrees with the official schema, except for the dialect extensions of CONTRACT D2/D3, which are
accepted silently and marked ``D2``/``D3`` below, and the runtime's own extension keys
(``extensions``), let through for the builder, which always warns about them.

Deliberate differences that are not dialect extensions: ``format: uri`` is not asserted (it is an
annotation by default in draft 2020-12, as in ``jsonschema``); a trailing ``$`` in a pattern does
not match before a final newline (ECMA-262 semantics, not Python's); ``created``/``modified`` also
accept the ``datetime.date`` a YAML loader makes of an unquoted ``2026-05-19``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .extensions import ICONS, OAUTH2_CLIENT_CREDENTIALS
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
    Str,
    Switch,
    exactly_one,
    show,
    some_of,
    where_text,
)
from .shapes import ShapeFinding as ShapeFinding  # re-exported: the type of check_shape's findings

# --------------------------------------------------------------------------------------------
# The alpha2 model

ANY, BOOL, STR = Kinds(), Kinds(("boolean",)), Str()
KEBAB = Str(r"^[a-zA-Z0-9-]+$", "letters, digits and '-'")
EXTENDED = Str(r"^[a-zA-Z0-9-_*]+$", "letters, digits, '-', '_' and '*'")
NAME = Str(r"^[a-zA-Z0-9_-]+$", "letters, digits, '-' and '_'")  # D3: '_' in resource/operation names
CALL = Str(r"^[a-zA-Z0-9-]+\.[a-zA-Z0-9_-]+$", "namespace.operation")  # D3: '_' in the operation part
REF = Str(r"^[a-zA-Z0-9-]+\.[a-zA-Z0-9-]+$", "aggregate-namespace.function")
FILE_URI = Str(r"^file:///", "a file:/// URI")
PORT = Num(1, 65535, integer=True)
HOST = r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
IPV4 = r"^((25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)$"
IPV6 = r"^([0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}$"
ADDRESS = Str(f"(?:{HOST[:-1]}$)|(?:{IPV4[:-1]}$)|(?:{IPV6[:-1]}$)", "a hostname, IPv4 or IPv6 address")
DATE = Str(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$", "YYYY-MM-DD", dates=True)
METHOD = Str(enum=("GET", "POST", "PUT", "PATCH", "DELETE"))
PARAM_TYPE = Str(enum=("string", "number", "integer", "boolean", "array", "object"))
OUT_TYPE = Str(enum=("string", "number", "boolean", "object", "array"))
LANGUAGE = Str(enum=("javascript", "python", "groovy"))
WITH = Map(ANY)  # D3/D20: literal values of any JSON type, not only string or number
VERSIONS = ("1.0.0-alpha2", "1.0.0-alpha1", "0.5")


# Rule functions for ``Check``: ``v`` is decoded YAML/JSON data (an object, except for ``_version``).
Findings = Iterator[tuple[Path, str]]


def _version(v: object, path: Path) -> Findings:
    """D2: alpha1, alpha2 and 0.5 are read (a YAML ``naftiko: 0.5`` is the float 0.5)."""
    if v in VERSIONS or (isinstance(v, float) and v == 0.5):
        return
    what = "unsupported naftiko version" if isinstance(v, str) else "'naftiko' must be a version string, got"
    yield path, f"{what} {show(v)}; supported: {', '.join(VERSIONS)}; read as 1.0.0-alpha2 (D2)"


def _mcp_transport(v: Any, path: Path) -> Findings:
    """``transport: stdio`` forbids ``port``; http (the default) requires it."""
    if v.get("transport") == "stdio":
        if "port" in v:
            yield (
                path + ("port",),
                f"'port' is not allowed in {where_text(path)}: "
                "an MCP adapter with transport 'stdio' listens on no port",
            )
    elif "port" not in v:
        yield path, f"missing required key 'port' in {where_text(path)} (MCP adapter with transport 'http')"


def _object_output(v: Any, path: Path) -> Findings:
    """D3/D40: ``{type: object, mapping: "$."}`` (or ``value``) passes through without ``properties``."""
    if not any(k in v for k in ("properties", "mapping", "value")):
        yield (
            path,
            f"missing required key 'properties' in {where_text(path)} (object output parameter); or give 'mapping'",
        )


def _root_form(v: Any, path: Path) -> Findings:
    if "capability" in v and "consumes" in v:
        yield path, "a document has 'capability' or a root 'consumes' (shared consumer file), not both"
    elif "capability" not in v and "consumes" not in v:
        yield path, "missing required key 'capability' (or a root 'consumes' for a shared consumer file)"


def _mode(v: dict[Any, Any], *keys: str) -> int | None:
    return next((i for i, k in enumerate(keys) if k and k in v), None)


MAPPED_BASE = {"type": ANY, "mapping": STR, "const": Kinds(Kinds().kinds[:-1]), "value": STR}
MAPPED_SCALAR = Obj("mapped output parameter", MAPPED_BASE, rules=(exactly_one("mapping", "value"),))
ORCH_SCALAR = Obj("orchestrated output parameter", {"name": EXTENDED, "type": ANY}, ("name", "type"))
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
                    rules=(Check(_object_output),),
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
                    {"name": EXTENDED, "type": ANY, "items": Arr(Ref("orchestrated", RECURSIVE), 1)},
                    ("name", "type", "items"),
                ),
                "object": Obj(
                    "orchestrated object output",
                    {"name": EXTENDED, "type": ANY, "properties": Map(Ref("orchestrated", RECURSIVE))},
                    ("name", "type", "properties"),
                ),
            },
            "output parameter",
        ),
    }
)
MAPPED_OUTS, ORCH_OUTS = Arr(Ref("mapped", RECURSIVE)), Arr(Ref("orchestrated", RECURSIVE))
MOCK_OUTS = Arr(
    Obj(
        "mock output parameter",
        {"name": EXTENDED, "type": Str(enum=("string", "number", "boolean")), "value": STR},
        ("name", "type", "value"),
    ),
    1,
)


def _auth(name: str, **fields: Shape) -> Obj:
    return Obj(f"{name} authentication", {"type": ANY, **fields}, ("type",))


AUTH = Switch(
    "type",
    {
        "basic": _auth("basic", username=STR, password=STR),
        "apikey": _auth("apikey", key=STR, value=STR, placement=Str(enum=("header", "query"))),
        "bearer": _auth("bearer", token=STR),
        "digest": _auth("digest", username=STR, password=STR),
        "oauth2": Obj(
            "oauth2 authentication",
            {
                "type": ANY,
                "authorizationServerUri": STR,
                "resource": STR,
                "scopes": Arr(STR),
                "audience": STR,
                "tokenEndpoint": STR,
                "tokenValidation": Str(enum=("jwks", "introspection")),
            },
            ("type", "authorizationServerUri", "resource"),
        ),
    },
    "authentication",
)

STEP_BASE = {"type": ANY, "name": KEBAB}
STEP = Switch(
    "type",
    {
        "call": Obj("call step", {**STEP_BASE, "call": CALL, "with": WITH}, ("type", "name", "call")),
        "lookup": Obj(
            "lookup step",
            {**STEP_BASE, "index": KEBAB, "match": KEBAB, "lookupValue": STR, "outputParameters": Arr(STR, 1)},
            ("type", "name", "index", "match", "lookupValue", "outputParameters"),
        ),
        "script": Obj(
            "script step",
            {
                **STEP_BASE,
                "language": LANGUAGE,
                "location": FILE_URI,
                "file": Str(min_len=1),
                "dependencies": Arr(Str(min_len=1), 1),
                "with": WITH,
            },
            ("type", "name", "file"),
        ),
    },
    "step",
)
STEPS = Arr(STEP, 1)
MAPPINGS = Arr(
    Obj(
        "step output mapping",
        {"targetName": Str(r"^[a-zA-Z0-9-_.]+$", "letters, digits, '-', '_', '.'"), "value": STR},
        ("targetName", "value"),
    )
)

TEXT_BODY = Obj("text request body", {"type": ANY, "data": STR}, ("type", "data"))
BODY = Switch(
    "type",
    {
        "json": Obj("json request body", {"type": ANY, "data": Kinds(("string", "object", "array"))}, ("type", "data")),
        "text": TEXT_BODY,
        "xml": TEXT_BODY,
        "sparql": TEXT_BODY,
        "formUrlEncoded": Obj(
            "form request body",
            {"type": ANY, "data": Alt((("string", STR), ("object", Map(STR))), lambda v: 1, exclusive=True)},
            ("type", "data"),
        ),
        "multipartForm": Obj(
            "multipart request body",
            {
                "type": ANY,
                "data": Arr(
                    Obj(
                        "multipart part",
                        {"name": STR, "value": STR, "filename": STR, "contentType": STR},
                        ("name", "value"),
                    )
                ),
            },
            ("type", "data"),
        ),
    },
    "request body",
    other=STR,
)

CONSUMED_INPUT = Obj(
    "consumed input parameter",
    {
        "name": EXTENDED,
        "in": Str(enum=("query", "header", "path", "cookie", "body", "environment")),
        "value": STR,
        "type": PARAM_TYPE,
        "description": STR,
        "required": BOOL,  # D3: published files document their inputs
    },
    ("name", "in"),
)
EXPOSED_INPUT = Obj(
    "exposed input parameter",
    {
        "name": EXTENDED,
        "in": Str(enum=("query", "header", "path", "cookie", "body")),
        "type": PARAM_TYPE,
        "description": STR,
        "pattern": STR,
        "value": STR,
    },
    ("name", "in", "type", "description"),
)
TOOL_INPUT = Obj(
    "tool input parameter",
    {"name": EXTENDED, "type": PARAM_TYPE, "description": STR, "required": BOOL},
    ("name", "type", "description"),
)

CONSUMED_OP = Obj(
    "consumed operation",
    {
        "name": NAME,
        "label": STR,
        "description": STR,
        "method": METHOD,
        "inputParameters": Arr(CONSUMED_INPUT),
        "outputRawFormat": Str(
            enum=("json", "xml", "avro", "protobuf", "csv", "tsv", "psv", "yaml", "html", "markdown")
        ),
        "outputSchema": STR,
        "body": BODY,
        "outputParameters": Arr(
            Obj(
                "consumed output parameter",
                {"name": EXTENDED, "type": OUT_TYPE, "value": STR},
                ("name", "type", "value"),
            )
        ),
    },
    ("name", "method"),
)
CONSUMES_HTTP = Obj(
    "http consumes",
    {
        "namespace": KEBAB,
        "type": Str(const="http"),
        "description": STR,
        "baseUri": Str(r"^https?://[^/]+(/[^{]*)?$", "http(s)://host[/base-path]"),
        "inputParameters": Arr(CONSUMED_INPUT),
        "authentication": AUTH,
        # A naftiko-runtime extension (``extensions``): let through here, checked and always warned
        # about by the builder, so that --strict still refuses it.
        OAUTH2_CLIENT_CREDENTIALS: ANY,
        "resources": Arr(
            Obj(
                "consumed resource",
                {
                    "name": NAME,
                    "label": STR,
                    "description": STR,
                    "path": STR,
                    "inputParameters": Arr(CONSUMED_INPUT),
                    "operations": Arr(CONSUMED_OP, 1),
                },
                ("name", "path", "operations"),
            ),
            1,
        ),
    },
    ("namespace", "type", "baseUri"),
)
CONSUMES_MCP = Obj(
    "mcp consumes",
    {
        "namespace": KEBAB,
        # A naftiko-runtime extension (D113): let through here, warned about by the builder.
        "type": Str(const="mcp"),
        "description": STR,
        "baseUri": Str(r"^https?://[^/]+(/[^{]*)?$", "http(s)://host[/path] of a Streamable HTTP endpoint"),
        "authentication": AUTH,
    },
    ("namespace", "type", "baseUri"),
)
IMPORTED = Obj(
    "imported consumes", {"location": STR, "import": KEBAB, "as": KEBAB, "description": STR}, ("location", "import")
)
CONSUMES = Arr(
    Alt(
        (("http", CONSUMES_HTTP), ("import", IMPORTED), ("mcp", CONSUMES_MCP)),
        lambda v: 2 if v.get("type") == "mcp" else 1 if "type" not in v and ("import" in v or "location" in v) else 0,
        exclusive=True,
    ),
    1,
)
BINDS = Arr(
    Obj(
        "bind",
        {
            "namespace": KEBAB,
            "description": STR,
            "location": Str(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "a URI such as file:///..."),
            "keys": Map(EXTENDED, Str(r"^[A-Z][A-Z0-9_]*$", "SCREAMING_SNAKE_CASE")),
        },
        ("namespace", "keys"),
    ),
    1,
)

MODES_MISSING = "{where} needs one of 'call', 'steps', 'ref' or mock 'outputParameters'"
EXPOSED_OP = Obj(
    "exposed operation",
    {
        "name": NAME,
        "label": STR,
        "description": STR,
        "method": METHOD,
        "inputParameters": Arr(EXPOSED_INPUT),
        "ref": REF,
        "call": CALL,
        "with": WITH,
        "outputParameters": Arr(ANY),
        "steps": STEPS,
        "mappings": MAPPINGS,
    },
    ("method",),
    rules=(
        Alt(
            (
                ("simple", Open(props={"outputParameters": MAPPED_OUTS})),
                ("orchestrated", Open(("steps", "name"), {"outputParameters": ORCH_OUTS})),
                ("ref", Open(("ref",))),
            ),
            lambda v: 1 if "steps" in v else 0,
        ),
    ),
)
EXPOSED_RESOURCE = Obj(
    "exposed resource",
    {
        "label": STR,
        "description": STR,
        "path": STR,
        "name": NAME,
        "inputParameters": Arr(EXPOSED_INPUT),
        "operations": Arr(EXPOSED_OP),
        "forward": Obj("forward", {"targetNamespace": KEBAB, "trustedHeaders": Arr(STR, 1)}, ("targetNamespace",)),
    },
    ("path",),
    rules=(some_of("operations", "forward"),),
)

TOOL = Obj(
    "MCP tool",
    {
        "name": KEBAB,
        "label": STR,
        "description": STR,
        "inputParameters": Arr(TOOL_INPUT),
        "ref": REF,
        "call": CALL,
        "with": WITH,
        "steps": STEPS,
        "mappings": MAPPINGS,
        "outputParameters": Arr(ANY),
        "hints": Obj("tool hints", dict.fromkeys(("readOnly", "destructive", "idempotent", "openWorld"), BOOL)),
        ICONS: ANY,  # an extension, checked and warned about by the MCP kind (D111)
    },
    rules=(
        Alt(
            (
                ("call", Open(("name", "description", "call"), {"outputParameters": MAPPED_OUTS})),
                ("steps", Open(("name", "description", "steps"), {"outputParameters": ORCH_OUTS})),
                ("ref", Open(("ref",))),
                ("mock", Open(("name", "description", "outputParameters"), {"outputParameters": MOCK_OUTS})),
            ),
            lambda v: _mode(v, "call", "steps", "", "outputParameters"),
            MODES_MISSING,
        ),
    ),
)
NOT_LOCATION = {"location": "a dynamic MCP resource ('call' or 'steps') has no static 'location'"}
MCP_RESOURCE = Obj(
    "MCP resource",
    {
        "name": EXTENDED,
        "label": STR,
        "uri": STR,
        "description": STR,
        "call": CALL,
        "with": WITH,
        "steps": STEPS,
        "mimeType": Str(
            r"^[a-zA-Z0-9!#$&^_.+-]+\/[a-zA-Z0-9!#$&^_.+-]+(?:\s*;\s*[a-zA-Z0-9!#$&^_.+-]+="
            r"(?:[a-zA-Z0-9!#$&^_.+-]+|\"[^\"]*\"))*$",
            "type/subtype[; param=value]",
        ),
        "mappings": MAPPINGS,
        "outputParameters": Arr(ANY),
        "location": FILE_URI,
    },
    ("name", "label", "uri", "description"),
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
        "name": EXTENDED,
        "label": STR,
        "description": STR,
        "location": FILE_URI,
        "arguments": Arr(
            Obj(
                "prompt argument",
                {"name": EXTENDED, "label": STR, "description": STR, "required": BOOL},
                ("name", "description"),
            ),
            1,
        ),
        "template": Arr(
            Obj("prompt message", {"role": Str(enum=("user", "assistant")), "content": STR}, ("role", "content")), 1
        ),
    },
    ("name", "label", "description"),
    rules=(exactly_one("template", "location"),),
)

SKILL = Obj(
    "skill",
    {
        "name": KEBAB,
        "description": Str(max_len=1024),
        "license": STR,
        "compatibility": Str(max_len=500),
        "metadata": Map(STR),
        "allowed-tools": Str(max_len=1024),
        "argument-hint": STR,
        "user-invocable": BOOL,
        "disable-model-invocation": BOOL,
        "location": FILE_URI,
        "tools": Arr(
            Obj(
                "skill tool",
                {
                    "name": KEBAB,
                    "description": STR,
                    "instruction": STR,
                    "from": Obj(
                        "skill tool source", {"sourceNamespace": STR, "action": STR}, ("sourceNamespace", "action")
                    ),
                },
                ("name", "description"),
                rules=(exactly_one("from", "instruction"),),
            ),
            1,
        ),
    },
    ("name", "description"),
)

ENABLED = {"enabled": BOOL}
MANAGEMENT = Obj(
    "control management",
    {
        **dict.fromkeys(("health", "info", "reload", "validate"), BOOL),
        "logs": Alt(
            (
                ("boolean", BOOL),
                (
                    "object",
                    Obj(
                        "logs endpoint",
                        {"level-control": BOOL, "stream": BOOL, "max-subscribers": Num(1, 20, integer=True)},
                    ),
                ),
            ),
            lambda v: 1,
            exclusive=True,
        ),
        "scripting": Obj(
            "scripting",
            {
                **ENABLED,
                "defaultLocation": FILE_URI,
                "defaultLanguage": LANGUAGE,
                "timeout": Num(1, integer=True),
                "statementLimit": Num(1, integer=True),
                "allowedLanguages": Arr(LANGUAGE),
            },
        ),
    },
)
OBSERVABILITY = Obj(
    "observability",
    {
        **ENABLED,
        "metrics": Obj("metrics", {"local": Obj("local metrics endpoint", ENABLED)}),
        "traces": Obj(
            "traces",
            {
                "sampling": Num(0, 1),
                "propagation": Str(enum=("w3c", "b3")),
                "local": Obj("local traces", {**ENABLED, "buffer-size": Num(10, 10000, integer=True)}),
            },
        ),
        "exporters": Obj("exporters", {"otlp": Obj("otlp exporter", {"endpoint": STR}, ("endpoint",))}),
    },
)

ADAPTER = {"type": ANY, "address": ADDRESS, "port": PORT, "authentication": AUTH}
EXPOSES = Arr(
    Switch(
        "type",
        {
            "rest": Obj(
                "rest adapter",
                {
                    **ADAPTER,
                    "namespace": KEBAB,
                    "resources": Arr(EXPOSED_RESOURCE, 1),
                    "description": STR,
                },  # D3: published REST adapters carry a description
                ("type", "port", "namespace"),
            ),
            "mcp": Obj(
                "mcp adapter",
                {
                    **ADAPTER,
                    "namespace": KEBAB,
                    "transport": Str(enum=("http", "stdio")),
                    "description": STR,
                    "tools": Arr(TOOL, 1),
                    "resources": Arr(MCP_RESOURCE, 1),
                    "prompts": Arr(PROMPT, 1),
                },
                ("type", "namespace", "tools"),
                rules=(Check(_mcp_transport),),
            ),
            "skill": Obj(
                "skill adapter",
                {**ADAPTER, "namespace": KEBAB, "description": STR, "skills": Arr(SKILL, 1)},
                ("type", "port", "namespace", "skills"),
            ),
            "control": Obj(
                "control adapter",
                {**ADAPTER, "management": MANAGEMENT, "observability": OBSERVABILITY},
                ("type", "port"),
            ),
        },
        "adapter",
    ),
    1,
)

AGGREGATES = Arr(
    Obj(
        "aggregate",
        {
            "label": STR,
            "namespace": KEBAB,
            "functions": Arr(
                Obj(
                    "aggregate function",
                    {
                        "name": KEBAB,
                        "description": STR,
                        "inputParameters": Arr(TOOL_INPUT),
                        "call": CALL,
                        "with": WITH,
                        "steps": STEPS,
                        "mappings": MAPPINGS,
                        "outputParameters": Arr(ANY),
                        "semantics": Obj("semantics", dict.fromkeys(("safe", "idempotent", "cacheable"), BOOL)),
                    },
                    ("name", "description"),
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
                ),
                1,
            ),
        },
        ("label", "namespace", "functions"),
    ),
    1,
)

INFO = Obj(
    "info",
    {
        "label": STR,
        "title": STR,  # D3: 'title' is a synonym of 'label'
        "description": STR,
        ICONS: ANY,  # an extension, checked and warned about by the MCP kind (D111)
        "tags": Arr(STR),
        "created": DATE,
        "modified": DATE,
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
    ("description",),
    rules=(some_of("label", "title", why=" (a human-readable name)"),),
)
CAPABILITY = Obj(
    "capability",
    {"binds": BINDS, "exposes": EXPOSES, "consumes": CONSUMES, "aggregates": AGGREGATES},
    rules=(some_of("exposes", "consumes"),),
)
DOCUMENT = Obj(
    "capability document",
    {
        "naftiko": Check(_version),
        "info": INFO,
        "consumes": CONSUMES,
        "binds": BINDS,
        "capability": CAPABILITY,
    },
    ("naftiko",),
    rules=(Check(_root_form),),
)


def check_shape(document: object) -> list[ShapeFinding]:
    """All violations of the alpha2 schema, with CONTRACT D2/D3 dialect extensions accepted silently.

    Never raises: any JSON-like value (any nesting, cyclic YAML aliases included) gives findings.
    """
    ctx = Context()
    try:
        DOCUMENT.check(document, (), ctx)
    except RecursionError:  # only when called near the interpreter's limit already
        ctx.add((), "document nested too deeply to check")
    return ctx.findings
