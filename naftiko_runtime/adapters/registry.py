"""The adapter kinds this runtime serves, keyed by the spec's ``exposes[].type``.

Adding a kind is a folder under ``adapters/`` with a class following ``base.AdapterKind``, and one
entry here; the loader, the listeners, the server and ``naftiko routes`` find it through this table.
"""

from __future__ import annotations

from .a2a.kind import A2aKind
from .base import AdapterKind
from .control.kind import ControlKind
from .mcp.kind import McpKind
from .rest.kind import RestKind
from .skill.kind import SkillKind
from .webhook.kind import WebhookKind

KINDS: dict[str, AdapterKind] = {
    kind.type: kind for kind in (RestKind(), McpKind(), SkillKind(), ControlKind(), WebhookKind(), A2aKind())
}


def reference_roots() -> frozenset[str]:
    """Every adapter-kind root a ``with`` reference may start with (D20), for wrong-root warnings."""
    return frozenset(root for kind in KINDS.values() for root in kind.reference_roots)
