"""Shape validation of a whole capability document, without shipping the official schema.

The project must not copy ``naftiko-schema-alpha2.json``, so this module is a hand-written model of
it: a few small combinators (``Obj``, ``Arr``, ``Str``, ``Switch``, ``Alt``...) and, at the bottom,
a declarative table of the alpha2 object shapes built from them. ``check_shape`` walks PLAIN decoded
data (what a YAML safe loader returns) and reports every violation, not only the first, each with
the location of the offending value and a message that names the field.

Why combinators rather than a generic JSON Schema interpreter: messages. ``oneOf``/``anyOf`` errors
of a generic validator say "not valid under any of the given schemas"; here each discrimination
(exposes by ``type``, tools by mode, ...) picks the alternative the author evidently meant and
reports what is wrong with it. ``Alt`` still evaluates every branch, so the verdict (valid or not)
agrees with the official schema, except for the dialect extensions of CONTRACT D2/D3, which are
accepted silently and marked ``D2``/``D3`` below.

Deliberate differences that are not dialect extensions: ``format: uri`` is not asserted (it is an
annotation by default in draft 2020-12, as in ``jsonschema``); a trailing ``$`` in a pattern does
not match before a final newline (ECMA-262 semantics, not Python's); ``created``/``modified`` also
accept the ``datetime.date`` a YAML loader makes of an unquoted ``2026-05-19``.
"""

from __future__ import annotations

import datetime
import difflib
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

PathElem = str | int
Path = tuple[PathElem, ...]

MAX_DEPTH = 64  # nesting levels checked; deeper (or cyclic, via YAML aliases) data is reported
MAX_NODES = 200_000  # containers visited; guards against alias "billion laughs" documents


@dataclass(frozen=True)
class ShapeFinding:
    """One violation: where (a path into the document) and what (a message naming the field).

    For a missing required key, ``path`` is the object that lacks it; for an unknown key, it is the
    key itself.
    """

    path: Path
    message: str


# --------------------------------------------------------------------------------------------
# Rendering helpers

