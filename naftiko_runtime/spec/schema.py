"""Shape validation of a whole capability document, in any dialect, without shipping the official schemas.

The project must not copy the official JSON Schemas (``naftiko-schema-alpha2.json``,
``ikanos-schema.json`` for 1.0.0-beta4 and beta5), so this is a hand-written model of them: ONE
declarative table of the spec's object shapes (this module, ``shape_parts``, ``shape_adapters``),
built from the combinators of ``shapes`` for each dialect's ``Profile`` (issue 19, item 2). What
differs between dialects is data of the profile: lists of objects with a ``name`` or maps keyed
by name, ``label`` or ``display``, the keys new in a version, the D3 extensions of alpha2. The
kinds of adapters, steps and authentication come from the registries of ``shape_kinds``.

``check_shape`` walks PLAIN decoded data (what a YAML safe loader returns) and reports every
violation, not only the first, each with the location of the offending value and a message that
names the field. Why combinators rather than a generic JSON Schema interpreter: messages. A
generic validator's ``oneOf`` says "not valid under any of the given schemas"; here each
discrimination (exposes by ``type``, tools by mode, ...) picks the alternative the author evidently
meant and reports what is wrong with it. ``Alt`` still evaluates every branch, so the verdict
agrees with the official schema (``tests/unit/test_schema.py``, ``tests/unit/test_dialect_properties.py``
hold each dialect against its file), except for the alpha2 dialect extensions of CONTRACT D2/D3
(``Profile.extensions``) and the runtime's own extension keys (``extensions``), let through for the
builder, which always warns about them (so ``--strict`` refuses them).

Deliberate differences: ``format: uri`` is not asserted (an annotation by default in draft
2020-12, as in ``jsonschema``); a trailing ``$`` in a pattern does not match before a final newline
(ECMA-262 semantics, not Python's); ``created``/``modified`` also accept the ``datetime.date`` a
YAML loader makes of an unquoted ``2026-05-19``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from . import plugged
from . import shape_adapters as shape_adapters  # registers the built-in adapter kinds' fragments
from .extensions import CACHE, ICONS, MCP_CONSUMES, OAUTH2_CLIENT_CREDENTIALS
from .pagination import PAGINATION
from .plugged import RegisteredName
from .profiles import ALPHA2, Profile
from .shape_kinds import ADAPTERS, CONSUMED_AUTHENTICATION, generation
from .shape_parts import (
    ANY,
    BINARY_SIZE,
    BODY,
    BOOL,
    DATE,
    EXTENDED,
    KEBAB,
    METHOD,
    NAME,
    NAME_KEYS,
    OUT_TYPE,
    STR,
    TAGS,
    Findings,
    authentication,
    call,
    consumed_inputs,
    mappings,
    mode,
    outputs,
    steps,
    tool_inputs,
    with_,
)
from .shapes import Alt, Arr, Check, Context, Map, Obj, Open, Path, Shape, Str, Switch, show, some_of
from .shapes import ShapeFinding as ShapeFinding  # re-exported: the type of check_shape's findings

FORMATS = ("json", "xml", "avro", "protobuf", "csv", "tsv", "psv", "yaml", "html", "markdown")
SPEC_FORMATS = (*FORMATS, "binary")
"""beta4 adds ``binary``; a plugin's format is any other name (``plugged.FORMATS``)."""
TUNNEL = Switch(
    "type",
    {
        "ziti": Obj(
            "ziti tunnel",
            {"type": ANY, "service": STR, "identity": STR, "fallback": Str(enum=("fail", "direct"))},
            ("type", "service", "identity"),
        )
    },
    "tunnel",
)
STAKEHOLDER = Obj(
    "stakeholder",
    {
        "role": STR,
        "fullName": STR,
        "email": Str(r"^[a-zA-Z0-9._%+\-]+@[a-zA-Z0-9.\-]+\.[a-zA-Z]{2,}$", "an email address"),
    },
    ("role", "fullName"),
)
BIND = Obj(
    "bind",
    {
        "namespace": KEBAB,
        "description": STR,
        "location": Str(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "a URI such as file:///..."),
        "keys": Map(EXTENDED, Str(r"^[A-Z][A-Z0-9_]*$", "SCREAMING_SNAKE_CASE")),
    },
    ("namespace", "keys"),
)
SEMANTICS = Obj("semantics", dict.fromkeys(("safe", "idempotent", "cacheable"), BOOL))


