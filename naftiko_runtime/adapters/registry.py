"""The adapter kinds this runtime serves, keyed by the spec's ``exposes[].type``.

Adding a kind is a folder under ``adapters/`` (or a plugin's package) with a class following
``base.AdapterKind``, and one ``register_adapter_kind``; the loader, the listeners, the server and
``naftiko routes`` find it through this table, and no code outside its folder names it.

This package's own kinds are named by where they live (``Deferred``) and imported the first time
something asks the table for one: a start imports only the kinds its files use (D170). What the
shape checks and reference warnings need of every kind before any is used (its shape fragment,
its ``with`` roots) is said beside its place, and held equal to the kind's own by a unit test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import cast

from ..records import dataclass
from ..spec.builder import AdapterParser
from ..spec.shape_kinds import ShapeFragment, fixed, register_adapter_shape
from ..spec.shapes import Shape
from .a2a.shape import a2a_shape
from .base import AdapterKind
from .webhook.shape import webhook_shape


@dataclass(frozen=True)
class Deferred:
    """One of this package's kinds, not imported yet: its class ``name`` in ``module`` (relative
    to ``adapters``), and what every load needs of it before a file uses it."""

    module: str
    name: str
    reference_roots: tuple[str, ...] = ()
    shape: ShapeFragment | None = None


BUILTIN: dict[str, Deferred] = {
    "rest": Deferred(".rest.kind", "RestKind", ("rest",)),
    "mcp": Deferred(".mcp.kind", "McpKind", ("tools", "mcp")),
    "skill": Deferred(".skill.kind", "SkillKind"),
    "control": Deferred(".control.kind", "ControlKind"),
    "x-naftiko-webhook": Deferred(".webhook.kind", "WebhookKind", ("event",), webhook_shape),
    "x-naftiko-a2a": Deferred(".a2a.kind", "A2aKind", (), a2a_shape),
}
"""Each built-in kind by type, in the order the shape checks list them."""


class KindTable(Mapping[str, AdapterKind]):
    """Every kind by type; a ``Deferred`` one is imported, built and kept when first looked up."""

    def __init__(self) -> None:
        self._kinds: dict[str, AdapterKind | Deferred] = {}

    def __getitem__(self, kind_type: str) -> AdapterKind:
        kind = self._kinds[kind_type]
        if isinstance(kind, Deferred):
            kind = self._kinds[kind_type] = getattr(import_module(kind.module, __package__), kind.name)()
        return cast(AdapterKind, kind)

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def add(self, kind_type: str, kind: AdapterKind | Deferred) -> None:
        self._kinds[kind_type] = kind

    def registered(self) -> Iterator[AdapterKind | Deferred]:
        """Every kind as registered, a deferred one left unimported (the load cache's key, D172)."""
        return iter(self._kinds.values())

    def roots(self) -> frozenset[str]:
        """Every kind's ``with`` roots, a deferred one's from its ``Deferred`` (nothing imported)."""
        return frozenset(root for kind in self._kinds.values() for root in kind.reference_roots)

    @property
    def parsers(self) -> Mapping[str, AdapterParser]:
        """Each kind's ``parse`` by type, for the model builder: looking one up imports that kind only."""
        return _Parsers(self)


class _Parsers(Mapping[str, AdapterParser]):
    def __init__(self, kinds: KindTable):
        self._kinds = kinds

    def __getitem__(self, kind_type: str) -> AdapterParser:
        return self._kinds[kind_type].parse

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)


KINDS = KindTable()


def register_adapter_kind(kind: AdapterKind) -> None:
    """The kind becomes a valid ``exposes[].type``: checked by the dialects' shape checks (with
    its ``shape``, one for every dialect or a fragment of the dialect's Profile), read by its
    ``parse``, placed, served and listed."""
    KINDS.add(kind.type, kind)
    if kind.shape is not None:
        register_adapter_shape(kind.type, fixed(kind.shape) if isinstance(kind.shape, Shape) else kind.shape)


for _type, _deferred in BUILTIN.items():
    KINDS.add(_type, _deferred)
    if _deferred.shape is not None:
        register_adapter_shape(_type, _deferred.shape)


def reference_roots() -> frozenset[str]:
    """Every adapter-kind root a ``with`` reference may start with (D20), for wrong-root warnings."""
    return KINDS.roots()
