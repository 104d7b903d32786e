"""Composition in the model: aggregate functions and ``ref``, orchestrated steps and mappings.

Kept apart from ``builder`` (which calls these) so that the three modes of an exposed operation
read in one place; ``Builder`` is the part of ``ModelBuilder`` they use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from .binds import file_location
from .diagnostics import DocPath
from .model import CallStepSpec, LookupStepSpec, ScriptStepSpec, StepMapping, StepSpec

SCRIPT_SEGMENT = re.compile(r"^[a-zA-Z0-9._-]+$")


class Builder(Protocol):
    file: Path
    functions: dict[str, tuple[dict[str, Any], DocPath]]
    scripting: dict[str, Any]
    """The file's control adapter's ``management.scripting`` (``scripting_defaults``)."""

    def error(self, at: DocPath, message: str) -> None: ...

    def warning(self, at: DocPath, message: str) -> None: ...

    def mapping(self, value: Any, at: DocPath, what: str) -> dict[str, Any]: ...

    def sequence(self, value: Any, at: DocPath, what: str) -> list[Any]: ...

    def text(self, node: dict[str, Any], key: str, at: DocPath, *, required: bool = False) -> str | None: ...

    def items(self, node: dict[str, Any], key: str, at: DocPath) -> list[tuple[Any, DocPath]]: ...


def keyed_items(builder: Builder, node: dict[str, Any], key: str, at: DocPath) -> list[tuple[Any, DocPath]]:
    """A list of named entries (alpha2) or a mapping keyed by name (beta4 ``steps``, ``flows``):
    either way, entries that carry their ``name``."""
    value = node.get(key)
    if isinstance(value, dict):
        return [
            ({"name": name, **entry} if isinstance(entry, dict) else entry, at + (key, name))
            for name, entry in value.items()
        ]
    return builder.items(node, key, at)


def index_aggregates(builder: Builder, holder: dict[str, Any], at: DocPath = ("capability",)) -> None:
    """Index the aggregate functions (alpha2 ``functions``, beta4 ``flows``) of ``holder`` (the
    ``capability``, or a beta4 document's root); each is built where a ``ref`` uses it."""
    for aggregate, a_at in builder.items(holder, "aggregates", at):
        aggregate = builder.mapping(aggregate, a_at, "an aggregate")
        # beta4 makes the namespace optional; an aggregate without one has nothing a `ref` can name.
        namespace = builder.text(aggregate, "namespace", a_at)
        key = "flows" if "flows" in aggregate else "functions"
        for function, f_at in keyed_items(builder, aggregate, key, a_at):
            function = builder.mapping(function, f_at, "an aggregate function")
            name = builder.text(function, "name", f_at, required=True)
            if namespace and name:
                if f"{namespace}.{name}" in builder.functions:
                    builder.error(
                        f_at, f"duplicate aggregate function '{namespace}.{name}': a ref to it would be ambiguous (D4)"
                    )
                builder.functions[f"{namespace}.{name}"] = (function, f_at)


def referenced(
    builder: Builder, node: dict[str, Any], at: DocPath, *, kind: str, method: str
) -> tuple[dict[str, Any], DocPath, dict[str, bool]] | None:
    """The aggregate function a ``ref`` names, and its ``semantics`` (checked against the REST
    method: a positioned warning, since the spec makes semantics advisory)."""
    ref = builder.text(node, "ref", at)
    found = builder.functions.get(ref or "")
    if found is None:
        known = ", ".join(sorted(builder.functions)) or "none"
        builder.error(at + ("ref",), f"ref '{ref}' names no aggregate function (D4); known: {known}")
        return None
    function, function_at = found
    raw = builder.mapping(function.get("semantics"), function_at + ("semantics",), "'semantics'")
    semantics = {k: v for k, v in raw.items() if isinstance(v, bool)}
    if kind == "rest" and semantics:
        safe = semantics.get("safe", False)
        if method in ("GET", "HEAD") and not safe:
            builder.warning(at + ("ref",), f"{method} exposes '{ref}', whose semantics are not safe")
        elif method not in ("GET", "HEAD", "OPTIONS") and safe:
            builder.warning(at + ("ref",), f"'{ref}' is safe but exposed with {method}; GET fits it")
        if method in ("PUT", "DELETE") and not semantics.get("idempotent", safe):
            builder.warning(at + ("ref",), f"{method} exposes '{ref}', whose semantics are not idempotent")
    body = {k: v for k, v in function.items() if k not in ("name", "semantics")}
    return body, function_at, semantics


def step(builder: Builder, node: Any, at: DocPath) -> StepSpec | None:
    node = builder.mapping(node, at, "a step")
    kind = node.get("type")
    name = builder.text(node, "name", at, required=True)
    if kind == "call":
        call = builder.text(node, "call", at, required=True)
        with_ = builder.mapping(node.get("with"), at + ("with",), "'with'")
        return CallStepSpec(name, call, dict(with_), at) if name and call else None
    if kind == "lookup":
        index = builder.text(node, "index", at, required=True)
        match = builder.text(node, "match", at, required=True)
        value = builder.text(node, "lookupValue", at, required=True)
        raw = builder.sequence(node.get("outputParameters"), at + ("outputParameters",), "'outputParameters'")
        fields = tuple(str(f) for f in raw if isinstance(f, (str, int)))
        if not fields:
            builder.error(at, "a lookup step needs 'outputParameters': the fields to keep")
        if name and index and match and value is not None and fields:
            return LookupStepSpec(name, index, match, value, fields, at)
        return None
    if kind == "script":
        return script_step(builder, node, at, name) if name else None
    builder.error(
        at + ("type",) if "type" in node else at, f"unknown step type {kind!r}: expected call, lookup or script"
    )
    return None


def scripting_defaults(*sections: dict[str, Any]) -> dict[str, Any]:
    """The ``management.scripting`` block of the file's control adapter (issue 20): its
    ``defaultLanguage``, ``defaultLocation`` and ``allowedLanguages`` shape every script step of
    the file. Read silently: the control adapter reports its own mistakes."""
    for section in sections:
        entries = section.get("exposes")
        for entry in entries.values() if isinstance(entries, dict) else entries or ():
            if isinstance(entry, dict) and entry.get("type") == "control":
                management = entry.get("management")
                scripting = management.get("scripting") if isinstance(management, dict) else None
                return scripting if isinstance(scripting, dict) else {}
    return {}


def script_step(builder: Builder, node: dict[str, Any], at: DocPath, name: str) -> ScriptStepSpec | None:
    """D83: JavaScript only; its files are read now, once. The control adapter's scripting
    governance gives the language and location a step omits, and may refuse its language."""
    governance = builder.scripting
    language = builder.text(node, "language", at) if "language" in node else governance.get("defaultLanguage")
    for key, default in (("language", "defaultLanguage"), ("location", "defaultLocation")):
        if key not in node and not isinstance(governance.get(default), str):
            builder.error(
                at,
                f"a script step without '{key}': give the step its own, or set the control adapter's "
                f"management.scripting '{default}'",
            )
    where = at + ("language",) if "language" in node else at
    allowed = governance.get("allowedLanguages")
    if isinstance(allowed, list) and language is not None and language not in allowed:
        builder.error(
            where,
            f"script language '{language}' is not among the control adapter's scripting allowedLanguages "
            f"({', '.join(map(str, allowed)) or 'none'})",
        )
        return None
    if language in ("groovy", "python"):
        builder.error(
            where,
            f"{language} script steps are refused by this runtime: it has no sandbox for "
            f"{language} it can defend (SECURITY.md); write the step in javascript",
        )
        return None
    if language is not None and language != "javascript":
        builder.error(where, f"unknown script language '{language}': expected javascript")
        return None
    location = builder.text(node, "location", at) if "location" in node else governance.get("defaultLocation")
    main = builder.text(node, "file", at, required=True)
    if language is None or location is None or main is None:
        return None
    # The skill-location convention (beta4 OperationStepScript.location): `file:///./x` is beside
    # the capability file, `file:///x` absolute (issue 23).
    root = file_location(unquote(location), builder.file.resolve().parent) if location.startswith("file:///") else None
    if root is None:
        builder.error(at + ("location",), f"location '{location}' must be a file:/// URI")
        return None
    source = script_file(builder, root, main, at + ("file",))
    dependencies = []
    for item, d_at in builder.items(node, "dependencies", at):
        dependencies.append(script_file(builder, root, str(item), d_at))
    with_ = builder.mapping(node.get("with"), at + ("with",), "'with'")
    if source is None or None in dependencies:
        return None
    return ScriptStepSpec(name, source, tuple(d for d in dependencies if d is not None), dict(with_), at)


def script_file(builder: Builder, root: Path, relative: str, at: DocPath) -> str | None:
    """A script below ``root``; segments as the spec allows them (no ``..``, no absolute path)."""
    parts = relative.split("/")
    if not all(SCRIPT_SEGMENT.match(p) and p not in (".", "..") for p in parts):
        builder.error(at, f"script path '{relative}' must be relative segments of [a-zA-Z0-9._-], without '..'")
        return None
    try:
        return (root.joinpath(*parts)).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        builder.error(at, f"cannot read script '{relative}' under {root}: {exc.__class__.__name__}: {exc}")
        return None


def step_mapping(builder: Builder, node: Any, at: DocPath) -> StepMapping | None:
    node = builder.mapping(node, at, "a mapping")
    # alpha2 says `targetName`, beta4 `target`.
    target = builder.text(node, "target" if "target" in node else "targetName", at, required=True)
    value = builder.text(node, "value", at, required=True)
    return StepMapping(target, value, at) if target and value is not None else None


def semantic_hints(semantics: Mapping[str, bool]) -> dict[str, Any]:
    """spec: Aggregates: safe -> readOnly (and not destructive), idempotent -> idempotent."""
    hints: dict[str, Any] = {}
    if "safe" in semantics:
        hints["readOnly"] = semantics["safe"]
        if semantics["safe"]:
            hints["destructive"] = False
    if "idempotent" in semantics:
        hints["idempotent"] = semantics["idempotent"]
    return hints