def _where(path: Path) -> str:
    """``("capability", "exposes", 0)`` -> ``capability.exposes[0]``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the document root"


def _subject(path: Path) -> str:
    """How a message names the value at ``path``: ``'port'`` or ``item 2 of 'tags'``."""
    if not path:
        return "the document"
    if isinstance(path[-1], str):
        return f"'{path[-1]}'"
    parent = next((p for p in reversed(path[:-1]) if isinstance(p, str)), None)
    return f"item {path[-1]} of '{parent}'" if parent else f"item {path[-1]}"


def _show(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, (int, float)):
        return repr(v)
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    match = lowered.get(word.lower()) or next(iter(difflib.get_close_matches(word, choices, 1, 0.6)), None)
    return f"; did you mean '{match}'?" if match else ""


def _key(k: object) -> PathElem:
    """A dict key as a path element (YAML allows non-string keys; keep str/int, show the rest)."""
    return k if isinstance(k, str) or (isinstance(k, int) and not isinstance(k, bool)) else repr(k)


def _json_type(v: object) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer()):
        return "integer"
    if isinstance(v, float):
        return "number"
    return {str: "string", dict: "object", list: "array", type(None): "null"}.get(type(v), "unknown")


# --------------------------------------------------------------------------------------------
# Checking context and combinators

class _Ctx:
    """Collects findings; the container stack and node budget are shared with scratch copies."""

    def __init__(self, shared: dict | None = None) -> None:
        self.findings: list[ShapeFinding] = []
        self.shared = shared if shared is not None else {"active": set(), "nodes": 0, "stopped": False}

    def add(self, path: Path, message: str) -> None:
        self.findings.append(ShapeFinding(path, message))

    def scratch(self) -> _Ctx:
        return _Ctx(self.shared)

    def walk(self, container: object, path: Path, children: Iterable[tuple[PathElem, object, Shape]]) -> None:
        """Check the children of one container, unless it is cyclic, too deep or over budget."""
        s = self.shared
        s["nodes"] += 1
        if id(container) in s["active"]:
            return self.add(path, f"{_where(path)} contains itself (a recursive YAML alias); not checked further")
        if len(path) > MAX_DEPTH:
            return self.add(path, f"{_where(path)} is nested deeper than {MAX_DEPTH} levels; not checked further")
        if s["nodes"] > MAX_NODES:
            if not s["stopped"]:
                s["stopped"] = True
                self.add(path, f"document too large to check (more than {MAX_NODES} nodes); stopped here")
            return
        s["active"].add(id(container))
        try:
            for elem, value, shape in children:
                shape.check(value, path + (elem,), self)
        finally:
            s["active"].discard(id(container))


class Shape:
    def check(self, v: object, path: Path, ctx: _Ctx) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Kinds(Shape):
    """A value of one of the given JSON types, not looked into (booleans, ``with`` values, body data)."""

    kinds: tuple[str, ...] = ("string", "number", "boolean", "object", "array", "null")

    def check(self, v, path, ctx):
        t = _json_type(v)
        if t not in self.kinds and not (t == "integer" and "number" in self.kinds):
            ctx.add(path, f"{_subject(path)} must be {' or '.join(self.kinds)}, got {_show(v)}")


@dataclass(frozen=True, eq=False)
class Str(Shape):
    pattern: str | None = None
    hint: str = ""  # what the pattern means, for humans
    enum: tuple[str, ...] | None = None
    const: str | None = None
    max_len: int | None = None
    min_len: int = 0
    dates: bool = False  # also accept datetime.date (unquoted YAML dates)

    def check(self, v, path, ctx):
        s = _subject(path)
        if self.dates and isinstance(v, datetime.date):
            return
        if self.const is not None and v != self.const:
            ctx.add(path, f"{s} must be '{self.const}', got {_show(v)}")
        elif self.enum is not None and (not isinstance(v, str) or v not in self.enum):
            ctx.add(path, f"{s} must be one of {', '.join(self.enum)}, got {_show(v)}"
                    + _did_you_mean(v, self.enum))
        elif not isinstance(v, str):
            ctx.add(path, f"{s} must be a string, got {_show(v)}")
        elif self.pattern and not _regex(self.pattern).search(v):
            ctx.add(path, f"{s} must match {self.pattern}{f' ({self.hint})' if self.hint else ''}, got {_show(v)}")
        elif len(v) < self.min_len:
            ctx.add(path, f"{s} must not be empty")
        elif self.max_len is not None and len(v) > self.max_len:
            ctx.add(path, f"{s} must be at most {self.max_len} characters long, got {len(v)}")


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    """Compile with ECMA-262 ``$`` (end of string only: Python's also matches before a final newline)."""
    if pattern not in _REGEX_CACHE:
        _REGEX_CACHE[pattern] = re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)
    return _REGEX_CACHE[pattern]


@dataclass(frozen=True, eq=False)
class Num(Shape):
    lo: float | None = None
    hi: float | None = None
    integer: bool = False

    def check(self, v, path, ctx):
        t = _json_type(v)
        ok = t == "integer" or (t == "number" and not self.integer)
        if ok and (self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi):
            return
        kind = "an integer" if self.integer else "a number"
        if self.lo is not None and self.hi is not None:
            kind += f" between {self.lo} and {self.hi}"
        elif self.lo is not None:
            kind += f" >= {self.lo}"
        ctx.add(path, f"{_subject(path)} must be {kind}, got {_show(v)}")


@dataclass(frozen=True, eq=False)
class Arr(Shape):
    items: Shape
    min_items: int = 0

    def check(self, v, path, ctx):
        if not isinstance(v, list):
            ctx.add(path, f"{_subject(path)} must be a list, got {_show(v)}")
            return
        if len(v) < self.min_items:
            ctx.add(path, f"{_subject(path)} must have at least {self.min_items} item(s)")
        ctx.walk(v, path, ((i, item, self.items) for i, item in enumerate(v)))


