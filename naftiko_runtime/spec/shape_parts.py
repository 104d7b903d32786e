"""The parts of the shape table every section uses: scalars, parameters, outputs, steps, request
bodies and authentication (issue 19, item 2), each written once for every dialect.

Where the dialects differ the ``Profile`` says how (see ``profiles``); ``D3`` marks the alpha2
dialect extensions the published files use (CONTRACT D2/D3), accepted in alpha2 only. Step and
authentication kinds register their fragments in ``shape_kinds`` like any plugin's would.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from ..records import dataclass
from .profiles import Profile
from .shape_kinds import (
    EXPOSED_AUTHENTICATION,
    STEPS,
    ShapeRegistry,
    fixed,
    register_consumed_auth_shape,
    register_exposed_auth_shape,
    register_step_shape,
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
    Path,
    Ref,
    Shape,
    Str,
    Switch,
    exactly_one,
    where_text,
)

ANY, BOOL, STR = Kinds(), Kinds(("boolean",)), Str()
KEBAB = Str(r"^[a-zA-Z0-9-]+$", "letters, digits and '-'")
EXTENDED = Str(r"^[a-zA-Z0-9-_*]+$", "letters, digits, '-', '_' and '*'")
NAME = Str(r"^[a-zA-Z0-9_-]+$", "letters, digits, '-' and '_'")  # D3: '_' in resource/operation names
CALL = Str(r"^[a-zA-Z0-9-]+\.[a-zA-Z0-9-]+$", "namespace.operation")
CALL_D3 = Str(r"^[a-zA-Z0-9-]+\.[a-zA-Z0-9_-]+$", "namespace.operation")  # D3: '_' in the operation part
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
TAGS = Arr(STR)
MEDIA_TYPE = (
    r"^[a-zA-Z0-9!#$&^_.+-]+\/[a-zA-Z0-9!#$&^_.+-]+(?:\s*;\s*[a-zA-Z0-9!#$&^_.+-]+="
    r"(?:[a-zA-Z0-9!#$&^_.+-]+|\"[^\"]*\"))*$"
)
BINARY_SIZE = Str(r"^\d+(\.\d+)?(B|KiB|MiB|GiB)$", "a size such as 512KiB or 5MiB")
NAME_KEYS = KEBAB
"""The keys of a map of named entries (resources, operations, tools, steps...)."""
PARAMETER_KEYS = EXTENDED
"""The keys of a map of parameters or prompt arguments."""

Findings = Iterator[tuple[Path, str]]


def call(d: Profile) -> Str:
    return d.pick(CALL_D3, CALL)


def with_(d: Profile) -> Map:
    """``with`` values: D3/D20 literals of any JSON type in alpha2, a string or a number in Ikanos."""
    return Map(d.pick(ANY, Kinds(("string", "number"))))


def mode(v: dict[Any, Any], *keys: str) -> int | None:
    """Which branch of a mode ``Alt`` the author meant: the first of ``keys`` present."""
    return next((i for i, k in enumerate(keys) if k and k in v), None)


class ItemsIfList(Shape):
    """``{items: X}`` without ``type: array``: only a list's items are constrained."""

    def __init__(self, items: Shape):
        self.items = items

    def check(self, v: object, path: Path, ctx: Context) -> None:
        if isinstance(v, list):
            Arr(self.items).check(v, path, ctx)


# -- parameters ----------------------------------------------------------------------------------


def consumed_inputs(d: Profile) -> Shape:
    entry = Obj(
        "consumed input parameter",
        {
            **d.name(EXTENDED),
            "in": Str(enum=("query", "header", "path", "cookie", "body", "environment")),
            "value": STR,
            **d.legacy(type=PARAM_TYPE, description=STR, required=BOOL),  # D3: published files type them
        },
        (*d.needs_name, "in"),
    )
    return d.many(entry, keys=PARAMETER_KEYS)


def exposed_inputs(d: Profile) -> Shape:
    entry = Obj(
        "exposed input parameter",
        {
            **d.name(EXTENDED),
            "in": Str(enum=("query", "header", "path", "cookie", "body")),
            "type": PARAM_TYPE,
            "description": STR,
            "pattern": STR,
            "value": STR,
        },
        (*d.needs_name, "in", "type", "description"),
    )
    return d.many(entry, keys=PARAMETER_KEYS)


def tool_inputs(d: Profile) -> Shape:
    entry = Obj(
        "tool input parameter",
        {**d.name(EXTENDED), "type": PARAM_TYPE, "description": STR, "required": BOOL},
        (*d.needs_name, "type", "description"),
    )
    return d.many(entry, keys=PARAMETER_KEYS)


# -- output parameters ---------------------------------------------------------------------------


def _object_output(v: Any, path: Path) -> Findings:
    """D3/D40: ``{type: object, mapping: "$."}`` (or ``value``) passes through without ``properties``."""
    if not any(k in v for k in ("properties", "mapping", "value")):
        yield (
            path,
            f"missing required key 'properties' in {where_text(path)} (object output parameter); or give 'mapping'",
        )


@dataclass(frozen=True)
class Outputs:
    """A dialect's output parameters: mapped over a response, orchestrated (named), and mock."""

    mapped: Shape
    """One mapped output parameter (recursive through ``properties`` and ``items``)."""
    mapped_list: Shape
    orchestrated: Shape
    """The named outputs of an orchestrated operation."""
    mock: Shape


