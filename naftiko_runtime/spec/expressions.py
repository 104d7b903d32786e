"""``{{...}}`` templates and the values of ``with:`` entries (CONTRACT D11, D12, D14, D20).

Everything here is parsed once at load time into small immutable objects; at request time a
template is a loop over pre-split parts, and a ``with`` value is one of three source kinds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Any

from ..records import dataclass
from .exactjson import scalar_text

TEMPLATE_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?)\s*\}\}")
PLACEHOLDER = re.compile(r"\{\{?\s*([A-Za-z0-9_.*-]+)\s*\}?\}")
"""A path placeholder, ``{name}`` or ``{{name}}`` (D15)."""
WITH_REFERENCE = re.compile(r"^([A-Za-z0-9_-]+)\.([A-Za-z0-9_*-]+)$")
THIS_REFERENCE = re.compile(r"^\$this\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_*-]+)$")
"""``$this.<namespace>.<input>``: the spec's expression for the caller's input (D20)."""


def normalize_name(name: str) -> str:
    """D25: published files write ``{sync-id}`` in a path and ``sync_id`` in a mapping."""
    return name.replace("-", "_")


def render_scalar(value: Any) -> str:
    """How a value reads inside a URL, header or template: JSON for non-strings (D14), its numbers
    exact whatever their size (issue 20)."""
    return scalar_text(value)


@dataclass(frozen=True)
class Reference:
    """``{{NAME}}`` or ``{{namespace.NAME}}`` inside a template."""

    namespace: str | None
    name: str

    @property
    def text(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


Lookup = Callable[[Reference], tuple[bool, Any]]
"""Resolves a reference to ``(found, value)``; binds first, then inputs (D12)."""


@dataclass(frozen=True)
class Template:
    """A string with ``{{...}}`` references, split once into literal and reference parts."""

    source: str
    parts: tuple[str | Reference, ...]

    @classmethod
    def parse(cls, source: str) -> Template:
        parts: list[str | Reference] = []
        position = 0
        for match in TEMPLATE_REFERENCE.finditer(source):
            if match.start() > position:
                parts.append(source[position : match.start()])
            namespace, _, name = match.group(1).rpartition(".")
            parts.append(Reference(namespace or None, name))
            position = match.end()
        if position < len(source):
            parts.append(source[position:])
        return cls(source, tuple(parts))

    @property
    def references(self) -> tuple[Reference, ...]:
        return tuple(p for p in self.parts if isinstance(p, Reference))

    def render(self, lookup: Lookup) -> tuple[bool, Any]:
        """``(present, value)``. A template that is exactly one reference keeps the value's
        type and is absent when the reference is (D17); otherwise the parts are joined."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Reference):
            return lookup(self.parts[0])
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                found, value = lookup(part)
                if found and value is not None:
                    out.append(render_scalar(value))
        return True, "".join(out)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


# -- `with:` sources (D20) -------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class InputReference:
    """``rest.NAME`` / ``tools.NAME`` / ``<namespace>.NAME``: the caller's input ``NAME``."""

    name: str


WithSource = Literal | Template | InputReference


def with_source(value: Any, roots: tuple[str, ...], *, plain_references: bool = True) -> WithSource:
    """Classify one value for an adapter whose references may start with ``roots``: a ``with``
    value, or (``plain_references=False``) a consumed parameter's ``value``, where only the
    ``$this.<root>.<input>`` form is a reference and ``a.b`` stays text."""
    if not isinstance(value, str):
        return Literal(value)
    return _text_source(value, roots, plain_references)


@lru_cache(maxsize=1 << 14)
def _text_source(value: str, roots: tuple[str, ...], plain_references: bool) -> WithSource:
    """``with_source`` of a text, kept: the same few texts (``rest.sync_id``) recur in every
    operation of every file, and what they make is immutable (D184)."""
    if "{{" in value:
        return Template.parse(value)
    match = THIS_REFERENCE.match(value) or (WITH_REFERENCE.match(value) if plain_references else None)
    if match and match.group(1) in roots:
        return InputReference(match.group(2))
    return Literal(value)


def unresolved_expression(source: WithSource) -> bool:
    """A ``$this.`` expression whose root is not the adapter's: never to be sent as text (D20)."""
    return isinstance(source, Literal) and isinstance(source.value, str) and source.value.startswith("$this.")


def looks_like_reference(value: Any, other_roots: AbstractSet[str]) -> bool:
    """A literal that a reader would take for a reference with the wrong root (D20 warning)."""
    if not isinstance(value, str):
        return False
    match = WITH_REFERENCE.match(value)
    return bool(match and match.group(1) in other_roots)


def resolve(source: WithSource, lookup: Lookup, inputs: Mapping[str, Any]) -> tuple[bool, Any]:
    """The value a ``with`` entry sends, and whether it is sent at all (absent -> D17)."""
    if isinstance(source, InputReference):
        return (True, inputs[source.name]) if source.name in inputs else (False, None)
    if isinstance(source, Template):
        return source.render(lookup)
    return True, source.value