@dataclass(frozen=True, eq=False)
class Map(Shape):
    """An object with free keys: ``binds[].keys``, output ``properties``, ``with``, ``metadata``."""

    values: Shape
    keys: Str | None = None

    def check(self, v, path, ctx):
        if not isinstance(v, dict):
            ctx.add(path, f"{_subject(path)} must be an object, got {_show(v)}")
            return
        if self.keys is not None:
            for k in v:
                if not (isinstance(k, str) and _regex(self.keys.pattern or "").search(k)):
                    ctx.add(path + (_key(k),), f"key {_show(k)} in {_where(path)} must match "
                            f"{self.keys.pattern} ({self.keys.hint})")
        ctx.walk(v, path, ((_key(k), item, self.values) for k, item in v.items()))


@dataclass(frozen=True, eq=False)
class Obj(Shape):
    """A closed object (``additionalProperties: false``) unless ``closed=False`` (a partial rule)."""

    label: str
    props: Mapping[str, Shape]
    required: tuple[str, ...] = ()
    rules: tuple[Shape, ...] = ()
    closed: bool = True
    forbid: Mapping[str, str] = field(default_factory=dict)

    def check(self, v, path, ctx):
        named = self.label and not (path and self.label == path[-1])  # not "info (info)"
        where = f"{_where(path)} ({self.label})" if named else _where(path)
        if not isinstance(v, dict):
            ctx.add(path, f"{_subject(path)} must be an object ({self.label}), got {_show(v)}")
            return
        allowed = sorted(self.props)
        for k in v:
            if k in self.forbid:
                ctx.add(path + (_key(k),), f"'{k}' is not allowed in {where}: {self.forbid[k]}")
            elif self.closed and not (isinstance(k, str) and k in self.props):
                ctx.add(path + (_key(k),), f"unknown key {_show(k)} in {where}; allowed: {', '.join(allowed)}"
                        + _did_you_mean(k, allowed))
        for k in self.required:
            if k not in v:
                ctx.add(path, f"missing required key '{k}' in {where}")
        ctx.walk(v, path, ((k, item, self.props[k]) for k, item in v.items()
                           if isinstance(k, str) and k in self.props and k not in self.forbid))
        for rule in self.rules:  # rules look at this same object again (anyOf/oneOf branches)
            rule.check(v, path, ctx)


def Open(required: tuple[str, ...] = (), props: Mapping[str, Shape] | None = None,
         forbid: Mapping[str, str] | None = None) -> Obj:
    """A partial constraint on an object already checked by its closed ``Obj`` (one ``anyOf`` branch)."""
    return Obj("", props or {}, required, closed=False, forbid=forbid or {})


@dataclass(frozen=True, eq=False)
class Switch(Shape):
    """``oneOf`` discriminated by a ``const`` key (``type``); a non-object may go to ``other``."""

    key: str
    cases: Mapping[str, Shape]
    what: str
    other: Shape | None = None

    def check(self, v, path, ctx):
        if not isinstance(v, dict):
            if self.other is not None:
                return self.other.check(v, path, ctx)
            return ctx.add(path, f"{_subject(path)} must be an object ({self.what}), got {_show(v)}")
        names = ", ".join(self.cases)
        t = v.get(self.key)
        if self.key not in v:
            ctx.add(path, f"missing required key '{self.key}' in {_where(path)} ({self.what}); one of: {names}")
        elif not isinstance(t, str) or t not in self.cases:
            ctx.add(path + (self.key,), f"unsupported {self.what} {self.key} {_show(t)} in {_where(path)}; "
                    f"supported: {names}" + _did_you_mean(t, self.cases))
        else:
            self.cases[t].check(v, path, ctx)


