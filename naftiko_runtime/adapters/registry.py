"""The adapter kinds this runtime serves, keyed by the spec's ``exposes[].type``.

Adding a kind is a folder under ``adapters/`` (or a plugin's package) with a class following
``base.AdapterKind``, and one ``register_adapter_kind``; the loader, the listeners, the server and
``naftiko routes`` find it through this table, and no code outside its folder names it.
"""

from __future__ import annotations

from ..spec.shape_kinds import fixed, register_adapter_shape
from .base import AdapterKind
from .control.kind import ControlKind
from .mcp.kind import McpKind
from .rest.kind import RestKind
from .skill.kind import SkillKind

KINDS: dict[str, AdapterKind] = {}


def register_adapter_kind(kind: AdapterKind) -> None:
    """The kind becomes a valid ``exposes[].type``: checked by the dialects' shape checks (with
    its ``shape``), read by its ``parse``, placed, served and listed."""
    KINDS[kind.type] = kind
    if kind.shape is not None:
        register_adapter_shape(kind.type, fixed(kind.shape))


for _kind in (RestKind(), McpKind(), SkillKind(), ControlKind()):
    register_adapter_kind(_kind)


def reference_roots() -> frozenset[str]:
    """Every adapter-kind root a ``with`` reference may start with (D20), for wrong-root warnings."""
    return frozenset(root for kind in KINDS.values() for root in kind.reference_roots)
