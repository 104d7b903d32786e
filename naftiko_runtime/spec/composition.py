"""Composition in the model: aggregate functions and ``ref``, orchestrated steps and mappings.

Kept apart from ``builder`` (which calls these) so that the three modes of an exposed operation
read in one place; ``Builder`` is the part of ``ModelBuilder`` they use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from .diagnostics import DocPath
from .model import StepMapping, StepSpec
from .plugged import STEP_PARSERS


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

    def entries(self, node: dict[str, Any], key: str, at: DocPath) -> list[tuple[str | None, Any, DocPath]]: ...


def keyed_items(builder: Builder, node: dict[str, Any], key: str, at: DocPath) -> list[tuple[Any, DocPath]]:
    """Named entries (``steps``, ``flows``, ``outputParameters``), each carrying its ``name`` (its
    key), for the readers that take an entry as one object (step kinds, ``ref``, outputs)."""
    return [
        ({"name": name, **entry} if name is not None and isinstance(entry, dict) else entry, entry_at)
        for name, entry, entry_at in builder.entries(node, key, at)
    ]


def index_aggregates(builder: Builder, holder: dict[str, Any], at: DocPath = ("capability",)) -> None:
    """Index the aggregate functions (``flows``; alpha2 writes ``functions``) of ``holder`` (the
    ``capability``, or a beta4 document's root); each is built where a ``ref`` uses it."""
    for aggregate, a_at in builder.items(holder, "aggregates", at):
        aggregate = builder.mapping(aggregate, a_at, "an aggregate")
        # beta4 makes the namespace optional; an aggregate without one has nothing a `ref` can name.
        namespace = builder.text(aggregate, "namespace", a_at)
        for function, f_at in keyed_items(builder, aggregate, "flows", a_at):
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
    """A ``steps`` entry, read by the step kind its ``type`` names (``plugged.STEP_PARSERS``)."""
    node = builder.mapping(node, at, "a step")
    kind = node.get("type")
    name = builder.text(node, "name", at, required=True)
    parse = STEP_PARSERS.get(kind) if isinstance(kind, str) else None
    if parse is None:
        known = list(STEP_PARSERS)
        expected = " or ".join(filter(None, (", ".join(known[:-1]), known[-1] if known else "")))
        builder.error(at + ("type",) if "type" in node else at, f"unknown step type {kind!r}: expected {expected}")
        return None
    return parse(builder, node, at, name) if name else None


def scripting_defaults(*sections: dict[str, Any]) -> dict[str, Any]:
    """The ``management.scripting`` block of the file's control adapter (issue 20): its
    ``defaultLanguage``, ``defaultLocation`` and ``allowedLanguages`` shape every script step of
    the file. Read silently: the control adapter reports its own mistakes."""
    for section in sections:
        entries = section.get("exposes")
        adapters = entries.values() if isinstance(entries, dict) else entries if isinstance(entries, list) else ()
        for entry in adapters:
            if isinstance(entry, dict) and entry.get("type") == "control":
                management = entry.get("management")
                scripting = management.get("scripting") if isinstance(management, dict) else None
                return scripting if isinstance(scripting, dict) else {}
    return {}


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