@dataclass(frozen=True, eq=False)
class Alt(Shape):
    """``anyOf`` (or ``oneOf`` when ``exclusive``) with exact verdicts and a chosen explanation.

    Every branch is evaluated; if none passes, the findings of the branch ``choose`` picks (the one
    the author evidently meant) are reported, or ``missing`` when no branch is plausible.
    """

    branches: tuple[tuple[str, Shape], ...]
    choose: Callable[[dict], int | None]
    missing: str = "{where} matches none of the allowed forms"
    exclusive: bool = False

    def check(self, v, path, ctx):
        results = []
        for name, shape in self.branches:
            sub = ctx.scratch()
            shape.check(v, path, sub)
            results.append((name, sub.findings))
        passing = [name for name, found in results if not found]
        if passing and (len(passing) == 1 or not self.exclusive):
            return
        if passing:
            return ctx.add(path, f"{_where(path)} matches several forms ({', '.join(passing)}); use exactly one")
        idx = self.choose(v) if isinstance(v, dict) else 0
        if idx is None:
            return ctx.add(path, self.missing.format(where=_where(path)))
        ctx.findings.extend(results[idx][1])


@dataclass(frozen=True, eq=False)
class Check(Shape):
    """An ad-hoc rule: ``fn(value, path)`` yields ``(path, message)`` pairs."""

    fn: Callable[[object, Path], Iterable[tuple[Path, str]]]

    def check(self, v, path, ctx):
        for p, message in self.fn(v, path):
            ctx.add(p, message)


@dataclass(frozen=True, eq=False)
class Ref(Shape):
    """A named shape looked up lazily, for the recursive output-parameter definitions."""

    name: str

    def check(self, v, path, ctx):
        _DEFS[self.name].check(v, path, ctx)


def _exactly_one(*keys: str) -> Check:
    def rule(v, path):
        present = [k for k in keys if k in v]
        if len(present) != 1:
            told = "has both" if present else "needs one of"
            yield path, f"{_where(path)} {told} {' and '.join(repr(k) for k in (present or keys))}; use exactly one"
    return Check(rule)


def _some_of(*keys: str, why: str = "") -> Check:
    def rule(v, path):
        if not any(k in v for k in keys):
            yield path, f"{_where(path)} needs {' or '.join(repr(k) for k in keys)}{why}"
    return Check(rule)


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


def _version(v, path):
    """D2: alpha1, alpha2 and 0.5 are read (a YAML ``naftiko: 0.5`` is the float 0.5)."""
    if v in VERSIONS or (isinstance(v, float) and v == 0.5):
        return
    what = "unsupported naftiko version" if isinstance(v, str) else "'naftiko' must be a version string, got"
    yield path, f"{what} {_show(v)}; supported: {', '.join(VERSIONS)}"


def _mcp_transport(v, path):
    """``transport: stdio`` forbids ``port``; http (the default) requires it."""
    if v.get("transport") == "stdio":
        if "port" in v:
            yield path + ("port",), f"'port' is not allowed in {_where(path)}: an MCP adapter with transport 'stdio' listens on no port"
    elif "port" not in v:
        yield path, f"missing required key 'port' in {_where(path)} (MCP adapter with transport 'http')"


def _object_output(v, path):
    """D3/D40: ``{type: object, mapping: "$."}`` (or ``value``) passes through without ``properties``."""
    if not any(k in v for k in ("properties", "mapping", "value")):
        yield path, f"missing required key 'properties' in {_where(path)} (object output parameter); or give 'mapping'"


def _root_form(v, path):
    if "capability" in v and "consumes" in v:
        yield path, "a document has 'capability' or a root 'consumes' (shared consumer file), not both"
    elif "capability" not in v and "consumes" not in v:
        yield path, "missing required key 'capability' (or a root 'consumes' for a shared consumer file)"


def _mode(v: dict, *keys: str) -> int | None:
    return next((i for i, k in enumerate(keys) if k and k in v), None)