def consumes(d: Profile) -> Shape:
    output = Obj(
        "consumed output parameter",
        {**d.name(EXTENDED), "type": OUT_TYPE, "value": STR},
        (*d.needs_name, "type", "value"),
    )
    operation = Obj(
        "consumed operation",
        {
            **d.name(NAME),
            d.label: STR,
            **d.since(tags=TAGS),
            "description": STR,
            "method": METHOD,
            "inputParameters": consumed_inputs(d),
            "outputRawFormat": RegisteredName(d.pick(FORMATS, SPEC_FORMATS), plugged.FORMATS, SPEC_FORMATS),
            PAGINATION: ANY,  # a runtime extension (D121): the builder checks it and always warns
            **d.since(outputMediaType=STR, maxBinarySize=BINARY_SIZE),
            "outputSchema": STR,
            "body": BODY,
            "outputParameters": d.many(output),
            CACHE: ANY,  # an extension (``extensions``): checked and warned about by the builder
        },
        (*d.needs_name, "method"),
    )
    resource = Obj(
        "consumed resource",
        {
            **d.name(NAME),
            d.label: STR,
            **d.since(tags=TAGS),
            "description": STR,
            "path": STR,
            "inputParameters": consumed_inputs(d),
            "operations": d.many(operation, keys=NAME_KEYS, min_items=1),
        },
        (*d.needs_name, "path", "operations"),
    )
    return Obj(
        "http consumes",
        {
            "namespace": KEBAB,
            "type": Str(const="http"),
            "description": STR,
            "baseUri": Str(r"^https?://[^/]+(/[^{]*)?$", "http(s)://host[/base-path]"),
            "inputParameters": consumed_inputs(d),
            "authentication": authentication(CONSUMED_AUTHENTICATION, d),
            # A naftiko-runtime extension (``extensions``): let through here, checked and always
            # warned about by the builder, so that --strict still refuses it.
            OAUTH2_CLIENT_CREDENTIALS: ANY,
            **d.since(tunnel=TUNNEL),
            "resources": d.many(resource, keys=NAME_KEYS, min_items=1),
        },
        ("namespace", "type", "baseUri"),
    )


def mcp_consumes(d: Profile) -> Shape:
    """``type: mcp`` (a naftiko-runtime extension, D113): an upstream MCP server, whose tools are
    called by name, so it declares no resources; let through here, warned about by the builder."""
    return Obj(
        "mcp consumes",
        {
            "namespace": KEBAB,
            "type": Str(const=MCP_CONSUMES),
            "description": STR,
            "baseUri": Str(r"^https?://[^/]+(/[^{]*)?$", "http(s)://host[/path] of a Streamable HTTP endpoint"),
            "authentication": authentication(CONSUMED_AUTHENTICATION, d),
        },
        ("namespace", "type", "baseUri"),
    )


def consumed(d: Profile) -> Shape:
    """A consumed entry: an http API, or an upstream MCP server (``type: mcp``)."""
    return Alt(
        (("http", consumes(d)), (MCP_CONSUMES, mcp_consumes(d))),
        lambda v: 1 if v.get("type") == MCP_CONSUMES else 0,
        exclusive=True,
    )


def aggregate(d: Profile) -> Shape:
    out = outputs(d)
    flow = Obj(
        "aggregate function",
        {
            **d.name(KEBAB),
            "description": STR,
            **d.since(tags=TAGS, outputMediaType=STR),
            "semantics": SEMANTICS,
            "inputParameters": tool_inputs(d),
            "call": call(d),
            "with": with_(d),
            "steps": steps(d),
            "mappings": mappings(d),
            "outputParameters": d.pick(Arr(ANY), ANY),
        },
        (*d.needs_name, "description"),
        rules=(
            Alt(
                (
                    ("call", Open(("call",), {"outputParameters": out.mapped_list})),
                    ("steps", Open(("steps",), {"outputParameters": out.orchestrated})),
                    ("mock", Open(("outputParameters",), {"outputParameters": out.mock})),
                ),
                lambda v: mode(v, "call", "steps", "outputParameters"),
                "{where} needs one of 'call', 'steps' or mock 'outputParameters'",
            ),
        ),
    )
    return Obj(
        "aggregate",
        {d.label: STR, "namespace": KEBAB, d.flows: d.many(flow, keys=NAME_KEYS, min_items=1)},
        (d.label, *d.pick(("namespace",), ()), d.flows),
    )


