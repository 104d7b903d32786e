"""The built-in adapter kinds' shape fragments, registered like a plugin's would be (issue 19, items 2-3).

Each fragment is a function of the dialect's ``Profile`` (see ``shape_kinds``). They live in
``spec`` because ``spec`` may not import ``adapters`` (``tests/unit/test_architecture.py``); an
adapter kind outside this package registers its own with ``register_adapter_shape``.
"""

from __future__ import annotations

from typing import Any

from .extensions import ICONS
from .pagination import PAGINATION
from .profiles import Profile
from .shape_kinds import register_adapter_shape
from .shape_parts import (
    ANY,
    BINARY_SIZE,
    BOOL,
    EXTENDED,
    FILE_URI,
    KEBAB,
    LANGUAGE,
    MEDIA_TYPE,
    METHOD,
    NAME,
    NAME_KEYS,
    PARAMETER_KEYS,
    REF,
    STR,
    TAGS,
    Findings,
    ItemsIfList,
    adapter_common,
    call,
    exposed_inputs,
    mappings,
    mode,
    outputs,
    steps,
    tool_inputs,
    with_,
)
from .shapes import Alt, Arr, Check, Kinds, Map, Num, Obj, Open, Path, Shape, Str, exactly_one, some_of, where_text

# -- rest ----------------------------------------------------------------------------------------


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
RESPONSE_BINARY = Obj(
    "binary response",
    {"status": Num(100, 599, integer=True), "mediaType": Str(MEDIA_TYPE, "type/subtype"), "description": STR},
    ("mediaType",),
)
FORWARD = Obj("forward", {"targetNamespace": KEBAB, "trustedHeaders": Arr(STR, 1)}, ("targetNamespace",))


def exposed_operation(d: Profile) -> Obj:
    out = outputs(d)
    return Obj(
        "exposed operation",
        {
            **d.name(NAME),
            d.label: STR,
            **d.since(tags=TAGS),
            "description": STR,
            "method": METHOD,
            "inputParameters": exposed_inputs(d),
            "ref": REF,
            "call": call(d),
            "with": with_(d),
            "outputParameters": d.pick(Arr(ANY), ANY),
            "steps": steps(d),
            "mappings": mappings(d),
            **d.since(responses=RESPONSES, responseBinary=RESPONSE_BINARY),
            PAGINATION: ANY,  # a runtime extension (D121): the builder checks it and always warns
        },
        ("method",),
        rules=(
            *d.pick((), (Check(_not_both_responses),)),
            Alt(
                (
                    ("simple", Open(props={"outputParameters": ItemsIfList(out.mapped)})),
                    ("orchestrated", Open(("steps", *d.needs_name), {"outputParameters": out.orchestrated})),
                    ("ref", Open(("ref",))),
                ),
                lambda v: 1 if "steps" in v else 0,
            ),
        ),
    )


def rest(d: Profile) -> Shape:
    resource = Obj(
        "exposed resource",
        {
            **d.name(NAME),
            d.label: STR,
            **d.since(tags=TAGS),
            "description": STR,
            "path": STR,
            "inputParameters": exposed_inputs(d),
            "operations": d.many(exposed_operation(d), keys=NAME_KEYS, min_items=d.pick(0, 1)),
            "forward": FORWARD,
        },
        ("path",),
        rules=(some_of("operations", "forward"),),
    )
    return Obj(
        "rest adapter",
        {
            **adapter_common(d),
            "namespace": KEBAB,
            **d.legacy(description=STR),  # D3: published REST adapters carry a description
            **d.since(maxBinarySize=BINARY_SIZE),
            "resources": d.many(resource, keys=NAME_KEYS, min_items=1),
        },
        ("type", "port", "namespace"),
    )


# -- mcp -----------------------------------------------------------------------------------------

MODES_MISSING = "{where} needs one of 'call', 'steps', 'ref' or mock 'outputParameters'"
NOT_LOCATION = {"location": "a dynamic MCP resource ('call' or 'steps') has no static 'location'"}
HINTS = Obj("tool hints", dict.fromkeys(("readOnly", "destructive", "idempotent", "openWorld"), BOOL))
PROMPT_MESSAGE = Obj("prompt message", {"role": Str(enum=("user", "assistant")), "content": STR}, ("role", "content"))


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


def operation_modes(d: Profile, named: tuple[str, ...]) -> Alt:
    """A tool-like operation's one mode (``call``, ``steps``, ``ref`` or a mock), each with its
    outputs, the ``named`` keys required beside it (an MCP tool's, a webhook's)."""
    out = outputs(d)
    return Alt(
        (
            ("call", Open((*named, "call"), {"outputParameters": out.mapped_list})),
            ("steps", Open((*named, "steps"), {"outputParameters": out.orchestrated})),
            ("ref", Open(("ref",))),
            ("mock", Open((*named, "outputParameters"), {"outputParameters": out.mock})),
        ),
        lambda v: mode(v, "call", "steps", "ref", "outputParameters"),
        MODES_MISSING,
    )


def tool(d: Profile) -> Obj:
    return Obj(
        "MCP tool",
        {
            **d.name(KEBAB),
            d.label: STR,
            **d.since(tags=TAGS),
            "description": STR,
            "inputParameters": tool_inputs(d),
            "ref": REF,
            "call": call(d),
            "with": with_(d),
            "steps": steps(d),
            "mappings": mappings(d),
            "outputParameters": d.pick(Arr(ANY), ANY),
            "hints": HINTS,
            ICONS: ANY,  # an extension, checked and warned about by the MCP kind (D111)
            PAGINATION: ANY,  # a runtime extension (D121): the builder checks it and always warns
        },
        rules=(operation_modes(d, (*d.needs_name, "description")),),
    )