MAPPED_BASE = {"type": ANY, "mapping": STR, "const": Kinds(Kinds().kinds[:-1]), "value": STR}
MAPPED_SCALAR = Obj("mapped output parameter", MAPPED_BASE, rules=(_exactly_one("mapping", "value"),))
ORCH_SCALAR = Obj("orchestrated output parameter", {"name": EXTENDED, "type": ANY}, ("name", "type"))
_DEFS: dict[str, Shape] = {
    "mapped": Switch("type", {
        "string": MAPPED_SCALAR, "number": MAPPED_SCALAR, "boolean": MAPPED_SCALAR,
        "object": Obj("object output parameter", {**MAPPED_BASE, "properties": Map(Ref("mapped"))},
                      rules=(Check(_object_output),)),
        "array": Obj("array output parameter", {**MAPPED_BASE, "items": Ref("mapped")}, ("items",)),
    }, "output parameter"),
    "orchestrated": Switch("type", {
        "string": ORCH_SCALAR, "number": ORCH_SCALAR, "boolean": ORCH_SCALAR,
        "array": Obj("orchestrated array output", {"name": EXTENDED, "type": ANY,
                                                    "items": Arr(Ref("orchestrated"), 1)}, ("name", "type", "items")),
        "object": Obj("orchestrated object output", {"name": EXTENDED, "type": ANY,
                                                      "properties": Map(Ref("orchestrated"))},
                      ("name", "type", "properties")),
    }, "output parameter"),
}
MAPPED_OUTS, ORCH_OUTS = Arr(Ref("mapped")), Arr(Ref("orchestrated"))
MOCK_OUTS = Arr(Obj("mock output parameter", {"name": EXTENDED, "type": Str(enum=("string", "number", "boolean")),
                                              "value": STR}, ("name", "type", "value")), 1)

def _auth(name: str, **fields: Shape) -> Obj:
    return Obj(f"{name} authentication", {"type": ANY, **fields}, ("type",))

AUTH = Switch("type", {
    "basic": _auth("basic", username=STR, password=STR),
    "apikey": _auth("apikey", key=STR, value=STR, placement=Str(enum=("header", "query"))),
    "bearer": _auth("bearer", token=STR),
    "digest": _auth("digest", username=STR, password=STR),
    "oauth2": Obj("oauth2 authentication", {
        "type": ANY, "authorizationServerUri": STR, "resource": STR, "scopes": Arr(STR), "audience": STR,
        "tokenEndpoint": STR, "tokenValidation": Str(enum=("jwks", "introspection"))},
        ("type", "authorizationServerUri", "resource")),
}, "authentication")

STEP_BASE = {"type": ANY, "name": KEBAB}
STEP = Switch("type", {
    "call": Obj("call step", {**STEP_BASE, "call": CALL, "with": WITH}, ("type", "name", "call")),
    "lookup": Obj("lookup step", {**STEP_BASE, "index": KEBAB, "match": KEBAB, "lookupValue": STR,
                                  "outputParameters": Arr(STR, 1)},
                  ("type", "name", "index", "match", "lookupValue", "outputParameters")),
    "script": Obj("script step", {**STEP_BASE, "language": LANGUAGE, "location": FILE_URI,
                                  "file": Str(min_len=1), "dependencies": Arr(Str(min_len=1), 1), "with": WITH},
                  ("type", "name", "file")),
}, "step")
STEPS = Arr(STEP, 1)
MAPPINGS = Arr(Obj("step output mapping", {"targetName": Str(r"^[a-zA-Z0-9-_.]+$", "letters, digits, '-', '_', '.'"),
                                           "value": STR}, ("targetName", "value")))

TEXT_BODY = Obj("text request body", {"type": ANY, "data": STR}, ("type", "data"))
BODY = Switch("type", {
    "json": Obj("json request body", {"type": ANY, "data": Kinds(("string", "object", "array"))}, ("type", "data")),
    "text": TEXT_BODY, "xml": TEXT_BODY, "sparql": TEXT_BODY,
    "formUrlEncoded": Obj("form request body", {"type": ANY, "data": Alt(
        (("string", STR), ("object", Map(STR))), lambda v: 1, exclusive=True)}, ("type", "data")),
    "multipartForm": Obj("multipart request body", {"type": ANY, "data": Arr(Obj("multipart part", {
        "name": STR, "value": STR, "filename": STR, "contentType": STR}, ("name", "value")))}, ("type", "data")),
}, "request body", other=STR)