def info(d: Profile) -> Shape:
    return Obj(
        "info",
        {
            d.label: STR,
            **d.legacy(title=STR),  # D3: 'title' is a synonym of 'label'
            "description": STR,
            ICONS: ANY,  # an extension, checked and warned about by the MCP kind (D111)
            "tags": TAGS,
            "created": DATE,
            "modified": DATE,
            **d.since(version=STR),
            "stakeholders": Arr(STAKEHOLDER),
        },
        (*d.pick((), (d.label,)), "description"),
        rules=d.pick((some_of("label", "title", why=" (a human-readable name)"),), ()),
    )


def section(d: Profile, name: str, entry: Shape) -> Shape:
    """A section's list: inline entries, or (where the dialect allows) import entries."""
    if name not in d.import_sections:
        return Arr(entry, 1)
    imported = Obj(
        "import entry",
        {d.import_from: STR, "import": KEBAB, "as": KEBAB, "description": STR},
        (d.import_from, "import"),
    )
    return Arr(
        Alt(
            (("inline", entry), ("import", imported)),
            lambda v: 1 if "type" not in v and (d.import_from in v or "import" in v) else 0,
            exclusive=True,
        ),
        1,
    )


def _version(d: Profile) -> Check:
    def rule(v: object, path: Path) -> Findings:
        # D2: alpha1, alpha2 and 0.5 are read (a YAML ``naftiko: 0.5`` is the float 0.5).
        if v in d.versions or (d.extensions and isinstance(v, float) and str(v) in d.versions):
            return
        if not d.extensions:
            yield path, f"unsupported {d.root} version {show(v)}; supported: {', '.join(d.versions)}"
            return
        what = f"unsupported {d.root} version" if isinstance(v, str) else f"'{d.root}' must be a version string, got"
        yield path, f"{what} {show(v)}; supported: {', '.join(d.versions)}; read as {d.versions[0]} (D2)"

    return Check(rule)


def _root_form(d: Profile) -> Check:
    """alpha2: a capability or a root ``consumes``; Ikanos: a capability or one shared section."""

    def rule(v: Any, path: Path) -> Findings:
        if d.extensions:  # alpha2: a shared file is a consumer file
            if "capability" in v and "consumes" in v:
                yield path, "a document has 'capability' or a root 'consumes' (shared consumer file), not both"
            elif "capability" not in v and "consumes" not in v:
                yield path, "missing required key 'capability' (or a root 'consumes' for a shared consumer file)"
            return
        present = [k for k in d.root_sections if k in v]
        if "capability" in v:
            return
        if not present:
            sections = ", ".join(d.root_sections)
            yield path, f"missing required key 'capability' (or one root section for a shared file: {sections})"
        elif len(present) > 1:
            yield path, f"a shared file holds one section only, this one has {', '.join(present)}"

    return Check(rule)


def _document(d: Profile) -> Shape:
    entries = {
        "consumes": consumed(d),
        "exposes": Switch("type", ADAPTERS.cases(d), ADAPTERS.what),
        "aggregates": aggregate(d),
        "binds": BIND,
    }
    sections = {name: section(d, name, entry) for name, entry in entries.items()}
    return Obj(
        "capability document",
        {
            d.root: _version(d),
            "info": info(d),
            **{name: sections[name] for name in d.root_sections},
            "capability": Obj("capability", sections, rules=(some_of("exposes", "consumes"),)),
        },
        (d.root,),
        rules=(_root_form(d),),
    )


@cache
def _table(d: Profile, generation: int) -> Shape:
    return _document(d)


def document_shape(d: Profile) -> Shape:
    """The whole document's shape in ``d``'s dialect, with the kinds registered so far."""
    return _table(d, generation())


def check_shape(document: object, profile: Profile = ALPHA2) -> list[ShapeFinding]:
    """All violations of the dialect's schema, with CONTRACT D2/D3 extensions accepted in alpha2.

    Never raises: any JSON-like value (any nesting, cyclic YAML aliases included) gives findings.
    """
    ctx = Context()
    try:
        document_shape(profile).check(document, (), ctx)
    except RecursionError:  # only when called near the interpreter's limit already
        ctx.add((), "document nested too deeply to check")
    return ctx.findings