@cache
def outputs(d: Profile) -> Outputs:
    recursive: dict[str, Shape] = {}
    base = {"type": ANY, "mapping": STR, "const": Kinds(Kinds().kinds[:-1]), "value": STR}
    scalar = Obj("mapped output parameter", base, rules=(exactly_one("mapping", "value"),))
    mapped_object = Obj(
        "object output parameter",
        {**base, "properties": Map(Ref("mapped", recursive))},
        d.pick((), ("properties",)),
        rules=d.pick((Check(_object_output),), ()),
    )
    named = d.name(EXTENDED)
    orchestrated = d.many(Ref("orchestrated", recursive))
    orchestrated_scalar = Obj("orchestrated output parameter", {**named, "type": ANY}, (*d.needs_name, "type"))
    recursive["mapped"] = Switch(
        "type",
        {
            "string": scalar,
            "number": scalar,
            "boolean": scalar,
            "object": mapped_object,
            "array": Obj("array output parameter", {**base, "items": Ref("mapped", recursive)}, ("items",)),
        },
        "output parameter",
    )
    recursive["orchestrated"] = Switch(
        "type",
        {
            "string": orchestrated_scalar,
            "number": orchestrated_scalar,
            "boolean": orchestrated_scalar,
            "array": Obj(
                "orchestrated array output",
                {**named, "type": ANY, "items": d.many(Ref("orchestrated", recursive), min_items=1)},
                (*d.needs_name, "type", "items"),
            ),
            "object": Obj(
                "orchestrated object output",
                {**named, "type": ANY, "properties": Map(Ref("orchestrated", recursive))},
                (*d.needs_name, "type", "properties"),
            ),
        },
        "output parameter",
    )
    mock = Obj(
        "mock output parameter",
        {**named, "type": Str(enum=("string", "number", "boolean")), "value": STR},
        (*d.needs_name, "type", "value"),
    )
    return Outputs(recursive["mapped"], Arr(recursive["mapped"]), orchestrated, d.many(mock, min_items=1))


# -- steps ---------------------------------------------------------------------------------------


def _call_step(d: Profile) -> Shape:
    return Obj(
        "call step", {"type": ANY, **d.name(KEBAB), "call": call(d), "with": with_(d)}, ("type", *d.needs_name, "call")
    )


def _lookup_step(d: Profile) -> Shape:
    return Obj(
        "lookup step",
        {
            "type": ANY,
            **d.name(KEBAB),
            "index": KEBAB,
            "match": KEBAB,
            "lookupValue": STR,
            "outputParameters": Arr(STR, 1),
        },
        ("type", *d.needs_name, "index", "match", "lookupValue", "outputParameters"),
    )


def _script_step(d: Profile) -> Shape:
    return Obj(
        "script step",
        {
            "type": ANY,
            **d.name(KEBAB),
            "language": LANGUAGE,
            "location": FILE_URI,
            "file": Str(min_len=1),
            "dependencies": Arr(Str(min_len=1), 1),
            "with": with_(d),
        },
        ("type", *d.needs_name, "file"),
    )


register_step_shape("call", _call_step)
register_step_shape("lookup", _lookup_step)
register_step_shape("script", _script_step)


def steps(d: Profile) -> Shape:
    """An operation's orchestration steps, one shape per registered step kind."""
    return d.many(Switch("type", STEPS.cases(d), "step"), keys=NAME_KEYS, min_items=1)


def mappings(d: Profile) -> Shape:
    target = Str(r"^[a-zA-Z0-9-_.]+$", "letters, digits, '-', '_', '.'")
    return Arr(Obj("step output mapping", {d.target: target, "value": STR}, (d.target, "value")))


# -- request bodies ------------------------------------------------------------------------------

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

# -- authentication ------------------------------------------------------------------------------


def _auth(name: str, **fields: Shape) -> Obj:
    return Obj(f"{name} authentication", {"type": ANY, **fields}, ("type",))


BASIC = _auth("basic", username=STR, password=STR)
APIKEY = _auth("apikey", key=STR, value=STR, placement=Str(enum=("header", "query")))
BEARER = _auth("bearer", token=STR)
DIGEST = _auth("digest", username=STR, password=STR)
OAUTH2 = Obj(
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
)
# The official schemas have one Authentication definition for both sides, so both registries hold
# the five kinds: that ``oauth2`` is not sent upstream is the builder's to say (not implemented).
for _kind, _shape in {"basic": BASIC, "apikey": APIKEY, "bearer": BEARER, "digest": DIGEST, "oauth2": OAUTH2}.items():
    register_consumed_auth_shape(_kind, fixed(_shape))
    register_exposed_auth_shape(_kind, fixed(_shape))


def authentication(registry: ShapeRegistry, d: Profile) -> Switch:
    """An ``authentication`` block, one shape per kind registered on that side."""
    return Switch("type", registry.cases(d), registry.what)


def adapter_common(d: Profile) -> dict[str, Shape]:
    """The keys every ``exposes`` entry may have, whatever its kind."""
    return {"type": ANY, "address": ADDRESS, "port": PORT, "authentication": authentication(EXPOSED_AUTHENTICATION, d)}