CONSUMED_INPUT = Obj("consumed input parameter", {
    "name": EXTENDED, "in": Str(enum=("query", "header", "path", "cookie", "body", "environment")), "value": STR,
    "type": PARAM_TYPE, "description": STR, "required": BOOL,  # D3: published files document their inputs
}, ("name", "in"))
EXPOSED_INPUT = Obj("exposed input parameter", {
    "name": EXTENDED, "in": Str(enum=("query", "header", "path", "cookie", "body")), "type": PARAM_TYPE,
    "description": STR, "pattern": STR, "value": STR}, ("name", "in", "type", "description"))
TOOL_INPUT = Obj("tool input parameter", {"name": EXTENDED, "type": PARAM_TYPE, "description": STR,
                                          "required": BOOL}, ("name", "type", "description"))

CONSUMED_OP = Obj("consumed operation", {
    "name": NAME, "label": STR, "description": STR, "method": METHOD, "inputParameters": Arr(CONSUMED_INPUT),
    "outputRawFormat": Str(enum=("json", "xml", "avro", "protobuf", "csv", "tsv", "psv", "yaml", "html", "markdown")),
    "outputSchema": STR, "body": BODY,
    "outputParameters": Arr(Obj("consumed output parameter", {"name": EXTENDED, "type": OUT_TYPE, "value": STR},
                                ("name", "type", "value"))),
}, ("name", "method"))
CONSUMES_HTTP = Obj("http consumes", {
    "namespace": KEBAB, "type": Str(const="http"), "description": STR,
    "baseUri": Str(r"^https?://[^/]+(/[^{]*)?$", "http(s)://host[/base-path]"),
    "inputParameters": Arr(CONSUMED_INPUT), "authentication": AUTH,
    "resources": Arr(Obj("consumed resource", {
        "name": NAME, "label": STR, "description": STR, "path": STR, "inputParameters": Arr(CONSUMED_INPUT),
        "operations": Arr(CONSUMED_OP, 1)}, ("name", "path", "operations")), 1),
}, ("namespace", "type", "baseUri"))
IMPORTED = Obj("imported consumes", {"location": STR, "import": KEBAB, "as": KEBAB, "description": STR},
               ("location", "import"))
CONSUMES = Arr(Alt((("http", CONSUMES_HTTP), ("import", IMPORTED)),
                   lambda v: 1 if "type" not in v and ("import" in v or "location" in v) else 0,
                   exclusive=True), 1)
BINDS = Arr(Obj("bind", {"namespace": KEBAB, "description": STR,
                         "location": Str(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "a URI such as file:///..."),
                         "keys": Map(EXTENDED, Str(r"^[A-Z][A-Z0-9_]*$", "SCREAMING_SNAKE_CASE"))},
                ("namespace", "keys")), 1)

MODES_MISSING = "{where} needs one of 'call', 'steps', 'ref' or mock 'outputParameters'"
EXPOSED_OP = Obj("exposed operation", {
    "name": NAME, "label": STR, "description": STR, "method": METHOD, "inputParameters": Arr(EXPOSED_INPUT),
    "ref": REF, "call": CALL, "with": WITH, "outputParameters": Arr(ANY), "steps": STEPS, "mappings": MAPPINGS,
}, ("method",), rules=(Alt((
    ("simple", Open(props={"outputParameters": MAPPED_OUTS})),
    ("orchestrated", Open(("steps", "name"), {"outputParameters": ORCH_OUTS})),
    ("ref", Open(("ref",)))), lambda v: 1 if "steps" in v else 0),))
EXPOSED_RESOURCE = Obj("exposed resource", {
    "label": STR, "description": STR, "path": STR, "name": NAME, "inputParameters": Arr(EXPOSED_INPUT),
    "operations": Arr(EXPOSED_OP), "forward": Obj("forward", {"targetNamespace": KEBAB, "trustedHeaders": Arr(STR, 1)},
                                                  ("targetNamespace",)),
}, ("path",), rules=(_some_of("operations", "forward"),))