def mcp_resource(d: Profile) -> Obj:
    out = outputs(d)
    return Obj(
        "MCP resource",
        {
            **d.name(EXTENDED),
            d.label: STR,
            "uri": STR,
            "description": STR,
            "mimeType": Str(MEDIA_TYPE, "type/subtype[; param=value]"),
            **d.since(binary=BOOL),
            "call": call(d),
            "with": with_(d),
            "steps": steps(d),
            "mappings": mappings(d),
            "outputParameters": d.pick(Arr(ANY), Kinds(("array", "object"))),
            "location": FILE_URI,
        },
        (*d.needs_name, d.label, "uri", "description"),
        rules=(
            Alt(
                (
                    ("call", Open(("call",), {"outputParameters": out.mapped_list}, NOT_LOCATION)),
                    ("steps", Open(("steps",), {"outputParameters": out.orchestrated}, NOT_LOCATION)),
                    (
                        "static",
                        Open(
                            ("location",), forbid=dict.fromkeys(("call", "steps"), "a static MCP resource has no call")
                        ),
                    ),
                ),
                lambda v: mode(v, "call", "steps", "location"),
                "{where} needs 'call', 'steps' or a static 'location'",
                exclusive=True,
            ),
        ),
    )


def prompt(d: Profile) -> Obj:
    argument = Obj(
        "prompt argument",
        {**d.name(EXTENDED), d.label: STR, "description": STR, "required": BOOL},
        (*d.needs_name, "description"),
    )
    return Obj(
        "MCP prompt",
        {
            **d.name(EXTENDED),
            d.label: STR,
            "description": STR,
            "location": FILE_URI,
            "arguments": d.many(argument, keys=PARAMETER_KEYS, min_items=d.pick(1, 0)),
            "template": Arr(PROMPT_MESSAGE, 1),
        },
        (*d.needs_name, d.label, "description"),
        rules=(exactly_one("template", "location"),),
    )


def mcp(d: Profile) -> Shape:
    return Obj(
        "mcp adapter",
        {
            **adapter_common(d),
            "namespace": KEBAB,
            "transport": Str(enum=("http", "stdio")),
            "description": STR,
            **d.since(maxBinarySize=BINARY_SIZE, ttlMs=Num(integer=True), cacheScope=Str(enum=("public", "private"))),
            "tools": d.many(tool(d), keys=NAME_KEYS, min_items=1),
            "resources": d.many(mcp_resource(d), keys=NAME_KEYS, min_items=1),
            "prompts": d.many(prompt(d), keys=NAME_KEYS, min_items=1),
        },
        ("type", "namespace", "tools"),
        rules=(Check(_mcp_transport),),
    )


# -- skill ---------------------------------------------------------------------------------------

SKILL_SOURCE = Obj("skill tool source", {"sourceNamespace": STR, "action": STR}, ("sourceNamespace", "action"))


def skill(d: Profile) -> Shape:
    skill_tool = Obj(
        "skill tool",
        {**d.name(KEBAB), "description": STR, "instruction": STR, "from": SKILL_SOURCE},
        (*d.needs_name, "description"),
        rules=(exactly_one("from", "instruction"),),
    )
    entry = Obj(
        "skill",
        {
            **d.name(KEBAB),
            "description": Str(max_len=1024),
            "license": STR,
            "compatibility": Str(max_len=500),
            "metadata": Map(STR),
            "allowed-tools": Str(max_len=1024),
            "argument-hint": STR,
            "user-invocable": BOOL,
            "disable-model-invocation": BOOL,
            "location": FILE_URI,
            "tools": d.many(skill_tool, keys=NAME_KEYS, min_items=1),
        },
        (*d.needs_name, "description"),
    )
    return Obj(
        "skill adapter",
        {
            **adapter_common(d),
            "namespace": KEBAB,
            "description": STR,
            "skills": d.many(entry, keys=NAME_KEYS, min_items=1),
        },
        ("type", "port", "namespace", "skills"),
    )


# -- control -------------------------------------------------------------------------------------

ENABLED = {"enabled": BOOL}
LOGS = Obj("logs endpoint", {"level-control": BOOL, "stream": BOOL, "max-subscribers": Num(1, 20, integer=True)})
SCRIPTING = Obj(
    "scripting",
    {
        **ENABLED,
        "defaultLocation": FILE_URI,
        "defaultLanguage": LANGUAGE,
        "timeout": Num(1, integer=True),
        "statementLimit": Num(1, integer=True),
        "allowedLanguages": Arr(LANGUAGE),
    },
)
MANAGEMENT = Obj(
    "control management",
    {
        **dict.fromkeys(("health", "info", "reload", "validate"), BOOL),
        "logs": Alt((("boolean", BOOL), ("object", LOGS)), lambda v: 1, exclusive=True),
        "scripting": SCRIPTING,
    },
)
TRACES = Obj(
    "traces",
    {
        "sampling": Num(0, 1),
        "propagation": Str(enum=("w3c", "b3")),
        "local": Obj("local traces", {**ENABLED, "buffer-size": Num(10, 10000, integer=True)}),
    },
)
OBSERVABILITY = Obj(
    "observability",
    {
        **ENABLED,
        "metrics": Obj("metrics", {"local": Obj("local metrics endpoint", ENABLED)}),
        "traces": TRACES,
        "exporters": Obj("exporters", {"otlp": Obj("otlp exporter", {"endpoint": STR}, ("endpoint",))}),
    },
)


def control(d: Profile) -> Shape:
    return Obj(
        "control adapter",
        {**adapter_common(d), "management": MANAGEMENT, "observability": OBSERVABILITY},
        ("type", "port"),
    )


register_adapter_shape("rest", rest)
register_adapter_shape("mcp", mcp)
register_adapter_shape("skill", skill)
register_adapter_shape("control", control)