TOOL = Obj("MCP tool", {
    "name": KEBAB, "label": STR, "description": STR, "inputParameters": Arr(TOOL_INPUT), "ref": REF, "call": CALL,
    "with": WITH, "steps": STEPS, "mappings": MAPPINGS, "outputParameters": Arr(ANY),
    "hints": Obj("tool hints", dict.fromkeys(("readOnly", "destructive", "idempotent", "openWorld"), BOOL)),
}, rules=(Alt((
    ("call", Open(("name", "description", "call"), {"outputParameters": MAPPED_OUTS})),
    ("steps", Open(("name", "description", "steps"), {"outputParameters": ORCH_OUTS})),
    ("ref", Open(("ref",))),
    ("mock", Open(("name", "description", "outputParameters"), {"outputParameters": MOCK_OUTS}))),
    lambda v: _mode(v, "call", "steps", "", "outputParameters"), MODES_MISSING),))
NOT_LOCATION = {"location": "a dynamic MCP resource ('call' or 'steps') has no static 'location'"}
MCP_RESOURCE = Obj("MCP resource", {
    "name": EXTENDED, "label": STR, "uri": STR, "description": STR, "call": CALL, "with": WITH, "steps": STEPS,
    "mimeType": Str(r"^[a-zA-Z0-9!#$&^_.+-]+\/[a-zA-Z0-9!#$&^_.+-]+(?:\s*;\s*[a-zA-Z0-9!#$&^_.+-]+="
                    r"(?:[a-zA-Z0-9!#$&^_.+-]+|\"[^\"]*\"))*$", "type/subtype[; param=value]"),
    "mappings": MAPPINGS, "outputParameters": Arr(ANY), "location": FILE_URI,
}, ("name", "label", "uri", "description"), rules=(Alt((
    ("call", Open(("call",), {"outputParameters": MAPPED_OUTS}, NOT_LOCATION)),
    ("steps", Open(("steps",), {"outputParameters": ORCH_OUTS}, NOT_LOCATION)),
    ("static", Open(("location",), forbid=dict.fromkeys(("call", "steps"), "a static MCP resource has no call")))),
    lambda v: _mode(v, "call", "steps", "location"), "{where} needs 'call', 'steps' or a static 'location'",
    exclusive=True),))
PROMPT = Obj("MCP prompt", {
    "name": EXTENDED, "label": STR, "description": STR, "location": FILE_URI,
    "arguments": Arr(Obj("prompt argument", {"name": EXTENDED, "label": STR, "description": STR,
                                             "required": BOOL}, ("name", "description")), 1),
    "template": Arr(Obj("prompt message", {"role": Str(enum=("user", "assistant")), "content": STR},
                        ("role", "content")), 1),
}, ("name", "label", "description"), rules=(_exactly_one("template", "location"),))

SKILL = Obj("skill", {
    "name": KEBAB, "description": Str(max_len=1024), "license": STR, "compatibility": Str(max_len=500),
    "metadata": Map(STR), "allowed-tools": Str(max_len=1024), "argument-hint": STR, "user-invocable": BOOL,
    "disable-model-invocation": BOOL, "location": FILE_URI,
    "tools": Arr(Obj("skill tool", {
        "name": KEBAB, "description": STR, "instruction": STR,
        "from": Obj("skill tool source", {"sourceNamespace": STR, "action": STR}, ("sourceNamespace", "action")),
    }, ("name", "description"), rules=(_exactly_one("from", "instruction"),)), 1),
}, ("name", "description"))

ENABLED = {"enabled": BOOL}
MANAGEMENT = Obj("control management", {
    **dict.fromkeys(("health", "info", "reload", "validate"), BOOL),
    "logs": Alt((("boolean", BOOL), ("object", Obj("logs endpoint", {
        "level-control": BOOL, "stream": BOOL, "max-subscribers": Num(1, 20, integer=True)}))),
        lambda v: 1, exclusive=True),
    "scripting": Obj("scripting", {**ENABLED, "defaultLocation": FILE_URI, "defaultLanguage": LANGUAGE,
                                   "timeout": Num(1, integer=True), "statementLimit": Num(1, integer=True),
                                   "allowedLanguages": Arr(LANGUAGE)}),
})
OBSERVABILITY = Obj("observability", {
    **ENABLED, "metrics": Obj("metrics", {"local": Obj("local metrics endpoint", ENABLED)}),
    "traces": Obj("traces", {"sampling": Num(0, 1), "propagation": Str(enum=("w3c", "b3")),
                             "local": Obj("local traces", {**ENABLED, "buffer-size": Num(10, 10000, integer=True)})}),
    "exporters": Obj("exporters", {"otlp": Obj("otlp exporter", {"endpoint": STR}, ("endpoint",))}),
})

ADAPTER = {"type": ANY, "address": ADDRESS, "port": PORT, "authentication": AUTH}
EXPOSES = Arr(Switch("type", {
    "rest": Obj("rest adapter", {**ADAPTER, "namespace": KEBAB, "resources": Arr(EXPOSED_RESOURCE, 1),
                                 "description": STR},  # D3: published REST adapters carry a description
                ("type", "port", "namespace")),
    "mcp": Obj("mcp adapter", {**ADAPTER, "namespace": KEBAB, "transport": Str(enum=("http", "stdio")),
                               "description": STR, "tools": Arr(TOOL, 1), "resources": Arr(MCP_RESOURCE, 1),
                               "prompts": Arr(PROMPT, 1)}, ("type", "namespace", "tools"),
               rules=(Check(_mcp_transport),)),
    "skill": Obj("skill adapter", {**ADAPTER, "namespace": KEBAB, "description": STR, "skills": Arr(SKILL, 1)},
                 ("type", "port", "namespace", "skills")),
    "control": Obj("control adapter", {**ADAPTER, "management": MANAGEMENT, "observability": OBSERVABILITY},
                   ("type", "port")),
}, "adapter"), 1)

AGGREGATES = Arr(Obj("aggregate", {"label": STR, "namespace": KEBAB, "functions": Arr(Obj("aggregate function", {
    "name": KEBAB, "description": STR, "inputParameters": Arr(TOOL_INPUT), "call": CALL, "with": WITH,
    "steps": STEPS, "mappings": MAPPINGS, "outputParameters": Arr(ANY),
    "semantics": Obj("semantics", dict.fromkeys(("safe", "idempotent", "cacheable"), BOOL)),
}, ("name", "description"), rules=(Alt((
    ("call", Open(("call",), {"outputParameters": MAPPED_OUTS})),
    ("steps", Open(("steps",), {"outputParameters": ORCH_OUTS})),
    ("mock", Open(("outputParameters",), {"outputParameters": MOCK_OUTS}))),
    lambda v: _mode(v, "call", "steps", "outputParameters"),
    "{where} needs one of 'call', 'steps' or mock 'outputParameters'"),)), 1)}, ("label", "namespace", "functions")), 1)

INFO = Obj("info", {"label": STR, "title": STR,  # D3: 'title' is a synonym of 'label'
                    "description": STR, "tags": Arr(STR), "created": DATE, "modified": DATE,
                    "stakeholders": Arr(Obj("stakeholder", {
                        "role": STR, "fullName": STR,
                        "email": Str(r"^[a-zA-Z0-9._%+\-]+@[a-zA-Z0-9.\-]+\.[a-zA-Z]{2,}$", "an email address")},
                        ("role", "fullName")))},
           ("description",), rules=(_some_of("label", "title", why=" (a human-readable name)"),))
CAPABILITY = Obj("capability", {"binds": BINDS, "exposes": EXPOSES, "consumes": CONSUMES, "aggregates": AGGREGATES},
                 rules=(_some_of("exposes", "consumes"),))
DOCUMENT = Obj("capability document", {
    "naftiko": Check(_version), "info": INFO, "consumes": CONSUMES, "binds": BINDS, "capability": CAPABILITY,
}, ("naftiko",), rules=(Check(_root_form),))


def check_shape(document: object) -> list[ShapeFinding]:
    """All violations of the alpha2 schema, with CONTRACT D2/D3 dialect extensions accepted silently.

    Never raises: any JSON-like value (any nesting, cyclic YAML aliases included) gives findings.
    """
    ctx = _Ctx()
    try:
        DOCUMENT.check(document, (), ctx)
    except RecursionError:  # only when called near the interpreter's limit already
        ctx.add((), "document nested too deeply to check")
    return ctx.findings
